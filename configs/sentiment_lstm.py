"""The six sentiment tasks of Wu, Zhang & Ré (2020) on a shared BiLSTM (hard parameter sharing).

    MTLZOO_DATA_DIR=/path/to/data python tools/train.py --config=configs/sentiment_lstm.py \
        --workdir=/tmp/mtlzoo_sentiment

Reads ``$MTLZOO_DATA_DIR/sentiment/`` (see docs/data_sources.md). Tasks: mr, subj,
cr, mpqa, sst2 (binary) and trec (6 classes), each with its own sentences; the
embeddings are trained from scratch over a 20,000-word vocabulary shared by the six.
"""

import ml_collections

from mtlzoo.config import with_defaults

MAX_VOCAB = 20000
MAX_LENGTH = 64


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {t: {"kind": "binary"} for t in ("mr", "subj", "cr", "mpqa", "sst2")}
    c.tasks["trec"] = {"kind": "multiclass", "num_classes": 6}
    c.data = {
        "source": "sentiment",
        "batch_size": 64,
        "max_vocab": MAX_VOCAB,
        "max_length": MAX_LENGTH,
        "mixing": "interleaved",
    }
    c.model = {
        "architecture": "shared_bottom",
        "encoder": {
            "name": "lstm",
            "vocab_size": MAX_VOCAB,
            "max_length": MAX_LENGTH,
            "embedding_dim": 100,
            "hidden": 100,
            "pooling": "max",
            "dropout": 0.2,
        },
        "tower": {"units": (64,), "dropout": 0.2},
    }
    c.train = {"epochs": 5, "learning_rate": 1e-3, "optimizer": "adam", "eval_split": "validation"}
    return with_defaults(c)
