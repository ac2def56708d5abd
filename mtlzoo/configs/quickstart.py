"""Quickstart: three tasks on scikit-learn's bundled digits, one shared MLP.

    python tools/train.py --config=configs/quickstart.py --workdir=/tmp/mtlzoo_quickstart

Tasks share one input: ``digit`` (10 classes), ``parity`` (odd?) and
``magnitude`` (>= 5?). No download; about a minute on 2 CPU cores.
"""

import ml_collections

from mtlzoo.config import with_defaults


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {
        "digit": {"kind": "multiclass", "num_classes": 10},
        "parity": {"kind": "binary"},
        "magnitude": {"kind": "binary"},
    }
    c.data = {"source": "digits", "batch_size": 32, "validation_fraction": 0.15, "test_fraction": 0.15}
    c.model = {
        "architecture": "shared_bottom",
        "encoder": {"name": "mlp", "input_dim": 64, "units": (128, 64), "dropout": 0.1},
        "tower": {"units": (32,), "activation": "relu", "dropout": 0.0},
    }
    c.train = {"epochs": 10, "learning_rate": 2e-3, "optimizer": "adam", "eval_split": "validation"}
    return with_defaults(c)
