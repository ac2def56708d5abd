"""Task weights held by the model, so they are saved with it (SVD reweighting, Algorithm 2)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtlzoo")
class TaskWeights(keras.layers.Layer):
    """Identity on its input; holds the task weights ``alpha`` ``[k]`` (non-trainable, start at 1).

    It sits on the shared representation only so that the weights live in the model's
    graph and travel with its ``.keras`` file. ``weighted_total(losses)`` is the loss
    the SVD reweighting of Wu, Zhang & Ré (2020, Algorithm 2) minimises,
    ``sum_i alpha_i L_i``; ``mtlzoo.weighting.weightings.SVDWeighting`` sets ``alpha``.

    Example:
        >>> layer = TaskWeights(3)
        >>> y = layer(np.ones((2, 4), "float32"))        # y == x
        >>> float(layer.weighted_total(np.array([1.0, 2.0, 3.0])))
        6.0
    """

    def __init__(self, num_tasks, **kwargs):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.supports_masking = True

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(self.num_tasks,), initializer="ones", trainable=False)
        self.built = True

    def call(self, x):
        return x

    def weighted_total(self, losses):
        return ops.sum(ops.cast(self.alpha, "float32") * losses)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_tasks": self.num_tasks}
