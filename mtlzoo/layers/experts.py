"""Layers of the soft-sharing architectures: softmax gates, expert mixtures, cross-stitch units.

* :class:`MixtureGate` - a task's gate of MMoE (Ma et al. 2018, eq. 5) and CGC/PLE
  (Tang et al. 2020, eq. 2): ``g(x) = softmax(W_g x + b_g)`` over ``n`` experts.
* :class:`ExpertMixture` - the gated sum ``f(x) = sum_j g_j(x) f_j(x)`` (MMoE eq. 4, PLE eq. 1).
* :class:`CrossStitch` - a cross-stitch unit (Misra et al. 2016, eq. 1) generalised to
  ``k`` tasks: ``y_i = sum_j alpha_ij x_j``.

All use keras.ops only and are serializable under the package ``mtlzoo``.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtlzoo")
class MixtureGate(keras.layers.Layer):
    """Softmax gate over experts: ``[batch, d] -> [batch, num_experts]``, rows sum to 1.

    ``g(x) = softmax(x W + b)`` with ``W`` ``[d, num_experts]`` (MMoE, Ma et al. 2018,
    eq. 5; the gates of CGC/PLE, Tang et al. 2020, eq. 2). ``expert_names`` (optional)
    records which expert each column weighs, for :func:`mtlzoo.models.soft_sharing.gate_statistics`.

    Example:
        >>> gate = MixtureGate(3)
        >>> g = gate(np.ones((2, 5), "float32"))   # shape (2, 3), each row sums to 1
    """

    def __init__(self, num_experts, expert_names=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.num_experts = int(num_experts)
        self.expert_names = list(expert_names) if expert_names is not None else None
        if self.expert_names is not None and len(self.expert_names) != self.num_experts:
            raise ValueError(f"expert_names has {len(self.expert_names)} names for {self.num_experts} experts")
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(d, self.num_experts), initializer="glorot_uniform")
        self.bias = (
            self.add_weight(name="bias", shape=(self.num_experts,), initializer="zeros") if self.use_bias else None
        )
        self.built = True

    def call(self, x):
        logits = ops.matmul(x, self.kernel)
        if self.bias is not None:
            logits = logits + self.bias
        return ops.softmax(logits, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.num_experts)

    def get_config(self):
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "expert_names": self.expert_names,
            "use_bias": self.use_bias,
        }


@keras.saving.register_keras_serializable(package="mtlzoo")
class ExpertMixture(keras.layers.Layer):
    """Gated sum of experts: inputs ``[gate [batch, n], e_1, ..., e_n]`` (each ``[batch, h]``)
    -> ``sum_j gate[:, j] * e_j`` ``[batch, h]`` (MMoE eq. 4; PLE eq. 1). No weights.

    Example:
        >>> y = ExpertMixture()([g, e1, e2, e3])   # g from a MixtureGate(3)
    """

    def call(self, inputs):
        gate, experts = inputs[0], inputs[1:]
        stacked = ops.stack(list(experts), axis=1)  # [batch, n, h]
        gate = ops.cast(gate, stacked.dtype)
        return ops.einsum("bn,bnh->bh", gate, stacked)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])


@keras.saving.register_keras_serializable(package="mtlzoo")
class CrossStitch(keras.layers.Layer):
    """Cross-stitch unit for ``k`` task columns: ``[x_1, ..., x_k] -> [y_1, ..., y_k]``,
    ``y_i = sum_j alpha_ij x_j`` with a learned ``alpha`` ``[k, k]`` (Misra et al. 2016,
    eq. 1, which is the case k = 2; one alpha per task pair per layer, as in the paper).

    ``alpha`` starts at ``alpha_self`` on the diagonal and ``(1 - alpha_self) / (k - 1)``
    off it; ``alpha_self = 1`` (the default) is the identity, i.e. independent columns;
    the paper's best initialisation is ``alpha_self = 0.9``. ``task_names`` (optional)
    names the rows/columns for :func:`mtlzoo.models.soft_sharing.cross_stitch_matrices`.

    Example:
        >>> ya, yb = CrossStitch(2, alpha_self=0.9)([xa, xb])   # ya = 0.9 xa + 0.1 xb
    """

    def __init__(self, num_tasks, alpha_self=1.0, task_names=None, **kwargs):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.alpha_self = float(alpha_self)
        self.task_names = list(task_names) if task_names is not None else None

    def initial_alpha(self):
        k = self.num_tasks
        off = (1.0 - self.alpha_self) / (k - 1) if k > 1 else 0.0
        return [[self.alpha_self if i == j else off for j in range(k)] for i in range(k)]

    def build(self, input_shape):
        init = self.initial_alpha()
        self.alpha = self.add_weight(
            name="alpha",
            shape=(self.num_tasks, self.num_tasks),
            initializer=lambda shape, dtype=None: ops.convert_to_tensor(init, dtype=dtype or "float32"),
        )
        self.built = True

    def call(self, inputs):
        if len(inputs) != self.num_tasks:
            raise ValueError(f"CrossStitch expects {self.num_tasks} inputs, got {len(inputs)}")
        stacked = ops.stack(list(inputs), axis=0)  # [k, batch, ...]
        alpha = ops.cast(self.alpha, stacked.dtype)
        mixed = ops.tensordot(alpha, stacked, axes=[[1], [0]])  # [k, batch, ...]
        return [mixed[i] for i in range(self.num_tasks)]

    def compute_output_shape(self, input_shape):
        return [tuple(s) for s in input_shape]

    def get_config(self):
        return {
            **super().get_config(),
            "num_tasks": self.num_tasks,
            "alpha_self": self.alpha_self,
            "task_names": self.task_names,
        }
