"""Sequence-labelling metrics: conlleval-style entity (chunk) F1 and token accuracy, and the
scores of a tagging model's outputs (:func:`tagging_scores`).

Entities are read from tag sequences with the chunk rules of the CoNLL ``conlleval``
script (Tjong Kim Sang & Buchholz 2000), in the form the ``seqeval`` port uses, so the
same code reads every common scheme:

* **BIO** (IOB2): ``B-X`` starts an entity, ``I-X`` continues it, ``O`` is outside;
* **IO**: ``I-X`` (or a bare ``X``) only; an entity is a maximal run of one type, so
  two adjacent entities of one type merge (the IO scheme cannot separate them);
* **IOB1** and **IOBES** (``E-X`` ends, ``S-X`` is a one-token entity) as well.

An ``I-X`` that follows ``O`` or a different type starts a new entity (conlleval's
repair rule). Entities never cross a sentence boundary. An entity counts as correct
only if the prediction has an entity with the same first token, last token and type.

    precision = correct / predicted entities, recall = correct / gold entities,
    F1 = 2 P R / (P + R) (0 where P + R = 0); accuracy = correct tokens / tokens.

Example:
    >>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    >>> pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    >>> r = entity_scores(gold, pred)
    >>> round(r["f1"], 3), r["correct"], r["gold"], r["predicted"]
    (0.5, 1, 2, 2)
    >>> token_accuracy(gold, pred)
    0.75

The chunk logic is vectorised with numpy (one pass over the flattened tags).
"""

import math

import numpy as np

from mtlzoo.errors import ConfigError

_PREFIX_CODES = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4}
SPECIAL_TAGS = ("[PAD]", "[UNK]")  # a tagging source's padding and out-of-vocabulary tags
_IOB_PREFIXES = ("B-", "I-", "E-", "S-")


def split_tag(tag):
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``; a bare ``"PER"`` -> ``("I", "PER")`` (IO)."""
    tag = str(tag)
    if tag == "O":
        return "O", ""
    head, sep, rest = tag.partition("-")
    if sep and head in ("B", "I", "E", "S"):
        return head, rest
    return "I", tag


def _flatten(sequences, label_names, field):
    """Sequences of tags (strings, or int ids with ``label_names``) -> flat tags and lengths."""
    if isinstance(sequences, np.ndarray) and sequences.ndim == 1 and sequences.dtype != object:
        sequences = [sequences]
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    flat = [t for s in sequences for t in s] if len(sequences) else []
    if label_names is not None:
        ids = np.asarray(flat, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(label_names)):
            raise ConfigError(field, f"label ids must lie in [0, {len(label_names)}), got {ids.min()}..{ids.max()}")
        names = np.asarray(label_names, dtype=object)
        flat = names[ids] if ids.size else np.asarray([], dtype=object)
    return list(flat), lengths


def _encode(tags):
    """Flat tags -> (prefix codes int8, type ids int64, type names)."""
    types = {}
    prefixes = np.empty(len(tags), np.int8)
    type_ids = np.empty(len(tags), np.int64)
    cache = {}
    for i, tag in enumerate(tags):
        hit = cache.get(tag)
        if hit is None:
            p, t = split_tag(tag)
            hit = cache[tag] = (_PREFIX_CODES[p], types.setdefault(t, len(types)))
        prefixes[i], type_ids[i] = hit
    names = [None] * len(types)
    for t, i in types.items():
        names[i] = t
    return prefixes, type_ids, names


def extract_entities(sequences, label_names=None):
    """Entities of tag sequences as an ``[k, 3]`` int array of (first token, last token, type id).

    Token positions index the flattened sequences; returns ``(entities, type_names)``.

    Example:
        >>> ents, names = extract_entities([["O", "B-A", "I-A", "I-B"]])
        >>> ents.tolist(), names
        ([[1, 2, 1], [3, 3, 2]], ['', 'A', 'B'])
    """
    tags, lengths = _flatten(sequences, label_names, "tags")
    prefixes, types, names = _encode(tags)
    return _chunks(prefixes, types, lengths, names), names


def _chunks(prefix, types, lengths, type_names):
    """conlleval's startOfChunk / endOfChunk over flat tags; sentences given by ``lengths``.

    ``types`` holds type ids into ``type_names``; ``O`` tokens have the type ``""``.
    """
    n = len(prefix)
    if n == 0:
        return np.zeros((0, 3), np.int64)
    O, B, I, E, S = 0, 1, 2, 3, 4  # noqa: E741
    o_type = type_names.index("") if "" in type_names else -1
    sentence_start = np.cumsum(np.concatenate([[0], lengths[:-1]]))[lengths > 0]
    sentence_end = np.cumsum(lengths)[lengths > 0] - 1
    cur_t = types
    # previous tag within the sentence (O at a sentence start)
    prev_p = np.concatenate([[O], prefix[:-1]]).astype(np.int8)
    prev_t = np.concatenate([[o_type], types[:-1]])
    prev_p[sentence_start] = O
    prev_t[sentence_start] = o_type
    type_change = prev_t != cur_t
    start = (
        (prefix == B)
        | (prefix == S)
        | ((prev_p == E) & ((prefix == E) | (prefix == I)))
        | ((prev_p == S) & ((prefix == E) | (prefix == I)))
        | ((prev_p == O) & ((prefix == E) | (prefix == I)))
        | ((prefix != O) & type_change)
    )
    # end_before[i]: the entity holding token i-1 ends before token i (i = n: corpus end)
    nxt_p = np.concatenate([prefix[1:], [O]]).astype(np.int8)
    nxt_t = np.concatenate([cur_t[1:], [o_type]])
    nxt_p[sentence_end] = O
    nxt_t[sentence_end] = o_type
    ends = (prefix != O) & (
        (prefix == E)
        | (prefix == S)
        | ((prefix == B) & ((nxt_p == B) | (nxt_p == S) | (nxt_p == O)))
        | ((prefix == I) & ((nxt_p == B) | (nxt_p == S) | (nxt_p == O)))
        | (cur_t != nxt_t)
    )
    s_idx = np.flatnonzero(start)
    e_idx = np.flatnonzero(ends)
    if len(s_idx) != len(e_idx):  # cannot happen with these rules; guard against silent misalignment
        raise AssertionError("unbalanced chunk starts and ends")
    return np.stack([s_idx, e_idx, types[s_idx]], axis=1)


def entity_scores(gold, predicted, label_names=None):
    """Entity-level precision, recall and F1 (conlleval), overall and per entity type.

    Args:
        gold: sequences (one per sentence) of tags: strings such as ``"B-PER"``, or int
            label ids together with ``label_names``.
        predicted: same lengths as ``gold``.
        label_names: id -> tag string, when the sequences hold ids.

    Returns:
        ``{"precision", "recall", "f1", "correct", "gold", "predicted", "accuracy",
        "per_type": {type: {"precision", "recall", "f1", "gold", "predicted", "correct"}}}``.

    Raises:
        ConfigError: if the sequences differ in number or length.
    """
    g_tags, g_len = _flatten(gold, label_names, "gold")
    p_tags, p_len = _flatten(predicted, label_names, "predicted")
    if len(g_len) != len(p_len) or not np.array_equal(g_len, p_len):
        raise ConfigError("predicted", "needs one sequence per gold sequence, each of the same length")
    # one type vocabulary for both sides
    gp, gt, names = _encode(g_tags + p_tags)
    n = len(g_tags)
    g_chunks = _chunks(gp[:n], gt[:n], g_len, names)
    p_chunks = _chunks(gp[n:], gt[n:], p_len, names)
    g_set = {tuple(c) for c in g_chunks.tolist()}
    p_set = {tuple(c) for c in p_chunks.tolist()}
    hits = g_set & p_set
    out = _prf(len(hits), len(g_set), len(p_set))
    out["accuracy"] = float(np.mean(np.asarray(g_tags, dtype=object) == np.asarray(p_tags, dtype=object))) if n else 0.0
    per_type = {}
    for tid in sorted({c[2] for c in g_set | p_set}):
        per_type[names[tid]] = _prf(
            sum(c[2] == tid for c in hits), sum(c[2] == tid for c in g_set), sum(c[2] == tid for c in p_set)
        )
    out["per_type"] = per_type
    return out


def _prf(correct, n_gold, n_pred):
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "correct": correct, "gold": n_gold, "predicted": n_pred}


def token_accuracy(gold, predicted, label_names=None):
    """Fraction of tokens whose predicted tag equals the gold tag (``O`` tokens included)."""
    return entity_scores(gold, predicted, label_names)["accuracy"]


def entity_f1(gold, predicted, label_names=None):
    """Overall conlleval entity F1 (see :func:`entity_scores`)."""
    return entity_scores(gold, predicted, label_names)["f1"]


def is_iob(tags):
    """True if every tag (``[PAD]`` / ``[UNK]`` aside) is ``O`` or ``B-X`` / ``I-X`` / ``E-X`` / ``S-X``.

    Such a task is scored with conlleval chunk F1 as well as token accuracy.

    Example:
        >>> is_iob(["[PAD]", "[UNK]", "B-NP", "I-NP", "O"]), is_iob(["NN", "VB"])
        (True, False)
    """
    real = [t for t in tags if t not in SPECIAL_TAGS]
    return bool(real) and all(t == "O" or t.startswith(_IOB_PREFIXES) for t in real)


def chunk_tag_names(tags):
    """A tag vocabulary for conlleval: ``[PAD]`` and ``[UNK]`` read as ``O`` (outside every chunk)."""
    return ["O" if t in SPECIAL_TAGS else t for t in tags]


def tagging_scores(labels, predictions, token_mask, tag_vocab):
    """Test scores of tagging tasks: token accuracy, and conlleval chunk scores for IOB tags.

    Args:
        labels: ``{task: int [N, T]}`` gold tag ids.
        predictions: ``{task: float [N, T, C]}`` the model's per-token class scores.
        token_mask: bool ``[N, T]``, true at real tokens; each row's real tokens come
            first (right padding), so sentence ``i`` is its first ``sum(mask[i])`` tokens.
        tag_vocab: ``{task: [tag string by id]}`` (the source's ``info["tag_vocab"]``).

    Returns:
        ``{task: {"token_accuracy", "tokens"}}``, plus ``precision``, ``recall``, ``f1``,
        ``gold``, ``predicted``, ``correct`` (chunk counts, :func:`entity_scores`) for IOB
        tasks. A predicted or gold ``[PAD]`` / ``[UNK]`` counts as ``O`` in the chunk scores.

    Raises:
        ConfigError: the mask is not right padding, or a task has no tag vocabulary.
    """
    mask = np.asarray(token_mask, bool)
    lengths = mask.sum(axis=1)
    if not np.array_equal(mask, np.arange(mask.shape[1])[None, :] < lengths[:, None]):
        raise ConfigError("tokens", "the token mask must mark each sentence's first tokens (right padding)")
    out = {}
    for task, y in labels.items():
        if task not in tag_vocab:
            raise ConfigError(f"tasks.{task}", "the data has no tag vocabulary for this task")
        y = np.asarray(y)
        pred = np.argmax(np.asarray(predictions[task]), axis=-1)
        tokens = int(mask.sum())
        scores = {"token_accuracy": float((pred == y)[mask].sum() / tokens) if tokens else math.nan, "tokens": tokens}
        if is_iob(tag_vocab[task]):
            names = chunk_tag_names(tag_vocab[task])
            gold = [y[i, :n] for i, n in enumerate(lengths)]
            guess = [pred[i, :n] for i, n in enumerate(lengths)]
            e = entity_scores(gold, guess, label_names=names)
            scores.update({k: e[k] for k in ("precision", "recall", "f1", "gold", "predicted", "correct")})
        out[task] = scores
    return out
