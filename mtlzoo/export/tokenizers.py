"""Tokenizers that run inside a SavedModel, so TF Serving can take raw strings.

Only ops that TF Serving ships are used (core TensorFlow and TensorFlow Text); the
vocabulary file becomes a SavedModel asset (``assets/``). Chosen by name from
``TOKENIZERS``; a tokenizer config is ``{"name": ..., "vocab_file": ..., ...}``.

* ``vocab``: word-level lookup for the ``tokens`` encoders (text_cnn, lstm, tagger).
  ``text -> lower-case (unicode, optional) -> split on whitespace -> id = line number
  of the word in vocab_file`` (unknown words -> the id of ``oov_token``), cut to
  ``max_length``, padded with 0. Line 0 of the vocabulary is the padding token.
  The same rule in Python: ``[vocab.get(w, oov) for w in text.lower().split()]``.
* ``wordpiece``: BERT's tokenizer (``tensorflow_text.BertTokenizer``: lower-case and
  accent stripping, split on whitespace and punctuation, greedy longest-match-first
  WordPiece with ``##`` continuations) for the ``bert`` encoder; produces
  ``token_ids = [CLS] pieces [SEP]``, ``segment_ids`` = 0 and ``padding_mask``; for a
  sentence pair (:meth:`WordPieceTokenizer.pair`) ``[CLS] a [SEP] b [SEP]`` with segment
  ids 0 up to the first ``[SEP]`` and 1 after, cut to ``max_length`` as BERT's
  ``_truncate_seq_pair`` (and :func:`mtlzoo.data.glue_files.pack`) cut it
  (:func:`pair_lengths`). The only TF Text ops are those of ``tensorflow_text.BertTokenizer``
  (case folding, NFD normalisation, regex split, WordPiece lookup); packing, truncation and
  padding are core TensorFlow ops.

Example:
    >>> tok = make_tokenizer({"name": "vocab", "vocab_file": "vocab.txt"})
    >>> tok(tf.constant(["a good film"]))["tokens"]   # int32 [1, 3]
"""

from mtlzoo.data.real import read_vocab
from mtlzoo.errors import ConfigError
from mtlzoo.registry import Registry
from mtlzoo.schema import Field, check_fields, positive

TOKENIZERS = Registry("tokenizer")
PAIR_INPUTS = ("text_a", "text_b")
_OOV_CANDIDATES = ("[UNK]", "<unk>", "<UNK>", "<oov>", "[OOV]")


def embedding_size(model, names):
    """Rows of the first of the named Embedding layers the model has (its vocabulary size), or None."""
    for name in names:
        try:
            return model.get_layer(name).input_dim
        except (ValueError, AttributeError):
            continue
    return None


class _Tokenizer:
    name = None
    schema = {}
    produces = ()
    supports_pairs = False

    def __init__(self, opts, field="tokenizer"):
        self.opts = check_fields(opts, self.schema, field)
        self.field = field
        self.vocab = read_vocab(self.opts["vocab_file"], f"{field}.vocab_file")
        self.ids = {w: i for i, w in enumerate(self.vocab)}

    def to_config(self):
        return {"name": self.name, **{k: v for k, v in self.opts.items()}}

    def input_spec(self):
        import tensorflow as tf

        return tf.TensorSpec([None], tf.string, name="text")

    def check_model(self, input_specs, model=None):
        """ConfigError unless the tokenizer's outputs are exactly the model's inputs."""
        if set(input_specs) != set(self.produces):
            raise ConfigError(
                f"{self.field}.name",
                f"the {self.name!r} tokenizer produces {', '.join(self.produces)}, "
                f"but the model takes {', '.join(sorted(input_specs))}",
            )
        self.max_len = self._max_length(input_specs, model)
        size = embedding_size(model, self._embedding_layers) if model is not None else None
        if size is not None and len(self.vocab) > size:
            raise ConfigError(
                f"{self.field}.vocab_file",
                f"the vocabulary has {len(self.vocab)} tokens but the model's embedding has {size} rows",
            )

    def sample_texts(self, n, rng, max_words=8):
        """``n`` short texts from vocabulary words plus one unknown word, for warmup requests."""
        words = [w for w in self.vocab if w.isalpha() and not w.startswith("##")] or ["a"]
        out = []
        for i in range(n):
            k = int(rng.integers(1, max_words + 1))
            chosen = [words[j] for j in rng.integers(0, len(words), size=k)]
            if i == 0:
                chosen.append("qqxzunknownword")
            out.append(" ".join(chosen))
        return out


@TOKENIZERS.register("vocab")
class VocabTokenizer(_Tokenizer):
    """Whitespace split and vocabulary lookup, for the ``tokens`` input. See the module doc."""

    name = "vocab"
    produces = ("tokens",)
    _embedding_layers = ("embedding",)
    schema = {
        "name": Field("vocab", str),
        "vocab_file": Field(type=str),
        "lowercase": Field(True, bool),
        "max_length": Field(None, int, positive, optional=True),
        "oov_token": Field(None, str, optional=True),
    }

    def __init__(self, opts, field="tokenizer"):
        super().__init__(opts, field)
        oov = self.opts["oov_token"]
        if oov is None:
            oov = next((w for w in _OOV_CANDIDATES if w in self.ids), None)
            if oov is None:
                raise ConfigError(
                    f"{field}.oov_token",
                    f"no out-of-vocabulary token ({', '.join(_OOV_CANDIDATES)}) in {self.opts['vocab_file']}; name one",
                )
        elif oov not in self.ids:
            raise ConfigError(f"{field}.oov_token", f"{oov!r} is not in {self.opts['vocab_file']}")
        self.oov_id = self.ids[oov]
        self.max_len = self.opts["max_length"]
        self.fixed = False

    def _max_length(self, input_specs, model):
        fixed = input_specs["tokens"].shape[1]
        self.fixed = fixed is not None
        if fixed is not None:
            if self.opts["max_length"] not in (None, fixed):
                raise ConfigError(f"{self.field}.max_length", f"the model takes exactly {fixed} tokens")
            return fixed
        return self.opts["max_length"] or 256

    def build(self):
        """Creates the lookup table (a TF resource the SavedModel tracks)."""
        import tensorflow as tf

        init = tf.lookup.TextFileInitializer(
            self.opts["vocab_file"],
            tf.string,
            tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64,
            tf.lookup.TextFileIndex.LINE_NUMBER,
        )
        self.table = tf.lookup.StaticHashTable(init, default_value=self.oov_id)
        return [self.table]

    def __call__(self, text):
        import tensorflow as tf

        if self.opts["lowercase"]:
            text = tf.strings.lower(text, encoding="utf-8")
        words = tf.strings.split(text)
        ids = tf.ragged.map_flat_values(self.table.lookup, words)[:, : self.max_len]
        if self.fixed:
            dense = ids.to_tensor(0, shape=[None, self.max_len])
        else:
            dense = ids.to_tensor(0)
            dense = tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]])  # at least one column
        return {"tokens": tf.cast(dense, tf.int32)}


@TOKENIZERS.register("wordpiece")
class WordPieceTokenizer(_Tokenizer):
    """BERT WordPiece via TensorFlow Text, for the ``bert`` encoder's three inputs."""

    name = "wordpiece"
    produces = ("padding_mask", "segment_ids", "token_ids")
    _embedding_layers = ("token_embedding",)
    schema = {
        "name": Field("wordpiece", str),
        "vocab_file": Field(type=str),
        "lowercase": Field(True, bool),
        "max_length": Field(None, int, positive, optional=True),
        "unk_token": Field("[UNK]", str),
        "cls_token": Field("[CLS]", str),
        "sep_token": Field("[SEP]", str),
        "pad_token": Field("[PAD]", str),
    }

    def __init__(self, opts, field="tokenizer"):
        super().__init__(opts, field)
        for key in ("unk_token", "cls_token", "sep_token", "pad_token"):
            if self.opts[key] not in self.ids:
                raise ConfigError(f"{field}.{key}", f"{self.opts[key]!r} is not in {self.opts['vocab_file']}")
        self.cls_id, self.sep_id, self.pad_id = (
            self.ids[self.opts[k]] for k in ("cls_token", "sep_token", "pad_token")
        )
        self.max_len = self.opts["max_length"]

    def _max_length(self, input_specs, model):
        limit = None
        if model is not None:
            try:
                limit = model.get_layer("position_embedding").sequence_length
            except (ValueError, AttributeError):
                limit = None
        n = self.opts["max_length"] or limit or 128
        if limit is not None and n > limit:
            raise ConfigError(f"{self.field}.max_length", f"{n} is longer than the model's {limit} positions")
        if n < 3:
            raise ConfigError(f"{self.field}.max_length", "must leave room for [CLS], a token and [SEP]")
        return n

    supports_pairs = True

    def pair_input_specs(self):
        """The two raw-string inputs of a pair signature, ``text_a`` and ``text_b``."""
        import tensorflow as tf

        return [tf.TensorSpec([None], tf.string, name=n) for n in PAIR_INPUTS]

    def sample_pairs(self, n, rng):
        """``n`` (first, second) text pairs for warmup requests."""
        return self.sample_texts(n, rng), self.sample_texts(n, rng, max_words=12)

    def build(self):
        import tensorflow_text as tf_text

        self.tokenizer = tf_text.BertTokenizer(
            self.opts["vocab_file"],
            lower_case=self.opts["lowercase"],
            unknown_token=self.opts["unk_token"],
            token_out_type="int64",
        )
        return [self.tokenizer]

    def __call__(self, text):
        import tensorflow as tf

        pieces = self.tokenizer.tokenize(text).merge_dims(-2, -1)[:, : self.max_len - 2]
        batch = tf.shape(text, out_type=tf.int64)[:1]
        cls = tf.fill(tf.concat([batch, [1]], 0), tf.constant(self.cls_id, tf.int64))
        sep = tf.fill(tf.concat([batch, [1]], 0), tf.constant(self.sep_id, tf.int64))
        ids = tf.concat([cls, pieces, sep], axis=1)
        dense = tf.cast(ids.to_tensor(self.pad_id), tf.int32)
        mask = tf.sequence_mask(ids.row_lengths(), maxlen=tf.shape(dense, out_type=tf.int64)[1], dtype=tf.int32)
        return {"token_ids": dense, "segment_ids": tf.zeros_like(dense), "padding_mask": mask}

    def pair(self, text_a, text_b):
        """``[CLS] a [SEP] b [SEP]`` of two ``[B]`` string batches: the three BERT inputs."""
        import tensorflow as tf

        with tf.control_dependencies(
            [
                tf.debugging.assert_equal(
                    tf.shape(text_a), tf.shape(text_b), message="text_a and text_b must hold as many texts"
                )
            ]
        ):
            a = self.tokenizer.tokenize(text_a).merge_dims(-2, -1)
        b = self.tokenizer.tokenize(text_b).merge_dims(-2, -1)
        keep_a, keep_b = pair_lengths(a.row_lengths(), b.row_lengths(), tf.constant(self.max_len - 3, tf.int64))

        def cut(r, keep):  # the first keep[i] pieces of row i
            pos = tf.ragged.range(r.row_lengths()).values
            return tf.RaggedTensor.from_row_lengths(
                tf.boolean_mask(r.values, pos < tf.repeat(keep, r.row_lengths())), keep
            )

        a, b = cut(a, keep_a), cut(b, keep_b)
        batch = tf.shape(text_a, out_type=tf.int64)[:1]

        def col(value):
            return tf.fill(tf.concat([batch, [1]], 0), tf.constant(value, tf.int64))

        ids = tf.concat([col(self.cls_id), a, col(self.sep_id), b, col(self.sep_id)], axis=1)
        seg = tf.concat([col(0), tf.zeros_like(a), col(0), tf.ones_like(b), col(1)], axis=1)
        dense = tf.cast(ids.to_tensor(self.pad_id), tf.int32)
        width = tf.shape(dense, out_type=tf.int64)[1]
        mask = tf.sequence_mask(ids.row_lengths(), maxlen=width, dtype=tf.int32)
        return {"token_ids": dense, "segment_ids": tf.cast(seg.to_tensor(0), tf.int32), "padding_mask": mask}


def pair_lengths(len_a, len_b, budget):
    """Tokens kept of each side of a pair so that ``kept_a + kept_b <= budget`` (= max_length - 3).

    Closed form of BERT's ``_truncate_seq_pair`` (drop the last token of the longer side,
    the second side on a tie, until the pair fits): a pair that fits is kept whole; else
    ``kept_a = min(len_a, max(budget - len_b, ceil(budget / 2)))`` and ``kept_b = budget - kept_a``.
    Works on numpy arrays and on TF tensors alike (elementwise).
    """
    import numpy as np

    if isinstance(len_a, np.ndarray | np.generic | int):
        mini, maxi, where = np.minimum, np.maximum, np.where
    else:
        import tensorflow as tf

        mini, maxi, where = tf.minimum, tf.maximum, tf.where
    kept_a = mini(len_a, maxi(budget - len_b, (budget + 1) // 2))
    fits = len_a + len_b <= budget
    return where(fits, len_a, kept_a), where(fits, len_b, budget - kept_a)


def make_tokenizer(cfg, field="tokenizer"):
    """A tokenizer from a config mapping ``{"name": "vocab"|"wordpiece", "vocab_file": ..., ...}``."""
    cfg = dict(cfg)
    if "vocab_file" not in cfg:
        raise ConfigError(f"{field}.vocab_file", "missing required field")
    name = cfg.get("name", "vocab")
    return TOKENIZERS.get(name, f"{field}.name")(cfg, field)
