"""Streams of chunks: tf.data datasets whose elements are chunks of rows (every tensor of an
element with a leading dimension n, the rows of the chunk; ragged tensors allowed), and the
row-level operations the ``files`` source needs on them, each one vectorised over a chunk:
keep every n-th row, take the first n rows, put a chunk's rows in a seeded random order."""


def mask(t, keep):
    """The rows of ``t`` (dense or ragged) where ``keep`` [n] is true."""
    import tensorflow as tf

    return tf.ragged.boolean_mask(t, keep) if isinstance(t, tf.RaggedTensor) else tf.boolean_mask(t, keep)


def rows_of(chunk):
    """n, the rows of a chunk (the leading dimension of its first tensor), int64."""
    import tensorflow as tf

    first = tf.nest.flatten(chunk, expand_composites=False)[0]
    if isinstance(first, tf.RaggedTensor):
        return first.nrows()
    return tf.shape(first, out_type=tf.int64)[0]


def every_nth(chunks, count, index):
    """The rows at positions index, index + count, ... of a stream of chunks (a vectorised
    ``unbatch().shard(count, index).batch(...)``)."""
    import tensorflow as tf

    def step(seen, chunk):
        n = rows_of(chunk)
        keep = tf.equal((seen + tf.range(n)) % count, index)
        return seen + n, tf.nest.map_structure(lambda t: mask(t, keep), chunk)

    return chunks.scan(tf.constant(0, tf.int64), step).filter(lambda *c: rows_of(c) > 0)


def take_rows(chunks, n):
    """The first ``n`` rows of a stream of non-empty chunks."""
    import tensorflow as tf

    def step(left, chunk):
        k = tf.minimum(left, rows_of(chunk))
        return left - k, tf.nest.map_structure(lambda t: t[:k], chunk)

    return chunks.scan(tf.constant(int(n), tf.int64), step).take_while(lambda *c: rows_of(c) > 0)


def permuted(chunk, seed):
    """The rows of a chunk in a seeded random order (``seed``: two integers):
    ``tf.random.experimental.stateless_shuffle`` of the row indices (about a quarter of the CPU
    of sorting n random keys, docs/benchmarks.md "Eighth pass")."""
    import tensorflow as tf

    order = tf.random.experimental.stateless_shuffle(tf.range(rows_of(chunk)), seed=tf.cast(seed, tf.int64))
    return tf.nest.map_structure(lambda t: tf.gather(t, order), chunk)
