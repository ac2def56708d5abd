"""Task mixing: the training batches of every step, as a pure function of (seed, step).

Two modes (``data.mixing``):

* ``joint``: every step sees every task. Examples are grouped by ``task_id``
  (shared-input data has one group: each example carries every label); each step
  takes ``batch_size`` examples from every group, so heterogeneous tasks with their
  own data contribute one sub-batch each (global batch = groups x batch_size).
* ``interleaved``: each step draws ``batch_size`` examples from one task's labelled
  examples, the task chosen by a sampler (:mod:`mtlzoo.data.samplers`); only that
  task's labels carry weight in the batch.

Each group's examples form an endless stream of per-epoch permutations seeded by
(seed, group, epoch), and batch j of a group is stream[j B : (j + 1) B]. So the
batch of step s never depends on what ran before: a resumed run rebuilds the
pipeline at its step and sees exactly the batches an uninterrupted run sees, and
the global batch is the same whatever the number of replicas.

Length bucketing: when the split has a ``length`` feature (real tokens per example,
:mod:`mtlzoo.data.base`), each per-epoch permutation is cut into windows of
``BUCKET_BATCHES`` batches and each window is sorted by length (the "megabatch" grouping
of Hugging Face's ``LengthGroupedSampler``), so a batch holds examples of similar length;
every batch is then cut to its longest example (:func:`mtlzoo.data.base.trim_to_longest`).
Still a pure function of (seed, group, epoch).
"""

import functools

import numpy as np

from mtlzoo.data.base import TOKEN_KEYS, is_sequence_label, trim_to_longest
from mtlzoo.errors import ConfigError

CHUNK = 64  # steps whose row indices the generator hands to TensorFlow at once
BUCKET_BATCHES = 50  # batches per length-sorted window


class BatchPlan:
    """Which rows of a split form the global batch of each step.

    Args:
        split: a :class:`mtlzoo.data.Split`.
        task_names: task order (task_id i is ``task_names[i]``).
        batch_size: examples per group (joint) or per step (interleaved).
        mode: ``joint`` or ``interleaved``.
        sampler: a :class:`mtlzoo.data.samplers.Sampler` (interleaved only).
        seed: the run's seed.
        total_steps: planned training steps (the annealed sampler decays over them).
    """

    def __init__(self, split, task_names, batch_size, mode="joint", sampler=None, seed=0, total_steps=1):
        self.task_names = list(task_names)
        self.batch_size = int(batch_size)
        self.mode = mode
        self.seed = int(seed)
        self.total_steps = int(total_steps)
        self.lengths = np.asarray(split.features["length"]) if "length" in split.features else None
        if mode == "joint":
            task_id = np.asarray(split.features.get("task_id", np.zeros(len(split), np.int64)))
            self.pools = [np.flatnonzero(task_id == g) for g in np.unique(task_id)]
        elif mode == "interleaved":
            self.pools = [np.flatnonzero(np.asarray(split.weights[t]) > 0) for t in self.task_names]
            empty = [t for t, p in zip(self.task_names, self.pools, strict=True) if len(p) == 0]
            if empty:
                raise ConfigError("data.mixing", f"task {empty[0]!r} has no labelled training example to sample")
            self.choices = sampler.choices(
                [len(p) for p in self.pools], 0, self.total_steps, self.total_steps, self.seed
            )
            self.cursor = np.zeros(self.total_steps, np.int64)
            for t in range(len(self.task_names)):
                at = np.flatnonzero(self.choices == t)
                self.cursor[at] = np.arange(len(at))
        else:
            raise ConfigError("data.mixing", f"unknown mixing mode {mode!r}; choose joint or interleaved")
        self._perm = functools.lru_cache(maxsize=4 * len(self.pools) + 4)(self._permutation)

    @property
    def global_batch_size(self):
        return self.batch_size * (len(self.pools) if self.mode == "joint" else 1)

    def _permutation(self, pool, epoch):
        perm = np.random.default_rng([self.seed, pool, epoch]).permutation(len(self.pools[pool]))
        if self.lengths is None:
            return perm
        lengths = self.lengths[self.pools[pool][perm]]
        window = BUCKET_BATCHES * self.batch_size
        for lo in range(0, len(perm), window):  # sort each window by length, longest first
            order = np.argsort(-lengths[lo : lo + window], kind="stable")
            perm[lo : lo + window] = perm[lo : lo + window][order]
        return perm

    def _stream(self, pool, j):
        n, b = len(self.pools[pool]), self.batch_size
        lo, hi = j * b, (j + 1) * b
        first, last = lo // n, (hi - 1) // n
        if first == last:  # the usual case: slice one cached permutation, copy nothing else
            perm = self._perm(pool, first)[lo - first * n : hi - first * n]
        else:
            perm = np.concatenate([self._perm(pool, e) for e in range(first, last + 1)])[
                lo - first * n : hi - first * n
            ]
        return self.pools[pool][perm]

    def step(self, s):
        """Returns ``(rows, task_mask)`` of step ``s``: row indices and a 0/1 vector over tasks."""
        k = len(self.task_names)
        if self.mode == "joint":
            rows = np.concatenate([self._stream(p, s) for p in range(len(self.pools))])
            return rows, np.ones(k, np.float32)
        if s >= self.total_steps:
            raise IndexError(f"step {s} is past the planned {self.total_steps} steps")
        t = int(self.choices[s])
        mask = np.zeros(k, np.float32)
        mask[t] = 1.0
        return self._stream(t, int(self.cursor[s])), mask


def train_dataset(split, plan, input_names, start_step=0, input_context=None):
    """A ``tf.data.Dataset`` of training batches for steps ``start_step .. plan.total_steps``.

    With ``input_context`` (from ``strategy.distribute_datasets_from_function``) each
    input pipeline yields, step after step, the per-replica slices of the global batch
    that belong to its local replicas, in replica order.
    """
    import tensorflow as tf

    replicas, pipelines, pipeline = 1, 1, 0
    if input_context is not None:
        replicas = input_context.num_replicas_in_sync
        pipelines, pipeline = input_context.num_input_pipelines, input_context.input_pipeline_id
    g = plan.global_batch_size
    if g % replicas:
        raise ConfigError(
            "data.batch_size", f"the global batch of {g} examples does not split over {replicas} replicas"
        )
    local = replicas // pipelines
    per = g // replicas

    def rows():  # index arrays for CHUNK steps at a time: one trip through Python per chunk
        for c in range(start_step, plan.total_steps, CHUNK):
            r_out, m_out = [], []
            for s in range(c, min(c + CHUNK, plan.total_steps)):
                r, mask = plan.step(s)
                for j in range(local):
                    lo = (pipeline * local + j) * per
                    r_out.append(r[lo : lo + per])
                    m_out.append(mask)
            yield np.stack(r_out), np.stack(m_out)

    trim = plan.lengths is not None and any(k in input_names for k in TOKEN_KEYS)
    keep = "length" in input_names
    feats = {k: tf.constant(split.features[k]) for k in [*input_names, *([] if keep or not trim else ["length"])]}
    labels = {k: tf.constant(v) for k, v in split.labels.items()}
    weights = {
        k: tf.constant(v[:, None] if is_sequence_label(split.labels[k]) else v) for k, v in split.weights.items()
    }
    names = plan.task_names

    def gather(r, mask):
        f = {k: tf.gather(v, r) for k, v in feats.items()}
        y = {k: tf.gather(v, r) for k, v in labels.items()}
        # r: [steps, per] rows and mask: [steps, k] -> one batch per step, stacked
        w = {
            k: tf.gather(v, r) * tf.reshape(mask[:, names.index(k)], [-1] + [1] * len(v.shape))
            for k, v in weights.items()
        }
        return f, y, w

    ds = tf.data.Dataset.from_generator(
        rows,
        output_signature=(tf.TensorSpec([None, per], tf.int64), tf.TensorSpec([None, len(names)], tf.float32)),
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    if trim:  # each step's batch padded only to its longest example
        ds = ds.map(lambda f, y, w: (trim_to_longest(f, keep), y, w))
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)
