"""The ``files`` data source: a user's own CSV/TSV, JSON-lines, TFRecord or TFDS data, streamed.

Config (``data``; every field validated, unknown fields named)::

    data = {
        "source": "files", "batch_size": 32,
        "files": [                                   # one entry per file, glob or file list
            {"path": "reviews_*.csv", "format": "csv", "tasks": {"sentiment": "label"}},
            {"path": "topics.jsonl", "format": "jsonl", "split": "train", "tasks": ["topic", "spam"]},
        ],
        "features": {"tokens": {"kind": "text", "column": "text", "max_length": 64}},
        "labels": {"topic": {"classes": ["news", "sport", "other"]}},
        "validation_fraction": 0.1, "test_fraction": 0.0, "shuffle_buffer": 10000,
    }

A file entry (``FILE_SCHEMA``): ``path`` (a path, a glob or a list of them; matched files are
sorted), ``format`` (csv, tsv, jsonl, tfrecord, tfds), ``split`` (train, validation, test;
unset: a seeded split of the entry's rows by ``validation_fraction``/``test_fraction``),
``tasks`` (the tasks the entry labels: a list of names, read from ``labels.<task>.column``
(default the task's name), or ``{task: column}``; unset: every task), ``task_id``, and the
format's options (csv/tsv: ``header``, ``column_names``, ``delimiter``, ``quoting``,
``compression``; jsonl: ``compression``; tfrecord: ``schema``, ``compression``; tfds:
``name``, ``data_dir``, ``splits`` {our split: tfds split string}).
``features`` and ``labels``: :mod:`mtlzoo.data.columns`.

Loading (before the trainer writes anything): every file is opened and its header checked
(a missing column, an empty file or a glob matching nothing is a ConfigError naming it), then
a counting pass and one **validation pass** stream every row through the same parsing ops as
training, ``READ`` lines (records) at a time, vectorised over the chunk: it counts the rows
per split and finds the first bad one (a chunk whose ops fail is dropped by
``ignore_errors`` and read again row by row), which :func:`mtlzoo.data.files.diagnose`
re-reads alone and describes in one line (file, 1-based line/record, column). Vocabularies
not given in the config are built by a **bounded pass** over the first ``vocab_examples``
rows of the training split (distinct values counted by TensorFlow per chunk, added up in
Python). Training then streams chunks: files interleaved in parallel (deterministic order),
each chunk parsed and encoded at once (a CSV entry whose files pyarrow reads exactly as the
TF ops do is read by pyarrow in typed blocks, unquoted files in parts parsed in parallel, ``csv_reader: auto``:
:func:`mtlzoo.data.files.csv_arrow_rows`; the same examples in the same order, checked
against the TF path by tests/data/test_files_arrow.py; a local uncompressed TFRecord entry is
read by its frames, :func:`mtlzoo.data.files.tfrecord_framed_rows`, with the record lengths the
counting pass kept, ``tfrecord_reader: auto``; checked against ``TFRecordDataset`` by
tests/data/test_files_tfrecord.py),
a seeded shuffle in windows of ``shuffle_buffer``
examples (seeded by (seed, epoch, window)), entries mixed in proportion to their sizes; the
trainer re-batches the chunks into training batches (``Dataset.rebatch``).
"""

import functools
import glob as globlib
import os
import zlib

import numpy as np

from mtlzoo import options
from mtlzoo.data.base import split_indices
from mtlzoo.data.chunks import every_nth, mask, permuted, take_rows
from mtlzoo.data.columns import ColumnMapping, cell_strings, row_values
from mtlzoo.data.files import (
    arrow_exact,
    csv_arrow_rows,
    csv_header,
    csv_rows,
    diagnose,
    jsonl_rows,
    tfds_builder,
    tfds_rows,
    tfrecord_framed,
    tfrecord_framed_rows,
    tfrecord_rows,
    tfrecord_spec,
)
from mtlzoo.data.streams import StreamData, StreamSplit
from mtlzoo.errors import ConfigError
from mtlzoo.schema import Field, check_fields

SPLITS = ("train", "validation", "test")
READ = 4096  # lines (records) per chunk of the counting, validation and vocabulary passes
RAW = 4096  # lines (records) per chunk read from one file in training (at most)
FORMATS = ("csv", "tsv", "jsonl", "tfrecord", "tfds")


def _paths_check(v):
    if isinstance(v, str) or (isinstance(v, (list, tuple)) and v and all(isinstance(p, str) for p in v)):
        return None
    return f"must be a path, a glob or a list of them, got {v!r}"


def _tasks_check(v):
    if isinstance(v, (list, tuple)) and all(isinstance(t, str) for t in v):
        return None
    if hasattr(v, "items") and all(isinstance(c, (str, list, tuple)) for c in dict(v).values()):
        return None
    return f"must be a list of task names or a mapping task -> column, got {v!r}"


FILE_SCHEMA = {
    "path": Field(None, None, _paths_check, optional=True),
    "format": Field(type=str, choices=FORMATS),
    "split": Field(None, str, choices=SPLITS, optional=True),
    "tasks": Field(None, None, _tasks_check, optional=True),
    "task_id": Field(None, int, lambda v: None if v >= 0 else f"must be >= 0, got {v}", optional=True),
    "header": Field(True, bool),
    "column_names": Field(None, "strs", optional=True),
    "delimiter": Field(None, str, optional=True),
    "quoting": Field(True, bool),
    "compression": Field(None, str, choices=("GZIP", "ZLIB"), optional=True),
    "schema": Field(None, "dict", optional=True),
    "name": Field(None, str, optional=True),
    "data_dir": Field(None, str, optional=True),
    "splits": Field(None, "dict", optional=True),
}
_FORMAT_FIELDS = {
    "csv": {"header", "column_names", "delimiter", "quoting", "compression"},
    "jsonl": {"compression"},
    "tfrecord": {"schema", "compression"},
    "tfds": {"name", "data_dir", "splits"},
}
_FORMAT_FIELDS["tsv"] = _FORMAT_FIELDS["csv"]
_ALWAYS = {"path", "format", "split", "tasks", "task_id"}


def check_entry(raw, i, tasks):
    field = f"data.files[{i}]"
    if not hasattr(raw, "items"):
        raise ConfigError(field, f"must be a mapping with path and format, got {raw!r}")
    e = check_fields(raw, FILE_SCHEMA, field)
    allowed = _ALWAYS | _FORMAT_FIELDS[e["format"]]
    for k in raw:
        if k not in allowed:
            raise ConfigError(f"{field}.{k}", f"not an option of the {e['format']} format")
    if e["format"] == "tfds":
        if not e["name"]:
            raise ConfigError(f"{field}.name", "name the TFDS data set (e.g. 'mnist')")
        if e["path"] is not None or e["split"] is not None:
            raise ConfigError(f"{field}.{'path' if e['path'] else 'split'}", "a tfds entry takes name and splits")
        for k, v in dict(e["splits"] or {}).items():
            if k not in SPLITS or not isinstance(v, str):
                raise ConfigError(f"{field}.splits.{k}", f"map train/validation/test to a TFDS split string, got {v!r}")
    elif e["path"] is None:
        raise ConfigError(f"{field}.path", "missing required field")
    if e["format"] in ("csv", "tsv") and not e["header"] and not e["column_names"]:
        raise ConfigError(f"{field}.column_names", "a file without a header line needs column_names")
    names = {t.name for t in tasks}
    for t in e["tasks"] or ():
        if t not in names:
            raise ConfigError(f"{field}.tasks.{t}", f"no task named {t!r}; the tasks are {', '.join(sorted(names))}")
    e["field"] = field
    return e


def _task_seed(seed, key):
    return [seed, zlib.crc32(key.encode())]


class FilesSource:
    """``data.source: files`` (see the module doc)."""

    name = "files"
    schema = options.SOURCES["files"]

    @staticmethod
    def check(opts, tasks):
        entries = [check_entry(raw, i, tasks) for i, raw in enumerate(opts["files"])]
        ColumnMapping(opts["features"], opts["labels"], tasks)
        if not any(e["split"] in (None, "train") for e in entries):
            raise ConfigError("data.files", "no entry gives training data (split 'train' or unset)")
        # local paths become absolute, so the config a run records finds its files from any directory
        opts["files"] = [_absolute(dict(raw)) for raw in opts["files"]]

    @staticmethod
    def load(opts, tasks, seed, vocabularies=None):
        """``vocabularies``: those an earlier run built (``data.info["vocabularies"]``, saved in its
        workdir); reused instead of a new vocabulary pass, so ids stay fixed if the files change."""
        return FileData(opts, tasks, seed, vocabularies).stream_data()


class _Group:
    """One file entry: its sources (files, or TFDS splits), how to read and parse them, the
    tasks it labels; per source the row count and the lines' offset for the seeded split."""

    def __init__(self, entry, sources, rows, parse, label_map, task_id, columns):
        self.entry, self.sources, self.rows, self.parse = entry, list(sources), rows, parse
        self.label_map, self.task_id, self.columns = label_map, task_id, columns
        self.lines = [0] * len(self.sources)  # last line index + 1 of each source
        self.total = [0] * len(self.sources)  # rows (blank lines excluded) of each source
        self.counts = [None] * len(self.sources)  # rows of each source, per split code
        self.split_of = [entry["split"]] * len(self.sources)
        self.code = None  # int8 split code per line (seeded split), or None
        self.fast = None  # (rows, parse) of the training reads when pyarrow reads the files exactly
        self.arrow = None  # (parted=) -> that pair (CSV entries), decided after the counting pass
        self.parted = frozenset()  # CSV sources pyarrow reads in parts parsed in parallel
        self.traced = {}  # key -> tf.function of a chunk's ops, traced once (:meth:`traced_once`)
        self.sizes = None  # TFRecord entries read by frames: per source, each record's byte length

    def traced_once(self, key, fn):
        """``fn`` (a chunk's ops) as a ``tf.function`` kept under ``key``: every file, split, epoch
        and shard pipeline of the entry calls the one graph traced per input structure, instead of
        ``Dataset.map`` tracing the whole function again for each. Traced without AutoGraph:
        the parsing and encoding code branches and loops only on Python values (columns, tasks,
        kinds), never on a tensor, so AutoGraph's rewrite of every function it calls (a
        conversion per function in each process) would build the same graph."""
        import tensorflow as tf

        if key not in self.traced:
            self.traced[key] = tf.function(fn, autograph=False)
        return self.traced[key]

    @property
    def csv_reading(self):
        """How training reads a CSV entry: ``tensorflow``, ``pyarrow`` (streamed), ``pyarrow
        parts`` (every file cut into parts parsed in parallel) or ``pyarrow parts + stream``."""
        if not self.fast:
            return "tensorflow"
        if not self.parted:
            return "pyarrow"
        return "pyarrow parts" if len(self.parted) == len(self.sources) else "pyarrow parts + stream"

    @property
    def offsets(self):
        out, o = [], 0
        for n in self.lines:
            out.append(o)
            o += n
        return out


class FileData:
    """Opens, validates and counts the files of a ``files`` config; builds the StreamData."""

    def __init__(self, opts, tasks, seed, vocabularies=None):
        self.opts, self.tasks, self.seed = opts, list(tasks), int(seed)
        self.saved_vocabularies = vocabularies
        self.entries = [check_entry(raw, i, tasks) for i, raw in enumerate(opts["files"])]
        self.mapping = ColumnMapping(opts["features"], opts["labels"], tasks)
        self.names = [t.name for t in self.tasks]

    def _label_map(self, e):
        tasks = e["tasks"] if e["tasks"] is not None else self.names
        if hasattr(tasks, "items"):
            return {t: self.mapping.label_columns(t, c) for t, c in dict(tasks).items()}
        return {t: self.mapping.label_columns(t) for t in tasks}

    def _task_id(self, e, label_map):
        if e["task_id"] is not None:
            return e["task_id"]
        return self.names.index(next(iter(label_map))) if len(label_map) == 1 else 0

    @staticmethod
    def _paths(e):
        import tensorflow as tf

        out = []
        for pattern in [e["path"]] if isinstance(e["path"], str) else e["path"]:
            matched = sorted(tf.io.gfile.glob(pattern)) if globlib.has_magic(pattern) else [pattern]
            if not matched:
                raise ConfigError(f"{e['field']}.path", f"no file matches {pattern!r}")
            for p in matched:
                if not tf.io.gfile.exists(p):
                    raise ConfigError(f"{e['field']}.path", f"file {p} does not exist")
            out += matched
        return out

    def open(self):
        """Opens every file and checks its columns; returns the groups and the column widths."""
        import numpy as np

        groups, widths = [], {}
        feature_cols = self.mapping.feature_columns()
        for e in self.entries:
            label_map = self._label_map(e)
            task_id = self._task_id(e, label_map)
            label_cols = sorted({c for cols in label_map.values() for c in cols})
            needed = sorted(set(feature_cols) | set(label_cols))
            if e["format"] == "tfds":
                builder = tfds_builder(e)
                self._check_columns(e, f"TFDS data set {e['name']!r}", set(builder.info.features), needed, feature_cols)
                for c in needed:
                    shape = builder.info.features[c].shape
                    widths[c] = int(np.prod(shape)) if shape else 1
                names = list(builder.info.splits.keys())
                splits = dict(e["splits"] or {s: s for s in SPLITS if s in names})
                rows, parse = tfds_rows(builder, needed)
                g = _Group(e, list(splits.values()), rows, parse, label_map, task_id, needed)
                g.split_of = list(splits)
                groups.append(g)
                continue
            paths = self._paths(e)
            arrow = None  # CSV entries: () -> pyarrow's (rows, parse), used if the files allow it
            if e["format"] in ("csv", "tsv"):
                cols = csv_header(e, paths[0])
                self._check_columns(e, paths[0], set(cols), needed, feature_cols)
                for p in paths[1:]:
                    other = csv_header(e, p)
                    if other != cols:
                        raise ConfigError(e["field"], f"{p} line 1: its columns differ from those of {paths[0]}")
                numeric = self.mapping.numeric_columns() - set(label_cols)
                rows, parse = csv_rows(e, cols, numeric)
                widths.update({c: 1 for c in needed})
                arrow = functools.partial(csv_arrow_rows, e, cols, numeric, needed, (rows, parse))
            elif e["format"] == "jsonl":
                cols = needed
                rows, parse = jsonl_rows(e, needed, self.mapping.separators(label_map))
                widths.update({c: 1 for c in needed})
            else:
                spec, w = tfrecord_spec(e, feature_cols, label_cols)
                widths.update(w)
                cols = list(spec)
                rows, parse = tfrecord_rows(e, spec)
            g = _Group(e, paths, rows, parse, label_map, task_id, cols)
            g.arrow = arrow
            if self.opts["tfrecord_reader"] == "auto" and tfrecord_framed(e, paths):
                g.sizes = [None] * len(paths)
            groups.append(g)
        return groups, widths

    @staticmethod
    def _check_columns(e, where, available, needed, feature_cols):
        for c in needed:
            if c not in available:
                role = "feature" if c in feature_cols else "label"
                shown = ", ".join(sorted(available)[:20])
                raise ConfigError(e["field"], f"{where}: no {role} column {c!r}; it has {shown}")

    def count_lines(self, g, k):
        """Pass 1 over source ``k`` (no parsing): its rows, and the index of its last row + 1
        (lines, header excluded); one vectorised step per chunk of ``READ`` lines."""
        import tensorflow as tf

        def summary(i, rec):
            return tf.reduce_max(tf.concat([i, [-1]], 0)), tf.size(i, out_type=tf.int64)

        if g.sizes is not None:  # TFRecord read by frames in training: each record's byte length too
            lengths = g.rows(g.sources[k], READ).map(lambda i, rec: tf.strings.length(rec, unit="BYTE"))
            sizes = np.concatenate([np.zeros(0, np.int64), *lengths.as_numpy_iterator()])  # int64, empty file too
            g.sizes[k] = sizes.astype(np.uint32) if sizes.size and sizes.max() < 2**32 else sizes
            g.lines[k] = g.total[k] = len(sizes)  # records are indexed 0 .. n - 1
            return
        init = (tf.constant(-1, tf.int64), tf.constant(0, tf.int64))
        chunks = g.rows(g.sources[k], READ).map(summary)
        last, n = chunks.reduce(init, lambda s, x: (tf.maximum(s[0], x[0]), s[1] + x[1]))
        g.lines[k], g.total[k] = int(last) + 1, int(n)

    def validate(self, g, k):
        """Pass 2 over source ``k``: every row through the parsing ops, ``READ`` rows at a time;
        counts the rows per split code and raises a ConfigError for the first bad row. A chunk
        whose ops fail (a non-number, a ragged line, bad UTF-8) is dropped by ``ignore_errors``
        and read again one row at a time to find the row (:meth:`_first_bad`)."""
        import tensorflow as tf

        mapping, label_map, offset = self.mapping, g.label_map, g.offsets[k]
        code = tf.constant(g.code if g.code is not None else np.zeros(max(g.lines[k] + offset, 1), np.int8))

        check = g.traced_once("check", lambda i, rec: mapping.check(g.parse(i, rec)[1], label_map))

        def checked(i, rec):
            ok = check(i, rec)
            codes = tf.cast(tf.gather(code, offset + i), tf.int32)
            bad = tf.boolean_mask(i, tf.logical_not(ok))
            counts = tf.math.bincount(codes, minlength=3, maxlength=3, dtype=tf.int64)
            return tf.concat([bad, [-1]], 0)[0], counts

        chunks = g.rows(g.sources[k], READ).enumerate()
        ok = chunks.map(lambda j, c: (j, *checked(*c)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        counts, bad, err, expected = np.zeros(3, np.int64), -1, None, 0
        for j, first_bad, c in ok.ignore_errors().as_numpy_iterator():
            if j != expected:  # chunk ``expected`` failed
                bad, err = self._first_bad(g, k, expected, checked)
                break
            if first_bad >= 0:
                bad = int(first_bad)
                break
            counts += c
            expected += 1
        else:
            if expected * READ < g.lines[k]:  # the last chunks failed
                bad, err = self._first_bad(g, k, expected, checked)
        e, path = g.entry, g.sources[k]
        if bad >= 0:
            index = bad + (1 if e["format"] in ("csv", "tsv") and e["header"] else 0)
            raise ConfigError(e["field"], diagnose(e, path, index, g.columns, mapping, label_map, err))
        counts = [int(x) for x in counts]
        if sum(counts) == 0:
            where = "record" if e["format"] == "tfrecord" else "line"
            raise ConfigError(e["field"], f"{path} {where} 1: the file has no data rows")
        g.counts[k] = counts

    @staticmethod
    def _first_bad(g, k, j, checked):
        """``(index, TensorFlow's message)`` of the first bad row of chunk ``j`` of source ``k``,
        its rows checked one at a time."""
        import tensorflow as tf

        one = tf.function(checked)
        rows = g.rows(g.sources[k], READ).skip(j).take(1).unbatch().batch(1)
        try:
            for i, rec in rows:
                try:
                    if int(one(i, rec)[0]) >= 0:
                        return int(i[0]), None
                except tf.errors.OpError as e:
                    return int(i[0]), e.message
        except tf.errors.OpError as e:  # the chunk cannot even be read
            return j * READ, e.message
        return j * READ, "cannot be parsed"

    def stream_data(self):
        groups, widths = self.open()
        self.mapping.build(widths)
        if self.saved_vocabularies:
            self.mapping.restore_vocabularies(self.saved_vocabularies)
        fractions = [self.opts["validation_fraction"], self.opts["test_fraction"]]
        for g in groups:
            for k in range(len(g.sources)):
                self.count_lines(g, k)
            if g.arrow is not None and self.opts["csv_reader"] == "auto":
                ways = [arrow_exact(g.entry, p, g.lines[k], g.total[k]) for k, p in enumerate(g.sources)]
                if all(ways):
                    g.parted = frozenset(p for p, w in zip(g.sources, ways, strict=True) if w == "parts")
                    g.fast = g.arrow(parted=g.parted)
            if g.sizes is not None:
                g.fast = tfrecord_framed_rows(dict(zip(g.sources, g.sizes, strict=True)), g.parse)
            if g.split_of[0] is None:  # a seeded split of the entry's rows, over all its files
                key = "|".join(g.sources)
                g.code = _split_codes(sum(g.lines), fractions, _task_seed(self.seed, key), g.entry["field"])
            for k in range(len(g.sources)):
                self.validate(g, k)
        members = {s: [] for s in SPLITS}  # split -> [(group, [source index]), split code]
        for g in groups:
            for c, s in enumerate(SPLITS):
                ks = [k for k in range(len(g.sources)) if (g.split_of[k] == s if g.code is None else g.counts[k][c])]
                if ks:
                    members[s].append((g, ks, c))
        self._build_vocabularies(members["train"])
        splits, counts = {}, {}
        for s, ms in members.items():
            n = sum(_rows_in(g, k, c) for g, ks, c in ms for k in ks)
            if n:
                counts[s] = n
                splits[s] = StreamSplit(self._maker(ms), n, shard=self._sharder(ms), batched=True)
        info = {"vocabularies": self.mapping.vocabularies(), "counts": counts}
        info["csv_readers"] = {g.entry["field"]: g.csv_reading for g in groups if g.arrow}
        tfr = [g for g in groups if g.entry["format"] == "tfrecord"]
        info["tfrecord_readers"] = {g.entry["field"]: "frames" if g.fast else "tensorflow" for g in tfr}
        text = [n for n, parts in self.mapping.features.items() if parts[0]["kind"] == "text"]
        if text:
            info["vocab"] = self.mapping.tokenizers[text[0]].vocab
            info["vocab_size"] = len(info["vocab"])
        return StreamData(splits, info)

    def _reader(self, g, c, size, rows_of=None):
        """``read(source, offset)`` -> raw ``(index, rec)`` chunks (``size`` lines/records read at
        a time) of the source's rows in split code ``c``; empty chunks dropped. ``rows_of``: the
        ``chunks`` function to read with (default ``g.rows``)."""
        import tensorflow as tf

        code = None if g.code is None else tf.constant(g.code)
        rows_of = rows_of or g.rows

        def read(source, offset):
            rows = rows_of(source, size)
            if code is not None:

                def mine(i, rec):
                    keep = tf.equal(tf.gather(code, offset + i), c)
                    return tf.boolean_mask(i, keep), tf.nest.map_structure(lambda t: mask(t, keep), rec)

                rows = rows.map(mine)
            return rows.filter(lambda i, rec: tf.size(i) > 0)

        return read

    def _sharder(self, members):
        """``shard(index, count)`` -> the StreamSplit of input pipeline ``index`` of ``count``
        (:meth:`mtlzoo.data.streams.StreamSplit.shard`): with at least ``count`` files, pipeline
        i reads files i, i + count, ... (in entry then file order); else every ``count``-th
        record of each entry (all pipelines read the files, each parses its own records)."""
        files = [(m, k) for m, (g, ks, c) in enumerate(members) for k in ks if g.entry["format"] != "tfds"]
        by_files = len(files) == sum(len(ks) for _, ks, _ in members)

        def shard(index, count):
            if by_files and len(files) >= count:
                mine = {(m, k) for j, (m, k) in enumerate(files) if j % count == index}
                ms = [(g, [k for k in ks if (m, k) in mine], c) for m, (g, ks, c) in enumerate(members)]
                ms = [(g, ks, c) for g, ks, c in ms if ks]
                n = sum(_rows_in(g, k, c) for g, ks, c in ms for k in ks)
                return StreamSplit(self._maker(ms), n, batched=True)
            sizes = [sum(_rows_in(g, k, c) for k in ks) for g, ks, c in members]
            n = sum(max(0, -(-(size - index) // count)) for size in sizes)
            return StreamSplit(self._maker(members, (index, count)), n, batched=True)

        return shard

    def _maker(self, members, records=None):
        """``make(epoch)`` -> chunks of encoded examples (each leaf with a leading dimension);
        ``records=(index, count)``: only every ``count``-th record of each entry from the
        ``index``-th on (before the shuffle, so a partition in every epoch).

        Epoch ``e`` of an entry: its files in an order seeded by (seed, e), read ``cycle_length``
        at a time by a deterministic parallel interleave of chunks of ``min(RAW, shuffle_buffer /
        cycle_length)`` lines (at least 16; 2,500 with the defaults), parsed and
        encoded a chunk at a time (parallel map, order kept), then shuffled in windows of
        ``shuffle_buffer`` examples (one seeded permutation per window). Several entries are
        mixed example by example in proportion to their sizes. ``make(None)``: stored order."""
        import tensorflow as tf

        mapping, seed = self.mapping, self.seed
        buffer, cycle = self.opts["shuffle_buffer"], self.opts["cycle_length"]
        raw = int(min(RAW, max(16, buffer // cycle)))
        weights = [float(sum(_rows_in(g, k, c) for k in ks)) for g, ks, c in members]
        if records is not None:
            weights = [float(max(0, -(-(w - records[0]) // records[1]))) for w in weights]

        def stream(g, ks, c, epoch, salt):
            rows, parse = g.fast or (g.rows, g.parse)
            if g.fast and len(ks) == 1:  # one file: nothing interleaves its chunks, their sizes do not matter
                rows = functools.partial(rows, exact=False)
            read = self._reader(g, c, raw, rows)

            enc = g.traced_once(
                ("encode", parse), lambda i, rec: mapping.encode(parse(i, rec)[1], g.label_map, g.task_id)
            )

            if g.entry["format"] == "tfds":  # sources are split names: no tensor-valued reads
                ds = read(g.sources[ks[0]], 0)
                for k in ks[1:]:
                    ds = ds.concatenate(read(g.sources[k], 0))
            else:
                offsets = g.offsets
                files = tf.data.Dataset.from_tensor_slices(
                    (tf.constant([g.sources[k] for k in ks]), tf.constant([offsets[k] for k in ks], tf.int64))
                )
                if epoch is None:
                    ds = files.flat_map(read)
                else:
                    files = files.shuffle(len(ks), seed=_epoch_seed(seed, epoch, salt + 7919))
                    ds = files.interleave(
                        read, cycle_length=min(cycle, len(ks)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
                    )
            if records is not None:
                ds = every_nth(ds, records[1], records[0])
            ds = ds.map(enc, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            if epoch is None:
                return ds
            s = _epoch_seed(seed, epoch, salt)
            return (
                ds.rebatch(buffer)
                .enumerate()
                .map(lambda j, x: permuted(x, [s, j]), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            )

        def make(epoch):
            streams = [stream(g, ks, c, epoch, i) for i, (g, ks, c) in enumerate(members) if weights[i] > 0]
            weights_ = [w for w in weights if w > 0]
            if len(streams) == 1:
                return streams[0]
            if epoch is None:
                ds = streams[0]
                for d in streams[1:]:
                    ds = ds.concatenate(d)
                return ds
            total = sum(weights_)
            return tf.data.Dataset.sample_from_datasets(
                [d.unbatch() for d in streams],
                [w / total for w in weights_],
                seed=_epoch_seed(seed, epoch, len(streams)),
                stop_on_empty_dataset=False,
            ).batch(RAW)

        return make

    def _build_vocabularies(self, members):
        """The bounded pass: counts the values of the vocabulary columns over the first
        ``vocab_examples`` training rows (in file order), a chunk at a time (distinct values and
        their counts computed by TensorFlow, added to Python counters)."""
        import collections

        import tensorflow as tf

        wanted = self.mapping.vocab_columns()
        if not wanted:
            return
        counters = {k: collections.Counter() for k in wanted}
        left = self.opts["vocab_examples"]
        keys = list(wanted)

        def values(key, row):
            (name, i), (col, sep) = key, wanted[key]
            if self.mapping.features[name][i]["kind"] == "text":
                return self.mapping.tokenizers[name].word_counts(self.mapping.text_of(row, col))
            x = row[col]
            if sep:  # multi-hot: the cell's values
                flat = cell_strings(x, sep).flat_values
            else:  # categorical: the whole cell is the value
                flat = (row_values(x) if x.dtype == tf.string else cell_strings(x, None)).flat_values
            flat = tf.boolean_mask(flat, tf.strings.length(flat) > 0)
            uniq, _, counts = tf.unique_with_counts(flat)
            return uniq, counts

        for g, ks, c in members:
            read = self._reader(g, c, READ)

            def cells(i, rec, g=g):
                row = g.parse(i, rec)[1]
                return tf.size(i), tuple(values(key, row) for key in keys)

            cells = g.traced_once("vocabulary", cells)  # one trace for all the entry's files
            for k in ks:
                if left <= 0:
                    break
                for n, out in take_rows(read(g.sources[k], g.offsets[k]), left).map(cells).as_numpy_iterator():
                    for key, (uniq, counts) in zip(keys, out, strict=True):
                        words = [u.decode("utf-8") for u in uniq]
                        counters[key].update(dict(zip(words, counts.tolist(), strict=True)))
                    left -= int(n)
        self.mapping.set_vocabularies(counters)


def _absolute(raw):
    def fix(p):
        return p if "://" in p else os.path.abspath(os.path.expanduser(p))

    if isinstance(raw.get("path"), str):
        raw["path"] = fix(raw["path"])
    elif isinstance(raw.get("path"), (list, tuple)):
        raw["path"] = [fix(p) for p in raw["path"]]
    if raw.get("data_dir"):
        raw["data_dir"] = fix(raw["data_dir"])
    return raw


def _rows_in(g, k, c):
    """Rows of source ``k`` of group ``g`` in split code ``c`` (all of them without a seeded split)."""
    return g.counts[k][c] if g.code is not None else sum(g.counts[k])


def _epoch_seed(seed, epoch, salt):
    return ((int(seed) * 1_000_003 + int(epoch)) * 1_009 + salt) % (2**31 - 1)


def _split_codes(n, fractions, seed, field):
    """int8 [n]: 0 train, 1 validation, 2 test; a seeded split (:func:`mtlzoo.data.base.split_indices`)."""
    try:
        parts = split_indices(n, fractions, seed)
    except ConfigError as e:
        raise ConfigError(field, str(e)) from None
    code = np.zeros(n, np.int8)
    for c, idx in enumerate(parts):
        code[idx] = c
    return code
