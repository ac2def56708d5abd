"""CoNLL corpora: the one reader (nltk) and the ``conll2000`` task source.

:func:`read_conll` reads CoNLL-2000 (WSJ part-of-speech and IOB chunk tags, Tjong Kim
Sang & Buchholz 2000) or CoNLL-2002 (Spanish or Dutch POS and IOB named-entity tags,
Tjong Kim Sang 2002) with nltk's ``ConllChunkCorpusReader``: every sentence is a list of
``(word, pos, tag)`` triples. Both the ``conll2000`` data source (:class:`Conll2000Source`)
and the task simulator's base text (:func:`mtlzoo.data.simulator.conll_corpus`) read
through it.

Example:
    >>> sents = read_conll("conll2000", "/data/nltk_data")
    >>> sents["test"][0][:2]
    [('Rockwell', 'NNP', 'B-NP'), ('International', 'NNP', 'I-NP')]
"""

import os

import numpy as np

from mtlzoo import options
from mtlzoo.data.base import Split, TaskData, split_indices
from mtlzoo.data.real import DATA_DIR_ENV, PAD, UNK, _task_seed, data_vocab, encode_tokens
from mtlzoo.errors import ConfigError

# corpus -> chunk types, nltk tagset, {language: (train file, test file)}; the first language is the default
CORPORA = {
    "conll2000": {"types": ("NP", "VP", "PP"), "tagset": "wsj", "files": {"en": ("train.txt", "test.txt")}},
    "conll2002": {
        "types": ("LOC", "PER", "ORG", "MISC"),
        "tagset": None,
        "files": {"esp": ("esp.train", "esp.testb"), "ned": ("ned.train", "ned.testb")},
    },
}


def nltk_dir(opts):
    """The NLTK data directory of a source's options: ``opts["nltk_data"]``, else
    ``<data_dir>/nltk_data``, else None (nltk's own search path, which includes $NLTK_DATA)."""
    if opts.get("nltk_data"):
        if not os.path.isdir(opts["nltk_data"]):
            raise ConfigError("data.nltk_data", f"directory {opts['nltk_data']} does not exist")
        return opts["nltk_data"]
    root = opts.get("data_dir") or os.environ.get(DATA_DIR_ENV)
    if root and os.path.isdir(os.path.join(root, "nltk_data")):
        return os.path.join(root, "nltk_data")
    return None


def find_corpus_dir(data_dir, corpus, field):
    """The NLTK data directory under ``data_dir`` that holds ``corpus``: ``data_dir`` itself or
    ``data_dir/nltk_data`` (with ``corpora/<corpus>.zip`` or ``corpora/<corpus>/``); ConfigError naming ``field``."""
    if not data_dir:
        raise ConfigError(field, f"the {corpus} corpus needs a data directory (or ${DATA_DIR_ENV})")
    for cand in (data_dir, os.path.join(data_dir, "nltk_data")):
        corpora = os.path.join(cand, "corpora")
        if os.path.exists(os.path.join(corpora, f"{corpus}.zip")) or os.path.isdir(os.path.join(corpora, corpus)):
            return os.path.abspath(cand)
    raise ConfigError(
        field,
        f"no corpora/{corpus}.zip under {data_dir} or {data_dir}/nltk_data "
        f"(get it with: python -m nltk.downloader -d DIR {corpus})",
    )


def _first_bad_conll_line(pointer, fileid, columns):
    """(line number, line) of the first non-blank line without ``columns`` columns, or None."""
    with pointer.join(fileid).open() as f:
        text = f.read()
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.strip() and len(line.split()) != columns:
            return lineno, line
    return None


# (corpus, language, file identity) -> {split: sentences}: readings kept by read_conll
_READ = {}


def _file_identity(root, files):
    """What identifies the corpus files under nltk's path pointer ``root``: the zip file's (or
    each plain file's) absolute path, size and modification time; None if it cannot be read."""
    try:
        if hasattr(root, "zipfile"):  # corpora/<corpus>.zip
            paths = [root.zipfile.filename]
        else:
            paths = [os.path.join(root.path, f) for f in files]
        stats = [(os.path.abspath(p), os.stat(p)) for p in paths]
        return tuple((p, st.st_size, st.st_mtime_ns) for p, st in stats)
    except (AttributeError, OSError):
        return None


def read_conll(corpus="conll2000", directory=None, language=None, field="data.nltk_data"):
    """A CoNLL corpus with nltk's reader: ``{"train": sents, "test": sents}``, each sentence a
    list of ``(word, pos, tag)`` (``tag``: IOB chunk for conll2000, IOB entity for conll2002).

    ``corpus``: ``conll2000`` (language ``en``) or ``conll2002`` (``esp``, the default, or
    ``ned``; the test file is ``testb``). ``directory``: an NLTK data directory holding
    ``corpora/<corpus>.zip`` (or the unzipped ``corpora/<corpus>/``); None searches nltk's path
    ($NLTK_DATA included). nltk only opens files under its search path, so the directory
    joins ``nltk.data.path`` while the files are read and leaves it afterwards. A process reads
    the same unchanged files once (path, size and modification time): later calls get a copy of
    that reading.

    Raises:
        ConfigError (naming ``field``, or ``<section>.language`` / ``.source``): an unknown
        corpus or language, a missing corpus, an empty file, or a line without three
        columns (file and line named).
    """
    import nltk
    from nltk.corpus.reader import ConllChunkCorpusReader

    section = field.rpartition(".")[0] or field
    if corpus not in CORPORA:
        raise ConfigError(f"{section}.source", f"unknown corpus {corpus!r}; choose one of {', '.join(CORPORA)}")
    spec = CORPORA[corpus]
    language = language or next(iter(spec["files"]))
    if language not in spec["files"]:
        raise ConfigError(f"{section}.language", f"{corpus} has languages {', '.join(spec['files'])}, not {language!r}")
    files = spec["files"][language]
    saved = list(nltk.data.path)
    if directory:  # nltk only opens files under its search path
        nltk.data.path.insert(0, os.path.abspath(directory))
    try:
        root = None
        for name in (f"corpora/{corpus}.zip/{corpus}/", f"corpora/{corpus}/"):
            try:
                root = nltk.data.find(name, paths=[os.path.abspath(directory)] if directory else None)
                break
            except LookupError:
                continue
        if root is None:
            where = directory or "nltk's search path ($NLTK_DATA)"
            raise ConfigError(
                field, f"the {corpus} corpus is not in {where}; get it with `python -m nltk.downloader {corpus}`"
            )
        key = (corpus, language, _file_identity(root, files))
        if key in _READ:  # the same files, unchanged since they were parsed: a copy of that reading
            return {split: [list(s) for s in sents] for split, sents in _READ[key].items()}
        reader = ConllChunkCorpusReader(root, list(files), spec["types"], tagset=spec["tagset"], encoding="utf-8")
        out = {}
        for split, fileid in zip(("train", "test"), files, strict=True):
            try:
                out[split] = [list(s) for s in reader.iob_sents(fileid) if len(s)]
            except (ValueError, IndexError, OSError, KeyError) as e:
                bad = None
                try:
                    bad = _first_bad_conll_line(root, fileid, 3)
                except (OSError, KeyError):
                    pass
                where = f"{root.join(fileid) if hasattr(root, 'join') else fileid}"
                if bad:
                    raise ConfigError(
                        field, f"{corpus} {fileid} line {bad[0]}: expected 'word POS chunk', got {bad[1][:60]!r}"
                    ) from e
                raise ConfigError(field, f"cannot read {corpus} {where}: {e}") from e
            if not out[split]:
                raise ConfigError(field, f"{corpus} {fileid} has no sentences")
        if key[2] is not None:
            while len(_READ) >= 4:  # a few corpora at most: the oldest reading goes
                del _READ[next(iter(_READ))]
            _READ[key] = {split: [list(s) for s in sents] for split, sents in out.items()}
        return out
    finally:
        nltk.data.path[:] = saved


class Conll2000Source:
    """CoNLL-2000 (WSJ): ``pos`` (part-of-speech) and ``chunk`` (IOB chunk) tagging.

    Every sentence carries both labels (shared input, ``task_id`` 0). Official
    train (8,936) / test (2,012) sentences, plus a seeded ``validation_fraction``
    slice of train. ``tokens`` int32 ``[n, max_length]`` over a word vocabulary of
    the training split (0 = padding, 1 = ``[UNK]``); labels int32 ``[n, max_length]``
    over tag vocabularies of the official train file: 0 = ``[PAD]`` at padding (the
    Keras mask of token id 0 excludes those positions), 1 = ``[UNK]`` for a tag the
    training split lacks (test's one ``I-LST``), then the training tags sorted.
    On the standard corpus ``pos`` has 46 classes and ``chunk`` 24.
    ``info``: ``vocab``, ``vocab_size``, ``tag_vocab`` {task: tags}, ``max_length``.
    """

    name = "conll2000"
    TASKS = {"pos": ("tagging", 46), "chunk": ("tagging", 24)}
    COLUMN = {"pos": 1, "chunk": 2}
    schema = options.SOURCES["conll2000"]

    @staticmethod
    def check(opts, tasks):
        # the class counts come from the data: load() checks them (46 and 24 on the standard corpus)
        for t in tasks:
            if t.name not in Conll2000Source.TASKS:
                raise ConfigError(
                    f"tasks.{t.name}", f"data source 'conll2000' has no task {t.name!r}; it has pos, chunk"
                )
            if t.kind != "tagging":
                raise ConfigError(
                    f"tasks.{t.name}.kind", f"conll2000 gives {t.name!r} as kind 'tagging', not {t.kind!r}"
                )

    @staticmethod
    def load(opts, tasks, seed):
        sents = read_conll("conll2000", nltk_dir(opts))
        train_idx, val_idx = split_indices(
            len(sents["train"]), [opts["validation_fraction"]], _task_seed(seed, "conll2000")
        )
        parts = {
            "train": [sents["train"][i] for i in train_idx],
            "validation": [sents["train"][i] for i in val_idx],
            "test": sents["test"],
        }

        def words(ss):
            return [[w.lower() if opts["lowercase"] else w for w, _, _ in s] for s in ss]

        vocab = data_vocab(opts, words(parts["train"]))
        tag_vocab = {}
        for t in tasks:
            col = Conll2000Source.COLUMN[t.name]
            # tags of the whole official train file, so the classes do not depend on the seed
            tags = sorted({row[col] for s in sents["train"] for row in s})
            tag_vocab[t.name] = [PAD, UNK, *tags]
            if len(tag_vocab[t.name]) != t.num_classes:
                raise ConfigError(
                    f"tasks.{t.name}.num_classes",
                    f"the training split has {len(tags)} {t.name} tags, so the task has {len(tags) + 2} classes "
                    f"(with [PAD] and [UNK]), the config says {t.num_classes}",
                )
        n_len = opts["max_length"]
        splits = {}
        for split, ss in parts.items():
            if not ss:
                continue
            feats = {"tokens": encode_tokens(words(ss), vocab, n_len), "task_id": np.zeros(len(ss), np.int32)}
            labels = {
                t.name: encode_tokens(
                    [[row[Conll2000Source.COLUMN[t.name]] for row in s] for s in ss], tag_vocab[t.name], n_len
                )
                for t in tasks
            }
            weights = {t.name: np.ones(len(ss), np.float32) for t in tasks}
            splits[split] = Split(feats, labels, weights)
        info = {"vocab": vocab, "vocab_size": len(vocab), "tag_vocab": tag_vocab, "max_length": n_len}
        return TaskData(splits, info=info)
