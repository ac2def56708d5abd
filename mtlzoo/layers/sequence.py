"""Small sequence layers for the encoders: padding masks, masked pooling, token pick.

All use keras.ops only and are registered serializable under the ``mtlzoo``
package, so models containing them load with ``keras.saving.load_model`` in
safe mode.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtlzoo")
class PaddingMask(keras.layers.Layer):
    """Token ids ``[batch, time]`` -> float mask ``[batch, time]``: 1 for tokens, 0 for padding.

    Example:
        >>> PaddingMask()(np.array([[5, 3, 0]])).numpy().tolist()
        [[1.0, 1.0, 0.0]]
    """

    def __init__(self, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def call(self, token_ids):
        return ops.cast(ops.not_equal(token_ids, self.pad_id), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="mtlzoo")
class ApplyMask(keras.layers.Layer):
    """``[x, mask]`` -> ``x * mask[..., None]``: zero vectors at padding positions.

    Shapes: x ``[batch, time, d]``, mask ``[batch, time]`` (0/1). Used before
    convolutions, which do not understand Keras masks, so padding acts as zero padding.
    A Keras mask arriving on ``x`` is consumed (the explicit mask replaces it).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        x, mask = inputs
        return x * ops.expand_dims(ops.cast(mask, x.dtype), -1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package="mtlzoo")
class MaskedGlobalPooling1D(keras.layers.Layer):
    """``[x, mask]`` -> pooled ``[batch, d]`` over the unmasked time steps.

    ``mode="max"``: max over t with mask_t = 1; ``mode="mean"``: sum_t mask_t x_t / sum_t mask_t.
    An all-padding row pools to zeros.
    """

    def __init__(self, mode="max", **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # consumes a Keras mask; the explicit mask is used
        if mode not in ("max", "mean"):
            raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        x, mask = inputs
        m = ops.expand_dims(ops.cast(mask, x.dtype), -1)
        count = ops.sum(m, axis=1)
        if self.mode == "mean":
            return ops.sum(x * m, axis=1) / ops.maximum(count, 1.0)
        neg = ops.convert_to_tensor(-1e4 if x.dtype == "float16" else -1e9, dtype=x.dtype)
        pooled = ops.max(ops.where(m > 0, x, neg), axis=1)
        return ops.where(count > 0, pooled, ops.zeros_like(pooled))

    def compute_output_shape(self, input_shape):
        shape = input_shape[0]
        return (shape[0], shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="mtlzoo")
class TokenSelect(keras.layers.Layer):
    """``[batch, time, d]`` -> ``[batch, d]``: the vector at position ``index`` (BERT's [CLS])."""

    def __init__(self, index=0, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, x):
        return x[:, self.index, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "index": self.index}
