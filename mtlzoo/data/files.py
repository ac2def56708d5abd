"""Readers of the ``files`` source: CSV/TSV, JSON lines, TFRecord of tf.train.Example, TFDS.

Each reader turns one file (TFDS: one split of a prepared data set) into a tf.data
dataset of chunks ``(index, rows)``: ``index`` [n] the 0-based lines (records) of the file,
``rows`` the raw lines (records) of a chunk; its ``parse`` turns a whole chunk into a dict
column -> tensor with one row per line (:mod:`mtlzoo.data.columns`), vectorised over the
chunk (``tf.io.decode_csv`` / ``tf.io.parse_example`` on a batch of lines / records).
Reading streams through tf.data (``TextLineDataset``, ``TFRecordDataset``,
``tfds.builder(...).as_dataset``); only a CSV file's first line (its header) is read in Python.

* ``csv`` / ``tsv``: ``tf.io.decode_csv`` on each line (``delimiter``; ``quoting``: fields
  may be enclosed in double quotes, ``""`` inside one is a quote). A header line names the
  columns (``header: true``, default), else ``column_names`` does. A UTF-8 byte-order mark
  at the start of the file is dropped. Blank lines are skipped. A quoted field may not
  contain a line break (a line is a record).
* ``jsonl``: one JSON object per line; a list value is joined by the column's separator,
  ``null`` or an absent key is an empty cell. Parsed with Python's ``json`` module (through
  ``tf.numpy_function``, a chunk of lines at a time).
* ``tfrecord``: ``tf.train.Example`` records; ``schema`` gives each column's ``type``
  (``int``, ``float``, ``string``) and ``shape`` (default ``[]``). Label columns are read as
  variable-length, so an absent label feature is a missing label.
* ``tfds``: ``tfds.builder(name, data_dir=...)`` of a prepared data set (nothing is
  downloaded); top-level features are the columns.

Training reads a CSV/TSV entry with pyarrow instead (:func:`csv_arrow_rows`, blocks of typed
columns) when :func:`arrow_exact` says it gives the same rows with the same line indices (a file
whose every line end ends a row is cut into parts at line ends, parsed by a few threads at once,
order kept; any other file is streamed), and a local uncompressed TFRecord entry by its frames
(:func:`tfrecord_framed_rows`: each chunk's records cut out of one read of its bytes, by the
record lengths the counting pass kept); the TF ops above stay the reader of every other pass.

A bad record is found by the validation pass of :mod:`mtlzoo.data.files_source` and
described here by :func:`diagnose`: one line naming the file, the 1-based line (record)
and the column.
"""

import collections
import csv
import io
import json
import os
import re
import threading

from mtlzoo.data.columns import FLOAT_BLOCK
from mtlzoo.errors import ConfigError

TYPES = {"int": "int64", "float": "float32", "string": "string"}


def _tf():
    import tensorflow as tf

    return tf


def read_first_line(path, compression=None):
    """The first line of a text file as bytes (b"" for an empty file), read in Python."""
    tf = _tf()
    ds = tf.data.TextLineDataset(path, compression_type=compression or "").take(1)
    for line in ds:
        return line.numpy()
    return None


def csv_options(entry):
    delim = entry["delimiter"] or ("\t" if entry["format"] == "tsv" else ",")
    if len(delim) != 1:
        raise ConfigError(f"{entry['field']}.delimiter", f"must be one character, got {delim!r}")
    return delim


def csv_header(entry, path):
    """The column names of a CSV/TSV file: its header line, or ``column_names``."""
    delim = csv_options(entry)
    first = read_first_line(path, entry["compression"])
    if first is None or not first.strip():
        raise ConfigError(entry["field"], f"{path} line 1: the file is empty")
    if not entry["header"]:
        return list(entry["column_names"])
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(entry["field"], f"{path} line 1: the header is not valid UTF-8 ({e.reason})") from None
    names = next(csv.reader([text], delimiter=delim, quoting=csv.QUOTE_MINIMAL if entry["quoting"] else csv.QUOTE_NONE))
    names = [n.strip() for n in names]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(entry["field"], f"{path} line 1: column {sorted(dup)[0]!r} appears twice in the header")
    return names


def _indexed(batches, size):
    """``(index [n], item [n])`` chunks from a dataset of batches of ``size`` items: ``index``
    the 0-based position of each item in the file."""
    tf = _tf()

    def index(j, item):
        n = tf.shape(tf.nest.flatten(item)[0], out_type=tf.int64)[0]
        return j * size + tf.range(n), item

    return batches.enumerate().map(index)


def _lines(entry, skip):
    tf = _tf()

    def chunks(path, size):
        lines = tf.data.TextLineDataset(path, compression_type=entry["compression"] or "").skip(skip)

        def nonblank(i, line):
            keep = tf.strings.length(tf.strings.strip(line)) > 0
            return tf.boolean_mask(i, keep), tf.boolean_mask(line, keep)

        return _indexed(lines.batch(size), size).map(nonblank)

    return chunks


def csv_rows(entry, columns, numeric=()):
    """``(chunks, parse)``: ``chunks(path, size)`` -> dataset of ``(index [n], line [n])``, the
    file read ``size`` lines at a time, blank lines dropped; ``parse(index, line)`` -> ``(index,
    row)``, every line of the chunk parsed at once (``row``: column -> string [n]);
    ``columns`` the file's column names in order. ``numeric``: columns read only as numbers
    (numeric features), parsed by ``tf.io.decode_csv`` itself as float32 [n] (required: an
    empty or non-numeric cell fails the chunk, as ``tf.strings.to_number`` of the stripped
    string would; the same numbers, without a string per cell)."""
    tf = _tf()
    delim = csv_options(entry)
    skip = 1 if entry["header"] else 0
    numeric = set(numeric)
    defaults = [tf.constant([], tf.float32) if c in numeric else tf.constant("", tf.string) for c in columns]

    def parse(i, line):
        line = tf.strings.regex_replace(line, "^\ufeff", "") if not skip else line
        cells = tf.io.decode_csv(line, defaults, field_delim=delim, use_quote_delim=entry["quoting"])
        return i, dict(zip(columns, cells, strict=True))

    return _lines(entry, skip), parse


ARROW_BLOCK = 1 << 20  # bytes per block of pyarrow's streaming CSV reader
SCAN = 1 << 24  # bytes per read of the carriage-return scan (:func:`arrow_exact`)
PART = 1 << 21  # bytes (about) per part of a CSV file parsed in parallel (:func:`csv_arrow_rows`; 0: none cut)
AHEAD = 4  # parts parsed ahead of the one training reads, per file


def arrow_exact(entry, path, lines, total):
    """How pyarrow may read a file that passed the validation pass so that it gives exactly the
    rows the TensorFlow path (:func:`csv_rows`) gives, with the same 0-based line indices:
    ``False`` (it may not: the TF path reads the file), ``"parts"`` (cut into parts at line
    ends, parsed in parallel) or ``"stream"`` (pyarrow's streaming reader, in order).

    Not ``False`` for a local, uncompressed file with a header line (without one, the TF path
    drops a byte-order mark at the start of *every* line), pyarrow importable, no blank line
    before the last row (``lines == total``: the counting pass; the TF path's indices count
    them), no whitespace-only line after it (pyarrow would read it as a short row), and no
    carriage return except in a ``\\r\\n`` line end (``TextLineDataset`` drops every ``\\r`` of a
    line, pyarrow ends a row at a lone one); the last is checked by reading the file in blocks of
    ``SCAN`` bytes (about a second per GB), nothing kept. ``"parts"`` when, besides, every line
    end ends a row for pyarrow too: the entry does not quote (``quoting: false``) or the file
    holds no double quote (a quoted cell could hold a line break), found by the same scan."""
    if entry["format"] not in ("csv", "tsv") or not entry["header"] or entry["compression"]:
        return False
    if "://" in path or lines != total:
        return False
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    quoted = False
    with open(path, "rb") as f:
        prev = b""
        while True:
            block = f.read(SCAN)
            if not block:
                break
            both = prev + block  # a "\r" at the end of a block pairs with the next block's "\n"
            if both.count(b"\r") - both[-1:].count(b"\r") != both.count(b"\r\n"):
                return False
            prev = block[-1:]
            quoted = quoted or (entry["quoting"] and b'"' in block)
        if prev == b"\r":  # a lone "\r" ends the file
            return False
        f.seek(max(0, f.tell() - 65536))
        tail = f.read()
    body = tail.rstrip(b" \t\n\r\v\f")
    if not body:
        return False  # 64 KB of whitespace at the end: left to the TF path
    after = tail[len(body) :].split(b"\n", 1)
    if not (len(after) == 1 or not after[1].strip(b"\r\n")):
        return False
    return "stream" if quoted or PART <= 0 else "parts"


_POOL = None  # (process id, the thread pool that parses CSV parts), made on first use
_POOL_LOCK = threading.Lock()


def _pool():
    """This process's pool of ``min(4, cores)`` threads for :func:`csv_arrow_rows`' parts (one
    for every file read at once: pyarrow parses without Python's lock, so they use the cores);
    a pool inherited through fork has no threads in the child, which makes its own."""
    global _POOL
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="mtlzoo-csv"))
        return _POOL[1]


_NONBLANK = re.compile(rb"[^ \t\n\r\x0b\x0c]")


def line_parts(path, size):
    """The bytes of a CSV file after its header line, in parts of about ``size`` bytes cut after
    a line end (the last part: up to the end of the file; parts of blank lines only skipped),
    each a ``memoryview`` of one ``os.pread`` (the bytes of a line cut at the end of a read are
    read again with the next part, so no part is copied or joined)."""
    with open(path, "rb") as f:
        at, fd, step = len(f.readline()), f.fileno(), max(1, size)
        while True:
            want = step
            while True:
                block = os.pread(fd, want, at)
                cut = len(block) if len(block) < want else block.rfind(b"\n") + 1
                if cut or not block:
                    break
                want += step  # no line end yet: read ``size`` bytes more
            if not block:
                return
            if _NONBLANK.search(block, 0, cut):
                yield memoryview(block)[:cut]
            at += cut


def csv_arrow_rows(entry, columns, numeric, needed, fallback, parted=frozenset()):
    """``(chunks, parse)`` as :func:`csv_rows`, for training: each file read by pyarrow (typed
    columns, no Python per cell), one element ``(index [n], (numbers [n, k], strings [n, m]))``
    per block (``numeric`` columns as float32, the other ``needed`` columns as bytes), then cut
    by ``Dataset.rebatch`` into chunks of exactly ``size`` rows (the TF path's chunks, so the
    interleave of several files is the same; ``chunks(path, size, exact=False)``: the blocks
    as they come, for a stream whose chunk sizes do not matter); ``index`` = the row's 0-based
    line (valid only for files :func:`arrow_exact` accepts). ``parse`` turns a chunk into
    column -> tensor (float32 [n] or string [n], as :func:`csv_rows` gives them).

    A file in ``parted`` (:func:`arrow_exact` said ``"parts"``: every line end ends a row) is read
    in parts of about ``PART`` bytes cut after a line end (:func:`line_parts`), each parsed by
    ``pyarrow.csv.read_csv`` on a thread of a shared pool (:func:`_pool`), up to ``AHEAD`` parts
    ahead, and given in file order, so the cores parse at once; any other file is read in
    order by pyarrow's streaming reader (``pyarrow.csv.open_csv``, blocks of ``ARROW_BLOCK``
    bytes). Either way one ``Dataset.from_generator`` per file.

    Numbers are parsed by pyarrow into float32 (correctly rounded, as ``tf.io.decode_csv``;
    surrounding blanks and quotes allowed, ``nan``/``inf`` read alike). A cell pyarrow rejects
    that TensorFlow accepted (a hexadecimal number) stops the pyarrow read: from the first row
    not yet given on, the file is read by ``fallback`` (the TF path's ``(chunks, parse)``),
    eagerly."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    tf = _tf()
    delim = csv_options(entry)
    wanted = set(needed)
    nums = [c for c in columns if c in wanted and c in numeric]
    strs = [c for c in columns if c in wanted and c not in numeric]
    signature = (
        tf.TensorSpec([None], tf.int64),
        (
            tf.TensorSpec([None, len(nums)], tf.float32),
            (
                tf.TensorSpec([], tf.string),
                tf.TensorSpec([None, len(strs)], tf.int64),
                tf.TensorSpec([None, len(strs)], tf.int64),
            ),
        ),
    )
    parse_options = pacsv.ParseOptions(
        delimiter=delim, quote_char='"' if entry["quoting"] else False, double_quote=True, ignore_empty_lines=True
    )
    convert_options = pacsv.ConvertOptions(
        column_types={**{c: pa.float32() for c in nums}, **{c: pa.binary() for c in strs}},
        include_columns=nums + strs,
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    fallback_chunks, fallback_parse = fallback

    def stacked(arrays, n):
        out = np.empty((n, len(arrays)), np.float32)
        for j, a in enumerate(arrays):
            out[:, j] = a.to_numpy(zero_copy_only=False)
        return out

    def spans(arrays, n):
        """Binary columns as ``(bytes, starts [n, m], lengths [n, m])``: their cells' bytes one after
        another and where each cell is (cut by ``tf.strings.substr``, no Python object per cell)."""
        parts, at = [], 0
        starts, lengths = np.zeros((n, len(arrays)), np.int64), np.zeros((n, len(arrays)), np.int64)
        for j, a in enumerate(arrays if n else ()):
            a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
            ends = np.frombuffer(a.buffers()[1], np.int32, count=n + 1, offset=4 * a.offset).astype(np.int64)
            lo, hi = int(ends[0]), int(ends[-1])
            parts.append(a.buffers()[2][lo:hi].to_pybytes() if hi > lo else b"")
            starts[:, j], lengths[:, j] = ends[:-1] - lo + at, np.diff(ends)
            at += hi - lo
        return b"".join(parts), starts, lengths

    def arrays(batch):
        n = batch.num_rows
        return stacked([batch.column(c) for c in nums], n), spans([batch.column(c) for c in strs], n)

    def read_part(data):
        """One part's rows as ``(numbers, strings)`` (on a pool thread)."""
        options = pacsv.ReadOptions(column_names=list(columns), block_size=len(data) + 1, use_threads=False)
        return arrays(
            pacsv.read_csv(
                pa.py_buffer(data), read_options=options, parse_options=parse_options, convert_options=convert_options
            )
        )

    def blocks(path):
        """The file's rows as ``(numbers, strings)`` blocks, in order."""
        if path not in parted:
            read_options = pacsv.ReadOptions(
                column_names=list(columns), skip_rows=1, block_size=ARROW_BLOCK, use_threads=False
            )
            reader = pacsv.open_csv(
                path, read_options=read_options, parse_options=parse_options, convert_options=convert_options
            )
            for batch in reader:
                yield arrays(batch)
            return
        pool, ahead = _pool(), collections.deque()
        try:
            for data in line_parts(path, PART):
                ahead.append(pool.submit(read_part, data))
                if len(ahead) > AHEAD:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:  # closed early (a deleted iterator) or an error: parts not started are dropped
            for f in ahead:
                f.cancel()

    def generate(path, size):
        path, size = path.decode("utf-8"), int(size)
        done = 0
        try:
            for x, t in blocks(path):
                n = len(x)
                yield np.arange(done, done + n, dtype=np.int64), (x, t)
                done += n
        except pa.ArrowInvalid:
            cut = done % size
            for i, line in fallback_chunks(path, size).skip(done // size):
                row = fallback_parse(i, line)[1]
                x = np.stack([row[c].numpy() for c in nums], 1) if nums else np.zeros((len(i), 0), np.float32)
                t = [pa.array(row[c].numpy()[cut:].tolist(), pa.binary()) for c in strs]
                yield i.numpy()[cut:], (x[cut:], spans(t, len(x) - cut))
                cut = 0

    def cells(i, rec):
        x, (data, starts, lengths) = rec
        return i, (x, tf.strings.substr(data, starts, lengths))

    def chunks(path, size, exact=True):
        blocks = tf.data.Dataset.from_generator(generate, output_signature=signature, args=(path, size)).map(cells)
        return blocks.rebatch(size) if exact else blocks

    def parse(i, rec):
        x, t = rec
        row = {c: x[:, j] for j, c in enumerate(nums)}  # slices a feature does not read are pruned
        row.update({c: t[:, j] for j, c in enumerate(strs)})
        row[FLOAT_BLOCK] = (x, {c: j for j, c in enumerate(nums)})  # read as one matrix by numeric features
        return i, row

    return chunks, parse


def jsonl_rows(entry, columns, separators):
    """``(chunks, parse)`` of JSON-lines files (as :func:`csv_rows`); ``columns`` the keys read.
    Each line is parsed by Python's ``json`` module (one ``tf.numpy_function`` per chunk)."""
    tf = _tf()
    cols = list(columns)

    def py(lines):
        import numpy as np

        cells = [json_cells(line, cols, separators) for line in lines.reshape(-1)]
        return [np.array([c[k] for c in cells], dtype=object).reshape(lines.shape) for k in range(len(cols))]

    def parse(i, line):
        cells = tf.numpy_function(py, [line], [tf.string] * len(cols), stateful=False)
        return i, {c: tf.ensure_shape(v, line.shape) for c, v in zip(cols, cells, strict=True)}

    return _lines(entry, 0), parse


def _cell(v, sep):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return (sep or " ").join(_cell(x, None) for x in v)
    if isinstance(v, (dict,)):
        raise ValueError("a nested object is not a cell value")
    return str(v)


def json_cells(line, cols, separators):
    """The cells of one JSON line as UTF-8 bytes (a missing key or null: empty)."""
    import numpy as np

    text = line.decode("utf-8-sig")  # a byte-order mark (first line) is dropped
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return [np.bytes_(_cell(obj.get(c), separators.get(c)).encode("utf-8")) for c in cols]


def tfrecord_spec(entry, feature_columns, label_columns):
    """``tf.io.parse_single_example`` features: fixed-length features, variable-length labels."""
    tf = _tf()
    schema = entry["schema"] or {}
    spec, widths = {}, {}
    for c in sorted(set(feature_columns) | set(label_columns)):
        if c not in schema:
            raise ConfigError(f"{entry['field']}.schema", f"no type for column {c!r}; give {{type, shape}}")
        s = dict(schema[c])
        field = f"{entry['field']}.schema.{c}"
        unknown = set(s) - {"type", "shape"}
        if unknown:
            raise ConfigError(f"{field}.{sorted(unknown)[0]}", "unknown field; known fields: shape, type")
        if s.get("type") not in TYPES:
            raise ConfigError(f"{field}.type", f"{s.get('type')!r} is not one of {', '.join(TYPES)}")
        shape = list(s.get("shape") or [])
        if not all(isinstance(d, int) and d > 0 for d in shape):
            raise ConfigError(f"{field}.shape", f"must be a list of positive integers, got {shape!r}")
        dtype = getattr(tf, TYPES[s["type"]])
        if c in label_columns and c not in feature_columns:
            spec[c] = tf.io.VarLenFeature(dtype)
        else:
            spec[c] = tf.io.FixedLenFeature(shape, dtype)
        widths[c] = int(__import__("numpy").prod(shape)) if shape else 1
    return spec, widths


def tfrecord_rows(entry, spec):
    """``(chunks, parse)`` of TFRecord files (as :func:`csv_rows`): ``tf.io.parse_example`` on a
    chunk of records; a variable-length (label) column becomes a RaggedTensor [n, None]."""
    tf = _tf()

    def chunks(path, size):
        return _indexed(tf.data.TFRecordDataset(path, compression_type=entry["compression"] or "").batch(size), size)

    def parse(i, rec):
        row = tf.io.parse_example(rec, spec)
        return i, {k: tf.RaggedTensor.from_sparse(v) if isinstance(v, tf.SparseTensor) else v for k, v in row.items()}

    return chunks, parse


def tfrecord_framed(entry, paths):
    """True when training may read an entry's TFRecord files by their frames
    (:func:`tfrecord_framed_rows`): uncompressed local files."""
    return entry["format"] == "tfrecord" and not entry["compression"] and all("://" not in p for p in paths)


def tfrecord_framed_rows(sizes, parse):
    """``(chunks, parse)`` as :func:`tfrecord_rows`, for training: the records of a file cut out
    of blocks of its bytes by their known lengths instead of read one at a time by
    ``TFRecordDataset``. ``sizes``: path -> the byte length of each record (int array, from the
    counting pass, which read the file with ``TFRecordDataset``; 4 bytes a record in memory).

    A TFRecord file is a sequence of frames ``length (uint64 LE), crc (4 bytes), data (length
    bytes), crc (4 bytes)``; the frames of a chunk of ``size`` records are therefore one
    contiguous run of ``sum(length + 16)`` bytes, read with one ``read``, and record j of the
    chunk is the ``length_j`` bytes at ``sum_{i<j}(length_i + 16) + 12`` (``tf.strings.substr``
    of the block, in TensorFlow). No Python step per record; the chunks are
    ``TFRecordDataset(path).batch(size)``'s, with the same 0-based record indices, so the
    interleave of several files is the same. The checksums were checked by the counting and
    validation passes and are not read again; each record's length field is (vectorised): a file
    that no longer matches its counted lengths stops the read with an error naming the file and
    record. ``parse``: the TF path's (:func:`tfrecord_rows`), returned as it is."""
    import numpy as np

    tf = _tf()
    signature = (
        tf.TensorSpec([None], tf.int64),
        (tf.TensorSpec([], tf.string), tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.int64)),
    )

    def generate(path, size):
        path, size = path.decode("utf-8"), int(size)
        lengths = sizes[path]
        with open(path, "rb") as f:
            for lo in range(0, len(lengths), size):
                n = lengths[lo : lo + size].astype(np.int64)
                ends = np.cumsum(n + 16)
                starts = ends - n - 4  # each record's data: after its 12 header bytes, before its 4 crc bytes
                block = f.read(int(ends[-1]))
                heads = starts - 12
                ok = len(block) == ends[-1]
                if ok:
                    raw = np.frombuffer(block, np.uint8)
                    fields = raw[heads[:, None] + np.arange(8)].copy().view("<u8")[:, 0]
                    ok = np.array_equal(fields, n)
                if not ok:
                    raise ValueError(f"{path}: the file changed after it was counted (records {lo + 1}-{lo + len(n)})")
                yield np.arange(lo, lo + len(n), dtype=np.int64), (block, starts, n)

    def chunks(path, size, exact=True):  # exact: chunks are always exactly ``size`` records
        blocks = tf.data.Dataset.from_generator(generate, output_signature=signature, args=(path, size))
        return blocks.map(lambda i, b: (i, tf.strings.substr(b[0], b[1], b[2])))

    return chunks, parse


def tfds_builder(entry):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(entry["name"], data_dir=entry["data_dir"])
        builder.info.splits  # noqa: B018  (raises for a data set that is not prepared)
    except Exception as e:  # tfds raises several types for unknown or unprepared data
        raise ConfigError(
            f"{entry['field']}.name",
            f"cannot open TFDS data set {entry['name']!r} in {entry['data_dir'] or 'the default data dir'} "
            f"({type(e).__name__}); prepare it with `tfds build {entry['name']}`",
        ) from None
    if not builder.info.splits:
        raise ConfigError(f"{entry['field']}.name", f"TFDS data set {entry['name']!r} is not prepared")
    return builder


def tfds_rows(builder, columns):
    """``(chunks, parse)`` of the splits of a prepared TFDS data set: ``chunks(split, size)``
    batches the ``columns`` of ``size`` examples (a column of varying shape becomes ragged)."""
    cols = list(columns)

    def chunks(split, size):
        ds = builder.as_dataset(split=split, shuffle_files=False).map(lambda row: {c: row[c] for c in cols})
        return _indexed(ds.ragged_batch(size), size)

    return chunks, lambda i, row: (i, dict(row))


# --------------------------------------------------------------------------- diagnosis


def read_record(entry, path, index):
    """Line (record) ``index`` (0-based, header included) of a file, as bytes."""
    tf = _tf()
    if entry["format"] == "tfrecord":
        ds = tf.data.TFRecordDataset(path, compression_type=entry["compression"] or "")
    else:
        ds = tf.data.TextLineDataset(path, compression_type=entry["compression"] or "")
    for rec in ds.skip(index).take(1):
        return rec.numpy()
    return b""


def diagnose(entry, path, index, columns, mapping, label_map, tf_error):
    """One sentence naming the file, the 1-based line (record) and the column of a bad row."""
    where = "record" if entry["format"] == "tfrecord" else "line"
    number = index + 1
    raw = read_record(entry, path, index)
    cells = None
    try:
        if entry["format"] in ("csv", "tsv"):
            text = raw.decode("utf-8", "surrogateescape")
            if number == 1:
                text = text.lstrip("\ufeff")
            quoting = csv.QUOTE_MINIMAL if entry["quoting"] else csv.QUOTE_NONE
            fields = next(csv.reader(io.StringIO(text), delimiter=csv_options(entry), quoting=quoting), [])
            for c, v in zip(columns, fields, strict=False):
                if _bad_utf8(v):
                    return f"{path} {where} {number}: column {c!r}: not valid UTF-8"
            if _bad_utf8(text):
                return f"{path} {where} {number}: not valid UTF-8"
            if len(fields) != len(columns):
                return (
                    f"{path} {where} {number}: {len(fields)} fields, the file has {len(columns)} columns "
                    f"({', '.join(columns)})"
                )
            cells = dict(zip(columns, fields, strict=True))
        elif entry["format"] == "jsonl":
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                return f"{path} {where} {number}: not valid UTF-8"
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                return f"{path} {where} {number}: not valid JSON ({e.msg} at column {e.colno})"
            if not isinstance(obj, dict):
                return f"{path} {where} {number}: not a JSON object"
            for c in mapping.feature_columns():
                if c not in obj or obj[c] is None:
                    return f"{path} {where} {number}: column {c!r} is missing"
            seps = mapping.separators(label_map)
            cells = {}
            for c, v in obj.items():
                try:
                    cells[c] = _cell(v, seps.get(c))
                except ValueError as e:
                    return f"{path} {where} {number}: column {c!r}: {e}"
        elif entry["format"] == "tfrecord":
            cells = _example_cells(raw, path, number)
            if isinstance(cells, str):
                return cells
            for c in mapping.feature_columns():
                if c not in cells:
                    return f"{path} {where} {number}: column {c!r} is missing"
    except Exception:  # the description below still names the file and record
        cells = None
    if cells is not None:
        msg = describe_cells(cells, mapping, label_map)
        if msg:
            return f"{path} {where} {number}: {msg}"
    first = str(tf_error).strip().splitlines()[0] if tf_error else "cannot be parsed"
    return f"{path} {where} {number}: {first}"


def _bad_utf8(s):
    return any("\udc80" <= ch <= "\udcff" for ch in s)


def _example_cells(raw, path, number):
    tf = _tf()
    try:
        ex = tf.train.Example.FromString(raw)
    except Exception:
        return f"{path} record {number}: not a tf.train.Example"
    out = {}
    for k, f in ex.features.feature.items():
        kind = f.WhichOneof("kind")
        vals = list(getattr(f, kind).value) if kind else []
        out[k] = " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else repr(v) for v in vals)
    return out


def describe_cells(cells, mapping, label_map):
    """What is wrong with a row given as ``{column: cell string}``, or None (Python's reading)."""
    for parts in mapping.features.values():
        for p in parts:
            for c in p.get("columns") or []:
                v = cells.get(c, "")
                for x in v.split() if " " in v.strip() else [v]:
                    try:
                        float(x)
                    except ValueError:
                        return f"column {c!r}: {v!r} is not a number"
    for t in mapping.tasks:
        if t.name not in label_map:
            continue
        opts = mapping.labels[t.name]
        cols = label_map[t.name]
        vals = [cells.get(c, "") for c in cols]
        if any(v.strip() == "" for v in vals):
            continue
        if t.kind == "regression":
            for c, v in zip(cols, vals, strict=True):
                try:
                    float(v)
                except ValueError:
                    return f"column {c!r}: {v!r} is not a number (task {t.name})"
            continue
        values = [vals[0].strip()] if t.kind in ("binary", "multiclass") else vals[0].split(opts["separator"])
        for v in values:
            if v not in opts["classes"]:
                shown = ", ".join(opts["classes"][:10]) + (", ..." if len(opts["classes"]) > 10 else "")
                return f"column {cols[0]!r}: unknown {t.name} label {v!r}; the classes are {shown}"
        if t.kind == "tagging":
            text_col = mapping.features[opts["tokens_from"]][0]["column"]
            n_words = len(cells.get(text_col, "").split())
            if len(values) != n_words:
                return f"column {cols[0]!r}: {len(values)} tags for the {n_words} words of column {text_col!r}"
    return None
