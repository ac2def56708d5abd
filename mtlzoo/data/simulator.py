"""Task simulator of Bettgenhaeuser, Hedderich & Klakow (2020), "Learning Functions to
Study the Benefit of Multitask Learning" (arXiv 2006.05561), and its grid runner.

A **main** sequence-labelling task and ``T - 1`` **auxiliary** tasks are cut from one
tagged base text. Each task gets its own contiguous, disjoint slice of ``n`` tokens
(or ``n_main`` / ``n_aux`` tokens: the paper's unbalanced setting). An auxiliary task's
labels come from the main labels of its slice through a noisy channel (Sec. 3 of the
paper): a ``d x d`` row-stochastic matrix with ``alpha`` on the diagonal and
``(1 - alpha) / (d - 1)`` elsewhere::

    P(aux = j | main = i) = alpha                    if i == j
                          = (1 - alpha) / (d - 1)    otherwise

``alpha = 1`` copies the labels (the auxiliary task is the main task on other text);
``alpha = 1 / d`` makes them independent. Relatedness is measured by the adjusted
mutual information (AMI, scikit-learn's ``adjusted_mutual_info_score``) between the
main labels and the channel's output; :func:`alpha_for_ami` inverts alpha -> AMI by
bisection so a grid can ask for target AMI values.

Base text and main labels come from

* ``hmm``: an embedded hidden-Markov generator (no data needed): a Markov chain over
  BIO labels with ``num_types`` entity types, Zipf-distributed emissions from per-type
  name pools, trigger words before entities and ambiguous words (:func:`hmm_corpus`);
* ``conll2000`` (chunking, BIO over 11 phrase types) or ``conll2002`` (Spanish or Dutch
  NER, BIO over PER/ORG/LOC/MISC), read with nltk from a directory
  (:func:`conll_corpus`).

The model is the paper's multi-task tagger built by :func:`mtlzoo.build_model`: the
``tagger`` encoder (shared BiLSTM over the sentence, ``dense_layers`` shared Dense
layers) and one tagging head per task; examples of different tasks are mixed in one
batch and carry weight 0 for the other tasks' heads (the shared batch shape of
:mod:`mtlzoo.data.base`). Main-task quality is conlleval entity F1 on a fixed test
slice (:mod:`mtlzoo.analysis.tagging_metrics`).

:func:`run_grid` trains one model per cell of a grid over ``(T, n, AMI, repeat)`` and
appends one CSV row per finished cell (flush + fsync), so a rerun after a crash skips
the finished cells. Column names follow the paper's released data: ``n_tasks,
n_tokens_per_task, n_tokens_total, mutual_info, alpha, fscore``.

Example:
    >>> corpus = hmm_corpus(pool_tokens=20_000, test_tokens=2_000, seed=0)
    >>> alpha, achieved = alpha_for_ami(corpus.pool_labels, 0.5, corpus.num_labels)
    >>> sim = simulate_tasks(corpus, n_tasks=3, n_main=1000, n_aux=1000, alpha=alpha, seed=0)
    >>> [t.stop - t.start for t in sim.slices]
    [1000, 1000, 1000]
"""

import csv
import dataclasses
import json
import math
import os
import random
import sys
import time

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.schema import Field, check_fields, non_negative, positive

# ----------------------------------------------------------------------------------------
# Noisy label channel and AMI
# ----------------------------------------------------------------------------------------


def _check_alpha(alpha, field="alpha"):
    if not (isinstance(alpha, (int, float, np.floating)) and 0.0 <= float(alpha) <= 1.0):
        raise ConfigError(field, f"must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def channel_matrix(num_labels, alpha):
    """The ``d x d`` noisy-channel matrix: ``alpha`` on the diagonal, ``(1-alpha)/(d-1)`` off it.

    Rows are ``P(aux label | main label)`` and sum to 1.

    Example:
        >>> channel_matrix(3, 0.5)
        array([[0.5 , 0.25, 0.25],
               [0.25, 0.5 , 0.25],
               [0.25, 0.25, 0.5 ]])
    """
    if not isinstance(num_labels, (int, np.integer)) or num_labels < 2:
        raise ConfigError("num_labels", f"a channel needs at least 2 labels, got {num_labels!r}")
    alpha = _check_alpha(alpha)
    m = np.full((num_labels, num_labels), (1.0 - alpha) / (num_labels - 1))
    np.fill_diagonal(m, alpha)
    return m


def apply_channel(labels, num_labels, alpha=None, matrix=None, rng=None):
    """Sends integer ``labels`` (any shape) through the noisy channel; returns new labels.

    Either ``alpha`` (the symmetric channel of :func:`channel_matrix`, sampled in O(n):
    keep with probability alpha, else a uniform *other* label) or a general row-stochastic
    ``matrix`` (inverse-CDF sampling, O(n d)). ``rng`` is a ``np.random.Generator`` or a seed.

    Example:
        >>> y = np.array([0, 1, 2, 0])
        >>> apply_channel(y, 3, alpha=1.0, rng=0).tolist()
        [0, 1, 2, 0]
    """
    rng = np.random.default_rng(rng)
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_labels):
        raise ConfigError("labels", f"label ids must lie in [0, {num_labels}), got {labels.min()}..{labels.max()}")
    if (alpha is None) == (matrix is None):
        raise ConfigError("alpha", "give exactly one of alpha and matrix")
    flat = labels.reshape(-1).astype(np.int64)
    u = rng.random(flat.size)
    if matrix is None:
        alpha = _check_alpha(alpha)
        shift = rng.integers(1, num_labels, size=flat.size)
        out = np.where(u < alpha, flat, (flat + shift) % num_labels)
    else:
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (num_labels, num_labels) or (m < 0).any() or not np.allclose(m.sum(1), 1.0):
            raise ConfigError("matrix", f"must be a {num_labels}x{num_labels} row-stochastic matrix")
        cdf = np.cumsum(m, axis=1)
        cdf[:, -1] = 1.0
        out = np.minimum((u[:, None] >= cdf[flat]).sum(1), num_labels - 1)
    return out.reshape(labels.shape).astype(labels.dtype if labels.dtype.kind == "i" else np.int64)


def ami(labels_a, labels_b):
    """Adjusted mutual information of two label arrays (scikit-learn, arithmetic normalisation)."""
    from sklearn.metrics import adjusted_mutual_info_score

    return float(adjusted_mutual_info_score(np.ravel(labels_a), np.ravel(labels_b)))


def alpha_to_ami(labels, alpha, num_labels, seed=0):
    """AMI between ``labels`` and one draw of the channel with ``alpha`` applied to them."""
    return ami(labels, apply_channel(labels, num_labels, alpha=alpha, rng=seed))


class _CommonNoise:
    """Fixed uniforms and shifts, so channel outputs for different alphas are coupled.

    With the same draws, the set of kept labels grows with alpha and the replaced ones
    do not change, which makes the sampled alpha -> AMI curve (nearly) monotone.
    """

    def __init__(self, labels, num_labels, seed):
        rng = np.random.default_rng(seed)
        self.labels = np.ravel(labels).astype(np.int64)
        self.u = rng.random(self.labels.size)
        self.other = (self.labels + rng.integers(1, num_labels, self.labels.size)) % num_labels

    def ami(self, alpha):
        return ami(self.labels, np.where(self.u < alpha, self.labels, self.other))


def ami_curve(labels, num_labels, alphas, seed=0):
    """AMI for each alpha in ``alphas`` with coupled channel draws (one seed for all)."""
    noise = _CommonNoise(labels, num_labels, seed)
    return np.array([noise.ami(_check_alpha(a)) for a in alphas])


def alpha_for_ami(labels, target, num_labels, seed=0, tol=1e-4, max_iter=60):
    """The alpha whose channel gives AMI ``target`` on ``labels``; returns ``(alpha, achieved AMI)``.

    Bisection on ``alpha in [1/d, 1]`` (AMI ~ 0 at 1/d, 1 at alpha = 1) with coupled
    draws (:func:`ami_curve`). Raises ConfigError for a target outside ``[0, 1]``.
    """
    if not (0.0 <= float(target) <= 1.0):
        raise ConfigError("mutual_info", f"a target AMI must lie in [0, 1], got {target}")
    noise = _CommonNoise(labels, num_labels, seed)
    lo, hi = 1.0 / num_labels, 1.0
    if target >= 1.0:
        return 1.0, noise.ami(1.0)
    a_lo = noise.ami(lo)
    if target <= a_lo:
        return lo, a_lo
    value = a_lo
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        value = noise.ami(mid)
        if abs(value - target) <= tol:
            return mid, value
        if value < target:
            lo = mid
        else:
            hi = mid
    return mid, value


# ----------------------------------------------------------------------------------------
# Base corpora
# ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Corpus:
    """A tagged base text, flattened.

    Attributes:
        tokens: int32 ``[N]`` token ids (>= 1; 0 is padding).
        labels: int32 ``[N]`` label ids into ``label_names``.
        lengths: int64 ``[S]`` sentence lengths (sum N).
        label_names: tag strings (``"O"``, ``"B-PER"``, ...).
        vocab_size: token ids lie in ``[1, vocab_size)``.
        pool_tokens: tokens ``[0, pool_tokens)`` are the training pool that task slices
            are cut from; the rest is the test region (a sentence boundary).
        name: where the text came from.
    """

    tokens: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    label_names: list
    vocab_size: int
    pool_tokens: int
    name: str = "corpus"

    @property
    def num_labels(self):
        return len(self.label_names)

    @property
    def pool_labels(self):
        return self.labels[: self.pool_tokens]

    @property
    def test_range(self):
        return self.pool_tokens, len(self.tokens)

    def sentence_lengths(self, start, stop):
        """Lengths of the sentence pieces that tokens ``[start, stop)`` cover (cut at the ends)."""
        bounds = np.cumsum(self.lengths)
        inner = bounds[(bounds > start) & (bounds < stop)]
        return np.diff(np.concatenate([[start], inner, [stop]])).astype(np.int64)


def _zipf_cdf(size, exponent):
    p = 1.0 / np.arange(1, size + 1) ** exponent
    c = np.cumsum(p / p.sum())
    c[-1] = 1.0
    return c


def _entity_type_names(num_types):
    base = ["PER", "ORG", "LOC", "MISC"]
    return [base[k] if k < len(base) else f"T{k}" for k in range(num_types)]


def hmm_label_names(num_types):
    """``["O", "B-PER", ..., "I-PER", ...]`` for ``num_types`` entity types (d = 2K + 1)."""
    names = _entity_type_names(num_types)
    return ["O"] + [f"B-{t}" for t in names] + [f"I-{t}" for t in names]


def hmm_transition_matrix(num_types, p_entity=0.14, p_continue=0.45):
    """Markov chain over BIO labels (O, B-k, I-k): valid BIO sequences only.

    From O: start an entity with probability ``p_entity`` (type uniform). From B-k or
    I-k: continue with I-k with probability ``p_continue`` (0.6 of it after I), else
    mostly O, rarely a new entity.
    """
    K = num_types
    d = 2 * K + 1
    m = np.zeros((d, d))
    m[0, 0] = 1 - p_entity
    m[0, 1 : K + 1] = p_entity / K
    for k in range(K):
        for src, cont in ((1 + k, p_continue + 0.15), (1 + K + k, p_continue - 0.15)):
            m[src, 1 + K + k] = cont
            m[src, 1 : K + 1] = 0.04 / K
            m[src, 0] = 1 - cont - 0.04
    return m


def hmm_corpus(
    pool_tokens=200_000,
    test_tokens=10_000,
    num_types=4,
    vocab_size=2000,
    names_per_type=150,
    sentence_length=(6, 16),
    zipf_exponent=1.1,
    p_trigger=0.6,
    p_ambiguous=0.15,
    seed=0,
):
    """An embedded tagged corpus from a hidden-Markov process over a synthetic vocabulary.

    Labels follow :func:`hmm_transition_matrix` (entity-like BIO spans of ``num_types``
    types, d = 2K + 1 labels). Emissions, vectorised per label:

    * ``O``: function words (Zipf over 60 ids) or content words (Zipf over the ids left
      after function words, triggers and names); right before an entity of type k, with probability ``p_trigger`` one
      of type k's 4 trigger words (so context predicts the type of unseen names);
    * ``B-k`` / ``I-k``: Zipf-distributed names from type k's pool of ``names_per_type``
      ids, first-name half for
      B and second half for I; with probability ``p_ambiguous`` a name of another type.

    Rare names make the main task need data; triggers and word order make context help.
    The pool and the test region are generated with independent draws.

    Returns:
        :class:`Corpus` with ``pool_tokens`` + ``test_tokens`` tokens.
    """
    for name, v in (("pool_tokens", pool_tokens), ("test_tokens", test_tokens), ("num_types", num_types)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"simulator.{name}", f"must be a positive integer, got {v!r}")
    lo, hi = sentence_length
    if not (1 <= lo <= hi):
        raise ConfigError("simulator.sentence_length", f"needs 1 <= min <= max, got {sentence_length}")
    n_func, n_trig = 60, 4
    pool_size = int(names_per_type)
    n_content = vocab_size - 1 - n_func - n_trig * num_types - pool_size * num_types
    if pool_size < 4 or n_content < 100:
        raise ConfigError(
            "simulator.vocab_size",
            f"{vocab_size} is too small for {num_types} entity types of {names_per_type} names "
            "(needs room for 60 function words, 100 content words and 4 triggers per type)",
        )
    K = num_types
    # word-id layout: 1..n_func, content, triggers, name pools per type
    func_ids = 1 + np.arange(n_func)
    content_ids = 1 + n_func + np.arange(n_content)
    trig_ids = (1 + n_func + n_content + np.arange(n_trig * K)).reshape(K, n_trig)
    name0 = 1 + n_func + n_content + n_trig * K
    name_ids = (name0 + np.arange(pool_size * K)).reshape(K, pool_size)
    half = pool_size // 2
    cdf_func, cdf_content = _zipf_cdf(n_func, zipf_exponent), _zipf_cdf(n_content, zipf_exponent)
    cdf_first, cdf_second = _zipf_cdf(half, zipf_exponent), _zipf_cdf(pool_size - half, zipf_exponent)
    trans = hmm_transition_matrix(K)
    cdf_trans = np.cumsum(trans, axis=1)
    cdf_trans[cdf_trans > 1 - 1e-9] = 1.0  # zero-probability (invalid BIO) labels stay unreachable
    start_p = np.concatenate([[0.8], np.full(K, 0.2 / K), np.zeros(K)])
    cdf_start = np.cumsum(start_p)
    cdf_start[cdf_start > 1 - 1e-9] = 1.0

    def generate(n_tokens, rng):
        mean_len = (lo + hi) / 2
        n_sent = int(math.ceil(n_tokens / mean_len * 1.1)) + 4
        lengths = rng.integers(lo, hi + 1, size=n_sent)
        while lengths.sum() < n_tokens:
            lengths = np.concatenate([lengths, rng.integers(lo, hi + 1, size=n_sent // 4 + 4)])
        # keep just enough sentences; cut the last one so the total is exact
        cum = np.cumsum(lengths)
        last = int(np.searchsorted(cum, n_tokens))
        lengths = lengths[: last + 1].copy()
        lengths[-1] -= cum[last] - n_tokens
        lengths = lengths[lengths > 0]
        S, L = len(lengths), int(lengths.max())
        states = np.empty((S, L), np.int64)
        states[:, 0] = (rng.random(S)[:, None] >= cdf_start).sum(1)
        u = rng.random((S, L))
        for t in range(1, L):
            states[:, t] = (u[:, t, None] >= cdf_trans[states[:, t - 1]]).sum(1)
        states = np.minimum(states, 2 * K)
        valid = np.arange(L)[None, :] < lengths[:, None]
        nxt = np.concatenate([states[:, 1:], np.zeros((S, 1), np.int64)], axis=1)
        nxt_valid = np.concatenate([valid[:, 1:], np.zeros((S, 1), bool)], axis=1)
        labels = states[valid]
        next_label = np.where(nxt_valid, nxt, 0)[valid]
        n = labels.size
        words = np.empty(n, np.int64)
        r1, r2, r3 = rng.random(n), rng.random(n), rng.random(n)
        # O tokens
        o = labels == 0
        is_trig = o & (next_label >= 1) & (next_label <= K) & (r1 < p_trigger)
        trig_type = np.clip(next_label - 1, 0, K - 1)
        words[is_trig] = trig_ids[trig_type[is_trig], rng.integers(0, n_trig, is_trig.sum())]
        plain = o & ~is_trig
        amb = plain & (r1 > 1 - 0.03)  # a few name words in O context: ambiguous types
        func = plain & ~amb & (r2 < 0.4)
        cont = plain & ~amb & ~func
        words[func] = func_ids[np.searchsorted(cdf_func, r3[func], side="right")]
        words[cont] = content_ids[np.searchsorted(cdf_content, r3[cont], side="right")]
        words[amb] = name_ids[rng.integers(0, K, amb.sum()), np.searchsorted(cdf_first, r3[amb], side="right")]
        # entity tokens
        ent = ~o
        etype = np.where(labels <= K, labels - 1, labels - 1 - K)
        other = (etype + rng.integers(1, K, n)) % K if K > 1 else etype
        etype = np.where(ent & (r1 < p_ambiguous), other, etype)
        is_b = (labels >= 1) & (labels <= K)
        use_first = np.where(is_b, r2 < 0.85, r2 < 0.2)
        first = ent & use_first
        second = ent & ~use_first
        words[first] = name_ids[etype[first], np.searchsorted(cdf_first, r3[first], side="right")]
        words[second] = name_ids[etype[second], half + np.searchsorted(cdf_second, r3[second], side="right")]
        return words.astype(np.int32), labels.astype(np.int32), lengths.astype(np.int64)

    ss = np.random.SeedSequence([int(seed), 20060556])
    pool_rng, test_rng = (np.random.default_rng(s) for s in ss.spawn(2))
    pw, pl, plen = generate(int(pool_tokens), pool_rng)
    tw, tl, tlen = generate(int(test_tokens), test_rng)
    return Corpus(
        tokens=np.concatenate([pw, tw]),
        labels=np.concatenate([pl, tl]),
        lengths=np.concatenate([plen, tlen]),
        label_names=hmm_label_names(K),
        vocab_size=int(vocab_size),
        pool_tokens=int(pool_tokens),
        name=f"hmm(K={K}, V={vocab_size}, seed={seed})",
    )


CONLL = {
    # name: (nltk reader args, pool file, test file(s) by language)
    "conll2000": {"types": ("NP", "VP", "PP"), "files": {"en": ("train.txt", "test.txt")}},
    "conll2002": {
        "types": ("LOC", "PER", "ORG", "MISC"),
        "files": {"esp": ("esp.train", "esp.testb"), "ned": ("ned.train", "ned.testb")},
    },
}


def _nltk_dir(data_dir, corpus):
    """The nltk_data directory under ``data_dir`` (``data_dir`` itself, or ``data_dir/nltk_data``)."""
    if not data_dir:
        raise ConfigError("simulator.data_dir", f"the {corpus} base text needs a data directory (or $MTLZOO_DATA_DIR)")
    for cand in (data_dir, os.path.join(data_dir, "nltk_data")):
        if os.path.exists(os.path.join(cand, "corpora", f"{corpus}.zip")) or os.path.isdir(
            os.path.join(cand, "corpora", corpus)
        ):
            return os.path.abspath(cand)
    raise ConfigError(
        "simulator.data_dir",
        f"no corpora/{corpus}.zip under {data_dir} or {data_dir}/nltk_data "
        f"(get it with: python -m nltk.downloader -d DIR {corpus})",
    )


def read_conll_sentences(corpus, data_dir, language=None):
    """Reads ``(pool sentences, test sentences)`` of (word, tag) pairs with nltk.

    ``corpus``: ``conll2000`` (chunk tags; language ``en``) or ``conll2002`` (NER tags;
    language ``esp`` or ``ned``). ``data_dir`` holds ``corpora/<corpus>.zip`` directly or
    in ``nltk_data/``. NLTK only reads inside its data path, so the directory joins
    ``nltk.data.path`` while the files are read and leaves it afterwards.
    """
    import nltk
    from nltk.corpus.reader import ConllChunkCorpusReader

    if corpus not in CONLL:
        raise ConfigError("simulator.source", f"unknown corpus {corpus!r}; choose one of {', '.join(CONLL)}")
    spec = CONLL[corpus]
    language = language or next(iter(spec["files"]))
    if language not in spec["files"]:
        raise ConfigError("simulator.language", f"{corpus} has languages {', '.join(spec['files'])}, not {language!r}")
    root_dir = _nltk_dir(data_dir, corpus)
    pool_file, test_file = spec["files"][language]
    added = root_dir not in nltk.data.path
    if added:
        nltk.data.path.insert(0, root_dir)
    try:
        try:
            root = nltk.data.find(f"corpora/{corpus}/")
        except LookupError:
            root = nltk.data.find(f"corpora/{corpus}.zip/{corpus}/")
        reader = ConllChunkCorpusReader(root, [pool_file, test_file], spec["types"], encoding="utf-8")
        pool = [[(w, t) for w, _, t in s] for s in reader.iob_sents(pool_file) if len(s)]
        test = [[(w, t) for w, _, t in s] for s in reader.iob_sents(test_file) if len(s)]
    finally:
        if added:
            nltk.data.path.remove(root_dir)
    return pool, test


def conll_corpus(corpus, data_dir, language=None, max_vocab=20_000, lowercase=False):
    """A :class:`Corpus` from CoNLL-2000 chunking or CoNLL-2002 NER (see :func:`read_conll_sentences`).

    The pool is the training file; the test region is the test file. Words seen in the
    pool get ids ``2..`` by frequency (at most ``max_vocab``); 1 is unknown; labels are
    the BIO tags of both files, sorted with ``O`` first.
    """
    from collections import Counter

    pool, test = read_conll_sentences(corpus, data_dir, language)

    def norm(w):
        return w.lower() if lowercase else w

    counts = Counter(norm(w) for s in pool for w, _ in s)
    vocab = {w: i + 2 for i, (w, _) in enumerate(counts.most_common(max_vocab))}
    tags = sorted({t for s in pool + test for _, t in s}, key=lambda t: (t != "O", t))
    tag_id = {t: i for i, t in enumerate(tags)}
    sents = pool + test
    words = np.array([vocab.get(norm(w), 1) for s in sents for w, _ in s], np.int32)
    labels = np.array([tag_id[t] for s in sents for _, t in s], np.int32)
    lengths = np.array([len(s) for s in sents], np.int64)
    return Corpus(
        tokens=words,
        labels=labels,
        lengths=lengths,
        label_names=tags,
        vocab_size=len(vocab) + 2,
        pool_tokens=int(sum(len(s) for s in pool)),
        name=f"{corpus}({language or next(iter(CONLL[corpus]['files']))})",
    )


# ----------------------------------------------------------------------------------------
# Tasks: disjoint slices, noisy auxiliary labels, padded batches
# ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class TaskSlice:
    """One task's data: tokens ``[start, stop)`` of the corpus and the task's labels there."""

    name: str
    start: int
    stop: int
    labels: np.ndarray
    alpha: float = 1.0


@dataclasses.dataclass
class SimulatedTasks:
    """The main task (``slices[0]``) and the auxiliary tasks, plus AMI per auxiliary task."""

    slices: list
    ami: list
    alpha: float

    @property
    def n_tokens_total(self):
        return sum(s.stop - s.start for s in self.slices)


def task_slices(pool_tokens, sizes, offset=0):
    """Contiguous, disjoint ``(start, stop)`` slices of the given sizes, laid end to end from ``offset``."""
    sizes = [int(s) for s in sizes]
    if any(s < 1 for s in sizes):
        raise ConfigError("n_tokens_per_task", f"every task needs at least one token, got {sizes}")
    if offset < 0 or offset + sum(sizes) > pool_tokens:
        raise ConfigError(
            "n_tokens_per_task",
            f"{len(sizes)} tasks need {sum(sizes)} tokens from offset {offset}, but the pool has {pool_tokens}",
        )
    bounds = offset + np.concatenate([[0], np.cumsum(sizes)])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def layout_offset(pool_tokens, n_main, n_aux, max_tasks, rng):
    """A random start so ``max_tasks`` slices fit; the same for every T <= max_tasks (same main slice)."""
    need = n_main + (max_tasks - 1) * n_aux
    if need > pool_tokens:
        raise ConfigError(
            "grid.n_tokens_per_task",
            f"{max_tasks} tasks of {n_main}/{n_aux} tokens need {need} tokens; the base text's pool has {pool_tokens}",
        )
    return int(np.random.default_rng(rng).integers(0, pool_tokens - need + 1))


def simulate_tasks(corpus, n_tasks, n_main, n_aux=None, alpha=1.0, seed=0, offset=None, max_tasks=None):
    """Cuts a main task and ``n_tasks - 1`` noisy auxiliary tasks from ``corpus``'s pool.

    Args:
        corpus: a :class:`Corpus`.
        n_tasks: T, main task included.
        n_main: tokens of the main task; ``n_aux`` those of each auxiliary task (default
            ``n_main``: the balanced setting).
        alpha: channel diagonal for the auxiliary labels.
        seed: seeds the slice offset (when ``offset`` is None) and the channel draws.
        offset: where the first slice starts; default random so ``max_tasks`` slices fit.

    Returns:
        :class:`SimulatedTasks`; ``ami[i]`` is the AMI between the main labels and the
        noisy labels of auxiliary task i on its own slice.
    """
    if not isinstance(n_tasks, (int, np.integer)) or n_tasks < 1:
        raise ConfigError("n_tasks", f"must be an integer >= 1, got {n_tasks!r}")
    n_aux = n_main if n_aux is None else n_aux
    ss = np.random.SeedSequence([int(seed), 7])
    off_rng, *task_rngs = (np.random.default_rng(s) for s in ss.spawn(n_tasks + 1))
    if offset is None:
        offset = layout_offset(corpus.pool_tokens, n_main, n_aux, max(max_tasks or n_tasks, n_tasks), off_rng)
    bounds = task_slices(corpus.pool_tokens, [n_main] + [n_aux] * (n_tasks - 1), offset)
    slices, amis = [], []
    d = corpus.num_labels
    for i, (a, b) in enumerate(bounds):
        gold = corpus.labels[a:b]
        if i == 0:
            slices.append(TaskSlice("main", a, b, gold.copy(), 1.0))
            continue
        noisy = apply_channel(gold, d, alpha=alpha, rng=task_rngs[i])
        slices.append(TaskSlice(f"aux_{i}", a, b, noisy, float(alpha)))
        amis.append(ami(gold, noisy))
    return SimulatedTasks(slices, amis, float(alpha))


def pad_pieces(values, lengths, max_length, fill=0):
    """Packs a flat array cut into pieces of ``lengths`` into ``[rows, max_length]`` rows.

    Pieces longer than ``max_length`` continue on the next row. Vectorised.

    Example:
        >>> pad_pieces(np.arange(1, 6), np.array([2, 3]), 2).tolist()
        [[1, 2], [3, 4], [5, 0]]
    """
    lengths = np.asarray(lengths, np.int64)
    lengths = lengths[lengths > 0]
    rows_per = -(-lengths // max_length)
    chunk_len = np.full(int(rows_per.sum()), max_length, np.int64)
    last_row = np.cumsum(rows_per) - 1
    chunk_len[last_row] = lengths - (rows_per - 1) * max_length
    total = int(chunk_len.sum())
    row = np.repeat(np.arange(len(chunk_len)), chunk_len)
    col = np.arange(total) - np.repeat(np.cumsum(chunk_len) - chunk_len, chunk_len)
    out = np.full((len(chunk_len), max_length), fill, dtype=np.asarray(values).dtype)
    out[row, col] = np.asarray(values)[:total]
    return out


def to_task_data(corpus, sim, max_length, test_tokens=None):
    """The simulated tasks as an mtlzoo :class:`~mtlzoo.data.base.TaskData`.

    ``train``: every task's rows (``tokens [rows, max_length]``, ``task_id``), each task's
    labels (0 placeholder on the other tasks' rows) and weights (1 on the task's own
    rows, else 0). ``test``: the main task on the corpus's test region (first
    ``test_tokens`` tokens), with ``info["test_lengths"]`` its sentence lengths.
    """
    from mtlzoo.data.base import Split, TaskData

    names = [s.name for s in sim.slices]
    tok_rows, task_rows, lab_rows = [], [], []
    for i, s in enumerate(sim.slices):
        lengths = corpus.sentence_lengths(s.start, s.stop)
        t = pad_pieces(corpus.tokens[s.start : s.stop], lengths, max_length)
        tok_rows.append(t)
        lab_rows.append(pad_pieces(s.labels.astype(np.int32), lengths, max_length))
        task_rows.append(np.full(len(t), i, np.int32))
    tokens = np.concatenate(tok_rows)
    task_id = np.concatenate(task_rows)
    labels, weights = {}, {}
    for i, name in enumerate(names):
        lab = np.zeros_like(tokens)
        lab[task_id == i] = lab_rows[i]
        labels[name] = lab.astype(np.int32)
        weights[name] = (task_id == i).astype(np.float32)
    train = Split({"tokens": tokens.astype(np.int32), "task_id": task_id}, labels, weights)
    a, b = corpus.test_range
    if test_tokens is not None:
        b = min(b, a + int(test_tokens))
    t_len = corpus.sentence_lengths(a, b)
    t_tok = pad_pieces(corpus.tokens[a:b], t_len, max_length).astype(np.int32)
    t_lab = pad_pieces(corpus.labels[a:b], t_len, max_length).astype(np.int32)
    test_labels = {n: (t_lab if n == "main" else np.zeros_like(t_lab)) for n in names}
    test_weights = {n: np.full(len(t_tok), 1.0 if n == "main" else 0.0, np.float32) for n in names}
    test = Split({"tokens": t_tok, "task_id": np.zeros(len(t_tok), np.int32)}, test_labels, test_weights)
    return TaskData(
        {"train": train, "test": test},
        info={"test_lengths": t_len, "test_gold": corpus.labels[a:b], "label_names": corpus.label_names},
    )


# ----------------------------------------------------------------------------------------
# Grid config
# ----------------------------------------------------------------------------------------


def _floats_in_unit(v):
    if not isinstance(v, (list, tuple)) or not v:
        return f"must be a non-empty list of numbers, got {v!r}"
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1 for x in v):
        return f"every entry must be a number in [0, 1], got {list(v)}"
    return None


def _nonempty_positive(v):
    if not v:
        return "must not be empty"
    return None if all(x > 0 for x in v) else f"every entry must be > 0, got {list(v)}"


SIMULATOR_SCHEMA = {
    "source": Field("hmm", str, choices=("hmm", "conll2000", "conll2002")),
    "data_dir": Field(None, str, optional=True),  # None: $MTLZOO_DATA_DIR
    "language": Field(None, str, optional=True),
    "num_types": Field(4, int, positive),
    "vocab_size": Field(2000, int, positive),
    "names_per_type": Field(150, int, positive),
    "pool_tokens": Field(200_000, int, positive),
    "test_tokens": Field(5000, int, positive),
    "max_length": Field(16, int, positive),
    "calibration_tokens": Field(50_000, int, positive),
}

GRID_SCHEMA = {
    "n_tasks": Field((1, 2, 3, 4, 5, 6), "ints", _nonempty_positive),
    "n_tokens_per_task": Field((150, 300, 600, 1200, 2400, 4800), "ints", _nonempty_positive),
    "mutual_info": Field((0.05, 0.2, 0.35, 0.5, 0.7, 0.9), None, _floats_in_unit),
    "repeats": Field(3, int, positive),
    "main_tokens": Field(None, int, positive, optional=True),  # set: unbalanced (fixed main, grid over aux)
}

SIM_MODEL_SCHEMA = {
    "embedding_dim": Field(32, int, positive),
    "hidden": Field(32, int, positive),
    "num_layers": Field(1, int, positive),
    "dense_layers": Field(1, int, non_negative),
    "dropout": Field(0.0, float, lambda v: None if 0 <= v < 1 else f"must be in [0, 1), got {v}"),
}

SIM_TRAIN_SCHEMA = {
    "batch_size": Field(64, int, positive),
    "epochs": Field(8, int, positive),
    "min_steps": Field(80, int, non_negative),
    "max_steps": Field(None, int, positive, optional=True),
    "learning_rate": Field(0.02, float, positive),
    "optimizer": Field("adam", str, choices=("adam", "adamw", "sgd", "rmsprop")),
}

GRID_TOP_SCHEMA = {
    "seed": Field(0, int, non_negative),
    "threads": Field(1, int, non_negative),  # TF intra/inter-op threads; 0 = TF's default
    "simulator": Field({}, "dict"),
    "grid": Field({}, "dict"),
    "model": Field({}, "dict"),
    "train": Field({}, "dict"),
}


def resolve_grid_config(config):
    """Validates a simulator grid config; returns a plain dict with defaults filled.

    Sections: ``seed``, ``threads``, ``simulator`` (:data:`SIMULATOR_SCHEMA`), ``grid``
    (:data:`GRID_SCHEMA`), ``model`` (:data:`SIM_MODEL_SCHEMA`), ``train``
    (:data:`SIM_TRAIN_SCHEMA`). Raises ConfigError naming the first bad field.
    """
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    top = check_fields(config, GRID_TOP_SCHEMA, "config")
    top["simulator"] = check_fields(top["simulator"], SIMULATOR_SCHEMA, "simulator")
    top["grid"] = check_fields(top["grid"], GRID_SCHEMA, "grid")
    top["grid"]["mutual_info"] = [float(x) for x in top["grid"]["mutual_info"]]
    top["model"] = check_fields(top["model"], SIM_MODEL_SCHEMA, "model")
    top["train"] = check_fields(top["train"], SIM_TRAIN_SCHEMA, "train")
    sim = top["simulator"]
    if sim["source"] != "hmm" and not (sim["data_dir"] or os.environ.get("MTLZOO_DATA_DIR")):
        raise ConfigError("simulator.data_dir", f"source {sim['source']!r} needs data_dir or $MTLZOO_DATA_DIR")
    grid = top["grid"]
    if sim["source"] == "hmm":
        n_main_max = grid["main_tokens"] or max(grid["n_tokens_per_task"])
        need = n_main_max + (max(grid["n_tasks"]) - 1) * max(grid["n_tokens_per_task"])
        if need > sim["pool_tokens"]:
            raise ConfigError(
                "simulator.pool_tokens",
                f"the largest cell needs {need} tokens (T={max(grid['n_tasks'])}), more than {sim['pool_tokens']}",
            )
    return top


def load_base_corpus(sim, seed):
    """The base text a resolved ``simulator`` section names."""
    if sim["source"] == "hmm":
        return hmm_corpus(
            pool_tokens=sim["pool_tokens"],
            test_tokens=sim["test_tokens"],
            num_types=sim["num_types"],
            vocab_size=sim["vocab_size"],
            names_per_type=sim["names_per_type"],
            seed=seed,
        )
    data_dir = sim["data_dir"] or os.environ.get("MTLZOO_DATA_DIR")
    return conll_corpus(sim["source"], data_dir, sim["language"])


def grid_cells(cfg):
    """The cells of a resolved grid config, in run order (cheap cells first within a repeat)."""
    g = cfg["grid"]
    cells = []
    for repeat in range(g["repeats"]):
        for n in sorted(g["n_tokens_per_task"]):
            for T in sorted(g["n_tasks"]):
                for mi in g["mutual_info"]:
                    n_main = g["main_tokens"] or n
                    cells.append({"n_tasks": T, "n_main": n_main, "n_aux": n, "mutual_info": mi, "repeat": repeat})
    return cells


def cell_key(n_tasks, n_main, n_aux, mutual_info, repeat):
    return (int(n_tasks), int(n_main), int(n_aux), f"{float(mutual_info):.6g}", int(repeat))


def cell_seed(base_seed, repeat, n_main, n_aux):
    """Seed of a cell's slices and model init: shared by all T and AMI of one (repeat, n)."""
    return int(np.random.SeedSequence([int(base_seed), int(repeat), int(n_main), int(n_aux)]).generate_state(1)[0])


# ----------------------------------------------------------------------------------------
# Model and training of one cell
# ----------------------------------------------------------------------------------------


def tagger_config(n_tasks, num_labels, vocab_size, max_length, model_opts):
    """The mtlzoo model config of the paper's multi-task tagger (tasks ``main``, ``aux_1``, ...)."""
    names = ["main"] + [f"aux_{i}" for i in range(1, n_tasks)]
    return {
        "tasks": [{"name": n, "kind": "tagging", "num_classes": int(num_labels)} for n in names],
        "model": {
            "encoder": {
                "name": "tagger",
                "vocab_size": int(vocab_size),
                "max_length": int(max_length),
                **{k: model_opts[k] for k in ("embedding_dim", "hidden", "num_layers", "dense_layers", "dropout")},
            },
            "tower": {"units": []},
        },
    }


class TaggerTrainer:
    """Trains the multi-task tagger for one cell; keeps one compiled model per T.

    Tracing a Keras train step costs seconds, more than a small cell's training; so the
    compiled model for a given T is kept, and each cell starts it from fresh weights (a
    model built with the cell's seed) and the optimizer's initial state. This gives the
    same computation as a new model (no dropout randomness is carried over).
    """

    def __init__(self, model_opts, train_opts, num_labels, vocab_size, max_length):
        self.model_opts = model_opts
        self.train_opts = train_opts
        self.num_labels = num_labels
        self.vocab_size = vocab_size
        self.max_length = max_length
        self._models = {}

    def _model(self, n_tasks, seed):
        import mtlzoo
        from mtlzoo.tasks import tasks_from_config
        from mtlzoo.training import compile_model

        cfg = tagger_config(n_tasks, self.num_labels, self.vocab_size, self.max_length, self.model_opts)
        # Keras initialisers draw their seeds from Python's `random`; keras.utils.set_random_seed
        # would also call tf.random.set_seed, which clears TF's kernel caches (a ~1 s retrace).
        random.seed(seed)
        np.random.seed(seed % 2**32)
        fresh = mtlzoo.build_model(cfg)
        if n_tasks not in self._models:
            opts = {"learning_rate": self.train_opts["learning_rate"], "optimizer": self.train_opts["optimizer"]}
            compile_model(fresh, tasks_from_config(cfg["tasks"]), {"weight_decay": 0.0, **opts})
            fresh.optimizer.build(fresh.trainable_variables)
            state = [v.numpy() for v in fresh.optimizer.variables]
            self._models[n_tasks] = (fresh, state)
            return fresh
        model, state = self._models[n_tasks]
        model.set_weights(fresh.get_weights())
        for v, value in zip(model.optimizer.variables, state, strict=True):
            v.assign(value)
        return model

    def steps_and_epochs(self, rows):
        """Optimizer steps for ``rows`` training rows: ``epochs`` passes, at least ``min_steps``."""
        t = self.train_opts
        per_epoch = max(1, -(-rows // t["batch_size"]))
        steps = max(t["epochs"] * per_epoch, t["min_steps"])
        if t["max_steps"]:
            steps = min(steps, t["max_steps"])
        return steps, steps / per_epoch

    def __call__(self, data, n_tasks, seed):
        """Trains on ``data`` (see :func:`to_task_data`); returns main-task test metrics."""
        from mtlzoo.metrics.tagging import entity_scores

        model = self._model(n_tasks, seed)
        train = data.split("train")
        steps, epochs = self.steps_and_epochs(len(train))
        # one Keras epoch of `steps` steps over the reshuffled, repeated data: no per-epoch overhead
        ds = data.dataset("train", self.train_opts["batch_size"], ["tokens"], shuffle=True, seed=seed, repeat=True)
        t0 = time.perf_counter()
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        train_seconds = time.perf_counter() - t0
        test = data.split("test")
        probs = np.asarray(model.predict_on_batch({"tokens": test.features["tokens"]})["main"])
        mask = test.features["tokens"] != 0
        pred = np.argmax(probs, axis=-1)[mask]
        gold = data.info["test_gold"]
        lengths = data.info["test_lengths"]
        bounds = np.cumsum(lengths)[:-1]
        scores = entity_scores(np.split(gold, bounds), np.split(pred, bounds), data.info["label_names"])
        return {
            "fscore": scores["f1"],
            "accuracy": scores["accuracy"],
            "train_steps": steps,
            "epochs": epochs,
            "train_seconds": train_seconds,
        }


# ----------------------------------------------------------------------------------------
# Grid runner (resumable CSV)
# ----------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "n_tasks",
    "n_tokens_per_task",
    "n_tokens_total",
    "mutual_info",
    "alpha",
    "fscore",
    "accuracy",
    "mutual_info_measured",
    "n_main_tokens",
    "n_aux_tokens",
    "repeat",
    "seed",
    "train_steps",
    "epochs",
    "train_seconds",
    "seconds",
]


def read_finished(path):
    """Rows of a grid CSV that were written completely; a torn last line is dropped from the file."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        raw = f.read()
    if raw and not raw.endswith(b"\n"):  # a crash mid-write: keep whole lines only
        raw = raw[: raw.rfind(b"\n") + 1]
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    lines = raw.decode("utf-8").splitlines()
    if not lines:
        return []
    rows = list(csv.DictReader(lines))
    if lines[0].split(",") != CSV_COLUMNS:
        raise ConfigError("workdir", f"{path} has other columns than a simulator grid CSV")
    return rows


def append_row(path, row):
    """Appends one CSV row and makes it durable (flush + fsync); writes the header first if new."""
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if new:
        tmp = path + ".tmp"
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerow(CSV_COLUMNS)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    line = ",".join(_fmt(row[c]) for c in CSV_COLUMNS) + "\n"
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _fmt(v):
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _check_same_config(workdir, cfg):
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        for section in ("seed", "simulator", "model", "train"):
            if old.get(section) != json.loads(json.dumps(cfg[section])):
                raise ConfigError(
                    section,
                    f"differs from the config {workdir} was started with; use a new workdir "
                    "(only grid values may change on a resumed run)",
                )
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def calibrate_alphas(corpus, targets, calibration_tokens, seed):
    """``{target AMI: (alpha, achieved AMI)}`` on the first ``calibration_tokens`` pool labels."""
    labels = corpus.pool_labels[:calibration_tokens]
    return {float(t): alpha_for_ami(labels, float(t), corpus.num_labels, seed=seed) for t in targets}


def run_grid(config, workdir, cell_fn=None, progress=True, max_cells=None, log=print):
    """Runs every unfinished cell of a simulator grid; returns the path of the CSV.

    Args:
        config: grid config (see :func:`resolve_grid_config`).
        workdir: output directory: ``config.json``, ``alphas.json``, ``results.csv``.
        cell_fn: ``cell_fn(data, n_tasks, seed) -> {fscore, accuracy, train_steps, epochs,
            train_seconds}``; default a :class:`TaggerTrainer`.
        progress: show a progress bar (tqdm, on stderr).
        max_cells: stop after this many new cells (None: all).

    A rerun with the same workdir skips the cells already in ``results.csv``.
    """
    cfg = resolve_grid_config(config)
    os.makedirs(workdir, exist_ok=True)
    _check_same_config(workdir, cfg)
    csv_path = os.path.join(workdir, "results.csv")
    finished = read_finished(csv_path)
    done = {
        cell_key(r["n_tasks"], r["n_main_tokens"], r["n_aux_tokens"], r["mutual_info"], r["repeat"]) for r in finished
    }
    # T = 1 has no auxiliary task: its result does not depend on the AMI (same seed, same
    # slice), so it is trained once per (n, repeat) and its row repeated for each AMI value.
    single = {(int(r["n_main_tokens"]), int(r["repeat"])): r for r in finished if int(r["n_tasks"]) == 1}
    todo = [c for c in grid_cells(cfg) if cell_key(**c) not in done]
    if max_cells is not None:
        todo = todo[:max_cells]
    log(f"grid: {len(done)} cells finished before, {len(todo)} to run -> {csv_path}")
    if not todo:
        return csv_path
    sim = cfg["simulator"]
    corpus = load_base_corpus(sim, cfg["seed"])
    need = max(c["n_main"] + (max(cfg["grid"]["n_tasks"]) - 1) * c["n_aux"] for c in todo)
    if need > corpus.pool_tokens:
        raise ConfigError(
            "grid.n_tokens_per_task",
            f"the largest cell needs {need} tokens, but the {corpus.name} pool has {corpus.pool_tokens}",
        )
    alphas = calibrate_alphas(corpus, cfg["grid"]["mutual_info"], sim["calibration_tokens"], cfg["seed"])
    with open(os.path.join(workdir, "alphas.json.tmp"), "w") as f:
        json.dump({str(k): {"alpha": a, "ami": m} for k, (a, m) in alphas.items()}, f, indent=2)
    os.replace(os.path.join(workdir, "alphas.json.tmp"), os.path.join(workdir, "alphas.json"))
    if cell_fn is None:
        if cfg["threads"]:
            _set_threads(cfg["threads"])
        cell_fn = TaggerTrainer(cfg["model"], cfg["train"], corpus.num_labels, corpus.vocab_size, sim["max_length"])
    max_tasks = max(cfg["grid"]["n_tasks"])
    from tqdm import tqdm

    bar = tqdm(
        total=len(todo),
        disable=not progress,
        file=sys.stderr,
        unit="cell",
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        dynamic_ncols=True,
    )
    try:
        for c in todo:
            t0 = time.perf_counter()
            seed = cell_seed(cfg["seed"], c["repeat"], c["n_main"], c["n_aux"])
            alpha, _ = alphas[float(c["mutual_info"])]
            channel_seed = int(
                np.random.SeedSequence([seed, c["n_tasks"], int(round(c["mutual_info"] * 1e6))]).generate_state(1)[0]
            )
            offset = layout_offset(corpus.pool_tokens, c["n_main"], c["n_aux"], max_tasks, seed)
            tasks = simulate_tasks(corpus, c["n_tasks"], c["n_main"], c["n_aux"], alpha, channel_seed, offset=offset)
            reuse = single.get((c["n_main"], c["repeat"])) if c["n_tasks"] == 1 else None
            if reuse is not None:
                result = {k: float(reuse[k]) for k in ("fscore", "accuracy", "train_steps", "epochs", "train_seconds")}
            else:
                data = to_task_data(corpus, tasks, sim["max_length"], sim["test_tokens"])
                result = cell_fn(data, c["n_tasks"], seed)
            row = {
                "n_tasks": c["n_tasks"],
                "n_tokens_per_task": c["n_aux"],
                "n_tokens_total": tasks.n_tokens_total,
                "mutual_info": c["mutual_info"],
                "alpha": float(alpha),
                "fscore": float(result["fscore"]),
                "accuracy": float(result["accuracy"]),
                "mutual_info_measured": float(np.mean(tasks.ami)) if tasks.ami else float("nan"),
                "n_main_tokens": c["n_main"],
                "n_aux_tokens": c["n_aux"],
                "repeat": c["repeat"],
                "seed": seed,
                "train_steps": int(result["train_steps"]),
                "epochs": float(result["epochs"]),
                "train_seconds": float(result["train_seconds"]),
                "seconds": time.perf_counter() - t0,
            }
            append_row(csv_path, row)
            if c["n_tasks"] == 1 and reuse is None:
                single[(c["n_main"], c["repeat"])] = {k: row[k] for k in row}
            bar.update(1)
            bar.set_postfix(T=c["n_tasks"], n=c["n_aux"], ami=c["mutual_info"], f1=f"{row['fscore']:.3f}")
    finally:
        bar.close()
    return csv_path


def _set_threads(n):
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TF already initialised in this process: keep its setting
        pass
