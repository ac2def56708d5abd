"""Text tokenizers for file sources, by name, as TensorFlow ops inside a tf.data pipeline.

* ``whitespace``: ``text -> lower-case (unicode, optional) -> split on whitespace -> id``, the
  id being the word's line in the vocabulary (0 = ``[PAD]``, 1 = ``[UNK]`` for an unknown
  word); cut to ``max_length``, padded with 0. The vocabulary is read from ``vocab_file``
  (first lines ``[PAD]``, ``[UNK]``) or built from the training split by :func:`build_vocab`.
  It is the rule of mtlzoo's ``vocab`` serving tokenizer (``mtlzoo.export.tokenizers``), so a
  model trained on it can be exported to take raw strings with the same vocabulary file:
  ``[vocab.get(w, 1) for w in text.lower().split()][:max_length]``.
* ``wordpiece``: BERT's WordPiece (Devlin et al. 2019) over a given vocabulary file
  (``tensorflow_text.BertTokenizer``: lower-case and accent stripping if ``lowercase``, split on
  whitespace and punctuation, greedy longest-match-first pieces with ``##`` continuations);
  ``token_ids = [CLS] pieces [SEP]`` padded with ``[PAD]``, ``segment_ids`` = 0,
  ``padding_mask`` = 1 on real tokens: the inputs of the ``bert`` encoder.

Example:
    >>> tok = make_text_tokenizer({"name": "whitespace", "vocab_file": "vocab.txt"}, 8, "data.features.tokens")
    >>> tok.encode(tf.constant(["a good film"]), "tokens")["tokens"]    # int32 [1, 8]
"""

from mtlzoo.errors import ConfigError
from mtlzoo.schema import Field, check_fields, non_negative, positive

PAD, UNK = "[PAD]", "[UNK]"

TOKENIZER_SCHEMA = {
    "name": Field("whitespace", str, choices=("whitespace", "wordpiece")),
    "vocab_file": Field(None, str, optional=True),  # whitespace: optional (else built); wordpiece: required
    "lowercase": Field(True, bool),
    "max_vocab": Field(20000, int, non_negative),  # built vocabularies: size bound, [PAD] and [UNK] included
    "min_count": Field(1, int, positive),
}


def build_vocab(counts, max_vocab=None, min_count=1):
    """Word list from a ``Counter``: ``[PAD]``, ``[UNK]``, then words by descending count (ties
    alphabetical), those seen fewer than ``min_count`` times left out, at most ``max_vocab``
    entries in all. Position = token id."""
    words = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in (PAD, UNK)), key=lambda w: (-counts[w], w)
    )
    if max_vocab:
        words = words[: max(0, max_vocab - 2)]
    return [PAD, UNK, *words]


def read_vocab_file(path, field):
    """A vocabulary file as a list (one token per line, line number = id); ConfigError naming
    ``field`` for a missing file, fewer than two lines or a repeated token."""
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise ConfigError(field, f"vocabulary file {path} does not exist")
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    try:
        words = raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(field, f"{path} line {line}: not valid UTF-8") from None
    if len(words) < 2:
        raise ConfigError(field, f"vocabulary file {path} has {len(words)} lines; it needs at least two")
    seen = {}
    for i, w in enumerate(words):
        if w in seen:
            raise ConfigError(field, f"{path} line {i + 1}: token {w!r} repeats line {seen[w] + 1}")
        seen[w] = i
    return words


class WhitespaceTokenizer:
    """Whitespace split and vocabulary lookup for one text column (see the module doc)."""

    name = "whitespace"

    def __init__(self, opts, max_length, field):
        self.opts, self.max_length, self.field = opts, max_length, field
        self.vocab = None
        if opts["vocab_file"]:
            self.set_vocab(read_vocab_file(opts["vocab_file"], f"{field}.tokenizer.vocab_file"))
            if self.vocab[:2] != [PAD, UNK]:
                raise ConfigError(
                    f"{field}.tokenizer.vocab_file",
                    f"{opts['vocab_file']} must start with {PAD!r} (line 1) and {UNK!r} (line 2), "
                    f"it starts with {self.vocab[0]!r}, {self.vocab[1]!r}",
                )

    @property
    def needs_vocab(self):
        return self.vocab is None

    def outputs(self, input_name):
        import tensorflow as tf

        return {input_name: tf.TensorSpec([self.max_length], tf.int32)}

    def words(self, text):
        """Tokens of a string tensor (any shape): a RaggedTensor of strings."""
        import tensorflow as tf

        if self.opts["lowercase"]:
            text = tf.strings.lower(text, encoding="utf-8")
        return tf.strings.split(text)

    def word_counts(self, texts):
        """``(words, counts)``: the distinct words of a string tensor of texts and how often each
        occurs (TensorFlow ops, for the vocabulary pass)."""
        import tensorflow as tf

        words, _, counts = tf.unique_with_counts(tf.reshape(self.words(texts).flat_values, [-1]))
        return words, counts

    def set_vocab(self, vocab):
        import tensorflow as tf

        self.vocab = list(vocab)
        init = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.vocab), tf.range(len(self.vocab), dtype=tf.int64), tf.string, tf.int64
        )
        self.table = tf.lookup.StaticHashTable(init, default_value=1)

    def finish_vocab(self, counter):
        self.set_vocab(build_vocab(counter, self.opts["max_vocab"] or None, self.opts["min_count"]))

    def encode(self, text, input_name):
        """Strings [n] -> ``{input_name: int32 [n, max_length]}``."""
        import tensorflow as tf

        ids = tf.ragged.map_flat_values(self.table.lookup, self.words(text))
        ids = ids.to_tensor(0, shape=[None, self.max_length])  # cut to max_length, padded with 0
        return {input_name: tf.ensure_shape(tf.cast(ids, tf.int32), [None, self.max_length])}


class WordPieceTokenizer:
    """BERT WordPiece over a vocabulary file (see the module doc)."""

    name = "wordpiece"

    def __init__(self, opts, max_length, field):
        self.opts, self.max_length, self.field = opts, max_length, field
        if not opts["vocab_file"]:
            raise ConfigError(f"{field}.tokenizer.vocab_file", "the wordpiece tokenizer needs a vocabulary file")
        if max_length < 3:
            raise ConfigError(f"{field}.max_length", "must leave room for [CLS], a token and [SEP]")
        self.vocab = read_vocab_file(opts["vocab_file"], f"{field}.tokenizer.vocab_file")
        ids = {w: i for i, w in enumerate(self.vocab)}
        for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if special not in ids:
                raise ConfigError(
                    f"{field}.tokenizer.vocab_file", f"{opts['vocab_file']} lacks the special token {special}"
                )
        self.pad_id, self.cls_id, self.sep_id = ids["[PAD]"], ids["[CLS]"], ids["[SEP]"]
        import tensorflow as tf
        import tensorflow_text as tf_text

        # created here (eagerly), not inside a traced tf.data function: every pipeline shares it
        self.tokenizer = tf_text.BertTokenizer(
            opts["vocab_file"], lower_case=opts["lowercase"], token_out_type=tf.int64
        )

    needs_vocab = False

    def outputs(self, input_name):
        import tensorflow as tf

        spec = tf.TensorSpec([self.max_length], tf.int32)
        return {"token_ids": spec, "segment_ids": spec, "padding_mask": spec}

    def encode(self, text, input_name):
        """Strings [n] -> ``token_ids``, ``segment_ids``, ``padding_mask``, each int32 [n, max_length]."""
        import tensorflow as tf

        pieces = self.tokenizer.tokenize(text).merge_dims(-2, -1)[:, : self.max_length - 2]
        ends = tf.ones([pieces.nrows(), 1], pieces.dtype)
        ids = tf.concat([ends * self.cls_id, pieces, ends * self.sep_id], 1)
        shape = [None, self.max_length]
        token_ids = tf.cast(ids.to_tensor(self.pad_id, shape=shape), tf.int32)
        mask = tf.cast(tf.ones_like(ids).to_tensor(0, shape=shape), tf.int32)
        return {
            "token_ids": tf.ensure_shape(token_ids, shape),
            "segment_ids": tf.zeros_like(token_ids),
            "padding_mask": tf.ensure_shape(mask, shape),
        }


def make_text_tokenizer(cfg, max_length, field):
    """A tokenizer from ``{"name": "whitespace"|"wordpiece", ...}`` (fields: ``TOKENIZER_SCHEMA``)."""
    opts = check_fields(cfg, TOKENIZER_SCHEMA, f"{field}.tokenizer")
    cls = WhitespaceTokenizer if opts["name"] == "whitespace" else WordPieceTokenizer
    return cls(opts, max_length, field)
