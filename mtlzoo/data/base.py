"""In-memory multi-task data in the one batch shape, and its tf.data pipeline.

Every example is ``(features, labels, sample_weights)``:

* ``features``: dict of arrays, always with ``task_id`` (int32): the task the
  example comes from (0 for data where every example carries every label);
* ``labels``: dict task -> array; a placeholder (0) where the example has no label;
* ``sample_weights``: dict task -> float32 ``[batch]``; 0 where the label is
  missing or the example belongs to another task. For tagging tasks the batch
  carries it as ``[batch, 1]`` so that it broadcasts over tokens (Keras merges it
  with the padding mask: loss = sum_it w_i m_it l_it / sum_it m_it).

Heterogeneous tasks (each with its own data), shared-input tasks and missing
labels are all this one shape, and Keras ``fit`` trains on it directly.

A text source may add ``length`` (int32 ``[n]``: real tokens of each example, left-aligned
and padded after). The batches are then cut to their longest example (rounded up to a
multiple of ``PAD_MULTIPLE``) instead of the split's full width (:func:`trim_to_longest`),
and training batches are length-bucketed (:mod:`mtlzoo.data.mixing`).
"""

import dataclasses

import numpy as np

from mtlzoo.errors import ConfigError

TOKEN_KEYS = ("token_ids", "segment_ids", "padding_mask")  # the bert encoder's inputs
PAD_MULTIPLE = 8  # batch widths are multiples of 8: few distinct shapes for XLA, tensor-core friendly


def trim_to_longest(features, keep_length=False, multiple=PAD_MULTIPLE):
    """Cuts a batch's token features to its longest example: ``[b, T] -> [b, L]``.

    ``L`` = max of ``features["length"]`` rounded up to a multiple of ``multiple`` (at most
    ``T``). Valid because the padding sits after the real tokens, so the cut drops padding
    only. ``length`` is removed unless ``keep_length`` (a model input named so).
    """
    import tensorflow as tf

    features = dict(features)
    length = features["length"] if keep_length else features.pop("length")
    longest = tf.cast(tf.reduce_max(length), tf.int32)
    rounded = (longest + multiple - 1) // multiple * multiple
    for k in TOKEN_KEYS:
        if k in features:
            features[k] = features[k][:, : tf.minimum(rounded, tf.shape(features[k])[1])]
    return features


@dataclasses.dataclass
class Split:
    """One split: ``features``, ``labels`` and ``weights`` dicts of equal-length arrays."""

    features: dict
    labels: dict
    weights: dict

    def __post_init__(self):
        sizes = {len(v) for d in (self.features, self.labels, self.weights) for v in d.values()}
        if len(sizes) != 1:
            raise ValueError(f"all arrays of a split must have the same length, got lengths {sorted(sizes)}")

    def __len__(self):
        return len(next(iter(self.features.values())))

    def labelled_counts(self):
        """Examples with a label (weight > 0), per task."""
        return {t: int((np.asarray(w) > 0).sum()) for t, w in self.weights.items()}


@dataclasses.dataclass
class TaskData:
    """A multi-task data set: named splits (``train``, ``validation``, ``test``) of one shape."""

    splits: dict
    info: dict = dataclasses.field(default_factory=dict)

    def split(self, name):
        if name not in self.splits:
            raise ConfigError("train.eval_split", f"split {name!r} not in the data; it has {', '.join(self.splits)}")
        return self.splits[name]

    def dataset(self, split, batch_size, input_names=None, shuffle=False, seed=0, repeat=False):
        """A ``tf.data.Dataset`` of ``(features, labels, sample_weights)`` batches.

        Args:
            split: split name.
            batch_size: examples per batch.
            input_names: keep only these feature keys (a model's inputs); None keeps all.
            shuffle: shuffle with ``seed`` (a new order every epoch, reproducible by seed).
            repeat: repeat forever (for ``steps_per_epoch`` training).
        """
        import tensorflow as tf

        s = self.split(split)
        feats = s.features if input_names is None else {k: s.features[k] for k in input_names}
        missing = set(input_names or ()) - set(s.features)
        if missing:
            raise ConfigError("data.source", f"the data has no feature {sorted(missing)[0]!r} the model needs")
        weights = {t: w[:, None] if is_sequence_label(s.labels[t]) else w for t, w in s.weights.items()}
        trim = "length" in s.features and any(k in feats for k in TOKEN_KEYS)
        keep = "length" in feats
        if trim:
            feats = {**feats, "length": s.features["length"]}
        ds = tf.data.Dataset.from_tensor_slices((feats, s.labels, weights))
        if shuffle:
            ds = ds.shuffle(len(s), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size)
        if trim:
            ds = ds.map(lambda f, y, w: (trim_to_longest(f, keep), y, w))
        return ds.prefetch(tf.data.AUTOTUNE)


def is_sequence_label(labels):
    """Tagging labels are integer class ids per token: an int array of rank 2."""
    labels = np.asarray(labels)
    return labels.ndim == 2 and np.issubdtype(labels.dtype, np.integer)


def split_indices(n, fractions, seed):
    """Seeded random split of ``range(n)`` into parts of the given fractions (rest goes first)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    sizes = [int(round(f * n)) for f in fractions]
    first = n - sum(sizes)
    if first <= 0:
        raise ConfigError("data", f"split fractions {fractions} leave no training examples")
    bounds = np.cumsum([first, *sizes])
    return np.split(order, bounds[:-1])


def check_task_kinds(tasks, available, source):
    """Checks every configured task exists in the source with a matching kind and size.

    ``available``: {name: (kind, num_classes)}.
    """
    for spec in tasks:
        if spec.name not in available:
            raise ConfigError(
                f"tasks.{spec.name}",
                f"data source {source!r} has no task {spec.name!r}; it has {', '.join(available)}",
            )
        kind, n = available[spec.name]
        if spec.kind != kind or spec.num_classes != n:
            raise ConfigError(
                f"tasks.{spec.name}.kind",
                f"source {source!r} gives {spec.name!r} as kind {kind!r} with {n} classes, "
                f"the config says {spec.kind!r} with {spec.num_classes}",
            )
