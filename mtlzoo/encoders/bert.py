"""``bert``: a keras-hub ``BertBackbone``, rebuilt from its own sub-layers.

The backbone comes from a config dict (small models) or from ``preset``: a local
checkpoint directory in keras-hub preset format (``backbone.save_to_preset``) or in
Hugging Face transformers format (``config.json``, ``model.safetensors``, ``vocab.txt``;
keras-hub converts it on load). A preset *name* that would need the network is refused at
config validation (:mod:`mtlzoo.encoders.checkpoints`); the checkpoint's own WordPiece
vocabulary and lower-casing come from :func:`mtlzoo.encoders.checkpoints.checkpoint_vocab`.
``preset`` may name the directory portably (``$MTLZOO_BERT_CHECKPOINT``,
``$MTLZOO_DATA_DIR/<path>``: :func:`mtlzoo.encoders.checkpoints.resolve_checkpoint`). A zoo
entry keeps no preset: :meth:`BertEncoder.self_contained` replaces it by the architecture the
preset gave, whose weights the entry's ``model.keras`` holds.
Its graph is rebuilt in two stages so that an alignment can later sit between
them, with outputs equal to the plain backbone's:

* E (embedding block): token + position + segment embeddings, LayerNorm, dropout;
* B (shared module): the transformer layers, then the [CLS] pooler (``tanh`` Dense)
  or a masked mean over tokens.

Inputs are keras-hub's: ``token_ids``, ``segment_ids``, ``padding_mask`` (int32
``[batch, time]``), as a ``BertTextClassifierPreprocessor`` produces them.
keras-hub is imported only when a bert model is built.
"""

import keras

from mtlzoo import options
from mtlzoo.encoders.base import Encoder
from mtlzoo.encoders.checkpoints import check_local_checkpoint, resolve_checkpoint
from mtlzoo.errors import ConfigError
from mtlzoo.layers import MaskedGlobalPooling1D, TokenSelect


class BertEncoder(Encoder):
    """BERT over ``token_ids / segment_ids / padding_mask`` -> pooled ``[batch, hidden_dim]``.

    Example config::

        {"name": "bert", "num_layers": 2, "hidden_dim": 64, "num_heads": 2,
         "intermediate_dim": 128, "vocab_size": 1000}
        {"name": "bert", "preset": "/path/to/local/bert_preset_dir"}
        {"name": "bert", "preset": "/data/bert/all-MiniLM-L6-v2", "pooling": "mean"}

    With ``preset`` set, the architecture fields are ignored (the preset's are used).
    """

    name = "bert"
    schema = options.ENCODERS["bert"]

    @classmethod
    def check(cls, opts, field):
        if opts["preset"] is not None:
            check_local_checkpoint(opts["preset"], f"{field}.preset")
        if opts["preset"] is None and opts["hidden_dim"] % opts["num_heads"]:
            raise ConfigError(
                f"{field}.num_heads",
                f"hidden_dim {opts['hidden_dim']} is not divisible by num_heads {opts['num_heads']}",
            )

    # BertBackbone.get_config() key -> this encoder's option
    ARCHITECTURE = {
        "vocabulary_size": "vocab_size",
        "num_layers": "num_layers",
        "num_heads": "num_heads",
        "hidden_dim": "hidden_dim",
        "intermediate_dim": "intermediate_dim",
        "dropout": "dropout",
        "max_sequence_length": "max_sequence_length",
        "num_segments": "num_segments",
    }

    @classmethod
    def self_contained(cls, opts, field="model.encoder"):
        """The options with ``preset`` replaced by the architecture the preset builds (read by
        keras-hub without loading weights), so that a fresh model of the same shape, layer
        names included, is built without the checkpoint directory; unchanged without a preset."""
        if not opts.get("preset"):
            return dict(opts)
        import keras_hub

        directory = resolve_checkpoint(opts["preset"], f"{field}.preset")
        check_local_checkpoint(directory, f"{field}.preset")
        config = keras_hub.models.BertBackbone.from_preset(directory, load_weights=False).get_config()
        out = {**opts, "preset": None}
        for key, option in cls.ARCHITECTURE.items():
            out[option] = config[key]
        return out

    def backbone(self):
        import keras_hub

        o = self.opts
        if o["preset"]:
            try:
                bb = keras_hub.models.BertBackbone.from_preset(resolve_checkpoint(o["preset"]))
            except Exception as e:  # keras-hub raises many types for a bad preset
                raise ConfigError(
                    "model.encoder.preset",
                    f"cannot load BERT preset {o['preset']!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                ) from e
        else:
            bb = keras_hub.models.BertBackbone(
                vocabulary_size=o["vocab_size"],
                num_layers=o["num_layers"],
                num_heads=o["num_heads"],
                hidden_dim=o["hidden_dim"],
                intermediate_dim=o["intermediate_dim"],
                dropout=o["dropout"],
                max_sequence_length=o["max_sequence_length"],
                num_segments=o["num_segments"],
            )
        bb.trainable = o["trainable"]
        return bb

    def inputs(self):
        return {
            name: keras.Input((None,), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")
        }

    def embed(self, inputs):
        self._bb = bb = self.backbone()
        tokens = bb.token_embedding(inputs["token_ids"])
        positions = bb.position_embedding(tokens)
        segments = bb.segment_embedding(inputs["segment_ids"])
        x = bb.embeddings_add((tokens, positions, segments))
        x = bb.embeddings_layer_norm(x)
        return bb.embeddings_dropout(x)

    def encode(self, x, inputs):
        bb = self._bb
        for layer in bb.transformer_layers:
            x = layer(x, padding_mask=inputs["padding_mask"])
        if self.opts["pooling"] == "cls":
            pooled = bb.pooled_dense(TokenSelect(bb.cls_token_index, name="cls_token")(x))
        else:
            pooled = MaskedGlobalPooling1D("mean", name="bert_mean_pool")([x, inputs["padding_mask"]])
        return {"pooled": pooled}
