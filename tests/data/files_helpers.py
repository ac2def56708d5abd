"""Helpers of the file-source tests: load a ``files`` data config, read a split back as numpy."""

import ml_collections
import numpy as np

from mtlzoo.data import load_data, resolve_data_config
from mtlzoo.tasks import tasks_from_config


def load(tasks, data, seed=0):
    """Resolves ``data`` (a ``files`` section) for ``tasks`` and loads it (a StreamData)."""
    specs = tasks_from_config(tasks)
    resolved = resolve_data_config({"source": "files", "batch_size": 4, **data}, specs)
    return load_data(ml_collections.ConfigDict({"seed": seed, "data": resolved}), specs)


def read_split(data, split, epoch=None):
    """A split's examples (stored order, or ``epoch``'s shuffled order) as lists of numpy dicts."""
    feats, labels, weights = [], [], []
    for f, y, w in data.split(split).make(epoch):
        feats.append({k: np.asarray(v) for k, v in f.items()})
        labels.append({k: np.asarray(v) for k, v in y.items()})
        weights.append({k: np.asarray(v) for k, v in w.items()})
    return feats, labels, weights
