"""The six sentiment tasks of Wu, Zhang & Ré (2020) with an MLP, CNN or LSTM shared module.

    python tools/train.py --config=configs/sentiment.py:lstm --workdir=/tmp/sentiment_lstm
    python tools/train.py --config=configs/sentiment.py:text_cnn,mr --workdir=/tmp/stl_cnn_mr
    python tools/transfer_report.py --config=configs/sentiment.py:text_mlp --workdir=/tmp/pairs
    python tools/transfer_report.py --config=configs/sentiment.py:text_mlp,glove --workdir=/tmp/pairs_glove

The argument after ``:`` is ``ENCODER[,TASK...][,align][,glove]``: ENCODER is ``text_mlp`` (mean
of word embeddings + a dense layer, the paper's MLP), ``text_cnn`` or ``lstm`` (BiLSTM, max
pooling); the TASKs (default: all six, ``mr subj cr mpqa trec sst2``) pick a subset, one
task = a single-task model; ``align`` switches on the covariance alignment R_i between
the embedding E and the shared module B (``model.alignment = joint``, Algorithm 1).

The model is the paper's: shared E and B, one linear head A_i per task (no tower).
``model.encoder.units`` / ``hidden`` / ``num_filters`` is the shared capacity r. The vocabulary
(10,000 words, padding and ``[UNK]`` included) is built from the configured tasks' training
splits. Without ``glove`` the 64-d embeddings are trained from scratch. With ``glove`` they are
GloVe 6B 50d (Pennington et al. 2014, as in the paper), read from
``$MTLZOO_DATA_DIR/glove/glove.6B.50d.pruned.txt`` (``model.encoder.embedding_pretrained``; the
rows follow the run's own vocabulary, out-of-vocabulary rows are drawn like the found ones and
the hit / OOV counts are printed) and fine-tuned (``embedding_trainable: true``; chosen over
frozen on a validation run: docs/reproductions.md, "With GloVe 6B 50d embeddings"). Reads
``$MTLZOO_DATA_DIR/sentiment/``; a missing GloVe file is a ConfigError naming the path.
"""

import os

import ml_collections

from mtlzoo.config import with_defaults
from mtlzoo.errors import ConfigError

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
GLOVE_FILE = os.path.join("glove", "glove.6B.50d.pruned.txt")  # under $MTLZOO_DATA_DIR
GLOVE_DIM = 50
GLOVE_TRAINABLE = True  # fine-tuned: see the module docstring
FLAGS = ("align", "glove")


def parse(arg):
    """``"lstm,mr,align,glove"`` -> ``("lstm", ("mr",), {"align", "glove"})``; ValueError naming a bad part."""
    parts = [p.strip() for p in (arg or "lstm").split(",") if p.strip()]
    encoder, rest = parts[0], parts[1:]
    if encoder not in ENCODERS:
        raise ValueError(f"configs/sentiment.py: unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    flags = {p for p in rest if p in FLAGS}
    tasks = tuple(p for p in rest if p not in FLAGS)
    for t in tasks:
        if t not in SIX + ("sst5",):
            raise ValueError(
                f"configs/sentiment.py: unknown task {t!r}; choose from {', '.join(SIX)}, sst5 (or the flags align, glove)"
            )
    return encoder, tasks or SIX, flags


def glove_path():
    """``$MTLZOO_DATA_DIR/glove/glove.6B.50d.pruned.txt``; ConfigError when unset or absent."""
    root = os.environ.get("MTLZOO_DATA_DIR")
    if not root:
        raise ConfigError(
            "model.encoder.embedding_pretrained",
            f"configs/sentiment.py:...,glove reads $MTLZOO_DATA_DIR/{GLOVE_FILE}, but MTLZOO_DATA_DIR is not set",
        )
    path = os.path.join(root, GLOVE_FILE)
    if not os.path.isfile(path):
        raise ConfigError(
            "model.encoder.embedding_pretrained",
            f"configs/sentiment.py:...,glove needs the GloVe 6B 50d file {path}, which does not exist",
        )
    return path


def get_config(arg=None):
    encoder, tasks, flags = parse(arg)
    align = "align" in flags
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
    if "glove" in flags:
        c.model.encoder.embedding_dim = GLOVE_DIM
        c.model.encoder.embedding_pretrained = glove_path()
        c.model.encoder.embedding_trainable = GLOVE_TRAINABLE
    c.train = {
        "epochs": EPOCHS[encoder],
        "learning_rate": 2e-3,
        "optimizer": "adam",
        "eval_split": "validation",
        "steps_per_loop": 50,
    }
    return with_defaults(c)
