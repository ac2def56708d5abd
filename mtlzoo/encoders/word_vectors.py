"""Pretrained word vectors (GloVe / word2vec text format) matched to a run's vocabulary.

The text format: one word per line followed by its ``d`` numbers, separated by spaces
(GloVe, Pennington, Socher & Manning 2014); word2vec's text format adds a first line
``<count> <d>``, which is recognised and skipped. :func:`embedding_matrix` builds the
``[vocab_size, d]`` initial value of the embedding layer E:

* row 0 (padding): zeros;
* a token found in the file (exactly, else lower-cased): its vector (a *hit*);
* any other row (``[UNK]``, out-of-vocabulary tokens, rows beyond the vocabulary):
  ``mu + sigma * z`` with ``z ~ N(0, I)`` drawn from ``seed``, where ``mu`` and ``sigma``
  are the per-dimension mean and standard deviation of the found rows, so OOV rows are
  scaled like the found ones.

Example:
    >>> matrix, stats = embedding_matrix("glove.6B.50d.txt", ["[PAD]", "[UNK]", "the"], 3, 50)
    >>> stats["hits"], stats["oov"]
    (1, 1)
"""

import os

import numpy as np

from mtlzoo.errors import ConfigError


def read_vocab_lines(path, field):
    """The tokens of a vocabulary file (one per line, line number = token id)."""
    if not os.path.isfile(path):
        raise ConfigError(field, f"vocabulary file {path} does not exist")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def read_word_vectors(path, dim, wanted=None, field="model.encoder.embedding_pretrained"):
    """``{word: float32 [dim]}`` for the words of ``path`` in ``wanted`` (all when None; first occurrence wins).

    ConfigError naming ``field``, the file and the line for a missing file, a line with fewer
    than ``dim + 1`` fields, a number that does not parse, or a word2vec header whose
    dimension is not ``dim``.
    """
    if not os.path.isfile(path):
        raise ConfigError(field, f"word-vector file {path} does not exist")
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip("\n").rstrip("\r").rstrip(" ").split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):  # word2vec header
                if int(parts[1]) != dim:
                    raise ConfigError(field, f"{path} line 1: vectors of dimension {parts[1]}, embedding_dim is {dim}")
                continue
            if len(parts) == 1 and not parts[0]:
                continue
            if len(parts) < dim + 1:
                raise ConfigError(
                    field, f"{path} line {lineno}: {len(parts) - 1} numbers after the word, embedding_dim is {dim}"
                )
            word = " ".join(parts[:-dim])  # a few GloVe files have words with spaces
            if word in out or (wanted is not None and word not in wanted):
                continue
            try:
                out[word] = np.asarray(parts[-dim:], dtype=np.float32)
            except ValueError:
                raise ConfigError(field, f"{path} line {lineno}: the vector of {word!r} has a non-number") from None
    return out


def embedding_matrix(path, vocab, vocab_size, dim, seed=0, field="model.encoder.embedding_pretrained"):
    """``(matrix float32 [vocab_size, dim], stats)``: the vectors of ``path`` on the rows of ``vocab``.

    ``vocab``: tokens by id (id 0 = padding). ``stats``: ``hits`` (tokens found, ``lowercase_hits``
    of them only lower-cased), ``oov`` (vocabulary tokens not found, ``[UNK]`` included),
    ``oov_examples`` (the first 20), ``unused_rows`` (rows beyond the vocabulary), ``file``.
    """
    if len(vocab) > vocab_size:
        raise ConfigError(
            "model.encoder.vocab_size", f"the vocabulary has {len(vocab)} tokens, more than vocab_size {vocab_size}"
        )
    wanted = set(vocab[1:]) | {w.lower() for w in vocab[1:]}
    vectors = read_word_vectors(path, dim, wanted, field)
    matrix = np.zeros((vocab_size, dim), np.float32)
    found = np.zeros(vocab_size, bool)
    lower_hits, oov = 0, []
    for i, w in enumerate(vocab[1:], 1):
        v = vectors.get(w)
        if v is None and w.lower() in vectors:
            v = vectors[w.lower()]
            lower_hits += 1
        if v is None:
            oov.append(w)
        else:
            matrix[i], found[i] = v, True
    if found.sum() < 2:
        raise ConfigError(field, f"{path} has {int(found.sum())} of the {len(vocab) - 1} vocabulary tokens; need >= 2")
    mu, sigma = matrix[found].mean(0), matrix[found].std(0)
    rest = np.flatnonzero(~found)[1:] if not found[0] else np.flatnonzero(~found)  # row 0 stays zero
    draw = np.random.default_rng(seed).standard_normal((len(rest), dim)).astype(np.float32)
    matrix[rest] = mu + sigma * draw
    stats = {
        "file": os.path.abspath(path),
        "vocabulary_tokens": len(vocab) - 1,
        "hits": int(found.sum()),
        "lowercase_hits": lower_hits,
        "oov": len(oov),
        "oov_examples": oov[:20],
        "unused_rows": vocab_size - len(vocab),
        "seed": seed,
    }
    return matrix, stats
