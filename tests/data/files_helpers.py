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
    """A split's examples (stored order, or ``epoch``'s shuffled order) as lists of numpy dicts:
    the chunks the trainer reads (``StreamSplit.batches``), cut into examples here
    (:func:`examples_of`)."""
    return examples_of(data.split(split).batches(epoch))


def assert_same_examples(a, b):
    """Two ``(features, labels, weights)`` lists of numpy dicts (:func:`read_split`) are equal,
    example by example and key by key (NaN equals NaN); neither is empty."""
    fa, ya, wa = a
    fb, yb, wb = b
    assert len(fa) == len(fb) > 0
    for x, y in ((fa, fb), (ya, yb), (wa, wb)):
        for u, v in zip(x, y, strict=True):
            assert u.keys() == v.keys()
            for k in u:
                np.testing.assert_array_equal(u[k], v[k], err_msg=k)


def examples_of(chunks):
    """The examples of a stream of ``(features, labels, weights)`` chunks (every tensor with a
    leading dimension, ``StreamSplit.batches``) as three lists of numpy dicts, one per example,
    each value as ``np.asarray`` of the unbatched tensor gives it (cut in numpy: no step of
    TensorFlow's iterator per example)."""
    out = ([], [], [])
    for parts in chunks:
        for o, x in zip(out, parts, strict=True):
            cols = {k: np.asarray(v) for k, v in x.items()}
            n = len(next(iter(cols.values()))) if cols else 0
            o.extend({k: np.asarray(v[j]) for k, v in cols.items()} for j in range(n))
    return out


def assert_same_streams(a, b, train_epochs, resumed_steps):
    """Two loadings of the same files (two readers) give the same data: split sizes, every split
    in stored order and the training split in ``train_epochs``' orders, the shards of 3 input
    pipelines (by files when there are 4 training files) and of 5 (every 5th record), and the
    training stream a run resumed at step 27 rebuilds (batches of 16, ``resumed_steps`` in all).
    Returns what it read of ``a`` in stored order ({split: :func:`read_split`}; the training
    split when ``train_epochs`` holds None), for further checks without a second read."""
    assert a.info["vocabularies"] == b.info["vocabularies"]
    stored = {}
    for split, epochs in (("train", train_epochs), ("validation", (None,)), ("test", (None,))):
        assert len(a.split(split)) == len(b.split(split))
        for epoch in epochs:
            got = read_split(a, split, epoch)
            assert_same_examples(got, read_split(b, split, epoch))
            if epoch is None:
                stored[split] = got
    for count, p in ((3, 2), (5, 4)):
        sa, sb = a.split("train").shard(p, count), b.split("train").shard(p, count)
        assert sa.num_examples == sb.num_examples
        assert_same_examples(examples_of(sa.batches(1)), examples_of(sb.batches(1)))
    xa = [batch[0]["features"].numpy() for batch in a.train_dataset(["features"], 16, 27, resumed_steps)]
    xb = [batch[0]["features"].numpy() for batch in b.train_dataset(["features"], 16, 27, resumed_steps)]
    np.testing.assert_array_equal(np.concatenate(xa), np.concatenate(xb))
    return stored
