"""The six sentiment tasks of Wu, Zhang & Ré (2020) with an MLP, CNN or LSTM shared module.

    python tools/train.py --config=configs/sentiment.py:lstm --workdir=/tmp/sentiment_lstm
    python tools/train.py --config=configs/sentiment.py:text_cnn,mr --workdir=/tmp/stl_cnn_mr
    python tools/transfer_report.py --config=configs/sentiment.py:text_mlp --workdir=/tmp/pairs

The argument after ``:`` is ``ENCODER[,TASK...][,align]``: ENCODER is ``text_mlp`` (mean of
word embeddings + a dense layer, the paper's MLP), ``text_cnn`` or ``lstm`` (BiLSTM, max
pooling); the TASKs (default: all six, ``mr subj cr mpqa trec sst2``) pick a subset, one
task = a single-task model; ``align`` switches on the covariance alignment R_i between
the embedding E and the shared module B (``model.alignment = joint``, Algorithm 1).

The model is the paper's: shared E and B, one linear head A_i per task (no tower).
``model.encoder.units`` / ``hidden`` / ``num_filters`` is the shared capacity r. Embeddings
are trained from scratch (no GloVe: nothing is downloaded) over a 10,000-word vocabulary
built from the configured tasks' training splits. Reads ``$MTLZOO_DATA_DIR/sentiment/``.
"""

import ml_collections

from mtlzoo.config import with_defaults

SIX = ("mr", "subj", "cr", "mpqa", "trec", "sst2")
MAX_VOCAB = 10000
MAX_LENGTH = 50
EMBEDDING_DIM = 64
ENCODERS = {
    "text_mlp": {"units": (128,), "dropout": 0.3},
    "text_cnn": {"filter_widths": (3, 4, 5), "num_filters": 64, "dropout": 0.5},
    "lstm": {"hidden": 64, "pooling": "max", "dropout": 0.3},
}
EPOCHS = {"text_mlp": 4, "text_cnn": 3, "lstm": 3}


def parse(arg):
    """``"lstm,mr,align"`` -> ``("lstm", ("mr",), True)``; ValueError naming a bad part."""
    parts = [p.strip() for p in (arg or "lstm").split(",") if p.strip()]
    encoder, rest = parts[0], parts[1:]
    if encoder not in ENCODERS:
        raise ValueError(f"configs/sentiment.py: unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    align = "align" in rest
    tasks = tuple(p for p in rest if p != "align")
    for t in tasks:
        if t not in SIX + ("sst5",):
            raise ValueError(f"configs/sentiment.py: unknown task {t!r}; choose from {', '.join(SIX)}, sst5")
    return encoder, tasks or SIX, align


def get_config(arg=None):
    encoder, tasks, align = parse(arg)
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {t: {"kind": "binary"} for t in tasks}
    if "trec" in tasks:
        c.tasks["trec"] = {"kind": "multiclass", "num_classes": 6}
    if "sst5" in tasks:
        c.tasks["sst5"] = {"kind": "multiclass", "num_classes": 5}
    c.data = {
        "source": "sentiment",
        "batch_size": 64,
        "max_vocab": MAX_VOCAB,
        "max_length": MAX_LENGTH,
        "mixing": "interleaved",
    }
    c.model = {
        "architecture": "shared_bottom",
        "alignment": "joint" if align else "none",
        "encoder": {
            "name": encoder,
            "vocab_size": MAX_VOCAB,
            "max_length": MAX_LENGTH,
            "embedding_dim": EMBEDDING_DIM,
            **ENCODERS[encoder],
        },
        "tower": {"units": ()},
    }
    c.train = {
        "epochs": EPOCHS[encoder],
        "learning_rate": 2e-3,
        "optimizer": "adam",
        "eval_split": "validation",
        "steps_per_loop": 50,
    }
    return with_defaults(c)
