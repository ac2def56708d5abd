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


def cell_present(x):
    """True if a label cell has a value: a non-empty string cell, or a non-empty typed list."""
    import tensorflow as tf

    if _is_string(x) and x.shape.rank == 0:
        return tf.strings.length(x) > 0
    return tf.size(x) > 0


def cell_strings(x, separator):
    """A cell's values as a 1-D string tensor (a string cell split on ``separator``; None:
    whitespace); typed values as strings."""
    import tensorflow as tf

    if not _is_string(x):
        x = tf.strings.as_string(x) if x.dtype.is_integer else tf.strings.as_string(x, shortest=True)
        return tf.reshape(x, [-1])
    if x.shape.rank == 0:
        if separator is None:
            return tf.strings.split(x)
        parts = tf.strings.split(x, separator)
        return tf.boolean_mask(parts, tf.strings.length(parts) > 0)  # "" is no value
    return tf.reshape(x, [-1])


def cell_floats(x, width):
    """A numeric cell as float32 [width] (a string cell is parsed: an error if not a number)."""
    import tensorflow as tf

    if _is_string(x):
        x = tf.strings.to_number(tf.strings.strip(x), tf.float32)
    return tf.ensure_shape(tf.reshape(tf.cast(x, tf.float32), [-1]), [width])


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

    def encode_features(self, row):
        import tensorflow as tf

        out = {}
        for name, parts in self.features.items():
            if parts[0]["kind"] == "text":
                out.update(self.tokenizers[name].encode(tf.reshape(row[parts[0]["column"]], []), name))
                continue
            pieces = []
            for i, p in enumerate(parts):
                if p["kind"] == "numeric":
                    pieces += [cell_floats(row[c], self.widths[c]) for c in p["columns"]]
                    continue
                table, size = self.tables[(name, i)]
                sep = p.get("separator")
                ids = table.lookup(cell_strings(row[p["column"]], sep) if sep else tf.reshape(row[p["column"]], [-1]))
                if p.get("output") == "id":
                    out[name] = tf.cast(tf.reshape(ids[:1], []), tf.int32)
                    break
                hot = tf.one_hot(ids, size)
                pieces.append(tf.minimum(tf.reduce_sum(hot, axis=0), 1.0) if sep else hot[0])
            if pieces:
                out[name] = tf.concat(pieces, 0)
        return out

    def encode_labels(self, row, label_map, check=False):
        """``(labels, weights, checks)``: ``label_map`` task -> columns (tasks the file labels);
        ``checks`` are assertion ops (unknown label values, tag counts) when ``check``."""
        import tensorflow as tf

        labels, weights, checks = {}, {}, []
        for t in self.tasks:
            shape = [1] if t.kind == "binary" else [] if t.kind == "multiclass" else [t.num_classes]
            if t.kind == "tagging":
                shape = [self.features[self.labels[t.name]["tokens_from"]][0]["max_length"]]
            dtype = tf.int32 if t.kind in ("multiclass", "tagging") else tf.float32
            wshape = [1] if t.is_sequence else []
            if t.name not in label_map:
                labels[t.name], weights[t.name] = tf.zeros(shape, dtype), tf.zeros(wshape)
                continue
            cells = [row[c] for c in label_map[t.name]]
            present = cell_present(cells[0])
            for c in cells[1:]:
                present = tf.logical_and(present, cell_present(c))
            y, ok = self._label(t, cells, shape, row)
            y = tf.ensure_shape(tf.reshape(tf.cast(y, dtype), shape), shape)
            labels[t.name] = tf.where(present, y, tf.zeros(shape, dtype))  # placeholder 0 where missing
            weights[t.name] = tf.reshape(tf.cast(present, tf.float32), wshape)
            if check and ok is not None:
                checks.append(tf.debugging.Assert(tf.logical_or(tf.logical_not(present), ok), [t.name]))
        return labels, weights, checks

    def _label(self, t, cells, shape, row):
        import tensorflow as tf

        opts = self.labels[t.name]
        if t.kind == "regression":
            vals = tf.concat([tf.reshape(cell_floats_or_nan(c), [-1]) for c in cells], 0)
            ok = tf.logical_and(tf.equal(tf.size(vals), t.num_classes), tf.reduce_all(tf.math.is_finite(vals)))
            vals = tf.pad(vals, [[0, tf.maximum(t.num_classes - tf.size(vals), 0)]])[: t.num_classes]
            return vals, ok
        table = self.label_tables[t.name]
        if t.kind in ("binary", "multiclass"):
            if _is_string(cells[0]) and cells[0].shape.rank == 0:
                vals = tf.reshape(tf.strings.strip(cells[0]), [1])  # one value per cell
            else:
                vals = cell_strings(cells[0], None)
            ids = table.lookup(vals)
            ok = tf.logical_and(tf.equal(tf.size(ids), 1), tf.reduce_all(ids >= 0))
            first = tf.concat([ids, [0]], 0)[0]
            y = tf.reshape(tf.cast(tf.maximum(first, 0), tf.float32), [1]) if t.kind == "binary" else first
            return y, ok
        ids = table.lookup(cell_strings(cells[0], opts["separator"]))
        ok = tf.reduce_all(ids >= 0)
        if t.kind == "multilabel":
            return tf.minimum(tf.reduce_sum(tf.one_hot(tf.maximum(ids, 0), t.num_classes), axis=0), 1.0), ok
        n_tags = tf.size(ids)
        words = self.tokenizers[opts["tokens_from"]].words(tf.reshape(row[self._text_column(opts)], []))
        ok = tf.logical_and(ok, tf.equal(n_tags, tf.size(words)))
        ids = tf.maximum(ids, 0)[: shape[0]]
        return tf.pad(ids, [[0, shape[0] - tf.size(ids)]]), ok

    def _text_column(self, opts):
        return self.features[opts["tokens_from"]][0]["column"]

    def encode(self, row, label_map, task_id):
        """One row -> ``(features, labels, weights)`` of the shared batch shape."""
        import tensorflow as tf

        feats = self.encode_features(row)
        feats["task_id"] = tf.constant(task_id, tf.int32)
        labels, weights, _ = self.encode_labels(row, label_map)
        return feats, labels, weights

    def check(self, row, label_map):
        """Every op that fails on a bad row (non-number, unknown label, bad UTF-8, tag count): a
        scalar to compute for its side effect in the validation pass."""
        import tensorflow as tf

        deps = []
        for parts in self.features.values():
            for p in parts:
                for c in p.get("columns") or []:
                    values = cell_floats(row[c], self.widths[c])
                    deps.append(tf.reduce_sum(tf.cast(tf.math.is_nan(values), tf.int64)))
                if p["kind"] == "text" and _is_string(row[p["column"]]):
                    text = tf.strings.unicode_transcode(row[p["column"]], "UTF-8", "UTF-8", errors="strict")
                    deps.append(tf.cast(tf.strings.length(text), tf.int64))
        _, _, checks = self.encode_labels(row, label_map, check=True)
        # the result depends on every check (data edges: control edges to pure ops get pruned)
        with tf.control_dependencies(checks):
            return tf.add_n([tf.constant(0, tf.int64), *deps]) if deps else tf.identity(tf.constant(0, tf.int64))


def cell_floats_or_nan(x):
    """Numbers of a regression label cell; a non-numeric string gives NaN (caught by the check)."""
    import tensorflow as tf

    if _is_string(x):
        s = tf.strings.strip(tf.reshape(x, [-1]))
        good = tf.strings.regex_full_match(s, r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)")
        return tf.where(good, tf.strings.to_number(tf.where(good, s, "0")), float("nan"))
    return tf.cast(tf.reshape(x, [-1]), tf.float32)
