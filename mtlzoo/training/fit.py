"""The fit door: ``train()``'s multi-task step as the ``train_step`` of ``model.fit``.

:func:`use_fit_step` gives a compiled functional model a ``train_step`` that runs
:class:`mtlzoo.training.loop.TrainLoop`'s own per-replica step (per-task losses
L_i = sum_b w_bi l_bi / B_global, the weighting, the per-task jacobian, the aggregator,
the optimizer update and the weighting's state update), so ``model.fit(...)`` with any
Keras callback trains every weighting and gradient aggregator, on one device or under
``MirroredStrategy`` (Keras runs the step inside ``strategy.run``, as ``train()`` does).
:func:`mtlzoo.training.compile_model` calls it whenever the config names a weighting
other than ``ew`` or an aggregator other than ``sum``.

Differences from ``train()``'s door, all deliberate:

* B_global is the number of examples of the batch Keras hands over (summed over
  replicas), not the planned batch size, so a short last batch is a true mean; on full
  batches both doors divide by the same number and give the same weights.
* the step counter that seeds ``rlw`` and ``pcgrad`` starts at 0 with each
  ``use_fit_step`` and is not saved by Keras' ModelCheckpoint (exact resume is ``train()``'s).
* ``svd`` recomputes its task weights from the training split, which ``model.fit`` never
  sees: ``compile_model(..., svd_split=data.split("train"))`` hands it over, and the model's
  ``fit`` then runs :class:`SVDRecompute` before every ``every_steps``-th step (default: each
  epoch), as ``train()`` does. The two-phase ``fixed_encoder`` alignment stays with ``train()``.

The training logs are the running means over the epoch of every task's loss
(``<task>_loss``) and their sum (``loss``); validation uses the compiled per-task losses
and metrics (``val_<task>_<metric>``), as plain ``fit`` does.
"""

import keras
import tensorflow as tf

from mtlzoo.errors import ConfigError
from mtlzoo.training.loop import TrainLoop

DEFAULT_WEIGHTING, DEFAULT_AGGREGATOR = "ew", "sum"


class FitLoop(TrainLoop):
    """A TrainLoop whose mean over examples counts the batch it is given (all replicas)."""

    def batch_denominator(self, weights):
        ctx = tf.distribute.get_replica_context()
        local = tf.cast(tf.shape(weights)[0], tf.float32)
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, local)


def check_train_keys(train_cfg, allowed, field="train"):
    """Raises ConfigError naming the first key of ``train_cfg`` not in ``allowed``."""
    keys = list(train_cfg.keys())
    for key in keys:
        if key not in allowed:
            raise ConfigError(f"{field}.{key}", f"unknown field; known fields: {', '.join(sorted(allowed))}")


def needs_fit_step(train_cfg):
    """True when the config names a weighting or an aggregator that plain ``fit`` lacks, or asks for
    the in-step affinity measurement (``train.affinity``)."""
    w = dict(train_cfg.get("weighting") or {}).get("name", DEFAULT_WEIGHTING)
    a = dict(train_cfg.get("aggregator") or {}).get("name", DEFAULT_AGGREGATOR)
    from mtlzoo.config import optional_section

    return w != DEFAULT_WEIGHTING or a != DEFAULT_AGGREGATOR or optional_section(train_cfg.get("affinity")) is not None


def _sample_weights(tasks, labels, sw):
    """Per-task example weights shaped as ``train()``'s batches have them ([b], tagging [b, 1])."""
    sw = sw if isinstance(sw, dict) else {}
    out = {}
    for t in tasks:
        y = labels[t.name]
        w = sw.get(t.name)
        w = tf.ones(tf.shape(y)[:1], tf.float32) if w is None else tf.cast(w, tf.float32)
        w = tf.reshape(w, [-1, 1]) if t.is_sequence else tf.reshape(w, [-1])
        out[t.name] = w
    return out


class SVDRecompute(keras.callbacks.Callback):
    """Recomputes the ``svd`` weighting's task weights (Algorithm 2 on the training split,
    :meth:`mtlzoo.weighting.weightings.SVD.recompute`) before every ``every``-th step of the
    fit door, counted by its step variable, as ``train()``'s loop does."""

    def __init__(self, weighting, target, split, tasks, step, every, seed):
        super().__init__()
        self.weighting, self.target, self.split, self.tasks = weighting, target, split, tasks
        self.step, self.every, self.seed = step, every, seed

    def on_train_batch_begin(self, batch, logs=None):
        if int(self.step.numpy()) % self.every == 0:
            self.weighting.recompute(self.target, self.split, self.tasks, self.seed)


def use_fit_step(model, tasks, train_cfg, steps_per_epoch=None, seed=0, svd_split=None):
    """Replaces ``model.train_step`` by the multi-task step of ``train()`` (see the module).

    Args:
        model: a functional multi-task model compiled with its optimizer (``compile_model``),
            built in the strategy scope it will be fitted under.
        tasks: list of TaskSpec, in task_id order.
        train_cfg: the ``train`` section (``weighting``, ``aggregator``, ``per_task_grads``,
            ``jit_compile``, ``affinity`` are read; with ``affinity`` the loop's ``affinity``
            (:class:`mtlzoo.training.affinity.StepAffinity`) holds the measured means).
        steps_per_epoch: the batches per epoch (``dwa`` compares epoch-mean losses; required there).
        seed: the run's seed (``rlw`` and ``pcgrad`` draw from (seed, step)).
        svd_split: the training split (``data.split("train")``), needed by the ``svd`` weighting.

    Returns:
        the :class:`FitLoop` (its ``weighting``, ``aggregator`` and ``step``).
    """
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting

    wcfg = dict(train_cfg.get("weighting") or {"name": DEFAULT_WEIGHTING})
    acfg = dict(train_cfg.get("aggregator") or {"name": DEFAULT_AGGREGATOR})
    svd = wcfg.get("name") == "svd"
    if svd and svd_split is None:
        raise ConfigError(
            "train.weighting.name",
            "svd re-weights from the training split: compile_model(..., svd_split=data.split('train'))",
        )
    if svd and not (wcfg.get("every_steps") or steps_per_epoch):
        raise ConfigError(
            "train.steps_per_epoch",
            "svd under model.fit recomputes each epoch by default: compile_model(..., steps_per_epoch=n)",
        )
    if wcfg.get("name") == "dwa" and not steps_per_epoch:
        raise ConfigError(
            "train.steps_per_epoch",
            "dwa under model.fit needs the batches per epoch: compile_model(..., steps_per_epoch=n)",
        )
    if getattr(model, "optimizer", None) is None:
        raise ValueError("use_fit_step needs a compiled model (compile_model(model, tasks, train_cfg))")
    names = [t.name for t in tasks]
    strategy = model.distribute_strategy
    with strategy.scope():
        weighting = build_weighting(wcfg, names, seed=seed, steps_per_epoch=steps_per_epoch or 1)
        only_first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="fit_step", aggregation=only_first)
        sums = tf.Variable(tf.zeros([len(tasks)]), trainable=False, name="fit_loss_sums", aggregation=only_first)
        count = tf.Variable(0.0, trainable=False, name="fit_loss_count", aggregation=only_first)
    aggregator = build_aggregator(acfg, seed=seed)
    from mtlzoo.training.affinity import step_affinity_config

    loop = FitLoop(
        model,
        tasks,
        model.optimizer,
        weighting,
        aggregator,
        strategy,
        1,  # unused: FitLoop counts each batch
        bool(train_cfg.get("jit_compile", False)),
        train_cfg.get("per_task_grads", "params"),
        step=step,
        affinity=step_affinity_config(train_cfg),
    )
    with strategy.scope():
        model.optimizer.build(loop.shared + loop.own)
    if svd:
        weighting.attach(model)
        every = wcfg.get("every_steps") or steps_per_epoch
        recompute = SVDRecompute(weighting, model, svd_split, tasks, step, every, seed)
        plain_fit = model.fit

        def fit(*args, callbacks=None, **kwargs):  # the recompute runs before the user's callbacks
            return plain_fit(*args, callbacks=[recompute, *(callbacks or [])], **kwargs)

        object.__setattr__(model, "fit", fit)

    def train_step(data):
        x, y, sw = keras.utils.unpack_x_y_sample_weight(data)
        losses = loop._replica_step((x, y, _sample_weights(tasks, y, sw)))
        step.assign_add(1)
        sums.assign_add(losses)
        count.assign_add(1.0)
        mean = sums / count
        logs = {f"{n}_loss": mean[i] for i, n in enumerate(names)}
        logs["loss"] = tf.reduce_sum(mean)
        return logs

    plain_reset = model.reset_metrics

    def reset_metrics():
        plain_reset()
        sums.assign(tf.zeros_like(sums))
        count.assign(0.0)

    plain_results = model.get_metrics_result

    def get_metrics_result():
        # the compiled metrics are built by the first validation (this step does not update
        # them); until then Keras' epoch-end lookup gets none and keeps this step's logs
        compiled = (getattr(model, "_compile_metrics", None), getattr(model, "_compile_loss", None))
        return {} if any(c is not None and not c.built for c in compiled) else plain_results()

    # instance attributes, not tracked state: the saved model stays a plain functional model
    object.__setattr__(model, "get_metrics_result", get_metrics_result)
    object.__setattr__(model, "train_step", train_step)
    object.__setattr__(model, "reset_metrics", reset_metrics)
    object.__setattr__(model, "_mtlzoo_fit_loop", loop)
    model.train_function = None
    return loop
