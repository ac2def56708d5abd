"""``mlp``: dense features -> stack of Dense layers. E is the identity on the features."""

import keras

from mtlzoo import options
from mtlzoo.encoders.base import Encoder


class MLPEncoder(Encoder):
    """Input ``features`` float32 ``[batch, input_dim]`` -> pooled ``[batch, units[-1]]``.

    Options: ``input_dim`` (required), ``units`` (hidden sizes), ``activation``,
    ``dropout``, ``batch_norm``.
    """

    name = "mlp"
    schema = options.ENCODERS["mlp"]

    def inputs(self):
        return {"features": keras.Input((self.opts["input_dim"],), dtype="float32", name="features")}

    def embed(self, inputs):
        return inputs["features"]

    def encode(self, x, inputs):
        o = self.opts
        for i, units in enumerate(o["units"]):
            x = keras.layers.Dense(units, name=f"mlp_dense_{i}")(x)
            if o["batch_norm"]:
                x = keras.layers.BatchNormalization(name=f"mlp_bn_{i}")(x)
            x = keras.layers.Activation(o["activation"], name=f"mlp_act_{i}")(x)
            if o["dropout"]:
                x = keras.layers.Dropout(o["dropout"], name=f"mlp_dropout_{i}")(x)
        return {"pooled": x}
