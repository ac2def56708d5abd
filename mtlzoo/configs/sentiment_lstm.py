"""The six sentiment tasks of Wu, Zhang & Ré (2020) on a shared BiLSTM (hard parameter sharing).

    MTLZOO_DATA_DIR=/path/to/data python tools/train.py --config=configs/sentiment_lstm.py \
        --workdir=/tmp/mtlzoo_sentiment

Reads ``$MTLZOO_DATA_DIR/sentiment/`` (see docs/data_sources.md). Tasks: mr, subj,
cr, mpqa, sst2 (binary) and trec (6 classes), each with its own sentences; the
embeddings are trained from scratch over a 20,000-word vocabulary shared by the six.
A larger variant of ``configs/sentiment.py:lstm`` (the reproductions' config): 100-d
embeddings and LSTM, sentences up to 64 tokens, a 64-unit tower per task, 5 epochs.
"""

from mtlzoo.configs import sentiment as _base

MAX_VOCAB = 20000
MAX_LENGTH = 64


def get_config():
    c = _base.get_config("lstm")
    c.data.max_vocab = MAX_VOCAB
    c.data.max_length = MAX_LENGTH
    c.model.encoder.update(
        {"vocab_size": MAX_VOCAB, "max_length": MAX_LENGTH, "embedding_dim": 100, "hidden": 100, "dropout": 0.2}
    )
    c.model.tower = {"units": (64,), "dropout": 0.2}
    c.train.update({"epochs": 5, "learning_rate": 1e-3, "eval_split": "validation", "steps_per_loop": 20})
    return c
