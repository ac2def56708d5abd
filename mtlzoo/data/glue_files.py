"""``glue_files``: the GLUE benchmark (Wang et al. 2019) read from its own TSV files, for BERT encoders.

The directory is what GLUE's ``download_glue_data.py`` writes (one folder per task):
``data_dir`` (default ``$MTLZOO_DATA_DIR/glue``) holds any of

=====  =======  ============================  ===========  =========================================
task   folder   files (train, test)           kind         text columns -> label
=====  =======  ============================  ===========  =========================================
cola   CoLA     train.tsv, dev.tsv            binary       no header; col 4 sentence, col 2 label
sst2   SST-2    train.tsv, dev.tsv            binary       sentence -> label
mrpc   MRPC     train.tsv, dev.tsv            binary       #1 String, #2 String -> Quality
stsb   STS-B    train.tsv, dev.tsv            regression   sentence1, sentence2 -> score (0..5)
rte    RTE      train.tsv, dev.tsv            binary       sentence1, sentence2 -> label (by name)
qnli   QNLI     train.tsv, dev.tsv            binary       question, sentence -> label (by name)
qqp    QQP      train.tsv, dev.tsv            binary       question1, question2 -> is_duplicate
mnli   MNLI     train.tsv, dev_matched.tsv    multiclass   sentence1, sentence2 -> gold_label (3)
wnli   WNLI     train.tsv, dev.tsv            binary       sentence1, sentence2 -> label
=====  =======  ============================  ===========  =========================================

Files are read as GLUE's baselines and BERT's ``run_classifier.py`` read them: tab
separated, no quote character (MRPC's sentences hold unbalanced ``"``), UTF-8 with an
optional byte-order mark (MRPC's dev.tsv has one). GLUE's test labels are hidden, so
``test`` = the dev file and ``validation`` = a seeded ``validation_fraction`` slice of the
training file; ``max_train_examples`` (an integer, or ``{task: integer or None}``) caps the
examples drawn (seeded) from a training file before that slice is taken. A task's
examples depend on (seed, task name) only, so single-task and multi-task runs see the same.

Text is WordPiece-tokenised with the checkpoint's own vocabulary and lower-casing
(``checkpoint``: the encoder's directory, :func:`mtlzoo.encoders.checkpoints.checkpoint_vocab`;
or ``vocab_file`` + ``lowercase``) and packed as BERT packs it (Devlin et al. 2019):
``[CLS] a [SEP]`` (segment ids 0) or ``[CLS] a [SEP] b [SEP]`` (0 up to the first
``[SEP]``, 1 after), cut to ``max_length`` by dropping the last token of the longer side
first (BERT's ``_truncate_seq_pair``). Features ``token_ids`` / ``segment_ids`` /
``padding_mask`` int32 ``[n, width]`` (width = the longest example, at most
``max_length``), ``task_id``; with ``bucket_by_length`` also ``length`` (real tokens per
example), which makes the training batches length-bucketed and every batch padded only to
its longest example (:mod:`mtlzoo.data.mixing`). Labels in the one batch shape of
:mod:`mtlzoo.data.base` (binary float ``[n, 1]``, multiclass int ``[n]``, STS-B float ``[n, 1]``).

A zoo entry keeps its own copy of the vocabulary (:meth:`GlueFilesSource.self_contained`):
its ``config.json`` has ``vocab_file: vocab.txt`` (relative: the entry's file, see
:func:`mtlzoo.workdir.read_config`), ``lowercase`` set and no ``checkpoint``.

``info``: ``vocab_file``, ``lowercase``, ``max_length``, ``label_names`` ``{task: names by
label id}`` (None for STS-B), ``text_fields`` ``{task: (first, second or None)}``.

Example::

    data = {"source": "glue_files", "checkpoint": "/data/bert/all-MiniLM-L6-v2",
            "data_dir": "/data/glue", "max_train_examples": {"sst2": 8000}}
"""

import csv
import dataclasses
import os
import sys
import zlib

import numpy as np

from mtlzoo import fileio, options
from mtlzoo.data.base import Split, TaskData, check_task_kinds
from mtlzoo.data.real import DATA_DIR_ENV, data_dir  # noqa: F401  (DATA_DIR_ENV re-exported; one data-directory rule)
from mtlzoo.errors import ConfigError

SPLIT_FILES = ("train", "test")


@dataclasses.dataclass(frozen=True)
class Layout:
    """How one GLUE task's files are laid out.

    ``columns``: the text columns (header names, or 0-based indexes for a headerless file);
    ``label``: the label column; ``names``: label names by id (labels given by name when
    ``by_name``, else as the integer id); None for a regression score in [0, 5].
    ``num_fields``: the fields of a row of a headerless file.
    """

    folder: str
    files: tuple
    kind: str
    columns: tuple
    label: object
    names: tuple | None
    by_name: bool = False
    header: bool = True
    num_fields: int | None = None
    field_names: tuple = ("sentence", None)


_NLI = ("entailment", "not_entailment")
LAYOUTS = {
    "cola": Layout(
        "CoLA", ("train.tsv", "dev.tsv"), "binary", (3,), 1, ("unacceptable", "acceptable"), header=False, num_fields=4
    ),
    "sst2": Layout("SST-2", ("train.tsv", "dev.tsv"), "binary", ("sentence",), "label", ("negative", "positive")),
    "mrpc": Layout(
        "MRPC",
        ("train.tsv", "dev.tsv"),
        "binary",
        ("#1 String", "#2 String"),
        "Quality",
        ("not_equivalent", "equivalent"),
        field_names=("sentence1", "sentence2"),
    ),
    "stsb": Layout(
        "STS-B",
        ("train.tsv", "dev.tsv"),
        "regression",
        ("sentence1", "sentence2"),
        "score",
        None,
        field_names=("sentence1", "sentence2"),
    ),
    "rte": Layout(
        "RTE",
        ("train.tsv", "dev.tsv"),
        "binary",
        ("sentence1", "sentence2"),
        "label",
        _NLI,
        by_name=True,
        field_names=("sentence1", "sentence2"),
    ),
    "qnli": Layout(
        "QNLI",
        ("train.tsv", "dev.tsv"),
        "binary",
        ("question", "sentence"),
        "label",
        _NLI,
        by_name=True,
        field_names=("question", "sentence"),
    ),
    "qqp": Layout(
        "QQP",
        ("train.tsv", "dev.tsv"),
        "binary",
        ("question1", "question2"),
        "is_duplicate",
        ("not_duplicate", "duplicate"),
        field_names=("question1", "question2"),
    ),
    "mnli": Layout(
        "MNLI",
        ("train.tsv", "dev_matched.tsv"),
        "multiclass",
        ("sentence1", "sentence2"),
        "gold_label",
        ("entailment", "neutral", "contradiction"),
        by_name=True,
        field_names=("sentence1", "sentence2"),
    ),
    "wnli": Layout(
        "WNLI",
        ("train.tsv", "dev.tsv"),
        "binary",
        ("sentence1", "sentence2"),
        "label",
        ("not_entailment", "entailment"),
        field_names=("sentence1", "sentence2"),
    ),
}
TASKS = {t: (lay.kind, len(lay.names) if lay.names else 1) for t, lay in LAYOUTS.items()}


def glue_dir(opts):
    """The GLUE directory: ``opts["data_dir"]``, else ``$MTLZOO_DATA_DIR/glue``; ConfigError if absent."""
    root = opts.get("data_dir") or data_dir({}, "glue")  # unset: $MTLZOO_DATA_DIR/glue (mtlzoo.data.real)
    if not os.path.isdir(root):
        raise ConfigError("data.data_dir", f"GLUE directory {root} does not exist")
    return root


def task_files(root, task):
    """``{"train": path, "test": path}`` of a task; ConfigError naming a missing file."""
    lay = LAYOUTS[task]
    out = {}
    for split, name in zip(SPLIT_FILES, lay.files, strict=True):
        path = os.path.join(root, lay.folder, name)
        if not os.path.isfile(path):
            raise ConfigError("data.data_dir", f"GLUE directory {root} has no {lay.folder}/{name} (task {task})")
        out[split] = path
    return out


def _parse_label(value, lay, path, line):
    if lay.names is None:
        try:
            y = float(value)
        except ValueError:
            y = float("nan")
        if not 0.0 <= y <= 5.0:
            raise ConfigError("data.data_dir", f"{path} line {line}: score {value!r} is not a number in [0, 5]")
        return y
    if lay.by_name:
        if value not in lay.names:
            raise ConfigError(
                "data.data_dir", f"{path} line {line}: label {value!r} is not one of {', '.join(lay.names)}"
            )
        return lay.names.index(value)
    if value not in [str(i) for i in range(len(lay.names))]:
        raise ConfigError("data.data_dir", f"{path} line {line}: label {value!r} is not one of 0..{len(lay.names) - 1}")
    return int(value)


_PARSED = {}  # (path, task, mtime_ns, size) -> parsed rows, reused by later loads of the same file
_PARSED_MAX = 2 * len(LAYOUTS)


def read_glue_tsv(path, task):
    """Reads one GLUE file: ``(first texts, second texts or None, labels)``.

    Labels: int ids (float scores for STS-B). ConfigError naming the file and the 1-based
    line for a row with the wrong number of fields or a label that does not parse, and for
    a header without the task's columns. The parse of an unchanged file (same path, size and
    modification time) is reused within a process (a study loads the same files many times).
    """
    st = os.stat(path)
    key = (os.path.abspath(path), task, st.st_mtime_ns, st.st_size)
    if key not in _PARSED:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = _read_glue_tsv(path, task)
    return _PARSED[key]


CHECK_ROWS = 64  # rows of each file the config check parses (the load parses them all)


def check_glue_tsv(path, task, rows=CHECK_ROWS):
    """The config check of one GLUE file: its header and first ``rows`` rows parse (the same
    errors as :func:`read_glue_tsv`, file and line named), and it has an example. Reads a few
    kilobytes whatever the file's size (QQP's train.tsv: 364k rows, MNLI's: 393k); a malformed
    row further down is reported, with its file and line, when the data is loaded."""
    _read_glue_tsv(path, task, limit=rows)


def _read_glue_tsv(path, task, limit=None):
    lay = LAYOUTS[task]
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    first, second, labels = [], [], []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if lay.header:
            header = next(reader, None) or []
            missing = [c for c in (*lay.columns, lay.label) if c not in header]
            if missing:
                raise ConfigError("data.data_dir", f"{path} line 1: the header has no column {missing[0]!r}")
            num_fields = len(header)
            cols = [header.index(c) for c in lay.columns]
            label_col = header.index(lay.label)
        else:
            num_fields, cols, label_col = lay.num_fields, list(lay.columns), lay.label
        for row in reader:
            if not row:  # a blank line
                continue
            if len(row) != num_fields:
                raise ConfigError(
                    "data.data_dir",
                    f"{path} line {reader.line_num}: expected {num_fields} tab-separated fields, got {len(row)}",
                )
            labels.append(_parse_label(row[label_col], lay, path, reader.line_num))
            first.append(row[cols[0]])
            if len(cols) > 1:
                second.append(row[cols[1]])
            if limit is not None and len(labels) >= limit:
                break
    if not labels:
        raise ConfigError("data.data_dir", f"{path} has no examples")
    return first, (second if len(cols) > 1 else None), labels


# --------------------------------------------------------------------------- WordPiece packing


def wordpiece_tokenizer(vocab_file, lowercase, field="data.vocab_file"):
    """A keras-hub ``BertTokenizer`` over a local vocabulary file (no download)."""
    if not os.path.isfile(vocab_file):
        raise ConfigError(field, f"vocabulary file {vocab_file} does not exist")
    with open(vocab_file, encoding="utf-8") as f:
        words = {line.rstrip("\r\n") for line in f}
    for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
        if special not in words:
            raise ConfigError(field, f"vocabulary file {vocab_file} lacks the special token {special}")
    import keras_hub

    return keras_hub.tokenizers.BertTokenizer(vocabulary=vocab_file, lowercase=lowercase)


def tokenize(tokenizer, texts, chunk=4096):
    """WordPiece ids of each text, as lists of ints."""
    out = []
    for start in range(0, len(texts), chunk):
        ids = tokenizer(list(texts[start : start + chunk]))
        out.extend(ids.to_list() if hasattr(ids, "to_list") else [list(map(int, r)) for r in ids])
    return out


def pack(ids_a, ids_b, max_length, cls_id, sep_id):
    """``[CLS] a [SEP] (b [SEP])`` -> (token ids, segment ids), at most ``max_length`` long.

    A pair too long loses tokens from the end of its longer side first (the second side on
    a tie), as BERT's ``_truncate_seq_pair``; a single text is cut to ``max_length - 2``.
    """
    a = list(ids_a)
    if ids_b is None:
        a = a[: max(0, max_length - 2)]
        return [cls_id, *a, sep_id], [0] * (len(a) + 2)
    b = list(ids_b)
    while len(a) + len(b) > max_length - 3:
        (a if len(a) > len(b) else b).pop()
    return [cls_id, *a, sep_id, *b, sep_id], [0] * (len(a) + 2) + [1] * (len(b) + 1)


def encode_texts(tokenizer, first, second, max_length):
    """``token_ids`` / ``segment_ids`` / ``padding_mask`` int32 ``[n, width]`` and lengths ``[n]``.

    ``width`` = the longest packed example (<= ``max_length``); padding id 0 after it.
    """
    vocab_id = tokenizer.token_to_id
    cls_id, sep_id, pad_id = vocab_id("[CLS]"), vocab_id("[SEP]"), vocab_id("[PAD]")
    ids_a = tokenize(tokenizer, first)
    ids_b = tokenize(tokenizer, second) if second is not None else [None] * len(ids_a)
    packed = [pack(a, b, max_length, cls_id, sep_id) for a, b in zip(ids_a, ids_b, strict=True)]
    lengths = np.asarray([len(t) for t, _ in packed], np.int32)
    width = int(lengths.max()) if len(lengths) else 2
    tokens = np.full((len(packed), width), pad_id, np.int32)
    segments = np.zeros((len(packed), width), np.int32)
    for i, (t, s) in enumerate(packed):
        tokens[i, : len(t)] = t
        segments[i, : len(s)] = s
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int32)
    return {"token_ids": tokens, "segment_ids": segments, "padding_mask": mask}, lengths


def traced_predict(model):
    """``model(x, training=False)`` as one ``tf.function`` kept on the model. For named inputs (a
    dict) it is traced once: its input signature leaves every dimension open, so batches of any
    size and width run the same graph. On a CPU this is about a third less work per example than
    calling the model eagerly, op by op (the GLUE entry's dev sets: 67 -> 45 s of CPU)."""
    fn = getattr(model, "_mtlzoo_predict", None)
    if fn is None:
        import tensorflow as tf

        if isinstance(model.input, dict):
            spec = [{n: tf.TensorSpec([None] * len(t.shape), t.dtype) for n, t in model.input.items()}]
            fn = tf.function(lambda x: model(x, training=False), input_signature=spec, autograph=False)
        else:  # one unnamed input: traced per input shape, relaxed after the second
            fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True, autograph=False)
        model._mtlzoo_predict = fn
    return fn


def predict_texts(model, tokenizer, task, first, second=None, max_length=128, task_index=None, batch=64):
    """The Keras ``model``'s ``task`` output on raw texts (pairs when ``second`` is given).

    Encodes with :func:`encode_texts`, predicts in length-sorted batches cut to their longest
    example (the fast way on a CPU; the padding mask makes the cut exact) and returns the outputs
    in the input order: ``[n]`` for one unit, ``[n, k]`` for a k-way head. ``task_index`` fills
    ``task_id`` for models that route by it (the task's position in the sorted task names).
    Each batch is one call of the model's traced prediction (:func:`traced_predict`).
    """
    predict = traced_predict(model)
    feats, lengths = encode_texts(tokenizer, first, second, max_length)
    if task_index is not None:
        feats["task_id"] = np.full(len(first), task_index, np.int32)
    order = np.argsort(lengths, kind="stable")
    parts = []
    for lo in range(0, len(order), batch):
        idx = order[lo : lo + batch]
        width = int(lengths[idx].max())
        x = {n: (feats[n][idx, :width] if feats[n].ndim == 2 else feats[n][idx]) for n in model.input}
        parts.append(np.asarray(predict(x)[task], np.float32).reshape(len(idx), -1))
    sorted_out = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
    out = np.empty_like(sorted_out)
    out[order] = sorted_out
    return out[:, 0] if out.shape[1] == 1 else out


# --------------------------------------------------------------------------- the source


def _check_max_train(value, tasks):
    if value is None:
        return
    items = dict(value).items() if hasattr(value, "items") else [(None, value)]
    names = {t.name for t in tasks}
    for task, n in items:
        where = "data.max_train_examples" + (f".{task}" if task else "")
        if task is not None and task not in names:
            raise ConfigError(where, f"no configured task named {task!r}")
        if task is not None and n is None:  # this task uncapped
            continue
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(where, f"must be a positive integer (or a mapping task -> integer), got {n!r}")


def _max_train(opts, task):
    v = opts.get("max_train_examples")
    if hasattr(v, "items"):
        return dict(v).get(task)
    return v


def tokenizer_files(opts):
    """``(vocabulary file, lowercase)``: ``vocab_file`` / ``lowercase`` when set, else the checkpoint's."""
    from mtlzoo.encoders.checkpoints import checkpoint_vocab

    if opts.get("vocab_file"):
        vocab, lower = opts["vocab_file"], True
        if not os.path.isfile(vocab):
            raise ConfigError("data.vocab_file", f"vocabulary file {vocab} does not exist")
    elif opts.get("checkpoint"):
        vocab, lower = checkpoint_vocab(opts["checkpoint"], "data.checkpoint")
    else:
        raise ConfigError("data.checkpoint", "set checkpoint (a BERT checkpoint directory) or vocab_file")
    return vocab, (lower if opts.get("lowercase") is None else opts["lowercase"])


def task_kinds(tasks):
    """:data:`TASKS` for ``tasks``: a binary task configured as ``multiclass`` with 2 classes is
    accepted as such (a 2-way softmax head, as BERT's and keras-hub's classifiers; its labels
    are then the class ids 0/1)."""
    out = dict(TASKS)
    for t in tasks:
        if t.name in out and out[t.name][0] == "binary" and (t.kind, t.num_classes) == ("multiclass", 2):
            out[t.name] = ("multiclass", 2)
    return out


class GlueFilesSource:
    """GLUE from its TSV files (see the module docstring for the options and the layouts)."""

    name = "glue_files"
    TASKS = TASKS
    LAYOUTS = LAYOUTS
    schema = options.SOURCES["glue_files"]

    @staticmethod
    def check(opts, tasks):
        """Every task's files exist, their headers and first rows parse (:func:`check_glue_tsv`:
        a wrong layout is refused at config validation, before a tool writes anything, in
        constant time per file), and the tokenizer's vocabulary exists. A malformed row deeper
        in a file is refused by ``load`` with its file and line (a tool loads the data before
        it writes to the workdir)."""
        check_task_kinds(tasks, task_kinds(tasks), "glue_files")
        _check_max_train(opts.get("max_train_examples"), tasks)
        root = glue_dir(opts)
        paths = [task_files(root, t.name) for t in tasks]
        tokenizer_files(opts)
        for t, files in zip(tasks, paths, strict=True):
            for path in files.values():
                check_glue_tsv(path, t.name)

    @staticmethod
    def self_contained(opts, folder, vocab_name="vocab.txt"):
        """The options a zoo entry keeps: the tokenizer's vocabulary (the checkpoint's, or
        ``vocab_file``) copied into ``folder`` as ``vocab_name`` and named relative to it,
        lower-casing explicit, no ``checkpoint``; the texts are then encoded exactly as in
        training without the checkpoint directory."""
        vocab, lower = tokenizer_files(opts)
        fileio.copy(vocab, os.path.join(folder, vocab_name))
        return {**opts, "checkpoint": None, "vocab_file": vocab_name, "lowercase": bool(lower)}

    @staticmethod
    def read_task(opts, task, seed):
        """One task's examples per split: ``{split: (first texts, second texts or None, labels)}``."""
        files = task_files(glue_dir(opts), task)
        a, b, y = read_glue_tsv(files["train"], task)
        order = np.random.default_rng([seed, zlib.crc32(task.encode())]).permutation(len(y))
        cap = _max_train(opts, task)
        if cap:
            order = order[:cap]
        n_val = int(round(opts["validation_fraction"] * len(order)))
        out = {}
        for split, idx in (("train", order[n_val:]), ("validation", order[:n_val])):
            if len(idx):
                out[split] = ([a[i] for i in idx], None if b is None else [b[i] for i in idx], [y[i] for i in idx])
        out["test"] = read_glue_tsv(files["test"], task)
        return out

    @staticmethod
    def load(opts, tasks, seed):
        vocab, lower = tokenizer_files(opts)
        rows = [GlueFilesSource.read_task(opts, t.name, seed) for t in tasks]  # bad files fail before TF loads
        tok = wordpiece_tokenizer(vocab, lower)
        per_split = {s: [] for s in ("train", "validation", "test")}
        for i, t in enumerate(tasks):
            for split, (a, b, y) in rows[i].items():
                feats, lengths = encode_texts(tok, a, b, opts["max_length"])
                per_split[split].append((i, t, feats, lengths, y))
        splits = {s: _stack(parts, tasks, opts["bucket_by_length"]) for s, parts in per_split.items() if parts}
        info = {
            "vocab_file": vocab,
            "lowercase": lower,
            "vocab_size": tok.vocabulary_size(),
            "max_length": opts["max_length"],
            "label_names": {t.name: LAYOUTS[t.name].names for t in tasks},
            "text_fields": {t.name: LAYOUTS[t.name].field_names for t in tasks},
        }
        return TaskData(splits, info=info)


def _stack(parts, tasks, with_length):
    """One Split from per-task parts ``(task index, spec, features, lengths, labels)``: features
    padded to a common width; each task's label with weight 1 on its own examples, a
    placeholder label with weight 0 on the others."""
    width = max(f["token_ids"].shape[1] for _, _, f, _, _ in parts)
    feats = {
        k: np.concatenate([np.pad(f[k], ((0, 0), (0, width - f[k].shape[1]))) for _, _, f, _, _ in parts])
        for k in ("token_ids", "segment_ids", "padding_mask")
    }
    feats["task_id"] = np.concatenate([np.full(len(n), i, np.int32) for i, _, _, n, _ in parts])
    if with_length:
        feats["length"] = np.concatenate([n for _, _, _, n, _ in parts])
    labels, weights = {}, {}
    for t in tasks:
        lab, w = [], []
        for _, u, _, n, y in parts:
            mine = u.name == t.name
            if t.kind == "multiclass":
                lab.append(np.asarray(y, np.int32) if mine else np.zeros(len(n), np.int32))
            else:  # binary 0/1 or STS-B score: float [n, 1]
                lab.append((np.asarray(y, np.float32) if mine else np.zeros(len(n), np.float32))[:, None])
            w.append(np.full(len(n), 1.0 if mine else 0.0, np.float32))
        labels[t.name], weights[t.name] = np.concatenate(lab), np.concatenate(w)
    return Split(feats, labels, weights)
