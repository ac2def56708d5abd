"""Per-task covariance alignment (Wu, Zhang & Ré, ICLR 2020, Algorithm 1).

Each task i owns a ``d x d`` alignment matrix R_i that sits between the task's
embedding layer E and the shared module B, so the model computes
``B(E(x) R_i)`` for an example of task i. Aligning the tasks' embeddings lets
tasks whose data covariances differ (a rescaled or rotated feature space) share B
without hurting each other. R_i starts at the identity, so an untrained
alignment changes nothing.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtlzoo")
class CovarianceAlignment(keras.layers.Layer):
    """``[x, task_id]`` -> ``x R_{task_id}``: one ``d x d`` alignment matrix per task (Algorithm 1).

    Shapes:
        x: ``[batch, d]`` or ``[batch, time, d]`` (float); higher ranks (images
            ``[batch, h, w, c]``) align the last axis at every position.
        task_id: int ``[batch]`` (or ``[batch, 1]``), values in ``[0, num_tasks)``;
            example b is multiplied by ``R[task_id[b]]`` (a row vector times R, i.e. the
            paper's ``X_i R_i``). Ids outside the range are not checked inside the graph
            (TensorFlow raises on CPU but gives zeros on GPU): keep them in range.
        output: the shape of x.

    The weight ``kernel`` has shape ``[num_tasks, d, d]`` and is initialised to
    ``num_tasks`` identity matrices. A Keras mask on x (e.g. from
    ``Embedding(mask_zero=True)``) is honoured: it passes through unchanged, and
    positions it marks as padding are mapped like any other (the layer is
    position-wise, so padding never leaks into real positions).

    Args:
        num_tasks: k, the number of alignment matrices.
        identity_penalty: if > 0, adds ``identity_penalty * sum_i ||R_i - I||_F^2``
            to the model's losses (keeps the alignments near the identity; the
            regulariser of the linear study in ``mtlzoo.studies.fig3``).

    Example:
        >>> layer = CovarianceAlignment(num_tasks=3)
        >>> x = np.random.rand(4, 8).astype("float32")
        >>> y = layer([x, np.array([0, 2, 1, 0])])   # identity at init: y == x
    """

    def __init__(self, num_tasks, identity_penalty=0.0, **kwargs):
        super().__init__(**kwargs)
        num_tasks = int(num_tasks)
        if num_tasks < 1:
            raise ValueError(f"CovarianceAlignment: num_tasks must be >= 1, got {num_tasks}")
        if identity_penalty < 0:
            raise ValueError(f"CovarianceAlignment: identity_penalty must be >= 0, got {identity_penalty}")
        self.num_tasks = num_tasks
        self.identity_penalty = float(identity_penalty)
        self.supports_masking = True

    def build(self, input_shape):
        x_shape = input_shape[0]
        if len(x_shape) < 2:
            raise ValueError(f"CovarianceAlignment: x must be [batch, ..., d], got shape {x_shape}")
        d = x_shape[-1]
        if d is None:
            raise ValueError("CovarianceAlignment: the last dimension d of x must be known")
        self.dim = int(d)
        k = self.num_tasks

        def stacked_identity(shape, dtype=None):
            return ops.broadcast_to(ops.eye(shape[-1], dtype=dtype), shape)

        self.kernel = self.add_weight(name="kernel", shape=(k, self.dim, self.dim), initializer=stacked_identity)
        self.built = True

    def call(self, inputs):
        x, task_id = inputs
        task_id = ops.reshape(ops.cast(task_id, "int32"), (-1,))
        r = ops.take(self.kernel, task_id, axis=0)  # [batch, d, d]
        if len(x.shape) == 2:
            y = ops.einsum("bd,bde->be", x, r)
        elif len(x.shape) == 3:
            y = ops.einsum("btd,bde->bte", x, r)
        else:  # e.g. images [batch, h, w, c]: the channels are aligned at every position
            shape = ops.shape(x)
            y = ops.reshape(ops.einsum("btd,bde->bte", ops.reshape(x, (shape[0], -1, self.dim)), r), shape)
        if self.identity_penalty:
            eye = ops.eye(self.dim, dtype=self.kernel.dtype)
            self.add_loss(self.identity_penalty * ops.sum(ops.square(self.kernel - eye)))
        return y

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "num_tasks": self.num_tasks, "identity_penalty": self.identity_penalty}
