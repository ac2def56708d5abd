"""Transfer predictors on a built Keras multi-task model: lookahead affinity and gradient cosine.

:class:`ModelAffinity` computes, on one batch ``(features, labels, sample_weights)``, the
lookahead inter-task affinity of Fifty et al. (NeurIPS 2021, Eq. 1;
:func:`mtlzoo.analysis.affinity.lookahead_affinity`) and the cosine of the tasks' gradients on
the shared parameters (:func:`mtlzoo.analysis.affinity.gradient_cosine`). The shared parameters are
the trainable variables :func:`mtlzoo.models.split_variables` does not give to a task (the
encoder, or every expert of an MMoE). Task i's loss is the trainer's,
``L_i = sum_b w_bi l_bi / B`` (tagging: over the real tokens), so ``lr * g_i`` is the step plain
SGD would take on task i alone. The forward passes run with ``training=False`` (no dropout, no
batch-norm statistics update), and the shared variables are restored bit for bit afterwards:
computing the affinity never changes the model.

:class:`StepAffinity` is the same measurement as graph code, run **inside the compiled training
step** (``train.affinity: {every_steps, learning_rate}``; both doors, ``train()`` and ``model.fit``
after :func:`mtlzoo.training.compile_model`): before every ``every_steps``-th update, on that step's
batch, one ``tf.cond`` branch computes the k losses and shared gradients, the k lookahead losses
``L(theta_s - lr g_i)`` (the model evaluated in a ``keras.StatelessScope`` that maps the shared
variables to the stepped values: no variable is written, so nothing needs restoring) and adds the
``k x k`` matrices to ``tf.Variable`` sums and counts. No value goes to the host until
:meth:`StepAffinity.result`.

:class:`ModelAffinity` (host-driven: the shared weights copied to numpy, assigned, restored) and
:class:`AffinityTracker` (a Keras callback measuring before every ``every_steps``-th step on the
batch ``batch_fn(step)`` gives, or ``tracker.update(batch)`` from an own loop) are the reference
implementation the in-step one is tested against.

Example:
    >>> probe = ModelAffinity(model, tasks)
    >>> out = probe.compute(batch, learning_rate=0.01)
    >>> out["lookahead"]      # [k, k], row = target, column = source
"""

import time

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.analysis.affinity import MatrixMean, gradient_cosine, lookahead_affinity
from mtlzoo.models import split_variables
from mtlzoo.tasks import build_loss


class ModelAffinity:
    """Lookahead affinity and gradient cosine of a multi-task Keras model on one batch.

    Args:
        model: a built functional multi-task model (outputs: dict task -> prediction).
        tasks: list of :class:`mtlzoo.tasks.TaskSpec`, in the order of the matrices' rows.
    """

    def __init__(self, model, tasks):
        self.model = model
        self.tasks = list(tasks)
        self.names = [t.name for t in self.tasks]
        missing = [n for n in self.names if n not in model.output]
        if missing:
            raise ValueError(f"the model has no output for task {missing[0]!r}")
        self.shared, _ = split_variables(model, self.names)
        if not self.shared:
            raise ValueError("the model has no trainable shared variable; there is nothing for the tasks to share")
        self.loss_fns = [build_loss(t, reduction=None) for t in self.tasks]
        self._losses = tf.function(self._task_losses, reduce_retracing=True)
        self._grads = tf.function(self._losses_and_grads, reduce_retracing=True)

    def _task_losses(self, batch):
        features, labels, weights = batch
        preds = self.model(features, training=False)
        first = tf.nest.flatten(features)[0]
        size = tf.cast(tf.shape(first)[0], tf.float32)
        out = []
        for spec, fn in zip(self.tasks, self.loss_fns, strict=True):
            pred = preds[spec.name]
            w = tf.cast(weights[spec.name], tf.float32)
            per = tf.cast(fn(labels[spec.name], pred), tf.float32)
            if spec.is_sequence:
                mask = keras.src.backend.get_keras_mask(pred)
                mask = tf.ones_like(per) if mask is None else tf.cast(mask, tf.float32)
                out.append(tf.reduce_sum(per * mask * w) / tf.maximum(tf.reduce_sum(mask), 1.0))
            else:
                out.append(tf.reduce_sum(per * tf.reshape(w, [-1])) / size)
        return tf.stack(out)

    def _losses_and_grads(self, batch):
        with tf.GradientTape(persistent=True) as tape:
            losses = self._task_losses(batch)
            per_task = tf.unstack(losses)  # sliced inside the tape, so each slice is differentiable
        grads = []
        for i in range(len(self.tasks)):  # a shared variable task i does not reach gets a zero gradient
            g = tape.gradient(per_task[i], self.shared)
            grads.append(
                [  # embeddings get IndexedSlices: made dense
                    tf.zeros(v.shape, tf.float32) if d is None else tf.convert_to_tensor(d)
                    for d, v in zip(g, self.shared, strict=True)
                ]
            )
        del tape
        return losses, grads

    def _assign(self, values):
        for v, x in zip(self.shared, values, strict=True):
            v.assign(x)

    def compute(self, batch, learning_rate):
        """``{"lookahead", "cosine", "losses"}`` on ``batch`` at the model's current weights.

        ``lookahead[j, i] = 1 - L_j(theta_s - lr g_i) / L_j(theta_s)`` (row = target j, column =
        source i), ``cosine[i, j] = cos(g_i, g_j)`` over all shared variables, ``losses`` the ``[k]``
        task losses; NaN in the row and column of a task without examples in the batch (loss 0).
        The weights are left unchanged.
        """
        snapshot = [np.array(v.numpy(), copy=True) for v in self.shared]
        seen = {}

        def task_losses(params):
            self._assign(params)
            return self._losses(batch).numpy()

        def task_gradients(params):
            self._assign(params)
            _, grads = self._grads(batch)
            seen["grads"] = [[np.asarray(g) for g in gs] for gs in grads]
            return seen["grads"]

        try:
            z = lookahead_affinity(snapshot, task_losses, task_gradients, float(learning_rate))
            self._assign(snapshot)
            base = self._losses(batch).numpy()
        finally:
            self._assign(snapshot)
        z[:, ~(np.isfinite(base) & (base != 0))] = np.nan  # a source without examples made no step
        return {"lookahead": z, "cosine": gradient_cosine(seen["grads"]), "losses": base}


class AffinityTracker(keras.callbacks.Callback):
    """Lookahead affinity and gradient cosine averaged over training, measured every ``every_steps`` steps.

    Args:
        tasks: list of TaskSpec (row order of the matrices).
        learning_rate: the lookahead step size (e.g. the run's learning rate).
        every_steps: measure before steps 0, N, 2N, ... (N >= 1).
        batch_fn: ``batch_fn(step) -> (features, labels, sample_weights)``, the batch to measure
            on at that step (for ``model.fit``, where the callback does not see the batch).
        model: the model, when used from an own loop (``model.fit`` sets it).

    ``result()`` gives the mean matrices, the number of measurements and the seconds they took.
    """

    def __init__(self, tasks, learning_rate, every_steps=10, batch_fn=None, model=None):
        super().__init__()
        if not isinstance(every_steps, int) or isinstance(every_steps, bool) or every_steps < 1:
            raise ValueError(f"every_steps must be a positive integer, got {every_steps!r}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
        self.tasks = list(tasks)
        self.learning_rate = float(learning_rate)
        self.every_steps = every_steps
        self.batch_fn = batch_fn
        self.step = 0
        self.seconds = 0.0
        self.steps_measured = []
        self.means = {"lookahead": MatrixMean(), "cosine": MatrixMean()}
        self._probe = None
        if model is not None:
            self.set_model(model)

    def update(self, batch):
        """Measures on ``batch`` at the model's current weights and adds to the running means."""
        start = time.perf_counter()
        if self._probe is None or self._probe.model is not self.model:
            self._probe = ModelAffinity(self.model, self.tasks)
        out = self._probe.compute(batch, self.learning_rate)
        for key, acc in self.means.items():
            acc.add(out[key])
        self.steps_measured.append(self.step)
        self.seconds += time.perf_counter() - start
        return out

    def on_train_batch_begin(self, batch, logs=None):
        if self.step % self.every_steps == 0 and self.batch_fn is not None:
            self.update(self.batch_fn(self.step))
        self.step += 1

    def result(self):
        """``{"lookahead": [k, k], "cosine": [k, k], "measurements": n, "seconds": s, "steps": [...]}``."""
        if not self.steps_measured:
            raise ValueError("no measurement was made (train for at least one step, or call update)")
        return {
            "lookahead": self.means["lookahead"].mean(),
            "cosine": self.means["cosine"].mean(),
            "measurements": len(self.steps_measured),
            "seconds": self.seconds,
            "steps": list(self.steps_measured),
        }


AFFINITY_FIELDS = ("every_steps", "learning_rate")


class StepAffinity:
    """Lookahead affinity and gradient cosine measured inside the compiled training step.

    Graph code only (no numpy, no host round trip): :meth:`maybe_measure` is called by
    :class:`mtlzoo.training.loop.TrainLoop` at the start of its per-replica step, before the update::

        if step % every_steps == 0:                       (tf.cond)
            L = [L_j(theta_s)]_j,  g_i = d L_i / d theta_s  (one forward, k backward passes,
                                                           training=False)
            for each source i:  L'_i = [L_j(theta_s - lr g_i)]_j  (the shared variables mapped
                                                           to the stepped values by a
                                                           keras.StatelessScope; none written)
            Z[j, i] = 1 - L'_i[j] / L[j]                  (Fifty et al. 2021, Eq. 1)
            C[i, j] = <g_i, g_j> / (||g_i|| ||g_j||)
            sums += Z, C where finite;  counts += 1 there

    A task without labelled examples in the batch (``L_i = 0``) leaves its row and column of
    ``Z`` (and of ``C``: zero gradient) out of that measurement. One replica only: under
    ``MirroredStrategy`` the all-reduce of the gradients inside the step's ``tf.cond`` is refused by
    TensorFlow (a ``merge_call`` in a conditional branch), so a strategy with more than one replica is
    a ConfigError (the host-driven :class:`AffinityTracker` works there).

    Args:
        model: the functional multi-task model.
        tasks: list of TaskSpec (row order).
        shared: the shared trainable variables (the loop's ``shared``).
        task_losses: ``task_losses(labels, preds, weights) -> [k]``, this replica's share of each
            task's global mean loss (the loop's own definition).
        learning_rate: the lookahead step size ``lr``.
        every_steps: measure when ``step % every_steps == 0``.
        strategy: the strategy whose scope holds the accumulators (None: the current one).
    """

    def __init__(self, model, tasks, shared, task_losses, learning_rate, every_steps, strategy=None):
        if not isinstance(every_steps, int) or isinstance(every_steps, bool) or every_steps < 1:
            raise ValueError(f"train.affinity.every_steps must be a positive integer, got {every_steps!r}")
        if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
            raise ValueError(f"train.affinity.learning_rate must be a positive number, got {learning_rate!r}")
        if not shared:
            raise ValueError("train.affinity: the model has no trainable shared variable to measure on")
        self.model, self.tasks, self.shared = model, list(tasks), list(shared)
        self.k = len(self.tasks)
        self.task_losses = task_losses
        self.learning_rate = float(learning_rate)
        self.every_steps = int(every_steps)
        strategy = strategy or tf.distribute.get_strategy()
        if strategy.num_replicas_in_sync > 1:
            from mtlzoo.errors import ConfigError

            # measured: MirroredStrategy refuses the all-reduce (a merge_call) inside the step's tf.cond
            raise ConfigError(
                "train.affinity",
                f"is measured inside the step on one replica only (this strategy has {strategy.num_replicas_in_sync}); "
                "train on one device, or measure with mtlzoo.training.affinity.AffinityTracker",
            )
        k = self.k
        only_first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        with strategy.scope():

            def var(name, shape, dtype):
                return tf.Variable(
                    tf.zeros(shape, dtype), trainable=False, name=f"affinity_{name}", aggregation=only_first
                )

            self.sums = {
                "lookahead": var("lookahead_sum", [k, k], tf.float64),
                "cosine": var("cosine_sum", [k, k], tf.float64),
            }
            self.counts = {
                "lookahead": var("lookahead_count", [k, k], tf.int64),
                "cosine": var("cosine_count", [k, k], tf.int64),
            }
            self.measurements = var("measurements", [], tf.int64)
        self._standalone = None
        self.keep_functional = True

    def checkpoint(self):
        """A ``tf.train.Checkpoint`` of the accumulators (the trainer saves it, so a resumed run's means are whole)."""
        return tf.train.Checkpoint(
            measurements=self.measurements,
            **{f"{key}_sum": v for key, v in self.sums.items()},
            **{f"{key}_count": v for key, v in self.counts.items()},
        )

    def reset(self):
        for v in [*self.sums.values(), *self.counts.values(), self.measurements]:
            v.assign(tf.zeros_like(v))

    # ---- graph code ------------------------------------------------------------------
    def _losses_at(self, batch, values):
        """This replica's share of the k task losses with the shared variables read as ``values``."""
        features, labels, weights = batch
        with keras.StatelessScope(state_mapping=list(zip(self.shared, values, strict=True))):
            preds = self.model(features, training=False)
        return self.task_losses(labels, preds, weights)

    def measure(self, batch):
        """``(Z [k, k], C [k, k], L [k])`` (float64, float64, float32) on ``batch`` at the current weights."""
        ctx = tf.distribute.get_replica_context()
        theta = [tf.convert_to_tensor(v.value) for v in self.shared]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(theta)
            local = self._losses_at(batch, theta)
            per_task = tf.unstack(local)
        grads = []
        for i in range(self.k):  # a shared variable task i does not reach gets a zero gradient
            g = tape.gradient(per_task[i], theta)
            grads.append(
                [
                    tf.zeros_like(t) if d is None else tf.cast(tf.convert_to_tensor(d), t.dtype)
                    for d, t in zip(g, theta, strict=True)
                ]
            )
        del tape
        base = ctx.all_reduce(tf.distribute.ReduceOp.SUM, local)
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)  # the global gradients, per variable
        look = []
        for i in range(self.k):
            stepped = [t - tf.cast(self.learning_rate, t.dtype) * g for t, g in zip(theta, grads[i], strict=True)]
            look.append(self._losses_at(batch, stepped))
        look = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack(look))  # [source i, target j]
        G = tf.stack([tf.concat([tf.reshape(tf.cast(g, tf.float64), [-1]) for g in gs], axis=0) for gs in grads])
        b64, l64 = tf.cast(base, tf.float64), tf.cast(look, tf.float64)
        present = tf.logical_and(tf.math.is_finite(b64), tf.not_equal(b64, 0.0))
        nan = tf.constant(np.nan, tf.float64)
        z = 1.0 - tf.transpose(l64) / tf.where(present, b64, 1.0)[:, None]  # [target j, source i]
        both = tf.logical_and(present[:, None], present[None, :])
        z = tf.where(both, z, nan)
        norms = tf.norm(G, axis=1)
        nonzero = norms > 0
        safe = tf.where(nonzero, norms, 1.0)
        c = tf.clip_by_value(tf.matmul(G, G, transpose_b=True) / (safe[:, None] * safe[None, :]), -1.0, 1.0)
        c = tf.where(tf.logical_and(nonzero[:, None], nonzero[None, :]), c, nan)
        return z, c, base

    def add(self, z, c):
        """Adds one measurement to the running sums (finite entries only)."""
        ops = []
        for key, m in (("lookahead", z), ("cosine", c)):
            ok = tf.math.is_finite(m)
            ops.append(self.sums[key].assign_add(tf.where(ok, m, tf.zeros_like(m))))
            ops.append(self.counts[key].assign_add(tf.cast(ok, tf.int64)))
        ops.append(self.measurements.assign_add(1))
        return ops

    def maybe_measure(self, batch, step):
        """In the step: measure and add when ``step % every_steps == 0``; returns a bool token to
        order the training step after it (``tf.control_dependencies``)."""

        def measure_and_add():
            z, c, _ = self.measure(batch)
            with tf.control_dependencies(self.add(z, c)):
                return tf.constant(True)

        out = tf.cond(
            tf.equal(tf.math.floormod(tf.cast(step, tf.int64), self.every_steps), 0),
            measure_and_add,
            lambda: tf.constant(False),
        )
        if self.keep_functional:
            _keep_functional(out)
        return out

    # ---- host side -----------------------------------------------------------------
    def compute(self, batch):
        """One measurement outside training, for tests and timing: ``{"lookahead", "cosine", "losses"}``
        as numpy (the accumulators are not touched)."""
        if self._standalone is None:
            self._standalone = tf.function(self.measure, reduce_retracing=True)
        z, c, base = self._standalone(batch)
        return {"lookahead": z.numpy(), "cosine": c.numpy(), "losses": base.numpy()}

    def result(self):
        """``{"lookahead": [k, k], "cosine": [k, k], "measurements": n, "counts": {...}}``: the means
        over the measurements where each entry was finite (NaN where it never was)."""
        n = int(self.measurements.numpy())
        if n == 0:
            raise ValueError("no affinity measurement was made (train for at least one step)")
        out = {"measurements": n, "counts": {}}
        for key in ("lookahead", "cosine"):
            s, c = self.sums[key].numpy(), self.counts[key].numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                out[key] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
            out["counts"][key] = c
        return out


def _keep_functional(out):
    """Marks the ``If`` op behind ``tf.cond``'s output ``out`` not to be lowered to Switch/Merge.

    Lowered (TensorFlow's default inside a function), the branch not taken still passes a dead
    tensor through each of its ops on every step; the measurement branch has thousands of ops, and
    that measured about 0.8 ms per step on the Yeast MLP (about as long as the step itself,
    ``bench/affinity_cost.py``). Kept as a functional ``If``, the untaken branch costs nothing.
    """
    if tf.executing_eagerly():
        return
    from tensorflow.core.framework import attr_value_pb2

    op, seen = out.op, 0
    while op.type not in ("If", "StatelessIf") and op.inputs and seen < 4:
        op, seen = op.inputs[0].op, seen + 1
    if op.type in ("If", "StatelessIf"):
        op._set_attr("_lower_using_switch_merge", attr_value_pb2.AttrValue(b=False))


def step_affinity_config(train_cfg, default_learning_rate=None):
    """``(every_steps, learning_rate)`` of ``train.affinity`` (None when it is not set); the rate
    defaults to ``train.learning_rate``."""
    from mtlzoo.config import optional_section

    cfg = optional_section(train_cfg.get("affinity"))  # unset placeholders (with_defaults) = off
    if not cfg:
        return None
    lr = cfg.get("learning_rate") or default_learning_rate or train_cfg.get("learning_rate")
    return int(cfg.get("every_steps", 10)), float(lr)
