"""A small 3-task config for distribution and resume tests (synthetic data, no dropout)."""

import ml_collections

from mtlzoo.config import with_defaults


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 1
    c.tasks = {
        "a": {"kind": "binary"},
        "b": {"kind": "regression"},
        "c": {"kind": "multiclass", "num_classes": 3},
    }
    c.data = {"source": "synthetic", "batch_size": 8, "examples_per_task": 96, "input_dim": 8, "relatedness": 0.3}
    c.model = {"encoder": {"name": "mlp", "input_dim": 8, "units": (16, 16)}, "tower": {"units": (8,)}}
    c.train = {
        "epochs": 3,
        "learning_rate": 0.05,
        "optimizer": "sgd",
        "aggregator": {"name": "pcgrad"},
        "steps_per_loop": 4,
        "verbose": 0,
    }
    return with_defaults(c)
