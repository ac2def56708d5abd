"""Columns -> the shared batch shape: model inputs from feature columns, task labels from label columns.

A file source's row is a dict column -> tensor: a scalar string per cell for CSV/TSV and
JSON lines, typed values (``int64``/``float32``/``string``, scalar or 1-D) for TFRecord and
TFDS. :class:`ColumnMapping` turns one row into ``(features, labels, sample_weights)``:

``features`` (config ``data.features``: model input name -> one spec, or a list of specs
concatenated into one float vector):

=============  ==============================================================  ====================
kind           what                                                            tensor per example
=============  ==============================================================  ====================
numeric        ``columns``: numbers (a TFRecord/TFDS column may be a vector)   float32 [width]
categorical    ``column``: one value; ``vocabulary`` given or built from the    float32 [V + 1]
               training split; index 0 = out-of-vocabulary bucket              (``output: id``: int32 [])
multi_hot      ``column``: values joined by ``separator``; as categorical      float32 [V + 1]
text           ``column`` tokenised (:mod:`mtlzoo.data.tokenize`)               int32 [max_length]
=============  ==============================================================  ====================

``labels`` (config ``data.labels``: task -> ``column``/``columns``, ``classes``, ``separator``),
by the task's kind (:mod:`mtlzoo.tasks`): binary float [1] (``classes`` default ``["0", "1"]``),
multiclass int32 [] (index in ``classes``, default ``"0" .. "C-1"``), multilabel float [C]
(the cell's values joined by ``separator``), regression float [C] (``columns``, or one
column), tagging int32 [T] (one tag per whitespace token of the text input ``tokens_from``;
id 0 = padding, tag ``classes[i]`` -> i + 1, so ``num_classes = len(classes) + 1``).
A missing or empty label cell is a missing label: the label is a placeholder 0 and the
task's weight 0, so files that label different tasks train together as one multi-task set.
A value outside ``classes`` is an error, not a missing label.

``task_id`` (int32 []) is the file's ``task_id``: by default the index of its task when a file
labels exactly one task, else 0.
"""

from mtlzoo.data.tokenize import make_text_tokenizer
from mtlzoo.errors import ConfigError
from mtlzoo.schema import Field, check_fields, positive

FLOAT_BLOCK = "\0float_block"  # row key: (float32 [n, k], {column: j}), numeric columns read as one matrix
_COMMON = {"kind": Field(type=str, choices=("numeric", "categorical", "multi_hot", "text"))}
FEATURE_SCHEMAS = {
    "numeric": {**_COMMON, "columns": Field(type="strs", check=lambda v: None if v else "must name a column")},
    "categorical": {
        **_COMMON,
        "column": Field(type=str),
        "vocabulary": Field(None, "strs", optional=True),
        "max_values": Field(None, int, positive, optional=True),
        "min_count": Field(1, int, positive),
        "output": Field("one_hot", str, choices=("one_hot", "id")),
    },
    "multi_hot": {
        **_COMMON,
        "column": Field(type=str),
        "separator": Field("|", str),
        "vocabulary": Field(None, "strs", optional=True),
        "max_values": Field(None, int, positive, optional=True),
        "min_count": Field(1, int, positive),
    },
    "text": {
        **_COMMON,
        "column": Field(type=str),
        "tokenizer": Field({"name": "whitespace"}, "dict"),
        "max_length": Field(64, int, positive),
    },
}


def _classes_check(v):
    if not isinstance(v, (list, tuple)) or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in v):
        return f"must be a list of strings or integers, got {v!r}"
    if len({str(c) for c in v}) != len(v):
        return "has a repeated value"
    return None


LABEL_SCHEMA = {
    "column": Field(None, str, optional=True),  # default: the task's name
    "columns": Field(None, "strs", optional=True),  # regression with several outputs
    "classes": Field(None, None, _classes_check, optional=True),
    "separator": Field(None, str, optional=True),  # multilabel: "|"; tagging: whitespace
    "tokens_from": Field(None, str, optional=True),  # tagging: the text input the tags align with
}


def _is_string(x):
    import tensorflow as tf

    return x.dtype == tf.string


def _per_row(x):
    """True for a column with one scalar value per row (a dense [n] tensor)."""
    import tensorflow as tf

    return not isinstance(x, tf.RaggedTensor) and x.shape.rank == 1


def row_values(x):
    """A column's values per row as a RaggedTensor [n, None] (dense [n, ...] flattened per row)."""
    import tensorflow as tf

    if isinstance(x, tf.RaggedTensor):
        return x.merge_dims(1, -1) if x.shape.rank > 2 else x
    if x.shape.rank == 1:
        return tf.RaggedTensor.from_tensor(x[:, None])
    return tf.RaggedTensor.from_tensor(tf.reshape(x, [tf.shape(x)[0], -1]))


def cell_present(x):
    """bool [n]: a label cell has a value (a non-empty string cell, or a non-empty typed list)."""
    import tensorflow as tf

    if _is_string(x) and _per_row(x):
        return tf.strings.length(x) > 0
    return row_values(x).row_lengths() > 0


def cell_strings(x, separator):
    """A cell's values per row as a string RaggedTensor [n, None]: a string cell split on
    ``separator`` (None: whitespace; empty parts dropped); typed values as strings."""
    import tensorflow as tf

    if not _is_string(x):
        vals = row_values(x)
        fmt = (
            (lambda v: tf.strings.as_string(v))
            if x.dtype.is_integer
            else (lambda v: tf.strings.as_string(v, shortest=True))
        )
        return tf.ragged.map_flat_values(fmt, vals)
    if _per_row(x):
        if separator is None:
            return tf.strings.split(x)
        parts = tf.strings.split(x, separator)
        return tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)  # "" is no value
    return row_values(x)


def cell_floats(x, width):
    """A numeric column as float32 [n, width] (string cells parsed: an error if not a number)."""
    import tensorflow as tf

    if isinstance(x, tf.RaggedTensor):
        x = x.to_tensor()
    if _is_string(x):
        x = tf.strings.to_number(tf.strings.strip(x), tf.float32)
    return tf.ensure_shape(tf.reshape(tf.cast(x, tf.float32), [-1, width]), [None, width])


def first_value(x):
    """The first value of each row's cell as a string [n] ("" for an empty cell)."""
    if _is_string(x) and _per_row(x):
        return x
    return cell_strings(x, None).to_tensor("", shape=[None, 1])[:, 0]


def lookup(table, values):
    """``table.lookup`` of a dense or ragged tensor of strings."""
    import tensorflow as tf

    if isinstance(values, tf.RaggedTensor):
        return tf.ragged.map_flat_values(table.lookup, values)
    return table.lookup(values)


def multi_hot(ids, size):
    """float32 [n, size]: 1 at each id of each row of the RaggedTensor ``ids`` (repeats count once)."""
    import tensorflow as tf

    flat = tf.cast(ids.flat_values, tf.int64)
    at = tf.stack([ids.value_rowids(), flat], 1)
    shape = tf.stack([ids.nrows(), tf.constant(size, tf.int64)])
    return tf.minimum(tf.scatter_nd(at, tf.ones_like(flat, tf.float32), shape), 1.0)


def _table(values, offset, default):
    import tensorflow as tf

    init = tf.lookup.KeyValueTensorInitializer(
        tf.constant([str(v) for v in values]), tf.range(offset, offset + len(values), dtype=tf.int64)
    )
    return tf.lookup.StaticHashTable(init, default_value=default)


class ColumnMapping:
    """The ``features`` and ``labels`` sections of a file source, validated; encodes rows.

    Args:
        features: ``{input name: spec or [spec, ...]}`` (see the module doc).
        labels: ``{task: {column, columns, classes, separator, tokens_from}}`` (every field optional).
        tasks: the configured TaskSpecs.
    """

    def __init__(self, features, labels, tasks):
        self.tasks = list(tasks)
        self.features = {}
        if not features:
            raise ConfigError("data.features", "name at least one model input and the columns it reads")
        for name, spec in dict(features).items():
            field = f"data.features.{name}"
            parts = list(spec) if isinstance(spec, (list, tuple)) else [spec]
            out = []
            for i, p in enumerate(parts):
                f = field if len(parts) == 1 else f"{field}[{i}]"
                if not hasattr(p, "items") or "kind" not in p:
                    raise ConfigError(f"{f}.kind", "missing required field (numeric, categorical, multi_hot, text)")
                kind = p["kind"]
                if kind not in FEATURE_SCHEMAS:
                    raise ConfigError(f"{f}.kind", f"{kind!r} is not one of {', '.join(FEATURE_SCHEMAS)}")
                opts = check_fields(p, FEATURE_SCHEMAS[kind], f)
                if len(parts) > 1 and (kind == "text" or opts.get("output") == "id"):
                    raise ConfigError(f, "only float parts (numeric, one-hot, multi-hot) can be concatenated")
                out.append(opts)
            self.features[name] = out
        self.labels = {}
        names = {t.name for t in self.tasks}
        for t in dict(labels or {}):
            if t not in names:
                raise ConfigError(f"data.labels.{t}", f"no task named {t!r}; the tasks are {', '.join(sorted(names))}")
        for t in self.tasks:
            field = f"data.labels.{t.name}"
            opts = check_fields(dict(labels or {}).get(t.name, {}), LABEL_SCHEMA, field)
            self.labels[t.name] = self._check_label(t, opts, field)

    def _check_label(self, t, opts, field):
        if opts["columns"] and t.kind != "regression":
            raise ConfigError(f"{field}.columns", f"only regression tasks read several columns; {t.name} is {t.kind}")
        if opts["columns"] and len(opts["columns"]) != t.num_classes:
            raise ConfigError(
                f"{field}.columns", f"{len(opts['columns'])} columns for {t.num_classes} regression outputs"
            )
        if t.kind == "regression" and not opts["columns"] and t.num_classes != 1 and not opts["column"]:
            raise ConfigError(f"{field}.columns", f"name the {t.num_classes} columns of the regression outputs")
        classes = opts["classes"]
        if classes is not None:
            classes = [str(c) for c in classes]
        if t.kind == "regression":
            if classes is not None:
                raise ConfigError(f"{field}.classes", "a regression task has no classes")
        elif t.kind == "tagging":
            if classes is None:
                raise ConfigError(f"{field}.classes", "name the tags of a tagging task")
            if len(classes) + 1 != t.num_classes:
                raise ConfigError(
                    f"tasks.{t.name}.num_classes",
                    f"{len(classes)} tags plus padding make {len(classes) + 1} classes, the config says {t.num_classes}",
                )
            texts = [n for n, parts in self.features.items() if parts[0]["kind"] == "text"]
            src = opts["tokens_from"] or (texts[0] if len(texts) == 1 else None)
            if src not in texts:
                raise ConfigError(f"{field}.tokens_from", f"name the text input the tags align with ({texts})")
            if self.features[src][0]["tokenizer"].get("name", "whitespace") != "whitespace":
                raise ConfigError(f"{field}.tokens_from", "tags align with whitespace tokens only")
            opts["tokens_from"] = src
        else:
            n = 2 if t.kind == "binary" else t.num_classes
            classes = classes or [str(i) for i in range(n)]
            if len(classes) != n:
                raise ConfigError(f"{field}.classes", f"{len(classes)} classes, the task has {n}")
        opts["classes"] = classes
        if opts["separator"] is None and t.kind == "multilabel":
            opts["separator"] = "|"
        return opts

    # ---------------------------------------------------------------- columns

    def label_columns(self, task, file_columns=None):
        """The column(s) a task's label is read from (a file's ``tasks`` mapping may rename it)."""
        if file_columns is not None:
            return [file_columns] if isinstance(file_columns, str) else list(file_columns)
        opts = self.labels[task]
        return opts["columns"] or [opts["column"] or task]

    def feature_columns(self):
        return sorted({c for parts in self.features.values() for p in parts for c in p.get("columns") or [p["column"]]})

    def numeric_columns(self):
        """The columns read only by numeric features (no other feature reads them), a set."""
        numeric = {c for parts in self.features.values() for p in parts if p["kind"] == "numeric" for c in p["columns"]}
        other = {p["column"] for parts in self.features.values() for p in parts if p["kind"] != "numeric"}
        return numeric - other

    def separators(self, label_map):
        """``{column: separator}`` of multi-valued columns (to join JSON lists); ``label_map``: task -> columns."""
        out = {p["column"]: p["separator"] for parts in self.features.values() for p in parts if "separator" in p}
        for t in self.tasks:
            if t.kind in ("multilabel", "tagging") and t.name in label_map:
                out[label_map[t.name][0]] = self.labels[t.name]["separator"] or " "
        return out

    # ---------------------------------------------------------------- building

    def build(self, widths):
        """Creates tokenizers and lookup tables; ``widths``: numeric column -> values per row."""
        self.widths = dict(widths)
        self.tokenizers, self.tables, self.pending = {}, {}, []
        for name, parts in self.features.items():
            for i, p in enumerate(parts):
                key = (name, i)
                if p["kind"] == "text":
                    tok = make_text_tokenizer(p["tokenizer"], p["max_length"], f"data.features.{name}")
                    self.tokenizers[name] = tok
                    if tok.needs_vocab:
                        self.pending.append(key)
                elif p["kind"] in ("categorical", "multi_hot"):
                    if p["vocabulary"] is not None:
                        self.tables[key] = (_table(p["vocabulary"], 1, 0), len(p["vocabulary"]) + 1)
                    else:
                        self.pending.append(key)
        self.label_tables = {
            t.name: _table(self.labels[t.name]["classes"], 1 if t.kind == "tagging" else 0, -1)
            for t in self.tasks
            if t.kind != "regression"
        }

    def vocab_columns(self):
        """``{key: (column, separator or False)}`` of features whose vocabulary the training split gives."""
        out = {}
        for name, i in self.pending:
            p = self.features[name][i]
            out[(name, i)] = (p["column"], p.get("separator", False) if p["kind"] != "text" else None)
        return out

    def set_vocabularies(self, counters):
        """Finishes the pending vocabularies from ``{key: Counter}`` of the training split."""
        for key, counter in counters.items():
            name, i = key
            p = self.features[name][i]
            if p["kind"] == "text":
                self.tokenizers[name].finish_vocab(counter)
            else:
                values = sorted((v for v, c in counter.items() if c >= p["min_count"]), key=lambda v: (-counter[v], v))
                if p["max_values"]:
                    values = values[: p["max_values"]]
                p["vocabulary"] = values
                self.tables[key] = (_table(values, 1, 0), len(values) + 1)
        self.pending = []

    def restore_vocabularies(self, saved):
        """Sets the pending vocabularies from ``saved`` (what :meth:`vocabularies` gave for an
        earlier run), so ids stay those of that run; keys ``saved`` lacks stay pending."""
        left = []
        for name, i in self.pending:
            key = name if len(self.features[name]) == 1 else f"{name}[{i}]"
            if key not in saved:
                left.append((name, i))
                continue
            p = self.features[name][i]
            if p["kind"] == "text":
                self.tokenizers[name].set_vocab(list(saved[key]))
            else:
                values = list(saved[key])[1:]  # index 0 is the [OOV] bucket
                p["vocabulary"] = values
                self.tables[(name, i)] = (_table(values, 1, 0), len(values) + 1)
        self.pending = left

    def vocabularies(self):
        """``{input name: [value by index]}`` of every vocabulary (text: the tokenizer's)."""
        out = {n: tok.vocab for n, tok in self.tokenizers.items() if tok.vocab is not None}
        for name, i in self.tables:
            key = name if len(self.features[name]) == 1 else f"{name}[{i}]"
            out[key] = ["[OOV]", *self.features[name][i]["vocabulary"]]
        return out

    def feature_specs(self):
        """``{input name: tf.TensorSpec}`` of one encoded example."""
        import tensorflow as tf

        out = {}
        for name, parts in self.features.items():
            p = parts[0]
            if p["kind"] == "text":
                out.update(self.tokenizers[name].outputs(name))
            elif p.get("output") == "id":
                out[name] = tf.TensorSpec([], tf.int32)
            else:
                out[name] = tf.TensorSpec([sum(self._width(name, i) for i in range(len(parts)))], tf.float32)
        out["task_id"] = tf.TensorSpec([], tf.int32)
        return out

    def _width(self, name, i):
        p = self.features[name][i]
        if p["kind"] == "numeric":
            return sum(self.widths[c] for c in p["columns"])
        return self.tables[(name, i)][1]

    # ---------------------------------------------------------------- encoding
    # Every method below works on a chunk of rows at once: ``row`` is column -> tensor with
    # one row per example (string [n] for CSV / JSON lines; [n, ...] or ragged [n, None] for
    # TFRecord / TFDS), and every output has a leading dimension n.

    def text_of(self, row, column):
        """The text cell of each row, string [n] (several values of a typed cell joined by spaces)."""
        import tensorflow as tf

        x = row[column]
        if _per_row(x):
            return x
        return tf.strings.reduce_join(row_values(x), axis=1, separator=" ")

    def encode_features(self, row):
        import tensorflow as tf

        out = {}
        for name, parts in self.features.items():
            if parts[0]["kind"] == "text":
                out.update(self.tokenizers[name].encode(self.text_of(row, parts[0]["column"]), name))
                continue
            pieces = []
            for i, p in enumerate(parts):
                if p["kind"] == "numeric":
                    pieces += _numeric(row, p["columns"], self.widths)
                    continue
                table, size = self.tables[(name, i)]
                sep = p.get("separator")
                if sep:
                    pieces.append(multi_hot(lookup(table, cell_strings(row[p["column"]], sep)), size))
                    continue
                ids = table.lookup(first_value(row[p["column"]]))
                if p.get("output") == "id":
                    out[name] = tf.cast(ids, tf.int32)
                    break
                pieces.append(tf.one_hot(ids, size))
            if pieces:
                out[name] = tf.concat(pieces, 1)
        return out

    def encode_labels(self, row, label_map, n):
        """``(labels, weights, ok)`` of ``n`` rows: ``label_map`` task -> columns (the tasks the
        file labels); ``ok`` bool [n]: no unknown label value, no wrong tag count or size."""
        import tensorflow as tf

        labels, weights, ok_all = {}, {}, tf.ones([n], tf.bool)
        for t in self.tasks:
            shape = [1] if t.kind == "binary" else [] if t.kind == "multiclass" else [t.num_classes]
            if t.kind == "tagging":
                shape = [self.features[self.labels[t.name]["tokens_from"]][0]["max_length"]]
            dtype = tf.int32 if t.kind in ("multiclass", "tagging") else tf.float32
            wshape = [1] if t.is_sequence else []
            if t.name not in label_map:
                labels[t.name], weights[t.name] = tf.zeros([n, *shape], dtype), tf.zeros([n, *wshape])
                continue
            cells = [row[c] for c in label_map[t.name]]
            present = cell_present(cells[0])
            for c in cells[1:]:
                present = tf.logical_and(present, cell_present(c))
            y, ok = self._label(t, cells, shape, row)
            y = tf.ensure_shape(tf.reshape(tf.cast(y, dtype), [-1, *shape]), [None, *shape])
            mask = tf.reshape(present, [-1] + [1] * len(shape))
            labels[t.name] = tf.where(mask, y, tf.zeros_like(y))  # placeholder 0 where missing
            weights[t.name] = tf.reshape(tf.cast(present, tf.float32), [-1, *wshape])
            ok_all = tf.logical_and(ok_all, tf.logical_or(tf.logical_not(present), ok))
        return labels, weights, ok_all

    def _label(self, t, cells, shape, row):
        import tensorflow as tf

        opts = self.labels[t.name]
        if t.kind == "regression":
            vals = tf.concat([row_values(cell_floats_or_nan(c)) for c in cells], 1)
            ok = tf.logical_and(
                tf.equal(vals.row_lengths(), t.num_classes), tf.reduce_all(tf.math.is_finite(vals), axis=1)
            )
            return vals.to_tensor(0.0, shape=[None, t.num_classes]), ok
        table = self.label_tables[t.name]
        if t.kind in ("binary", "multiclass"):
            x = cells[0]
            if _is_string(x) and _per_row(x):
                first = table.lookup(tf.strings.strip(x))  # one value per cell
                ok = first >= 0
            else:
                ids = lookup(table, cell_strings(x, None))
                ok = tf.logical_and(tf.equal(ids.row_lengths(), 1), tf.reduce_all(ids >= 0, axis=1))
                first = ids.to_tensor(0, shape=[None, 1])[:, 0]
            y = tf.cast(tf.maximum(first, 0), tf.float32)[:, None] if t.kind == "binary" else first
            return y, ok
        ids = lookup(table, cell_strings(cells[0], opts["separator"]))
        ok = tf.reduce_all(ids >= 0, axis=1)
        ids = tf.ragged.map_flat_values(tf.maximum, ids, tf.constant(0, ids.dtype))
        if t.kind == "multilabel":
            return multi_hot(ids, t.num_classes), ok
        words = self.tokenizers[opts["tokens_from"]].words(self.text_of(row, self._text_column(opts)))
        ok = tf.logical_and(ok, tf.equal(ids.row_lengths(), words.row_lengths()))
        return ids.to_tensor(0, shape=[None, shape[0]]), ok

    def _text_column(self, opts):
        return self.features[opts["tokens_from"]][0]["column"]

    def encode(self, row, label_map, task_id):
        """A chunk of rows -> ``(features, labels, weights)`` of the shared batch shape, each with
        a leading dimension n (the rows of the chunk)."""
        import tensorflow as tf

        n = _rows(row)
        feats = self.encode_features(row)
        feats["task_id"] = tf.fill([n], tf.constant(task_id, tf.int32))
        labels, weights, _ = self.encode_labels(row, label_map, n)
        return feats, labels, weights

    def check(self, row, label_map):
        """bool [n]: each row is good (known label values, tag counts, regression sizes). Every op
        that fails on a bad cell (non-number, bad UTF-8) runs too, failing the whole chunk
        (the validation pass then looks for the row one at a time)."""
        import tensorflow as tf

        n = _rows(row)
        ok = tf.ones([n], tf.bool)
        for parts in self.features.values():
            for p in parts:
                for c in p.get("columns") or []:
                    values = cell_floats(row[c], self.widths[c])
                    ok = tf.logical_and(ok, tf.reduce_sum(tf.cast(tf.math.is_nan(values), tf.int64), axis=1) >= 0)
                if p["kind"] == "text" and _is_string(row[p["column"]]):
                    text = self.text_of(row, p["column"])
                    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="strict")
                    ok = tf.logical_and(ok, tf.strings.length(text) >= 0)
        _, _, labels_ok = self.encode_labels(row, label_map, n)
        # the result depends on every check (data edges: unused ops would be pruned)
        return tf.logical_and(ok, labels_ok)


def _numeric(row, columns, widths):
    """The float32 [n, width] pieces of a numeric feature's columns: one slice (or gather) of the
    row's ``FLOAT_BLOCK`` matrix when it holds every column (one value each), else one piece
    per column (:func:`cell_floats`); the same values either way."""
    import tensorflow as tf

    block = row.get(FLOAT_BLOCK)
    if block is None or not all(c in block[1] and widths[c] == 1 for c in columns):
        return [cell_floats(row[c], widths[c]) for c in columns]
    x, at = block
    idx = [at[c] for c in columns]
    if idx == list(range(idx[0], idx[0] + len(idx))):
        return [x[:, idx[0] : idx[0] + len(idx)]]
    return [tf.gather(x, idx, axis=1)]


def _rows(row):
    """n, the rows of a chunk (column -> tensor with a leading dimension n)."""
    import tensorflow as tf

    x = next(v for k, v in row.items() if k != FLOAT_BLOCK)
    return x.nrows(out_type=tf.int32) if isinstance(x, tf.RaggedTensor) else tf.shape(x)[0]


def cell_floats_or_nan(x):
    """Numbers of a regression label cell; a non-numeric string gives NaN (caught by the check)."""
    import tensorflow as tf

    if _is_string(x):
        s = tf.strings.strip(x)
        good = tf.strings.regex_full_match(s, r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)")
        if isinstance(s, tf.RaggedTensor):
            return tf.ragged.map_flat_values(
                lambda v, g: tf.where(g, tf.strings.to_number(tf.where(g, v, "0")), float("nan")), s, good
            )
        return tf.where(good, tf.strings.to_number(tf.where(good, s, "0")), float("nan"))
    return tf.cast(x, tf.float32)
