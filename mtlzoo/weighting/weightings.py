"""Loss weightings: per-task losses L_i -> the weighted losses the step differentiates.

Each weighting is a ``tf.Module`` (its state is checkpointed with the run) with

* ``combine(losses, step) -> (weighted [k], extra)``: the step minimises
  ``sum_i weighted_i + extra`` (and the aggregators act on the rows of
  d weighted_i / d shared);
* ``update(losses, step, grad_norms)``: state update after the step (losses are the
  global per-task losses of the step; ``grad_norms`` are ||d L_i / d W|| for the last
  shared layer W, computed only when ``needs_grad_norms``).

Weightings:

* ``ew``: w_i = 1.
* ``static``: w_i from ``weights: {task: w}`` (default 1).
* ``uncertainty`` (Kendall, Gal & Cipolla 2018, Eq. 10 in the form of LibMTL):
  L_i / (2 exp(s_i)) + s_i / 2 with trainable log-variances s_i.
* ``dwa`` (Liu, Johns & Davison 2019, Eq. 7): w_i = k exp(r_i / T) / sum_j exp(r_j / T),
  r_i = Lbar_i(e-1) / Lbar_i(e-2) from the mean losses of the last two epochs; 1 for
  the first two epochs.
* ``rlw`` (Lin et al. 2022, random loss weighting): w = softmax(z), z ~ N(0, I) drawn
  anew each step from (seed, step).
* ``svd`` (Wu, Zhang & Ré 2020, Algorithm 2): alpha from the SVD of the task vectors
  X^T y_i, recomputed at a cadence; held by the model's ``task_weights`` layer.
* ``gradnorm`` (Chen et al. 2018, Eq. 1-2): weights w_i (sum k) moved by lr down the
  gradient of sum_i |G_i - Gbar r_i^alpha|, G_i = w_i ||d L_i / d W||, r_i =
  (L_i / L_i(0)) / mean_j(L_j / L_j(0)); that gradient is sign(G_i - target_i)
  ||d L_i / d W|| with the target held constant, as in the paper.
"""

import tensorflow as tf

from mtlzoo import options
from mtlzoo.errors import ConfigError
from mtlzoo.registry import Registry
from mtlzoo.schema import check_fields

WEIGHTINGS = Registry("weighting")


def _state(value, name, dtype=None):
    """A non-trainable state variable; every replica computes the same update."""
    return tf.Variable(
        value, dtype=dtype, trainable=False, name=name, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA
    )


class Weighting(tf.Module):
    schema = {}
    needs_grad_norms = False

    def __init__(self, task_names, opts=None, seed=0, steps_per_epoch=1):
        super().__init__(name=type(self).__name__.lower())
        self.task_names = list(task_names)
        self.k = len(self.task_names)
        self.opts = {key: f.default for key, f in self.schema.items()} | dict(opts or {})
        self.seed = int(seed)
        self.steps_per_epoch = int(steps_per_epoch)

    def weights(self, step):
        """Current weights w (used by ``combine`` and reported)."""
        return tf.ones([self.k])

    def combine(self, losses, step):
        return tf.stop_gradient(self.weights(step)) * losses, tf.constant(0.0)

    def update(self, losses, step, grad_norms=None):
        return tf.no_op()


@WEIGHTINGS.register("ew")
class EqualWeighting(Weighting):
    pass


@WEIGHTINGS.register("static")
class StaticWeighting(Weighting):
    schema = options.WEIGHTINGS["static"]

    def __init__(self, task_names, opts=None, **kw):
        super().__init__(task_names, opts, **kw)
        given = dict(self.opts["weights"])
        for t in given:
            if t not in self.task_names:
                raise ConfigError(f"train.weighting.weights.{t}", f"no task named {t!r}")
        self._w = tf.constant([float(given.get(t, 1.0)) for t in self.task_names])

    def weights(self, step):
        return self._w


@WEIGHTINGS.register("uncertainty")
class UncertaintyWeighting(Weighting):
    def __init__(self, task_names, opts=None, **kw):
        super().__init__(task_names, opts, **kw)
        self.log_vars = tf.Variable(tf.zeros([self.k]), trainable=True, name="log_vars")

    def weights(self, step):
        return 0.5 * tf.exp(-self.log_vars)

    def combine(self, losses, step):
        return 0.5 * tf.exp(-self.log_vars) * losses, 0.5 * tf.reduce_sum(self.log_vars)


@WEIGHTINGS.register("dwa")
class DWAWeighting(Weighting):
    schema = options.WEIGHTINGS["dwa"]

    def __init__(self, task_names, opts=None, **kw):
        super().__init__(task_names, opts, **kw)
        z = tf.zeros([self.k])
        self.epoch_sum = _state(z, "epoch_sum")
        self.prev1 = _state(z, "prev1")
        self.prev2 = _state(z, "prev2")
        self.epochs = _state(0, "epochs", tf.int64)

    def weights(self, step):
        r = self.prev1 / tf.maximum(self.prev2, 1e-12)
        w = self.k * tf.nn.softmax(r / self.opts["temperature"])
        return tf.where(self.epochs >= 2, w, tf.ones([self.k]))

    def update(self, losses, step, grad_norms=None):
        self.epoch_sum.assign_add(losses)
        end = tf.equal((step + 1) % self.steps_per_epoch, 0)
        mean = self.epoch_sum / float(self.steps_per_epoch)
        self.prev2.assign(tf.where(end, self.prev1, self.prev2))
        self.prev1.assign(tf.where(end, mean, self.prev1))
        self.epoch_sum.assign(tf.where(end, tf.zeros_like(mean), self.epoch_sum))
        return self.epochs.assign_add(tf.cast(end, tf.int64))


@WEIGHTINGS.register("rlw")
class RandomLossWeighting(Weighting):
    def weights(self, step):
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        return tf.nn.softmax(tf.random.stateless_normal([self.k], seed=seed))


@WEIGHTINGS.register("gradnorm")
class GradNormWeighting(Weighting):
    schema = options.WEIGHTINGS["gradnorm"]
    needs_grad_norms = True

    def __init__(self, task_names, opts=None, **kw):
        super().__init__(task_names, opts, **kw)
        self.w = _state(tf.ones([self.k]), "task_weights")
        self.initial = _state(tf.zeros([self.k]), "initial_losses")
        self.started = _state(False, "started")

    def weights(self, step):
        return self.w

    def update(self, losses, step, grad_norms=None):
        initial = tf.where(self.started, self.initial, losses)
        self.initial.assign(initial)
        self.started.assign(True)
        G = self.w * grad_norms
        ratio = losses / tf.maximum(initial, 1e-12)
        r = ratio / tf.reduce_mean(ratio)
        target = tf.stop_gradient(tf.reduce_mean(G) * r ** self.opts["alpha"])
        grad = tf.sign(G - target) * grad_norms
        w = tf.maximum(self.w - self.opts["lr"] * grad, 1e-6)
        return self.w.assign(w * self.k / tf.reduce_sum(w))


@WEIGHTINGS.register("svd")
class SVDWeighting(Weighting):
    """SVD task reweighting (Wu, Zhang & Ré 2020, Algorithm 2) with alpha held by the model.

    Every ``every_steps`` steps (default: every epoch, and once before training) the
    trainer calls :meth:`recompute`: X is the shared pooled representation of up to
    ``max_examples`` training examples (a fixed seeded subset), theta_i = X^T y_i over
    the examples labelled for task i, alpha_i = ||U_r^T theta_i|| from the rank-``rank``
    SVD of [theta_1 .. theta_k], normalised to average 1
    (:func:`mtlzoo.analysis.svd_reweighting.svd_task_weights`; multiclass labels are
    one-hot, so theta_i is d x C and its Frobenius norm is used).

    ``center: true`` (default false, Algorithm 2 as written) centres each task's labels over
    its labelled examples among those used: theta_i = X^T diag(w_i) (y_i - mean y_i), the
    mean weighted by w_i (one-hot multiclass columns likewise). With 0/1 labels on a
    non-negative (ReLU) representation the uncentred theta_i mostly counts positives.
    ``normalize: true`` (default false) divides each label column by its standard deviation.
    """

    schema = options.WEIGHTINGS["svd"]

    def attach(self, model):
        self.alpha = model.get_layer("task_weights").alpha

    def weights(self, step):
        return tf.cast(self.alpha, tf.float32)

    def recompute(self, model, split, tasks, seed):
        import keras
        import numpy as np

        from mtlzoo.analysis.svd_reweighting import svd_task_weights

        n = len(split)
        rows = np.sort(np.random.default_rng([seed, 0x5D]).permutation(n)[: self.opts["max_examples"]])
        names = list(model.input.keys()) if isinstance(model.input, dict) else [model.input.name]
        rep_model = getattr(model, "_mtlzoo_rep_model", None)
        if rep_model is None:
            # X = the pooled representation below the towers (and below the experts or columns of
            # the soft-sharing architectures): the TaskWeights layer is the identity on it
            rep_model = model._mtlzoo_rep_model = keras.Model(model.input, model.get_layer("task_weights").output)
        x = rep_model.predict({k: split.features[k][rows] for k in names}, batch_size=256, verbose=0)
        labels = [np.asarray(split.labels[t.name])[rows] for t in tasks]
        weights = [np.asarray(split.weights[t.name])[rows] for t in tasks]
        classes = [t.num_classes if t.kind == "multiclass" else None for t in tasks]
        alpha = svd_task_weights(
            np.asarray(x, np.float64),
            labels,
            self.opts["rank"],
            weights=weights,
            num_classes=classes,
            center=self.opts["center"],
            normalize=self.opts["normalize"],
        )
        self.alpha.assign(np.asarray(alpha, np.float32))
        return alpha


def build_weighting(cfg, task_names, seed=0, steps_per_epoch=1, field="train.weighting"):
    """``cfg`` = ``{"name": ..., **options}`` -> a Weighting (options validated)."""
    cfg = dict(cfg or {"name": "ew"})
    if "name" not in cfg:
        raise ConfigError(f"{field}.name", "missing required field")
    cls = WEIGHTINGS.get(cfg.pop("name"), f"{field}.name")
    return cls(task_names, check_fields(cfg, cls.schema, field), seed=seed, steps_per_epoch=steps_per_epoch)
