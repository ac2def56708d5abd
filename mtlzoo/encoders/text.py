"""Text encoders over token ids: ``text_mlp``, ``text_cnn``, ``lstm`` and ``tagger``.

All four share the embedding layer E: ``tokens`` int32 ``[batch, time]`` (0 =
padding) -> ``keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)``.

Pretrained word vectors: ``embedding_pretrained`` (a GloVe / word2vec text file of
``embedding_dim``-d vectors) initialises E's rows from the file for the tokens of the run's
vocabulary: ``embedding_vocab_file`` when set (line = token id: the file the data source
writes with ``save_vocab`` / reads as ``data.vocab_file``), else the vocabulary the data source
built for this run (``info["vocab"]``, which :func:`mtlzoo.training.train` hands to
:func:`mtlzoo.models.build_model` as ``vocab=`` and saves as ``<workdir>/vocab.txt``) (:func:`mtlzoo.encoders.word_vectors.embedding_matrix`:
out-of-vocabulary rows drawn with ``embedding_oov_seed``, scaled like the found rows);
``embedding_trainable: false`` freezes E (frozen or fine-tuned). The hit / OOV counts are
printed and kept on the layer (:func:`pretrained_embedding_stats`).
"""

import os

import keras

from mtlzoo import options
from mtlzoo.encoders.base import Encoder
from mtlzoo.errors import ConfigError
from mtlzoo.layers import ApplyMask, MaskedGlobalPooling1D, PaddingMask


def _check_pretrained(opts, field):
    if not opts.get("embedding_pretrained"):
        if opts.get("embedding_vocab_file"):
            raise ConfigError(f"{field}.embedding_vocab_file", "set only together with embedding_pretrained")
        return
    if not os.path.isfile(opts["embedding_pretrained"]):
        raise ConfigError(
            f"{field}.embedding_pretrained", f"word-vector file {opts['embedding_pretrained']} does not exist"
        )
    if not opts.get("embedding_vocab_file"):
        return  # the run's own vocabulary, handed to build_model (see the module docstring)
    if not os.path.isfile(opts["embedding_vocab_file"]):
        raise ConfigError(
            f"{field}.embedding_vocab_file", f"vocabulary file {opts['embedding_vocab_file']} does not exist"
        )


def pretrained_embedding_stats(model):
    """The hit / OOV counts of a model's pretrained embedding layer ``embedding``, or None."""
    try:
        layer = model.get_layer("embedding")
    except ValueError:
        return None
    stats = getattr(layer, "mtlzoo_pretrained_stats", None)
    return dict(stats) if stats else None


class _TextEncoder(Encoder):
    @classmethod
    def check(cls, opts, field):
        _check_pretrained(opts, field)

    def inputs(self):
        return {"tokens": keras.Input((self.opts["max_length"],), dtype="int32", name="tokens")}

    def embed(self, inputs):
        o = self.opts
        layer = keras.layers.Embedding(
            o["vocab_size"],
            o["embedding_dim"],
            mask_zero=True,
            name="embedding",
            trainable=o.get("embedding_trainable", True),
        )
        out = layer(inputs["tokens"])
        if o.get("embedding_pretrained"):
            from mtlzoo.encoders.word_vectors import embedding_matrix, read_vocab_lines

            if o.get("embedding_vocab_file"):
                vocab = read_vocab_lines(o["embedding_vocab_file"], "model.encoder.embedding_vocab_file")
            elif self.vocab is not None:
                vocab = list(self.vocab)
            else:
                raise ConfigError(
                    "model.encoder.embedding_vocab_file",
                    "embedding_pretrained needs the run's vocabulary: set embedding_vocab_file (one token per line, "
                    "line = token id), or build the model through train() or build_model(config, vocab=...)",
                )
            matrix, stats = embedding_matrix(
                o["embedding_pretrained"], vocab, o["vocab_size"], o["embedding_dim"], o["embedding_oov_seed"]
            )
            layer.embeddings.assign(matrix)
            stats["trainable"] = bool(layer.trainable)
            layer.mtlzoo_pretrained_stats = stats
            print(
                f"pretrained embedding {stats['file']}: {stats['hits']} of {stats['vocabulary_tokens']} vocabulary "
                f"tokens found ({stats['lowercase_hits']} lower-cased), {stats['oov']} out of vocabulary "
                f"(initialised with seed {stats['seed']}), {'trainable' if layer.trainable else 'frozen'}",
                flush=True,
            )
        return out


class TextMLPEncoder(_TextEncoder):
    """The "MLP" sentence encoder of Wu, Zhang & Ré (2020): mean of word embeddings, then dense layers.

    ``tokens [batch, time]`` -> ``h_0 = sum_t m_t e_t / sum_t m_t`` (m = 1 on real tokens),
    ``h_l = activation(W_l h_{l-1} + b_l)`` -> pooled ``[batch, units[-1]]``. The fastest
    text encoder; word order is ignored.
    """

    name = "text_mlp"
    schema = options.ENCODERS["text_mlp"]

    def encode(self, x, inputs):
        o = self.opts
        mask = PaddingMask(name="padding_mask_mlp")(inputs["tokens"])
        h = MaskedGlobalPooling1D("mean", name="mean_embedding")([x, mask])
        for i, units in enumerate(o["units"]):
            h = keras.layers.Dense(units, activation=o["activation"], name=f"text_mlp_dense_{i}")(h)
            if o["dropout"]:
                h = keras.layers.Dropout(o["dropout"], name=f"text_mlp_dropout_{i}")(h)
        return {"pooled": h}


class TextCNNEncoder(_TextEncoder):
    """Kim (2014) CNN: convolutions of widths 3/4/5, masked max-over-time pooling.

    ``tokens [batch, time]`` -> pooled ``[batch, num_filters * len(filter_widths)]``.
    Padding embeddings are zeroed before the convolutions and excluded from the max.
    """

    name = "text_cnn"
    schema = options.ENCODERS["text_cnn"]

    @classmethod
    def check(cls, opts, field):
        super().check(opts, field)
        if opts["max_length"] is not None and max(opts["filter_widths"]) > opts["max_length"]:
            raise ConfigError(f"{field}.filter_widths", "a filter is wider than max_length")

    def encode(self, x, inputs):
        o = self.opts
        mask = PaddingMask(name="padding_mask_cnn")(inputs["tokens"])
        x = ApplyMask(name="zero_padding")([x, mask])
        pooled = []
        for w in o["filter_widths"]:
            h = keras.layers.Conv1D(o["num_filters"], w, padding="same", activation=o["activation"], name=f"conv_{w}")(
                x
            )
            pooled.append(MaskedGlobalPooling1D("max", name=f"max_pool_{w}")([h, mask]))
        h = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="cnn_concat")(pooled)
        if o["dropout"]:
            h = keras.layers.Dropout(o["dropout"], name="cnn_dropout")(h)
        return {"pooled": h}


class LSTMEncoder(_TextEncoder):
    """Bi-directional LSTM; ``pooling`` = ``mean`` / ``max`` over tokens or ``last`` states.

    ``tokens [batch, time]`` -> pooled ``[batch, 2 * hidden]``. ``last`` joins the
    forward LSTM's state at the last real token and the backward one's at the first.
    """

    name = "lstm"
    schema = options.ENCODERS["lstm"]

    def encode(self, x, inputs):
        o = self.opts
        n = o["num_layers"]
        for i in range(n):
            last = i == n - 1 and o["pooling"] == "last"
            x = keras.layers.Bidirectional(
                keras.layers.LSTM(o["hidden"], return_sequences=not last), name=f"bilstm_{i}"
            )(x)
            if o["dropout"]:
                x = keras.layers.Dropout(o["dropout"], name=f"lstm_dropout_{i}")(x)
        if o["pooling"] == "last":
            return {"pooled": x}
        mask = PaddingMask(name="padding_mask_lstm")(inputs["tokens"])
        return {"pooled": MaskedGlobalPooling1D(o["pooling"], name=f"{o['pooling']}_pool")([x, mask])}


class TaggerEncoder(_TextEncoder):
    """BiLSTM tagger: one vector per token, ``tokens [batch, time]`` -> ``[batch, time, 2 * hidden]``.

    The Keras mask from the embedding flows to the per-token heads, so padding
    tokens carry no loss. A masked mean gives a pooled vector for sentence-level tasks.
    """

    name = "tagger"
    provides = ("sequence", "pooled")
    schema = options.ENCODERS["tagger"]

    def encode(self, x, inputs):
        o = self.opts
        for i in range(o["num_layers"]):
            x = keras.layers.Bidirectional(
                keras.layers.LSTM(o["hidden"], return_sequences=True), name=f"tagger_bilstm_{i}"
            )(x)
            if o["dropout"]:
                x = keras.layers.Dropout(o["dropout"], name=f"tagger_dropout_{i}")(x)
        for i in range(o["dense_layers"]):
            x = keras.layers.Dense(o["hidden"], activation="relu", name=f"tagger_dense_{i}")(x)
        mask = PaddingMask(name="padding_mask_tagger")(inputs["tokens"])
        return {"sequence": x, "pooled": MaskedGlobalPooling1D("mean", name="tagger_mean_pool")([x, mask])}
