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

:class:`AffinityTracker` averages both matrices over training at a cadence: a Keras callback for
``model.fit`` (it measures before every ``every_steps``-th step, on the batch ``batch_fn(step)``
gives), or, from an own loop, ``tracker.update(batch)``.

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
        task losses; NaN for a task without examples in the batch. The weights are left unchanged.
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
