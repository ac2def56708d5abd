"""``image_cnn``: a small convolutional net for images. E is the identity on the pixels."""

import keras

from mtlzoo import options
from mtlzoo.encoders.base import Encoder
from mtlzoo.errors import ConfigError


class ImageCNNEncoder(Encoder):
    """``image`` float32 ``[batch, H, W, C]`` -> pooled ``[batch, units]``.

    Each block: Conv2D(f, kernel) -> ReLU -> MaxPool(2) (while the map is at least
    2 pixels wide); then global average pooling and a Dense layer.
    """

    name = "image_cnn"
    schema = options.ENCODERS["image_cnn"]

    @classmethod
    def check(cls, opts, field):
        if opts["kernel_size"] > min(opts["input_shape"][:2]):
            raise ConfigError(f"{field}.kernel_size", "is larger than the image")

    def inputs(self):
        return {"image": keras.Input(tuple(self.opts["input_shape"]), dtype="float32", name="image")}

    def embed(self, inputs):
        return inputs["image"]

    def encode(self, x, inputs):
        o = self.opts
        size = min(o["input_shape"][:2])
        for i, f in enumerate(o["filters"]):
            x = keras.layers.Conv2D(f, o["kernel_size"], padding="same", activation="relu", name=f"conv2d_{i}")(x)
            if size >= 2:
                x = keras.layers.MaxPooling2D(2, name=f"maxpool2d_{i}")(x)
                size //= 2
        x = keras.layers.GlobalAveragePooling2D(name="global_avg_pool")(x)
        if o["dropout"]:
            x = keras.layers.Dropout(o["dropout"], name="image_dropout")(x)
        return {"pooled": keras.layers.Dense(o["units"], activation="relu", name="image_dense")(x)}
