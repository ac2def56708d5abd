"""Embedded task sources: data that ships with mtlzoo or its dependencies, no download.

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images), shared
  input for three tasks: ``digit`` (multiclass, 10), ``parity`` (binary: odd),
  ``magnitude`` (binary: digit >= 5). Features as ``features`` [64] and ``image``
  [8, 8, 1], scaled to [0, 1].
* ``synthetic``: mtlzoo's own heterogeneous tasks, each with its own examples
  x ~ N(0, I_d) and a task vector theta_i = sqrt(r) theta_g(i) + sqrt(1 - r) u_i (r =
  ``relatedness``; tasks of one group g share theta_g, so cos(theta_i, theta_j) ~ r within a
  group and ~ 0 across groups; ``groups`` maps tasks to group ids, default one group); binary y = [x.theta_i > 0],
  regression y = x.theta_i + noise, multiclass y = argmax x W_i.
"""

import zlib

import numpy as np

from mtlzoo import options
from mtlzoo.data.base import Split, TaskData, check_task_kinds, split_indices
from mtlzoo.errors import ConfigError


def _drop_labels(weights, label_fraction, rng):
    """Keeps each task's label on a random ``label_fraction`` of examples (weight 0 elsewhere)."""
    if label_fraction >= 1:
        return weights
    return {t: w * (rng.random(len(w)) < label_fraction).astype(np.float32) for t, w in weights.items()}


class DigitsSource:
    name = "digits"
    schema = options.SOURCES["digits"]
    TASKS = {"digit": ("multiclass", 10), "parity": ("binary", 2), "magnitude": ("binary", 2)}

    @staticmethod
    def check(opts, tasks):
        check_task_kinds(tasks, DigitsSource.TASKS, "digits")

    @staticmethod
    def load(opts, tasks, seed):
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.data / 16.0).astype(np.float32)
        y = d.target.astype(np.int32)
        all_labels = {
            "digit": y,
            "parity": (y % 2).astype(np.float32)[:, None],
            "magnitude": (y >= 5).astype(np.float32)[:, None],
        }
        rng = np.random.default_rng(seed)
        parts = split_indices(len(y), [opts["validation_fraction"], opts["test_fraction"]], seed)
        splits = {}
        for name, idx in zip(("train", "validation", "test"), parts, strict=True):
            if len(idx) == 0:
                continue
            labels = {t.name: all_labels[t.name][idx] for t in tasks}
            weights = {t.name: np.ones(len(idx), np.float32) for t in tasks}
            if name == "train":
                weights = _drop_labels(weights, opts["label_fraction"], rng)
            feats = {"features": x[idx], "image": x[idx].reshape(-1, 8, 8, 1), "task_id": np.zeros(len(idx), np.int32)}
            splits[name] = Split(feats, labels, weights)
        return TaskData(splits, info={"input_dim": 64, "image_shape": (8, 8, 1)})


class SyntheticSource:
    name = "synthetic"
    schema = options.SOURCES["synthetic"]

    @staticmethod
    def check(opts, tasks):
        for t in tasks:
            if t.kind not in ("binary", "regression", "multiclass"):
                raise ConfigError(
                    f"tasks.{t.name}.kind",
                    f"the synthetic source makes binary, regression and multiclass tasks, not {t.kind}",
                )
            if t.kind == "multiclass" and t.num_classes > 10:
                raise ConfigError(f"tasks.{t.name}.num_classes", "the synthetic source makes at most 10 classes")
        for name, g in dict(opts.get("groups") or {}).items():  # names of unconfigured tasks are allowed
            if isinstance(g, bool) or not isinstance(g, int) or g < 0:
                raise ConfigError(f"data.groups.{name}", f"a group id must be an integer >= 0, got {g!r}")

    @staticmethod
    def load(opts, tasks, seed):
        rng = np.random.default_rng(seed)
        d, n, r = opts["input_dim"], opts["examples_per_task"], opts["relatedness"]
        base = rng.normal(size=(d, 10))
        feats, labels = [], {t.name: [] for t in tasks}
        weights = {t.name: [] for t in tasks}
        for i, t in enumerate(tasks):
            # a task's data depends on (seed, its name) only, not on which other tasks are
            # configured, so single-task and multi-task runs see the same examples of it
            task_rng = np.random.default_rng([seed, zlib.crc32(t.name.encode())])
            x = task_rng.normal(size=(n, d)).astype(np.float32)
            group = int(dict(opts.get("groups") or {}).get(t.name, 0))
            shared = base if group == 0 else np.random.default_rng([seed, 1000 + group]).normal(size=(d, 10))
            theta = np.sqrt(r) * shared + np.sqrt(1 - r) * task_rng.normal(size=(d, 10))
            z = x @ theta / np.sqrt(d)
            if t.kind == "binary":
                y = (z[:, :1] > 0).astype(np.float32)
            elif t.kind == "regression":
                y = (z[:, : t.num_classes] + opts["noise"] * task_rng.normal(size=(n, t.num_classes))).astype(
                    np.float32
                )
            else:
                y = np.argmax(z[:, : t.num_classes], axis=1).astype(np.int32)
            feats.append((x, np.full(n, i, np.int32)))
            for u in tasks:
                if u.name == t.name:
                    labels[u.name].append(y)
                    weights[u.name].append(np.ones(n, np.float32))
                else:  # placeholder label, weight 0: the example belongs to another task
                    labels[u.name].append(np.zeros((n, *[s for s in u.label_shape()]), dtype=u.label_dtype()))
                    weights[u.name].append(np.zeros(n, np.float32))
        x = np.concatenate([f[0] for f in feats])
        tid = np.concatenate([f[1] for f in feats])
        labels = {k: np.concatenate(v) for k, v in labels.items()}
        weights = {k: np.concatenate(v) for k, v in weights.items()}
        # each task's examples are split by (seed, task name): the same split in every subset
        fractions = [opts["validation_fraction"], opts["test_fraction"]]
        per_task = [split_indices(n, fractions, [seed, zlib.crc32(t.name.encode())]) for t in tasks]
        parts = [np.concatenate([i * n + p[j] for i, p in enumerate(per_task)]) for j in range(3)]
        splits = {}
        for name, idx in zip(("train", "validation", "test"), parts, strict=True):
            if len(idx) == 0:
                continue
            w = {k: v[idx] for k, v in weights.items()}
            if name == "train":
                w = _drop_labels(w, opts["label_fraction"], rng)
            splits[name] = Split({"features": x[idx], "task_id": tid[idx]}, {k: v[idx] for k, v in labels.items()}, w)
        return TaskData(splits, info={"input_dim": d})
