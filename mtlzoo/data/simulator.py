"""Task simulator of Bettgenhaeuser, Hedderich & Klakow (2020), "Learning Functions to
Study the Benefit of Multitask Learning" (arXiv 2006.05561): the task generator.

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
  (:func:`conll_corpus`, through the one CoNLL reader :func:`mtlzoo.data.conll.read_conll`).

:func:`to_task_data` gives the simulated tasks in the shared batch shape of
:mod:`mtlzoo.data.base`. The grid study that trains a tagger per cell of ``(T, n, AMI)``
and writes the results CSV is :mod:`mtlzoo.studies.simulator_grid`.

Example:
    >>> corpus = hmm_corpus(pool_tokens=20_000, test_tokens=2_000, seed=0)
    >>> alpha, achieved = alpha_for_ami(corpus.pool_labels, 0.5, corpus.num_labels)
    >>> sim = simulate_tasks(corpus, n_tasks=3, n_main=1000, n_aux=1000, alpha=alpha, seed=0)
    >>> [t.stop - t.start for t in sim.slices]
    [1000, 1000, 1000]
"""

import dataclasses
import math

import numpy as np

from mtlzoo.errors import ConfigError

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


def conll_corpus(corpus, data_dir, language=None, max_vocab=20_000, lowercase=False):
    """A :class:`Corpus` from CoNLL-2000 chunking or CoNLL-2002 NER (read by :func:`mtlzoo.data.conll.read_conll`).

    ``data_dir`` holds ``corpora/<corpus>.zip`` directly or in ``nltk_data/``; ``language``
    is ``en`` for conll2000, ``esp`` (default) or ``ned`` for conll2002.

    The pool is the training file; the test region is the test file. Words seen in the
    pool get ids ``2..`` by frequency (at most ``max_vocab``); 1 is unknown; labels are
    the BIO tags of both files, sorted with ``O`` first.
    """
    from collections import Counter

    from mtlzoo.data.conll import CORPORA, find_corpus_dir, read_conll

    if corpus not in CORPORA:
        raise ConfigError("simulator.source", f"unknown corpus {corpus!r}; choose one of {', '.join(CORPORA)}")
    directory = find_corpus_dir(data_dir, corpus, "simulator.data_dir")
    sents = read_conll(corpus, directory, language, field="simulator.data_dir")
    pool, test = ([[(w, t) for w, _, t in s] for s in sents[split]] for split in ("train", "test"))

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
        name=f"{corpus}({language or next(iter(CORPORA[corpus]['files']))})",
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
