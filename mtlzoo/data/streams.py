"""Streamed multi-task data: splits that are tf.data pipelines, not arrays in memory.

A :class:`StreamData` is what the trainer gets from a streamed source (the ``files``
source, or ``tf.data.Dataset`` objects handed to ``mtlzoo.train(..., datasets=...)``). Each
split makes a dataset of single examples of the shared batch shape
``(features, labels, sample_weights)`` (:mod:`mtlzoo.data.base`), one epoch at a time:
``make(epoch)`` (a Python int) is epoch ``epoch``'s order (a seeded shuffle), ``make(None)``
the stored order; ``batches(epoch)`` the same examples in chunks (the ``files`` source makes
chunks, parsed a chunk at a time), which the trainer cuts into batches with
``Dataset.rebatch`` (no per-example step).

Training batches follow the rule of :mod:`mtlzoo.data.mixing`: the epochs form one endless
stream and step s is stream[s B : (s + 1) B]. A resumed run rebuilds the stream at epoch
floor(s B / n) and skips to its offset (sliced off the first chunks), so it sees the batches
an uninterrupted run sees (the shuffles are seeded by (seed, epoch) and the file interleave
is deterministic).

Example:
    >>> data = datasets_data({"train": train_ds, "validation": val_ds}, tasks, config)
    >>> data.dataset("validation", 32)        # batches, as TaskData.dataset gives them
"""

from mtlzoo import options
from mtlzoo.errors import ConfigError

SAMPLE_EXAMPLES = 1024  # examples of a split kept in memory for architecture statistics
CHUNK = 256  # examples per chunk when a split of single examples is read in chunks


class StreamSplit:
    """One streamed split: ``make(epoch)`` -> dataset of examples; ``num_examples`` per epoch.

    ``batched``: ``make`` yields chunks of examples (every tensor with a leading dimension, of
    any size) instead of single examples; :meth:`batches` gives chunks either way, which the
    trainer re-batches (``Dataset.rebatch``) without a per-example step."""

    def __init__(self, make, num_examples, shard=None, batched=False):
        self._make, self._batched = make, bool(batched)
        self.num_examples = int(num_examples)
        self._sample = None
        self._shard = shard

    def make(self, epoch):
        """Epoch ``epoch``'s examples (None: the stored order), one at a time."""
        return self._make(epoch).unbatch() if self._batched else self._make(epoch)

    def batches(self, epoch):
        """Epoch ``epoch``'s examples in chunks (each tensor with a leading dimension)."""
        return self._make(epoch) if self._batched else self._make(epoch).batch(CHUNK)

    def shard(self, index, count):
        """The part of the split input pipeline ``index`` of ``count`` reads (its own files, or
        every ``count``-th record; see the source), or None when the source cannot shard."""
        return None if self._shard is None or count <= 1 else self._shard(int(index), int(count))

    def __len__(self):
        return self.num_examples

    @property
    def features(self):
        """The features of the first ``SAMPLE_EXAMPLES`` examples as numpy arrays (bounded)."""
        if self._sample is None:
            import numpy as np

            batch = next(iter(self.batches(None).rebatch(SAMPLE_EXAMPLES).take(1)), None)
            self._sample = {} if batch is None else {k: np.asarray(v) for k, v in batch[0].items()}
        return self._sample


class StreamData:
    """Streamed splits with the interface the trainer uses (``split``, ``dataset``) plus
    :meth:`train_dataset` for the training stream. ``streamed`` tells it apart from TaskData."""

    streamed = True

    def __init__(self, splits, info=None):
        self.splits = dict(splits)
        self.info = dict(info or {})

    def split(self, name):
        if name not in self.splits:
            raise ConfigError("train.eval_split", f"split {name!r} not in the data; it has {', '.join(self.splits)}")
        if not self.splits[name].num_examples:
            raise ConfigError("data", f"the {name} split has no examples")
        return self.splits[name]

    def check_training(self, config):
        """ConfigError for training options that need the data in memory."""
        if config.train.weighting.name == "svd":
            raise ConfigError(
                "train.weighting.name", "SVD task reweighting needs in-memory data; a streamed source cannot use it"
            )
        if config.data.mixing != "joint":
            raise ConfigError("data.mixing", "a streamed source mixes tasks by interleaving its files: use 'joint'")
        self.split("train")

    def steps_per_epoch(self, batch_size):
        return max(1, -(-self.split("train").num_examples // int(batch_size)))

    def dataset(self, split, batch_size, input_names=None, shuffle=False, seed=0, repeat=False):
        """Batches of one split in stored order (``shuffle``: epoch 0's order), as TaskData.dataset."""
        import tensorflow as tf

        ds = self.split(split).batches(0 if shuffle else None)
        if input_names is not None:
            ds = ds.map(_select(input_names, split))
        if repeat:
            ds = ds.repeat()
        return ds.rebatch(int(batch_size)).prefetch(tf.data.AUTOTUNE)

    def train_dataset(self, input_names, batch_size, start_step, total_steps, input_context=None):
        """Training batches of steps ``start_step .. total_steps``, per input pipeline.

        With ``input_context`` (``strategy.distribute_datasets_from_function``) each pipeline
        yields, step after step, one batch per local replica (``batch_size / replicas``
        examples). With several pipelines (``MultiWorkerMirroredStrategy``: one per worker) and
        a source that shards (:meth:`StreamSplit.shard`: ``files``), each pipeline reads only
        its part (its own files, else every n-th record) as its own endless stream of seeded
        epochs, so step s of pipeline p is fixed by (seed, p, s) and a resumed worker skips to
        it; otherwise every pipeline reads the whole stream and keeps its replicas' slices of
        the global batch, in replica order (as :func:`mtlzoo.data.mixing.train_dataset`)."""
        import tensorflow as tf

        s = self.split("train")
        b = int(batch_size)
        replicas, pipelines, pipeline = 1, 1, 0
        if input_context is not None:
            replicas = input_context.num_replicas_in_sync
            pipelines, pipeline = input_context.num_input_pipelines, input_context.input_pipeline_id
        if b % replicas:
            raise ConfigError(
                "data.batch_size", f"the global batch of {b} examples does not split over {replicas} replicas"
            )
        per, local = b // replicas, replicas // pipelines
        part = s.shard(pipeline, pipelines)
        if part is not None:  # this worker reads its own part: its local replicas' share of each step
            if not part.num_examples:
                raise ConfigError("data.files", f"input pipeline {pipeline} of {pipelines} gets no training examples")
            s, b = part, local * per
        n = s.num_examples
        epoch, offset = divmod(int(start_step) * b, n)
        last = (int(total_steps) * b - 1) // n  # the epoch of the last example of the last step
        ds = _skip_rows(s.batches(epoch), offset)
        for e in range(epoch + 1, last + 1):  # each epoch its own seeded order (Python-int seeds)
            ds = ds.concatenate(s.batches(e))
        ds = ds.map(_select(input_names, "train")).rebatch(b, drop_remainder=True)
        ds = ds.take(int(total_steps) - int(start_step))
        if part is not None:
            if local > 1:
                ds = ds.rebatch(per)
        elif replicas > 1:  # one stream read by every pipeline: each keeps its replicas' slices
            lo, hi = pipeline * local * per, (pipeline + 1) * local * per
            ds = ds.map(lambda f, y, w: tf.nest.map_structure(lambda t: t[lo:hi], (f, y, w))).rebatch(per)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def _skip_rows(chunks, n):
    """A stream of chunks without its first ``n`` examples (sliced off the first chunks)."""
    import tensorflow as tf

    if not n:
        return chunks

    def step(left, chunk):
        rows = tf.shape(tf.nest.flatten(chunk)[0], out_type=tf.int64)[0]
        k = tf.minimum(left, rows)
        return left - k, tf.nest.map_structure(lambda t: t[k:], chunk)

    rows_left = chunks.scan(tf.constant(int(n), tf.int64), step)
    return rows_left.filter(lambda *c: tf.shape(tf.nest.flatten(c)[0])[0] > 0)


def _select(input_names, split):
    names = list(input_names)

    def select(f, y, w):
        missing = [k for k in names if k not in f]
        if missing:
            raise ConfigError("data.features", f"the {split} data has no input {missing[0]!r} the model needs")
        return {k: f[k] for k in names}, y, w

    return select


# --------------------------------------------------------------------------- user datasets


def _check_structure(ds, tasks, split):
    """ConfigError unless ``ds`` yields ``(features dict, labels dict, weights dict)`` over the tasks."""
    import tensorflow as tf

    field = f"datasets[{split!r}]"
    if not isinstance(ds, tf.data.Dataset):
        raise ConfigError(field, f"must be a tf.data.Dataset, got {type(ds).__name__}")
    spec = ds.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 3 and all(isinstance(p, dict) for p in spec)):
        raise ConfigError(field, "must yield (features, labels, sample_weights) batches, three dicts of tensors")
    for part, name in ((spec[1], "labels"), (spec[2], "sample_weights")):
        for t in tasks:
            if t.name not in part:
                raise ConfigError(field, f"its {name} have no entry for task {t.name!r}")
    for k, s in {**spec[0], **spec[1], **spec[2]}.items():
        if s.shape.rank is not None and s.shape.rank < 1:
            raise ConfigError(field, f"{k!r} is a scalar: the datasets must be batched (ds.batch(n))")


def datasets_data(datasets, tasks, config):
    """A :class:`StreamData` over user ``tf.data.Dataset``s of the shared batch shape.

    Args:
        datasets: ``{"train": ds, "validation": ds, ...}``; each yields batches
            ``(features, labels, sample_weights)`` (any batch size: they are re-batched by
            ``data.batch_size``). A missing ``task_id`` feature is 0; a tagging task's weights
            may be ``[batch]`` or ``[batch, 1]``.
        tasks: the configured TaskSpecs.
        config: the resolved run config: the training split is shuffled with a
            ``data.shuffle_buffer`` buffer (default 10,000) seeded by (``seed``, epoch).

    The number of examples per split is counted with one pass over each dataset.
    """
    import tensorflow as tf

    if not hasattr(datasets, "items") or "train" not in datasets:
        raise ConfigError("datasets", "pass a mapping with at least a 'train' tf.data.Dataset")
    seed, shuffle_buffer = int(config.seed), int(config.data.get("shuffle_buffer") or 10000)
    seq = {t.name for t in tasks if t.is_sequence}
    names = [t.name for t in tasks]

    def normalise(f, y, w):
        f = dict(f)
        if "task_id" not in f:
            f["task_id"] = tf.zeros([], tf.int32)
        w = {k: tf.reshape(tf.cast(w[k], tf.float32), [1] if k in seq else []) for k in names}
        return f, {k: y[k] for k in names}, w

    splits = {}
    for split, ds in datasets.items():
        _check_structure(ds, tasks, split)
        examples = ds.unbatch().map(normalise)
        n = int(examples.reduce(tf.constant(0, tf.int64), lambda c, _: c + 1))

        def make(epoch, examples=examples, split=split):
            if epoch is None or split != "train":
                return examples
            s = ((seed * 1_000_003 + int(epoch)) * 1_009) % (2**31 - 1)
            return examples.shuffle(shuffle_buffer, seed=s, reshuffle_each_iteration=False)

        splits[split] = StreamSplit(make, n)
    return StreamData(splits)


class DatasetsSource:
    """``data.source: datasets``: the data are ``tf.data.Dataset`` objects handed to
    ``mtlzoo.train(config, workdir, datasets={"train": ..., "validation": ...})``."""

    name = "datasets"
    schema = options.SOURCES["datasets"]

    @staticmethod
    def check(opts, tasks):
        pass

    @staticmethod
    def load(opts, tasks, seed):
        raise ConfigError(
            "data.source",
            "the 'datasets' source reads tf.data.Datasets passed in Python: "
            "mtlzoo.train(config, workdir, datasets={'train': ds, 'validation': ds})",
        )
