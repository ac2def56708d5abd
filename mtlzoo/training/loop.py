"""The multi-task training step and loop, on any tf.distribute strategy.

One step (per replica, inside ``strategy.run``)::

    L_i      = sum_b w_bi l_bi / B_global          (tagging: / global count of real tokens)
    weighted, extra = weighting.combine(L, step)
    shared:  G = [d weighted_i / d theta_shared]_i  (k backward passes), all-reduced
             g = aggregator(G, step)                 (identical on every replica)
    own:     d (sum_i weighted_i + extra) / d theta_own
    optimizer.apply(...)                             (Keras sums gradients over replicas,
                                                      so the shared g is passed as g / R)

With the ``sum`` aggregator the jacobian is skipped (one backward pass). Because G is
all-reduced before the (nonlinear) aggregator, the update does not depend on the
number of replicas.

``per_task_grads="representation"`` (LibMTL's rep_grad) takes the per-task gradients
with respect to the shared representation z instead (G = [d weighted_i / d z]_i,
k backward passes through the towers only), all-gathers them over replicas along the
batch, aggregates, and backpropagates the aggregated d z through the encoder once. ``run(n)`` executes n steps inside one ``tf.function`` and returns
the mean global per-task losses and whether every step was finite.

``run(n, check=True)`` also runs the NaN guard after the n-th update, in the same compiled
function (one trace serves both): every float weight finite, and every task's per-example
loss finite on the last step's own batch (where the example is labelled), evaluated in
inference mode with the updated weights. No second input pipeline and no copy of the
weights to the host.
"""

import keras
import tensorflow as tf

from mtlzoo.models import split_variables
from mtlzoo.tasks import build_loss


def _flatten(tensors, k):
    return tf.concat([tf.reshape(t, [k, -1]) for t in tensors], axis=1)


def per_task_gradients(tape, weighted, sources, k):
    """The rows G_i = d weighted_i / d s (i = 1..k) for each source s: a list of [k, *s.shape].

    One backward pass per task on the persistent ``tape``, with the upstream gradient of
    ``weighted`` (shape [k]) set to e_i, the i-th unit vector: pass i is row i. A row with no
    path to a source is zeros. TensorFlow's vectorised jacobian (``tape.jacobian`` with pfor)
    gives the same rows; on CPU its steps measured slower at k = 2, 4 and 8 in both modes
    (docs/benchmarks.md, the aggregator table), and it takes longer to trace through a
    recurrent encoder's while loop."""
    rows = [tape.gradient(weighted, sources, output_gradients=tf.one_hot(i, k, dtype=weighted.dtype)) for i in range(k)]
    return [
        tf.stack([tf.zeros_like(s) if row[j] is None else tf.convert_to_tensor(row[j]) for row in rows])
        for j, s in enumerate(sources)
    ]


def _unflatten(vec, like):
    out, start = [], 0
    for v in like:
        n = tf.size(v) if v.shape.num_elements() is None else v.shape.num_elements()
        out.append(tf.reshape(vec[start : start + n], tf.shape(v)))
        start += n
    return out


class TrainLoop:
    """Compiled training steps for a multi-task model.

    Args:
        model: the functional multi-task model (built in ``strategy.scope()``).
        tasks: list of TaskSpec, in task_id order.
        optimizer: a Keras optimizer (a LossScaleOptimizer under mixed_float16).
        weighting: a :class:`mtlzoo.weighting.weightings.Weighting`.
        aggregator: a :class:`mtlzoo.weighting.aggregators.Aggregator`.
        strategy: the tf.distribute strategy.
        global_batch_size: examples per step over all replicas.
        jit_compile: compile the per-replica step with XLA.
        per_task_grads: ``params`` (jacobian w.r.t. the shared parameters) or
            ``representation`` (w.r.t. the shared representation; faster).
        step: the step counter variable to share with another loop (training phases).
        affinity: ``(every_steps, learning_rate)``: measure the lookahead affinity and gradient
            cosine inside the step, before every ``every_steps``-th update
            (:class:`mtlzoo.training.affinity.StepAffinity`, kept as ``self.affinity``); None: off.

    The trainable variables are collected when the loop is built: freeze layers
    (``layer.trainable = False``) before building it.
    """

    def __init__(
        self,
        model,
        tasks,
        optimizer,
        weighting,
        aggregator,
        strategy,
        global_batch_size,
        jit_compile=False,
        per_task_grads="params",
        step=None,
        affinity=None,
    ):
        self.model, self.tasks, self.optimizer = model, list(tasks), optimizer
        self.weighting, self.aggregator, self.strategy = weighting, aggregator, strategy
        self.names = [t.name for t in self.tasks]
        self.k = len(self.tasks)
        self.global_batch_size = int(global_batch_size)
        self.loss_fns = [build_loss(t, reduction=None) for t in self.tasks]
        shared, own = split_variables(model, self.names)
        self.shared = shared
        self.own = [v for vs in own.values() for v in vs] + list(weighting.trainable_variables)
        # nothing shared to aggregate (e.g. a frozen encoder): one plain backward pass
        self.plain_sum = not shared or (type(aggregator).__name__ == "Sum" and not weighting.needs_grad_norms)
        if weighting.needs_grad_norms:
            kernels = [i for i, v in enumerate(shared) if len(v.shape) >= 2]
            if not kernels:
                from mtlzoo.errors import ConfigError

                raise ConfigError("train.weighting.name", "gradnorm needs a trainable shared layer")
            self.last_shared_index = kernels[-1]  # GradNorm's W: the last shared kernel
        self.rep_grad = per_task_grads == "representation" and not self.plain_sum
        if self.rep_grad:
            from mtlzoo.models.builder import REPRESENTATION_LAYERS

            names = [n for n in REPRESENTATION_LAYERS.values() if any(layer.name == n for layer in model.layers)]
            if not names:
                from mtlzoo.errors import ConfigError

                raise ConfigError("train.per_task_grads", "this architecture has no shared representation layer")
            reps = [model.get_layer(n).output for n in names]
            self.encoder_part = keras.Model(model.input, reps)
            self.heads_part = keras.Model(reps, model.output)
        if step is None:
            with strategy.scope():
                step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.step = step
        self.affinity = None
        if affinity is not None:
            from mtlzoo.training.affinity import StepAffinity

            every, lr = affinity
            self.affinity = StepAffinity(model, self.tasks, shared, self.task_losses, lr, every, strategy)
        step_fn = tf.function(self._replica_step, jit_compile=True) if jit_compile else self._replica_step
        self._step_fn = step_fn
        # no autograph (as Keras' own train function): the loop is an explicit tf.while_loop, and
        # converting the step and every Keras layer it calls measured 2-3x longer to trace
        self._run = tf.function(tf.autograph.experimental.do_not_convert(self._run_steps), autograph=False)

    # ---- losses -------------------------------------------------------------------
    def task_losses(self, labels, preds, weights):
        """This replica's contribution to each task's global mean loss: shape [k]."""
        ctx = tf.distribute.get_replica_context()
        out = []
        for spec, fn in zip(self.tasks, self.loss_fns, strict=True):
            pred = preds[spec.name]
            y = labels[spec.name]
            w = tf.cast(weights[spec.name], tf.float32)
            per = tf.cast(fn(y, pred), tf.float32)  # [b] or [b, T] for tagging
            if spec.is_sequence:
                mask = keras.src.backend.get_keras_mask(pred)
                mask = tf.ones_like(per) if mask is None else tf.cast(mask, tf.float32)
                count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(mask))
                out.append(tf.reduce_sum(per * mask * w) / tf.maximum(count, 1.0))
            else:
                out.append(tf.reduce_sum(per * tf.reshape(w, [-1])) / self.batch_denominator(w))
        return tf.stack(out)

    def batch_denominator(self, weights):
        """B_global of the mean: the planned global batch (the fit door counts the batch given)."""
        return float(self.global_batch_size)

    # ---- one step on one replica ---------------------------------------------------
    def _replica_step(self, batch, check=None):
        """One step on this replica; returns the global per-task losses. With ``check`` (a
        bool tensor) also, after the update, whether each task's labelled losses on this batch
        are finite when it is true (all True otherwise): ``(losses, ok [k])``."""
        ctx = tf.distribute.get_replica_context()
        step = self.step.read_value() if hasattr(self.step, "read_value") else self.step
        if self.affinity is not None:  # measured at the weights before this step's update, on its batch
            measured = self.affinity.maybe_measure(batch, step)
            with tf.control_dependencies([measured]):
                batch = tf.nest.map_structure(tf.identity, batch)
        features, labels, weights = batch
        opt = self.optimizer
        scaled = isinstance(opt, keras.optimizers.LossScaleOptimizer)
        with tf.GradientTape(persistent=not self.plain_sum) as tape:
            if self.rep_grad:
                reps = tf.nest.flatten(self.encoder_part(features, training=True))
                # the towers read a stop-gradient copy, so one backward pass later serves
                # both the towers (from the loss) and the encoder (from the aggregated dz)
                cut = [tf.stop_gradient(z) for z in reps]
                for z, zc in zip(reps, cut, strict=True):
                    keras.src.backend.set_keras_mask(zc, keras.src.backend.get_keras_mask(z))
                    tape.watch(zc)
                preds = self.heads_part(cut if len(cut) > 1 else cut[0], training=True)
            else:
                preds = self.model(features, training=True)
            losses = self.task_losses(labels, preds, weights)
            weighted, extra = self.weighting.combine(losses, step)
            # extra (e.g. the uncertainty regulariser) is global: once over all replicas
            total = tf.reduce_sum(weighted) + extra / float(self.strategy.num_replicas_in_sync)
            if self.model.losses:  # layer regularisers, once over all replicas
                total += tf.add_n(self.model.losses) / float(self.strategy.num_replicas_in_sync)
            total_s = opt.scale_loss(total) if scaled else total
            weighted_s = opt.scale_loss(weighted) if scaled else weighted
        grad_norms = None
        if self.plain_sum:
            grads = tape.gradient(total_s, self.shared + self.own)
        elif self.rep_grad:
            jac = per_task_gradients(tape, weighted_s, cut, self.k)
            # float32 for the aggregators (mixed_float16 makes z and its gradients float16,
            # and e.g. aligned_mtl's eigendecomposition has no float16 kernel)
            local = tf.cast(_flatten(jac, self.k), tf.float32)  # [k, local batch * h]
            G = ctx.all_gather(local, axis=1)  # the whole global batch, replica by replica
            # all_gather under MirroredStrategy drops every static dimension; the
            # aggregators need k (the number of rows) statically
            G = tf.ensure_shape(G, [self.k, None])
            n = tf.shape(local)[1]
            g = self.aggregator(G, step)
            g_local = g[ctx.replica_id_in_sync_group * n : (ctx.replica_id_in_sync_group + 1) * n]
            if self.weighting.needs_grad_norms:
                # ||d L_i / d W|| for the last shared kernel W = ||(dz/dW)^T d L_i/dz|| per task
                W = self.shared[self.last_shared_index]
                rows = [
                    tape.gradient(
                        reps,
                        W,
                        output_gradients=[
                            tf.cast(d, z.dtype) for d, z in zip(_unflatten(local[i], reps), reps, strict=True)
                        ],
                    )
                    for i in range(self.k)
                ]
                jw = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack([tf.reshape(r, [-1]) for r in rows]))
                grad_norms = tf.norm(jw, axis=1) / tf.maximum(tf.stop_gradient(self.weighting.weights(step)), 1e-12)
            grads = tape.gradient(
                [total_s, *reps],
                self.shared + self.own,
                output_gradients=[
                    tf.ones_like(total_s),
                    *[tf.cast(d, z.dtype) for d, z in zip(_unflatten(g_local, reps), reps, strict=True)],
                ],
            )
        else:
            jac = per_task_gradients(tape, weighted_s, self.shared, self.k)
            G = ctx.all_reduce(tf.distribute.ReduceOp.SUM, _flatten(jac, self.k))
            if self.weighting.needs_grad_norms:
                jw = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reshape(jac[self.last_shared_index], [self.k, -1]))
                w_now = tf.stop_gradient(self.weighting.weights(step))
                grad_norms = tf.norm(jw, axis=1) / tf.maximum(w_now, 1e-12)  # ||d L_i / d W||
            g = self.aggregator(G, step) / float(self.strategy.num_replicas_in_sync)
            own = tape.gradient(total_s, self.own)
            grads = _unflatten(g, self.shared) + list(own)
        del tape
        variables = self.shared + self.own
        pairs = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
        opt.apply_gradients(pairs)
        global_losses = ctx.all_reduce(tf.distribute.ReduceOp.SUM, losses)
        if grad_norms is None and self.weighting.needs_grad_norms:
            grad_norms = tf.zeros([self.k])
        if grad_norms is not None and scaled:  # the jacobians were of the scaled losses
            grad_norms = grad_norms / tf.cast(opt.dynamic_scale, grad_norms.dtype)
        self.weighting.update(global_losses, step, grad_norms)
        if check is None:
            return global_losses
        with tf.control_dependencies([global_losses]):  # after the update
            ok = tf.cond(check, lambda: self._labelled_losses_finite(batch), lambda: tf.ones([self.k], tf.bool))
        return global_losses, ok

    # ---- the NaN guard after an update ----------------------------------------------
    def _labelled_losses_finite(self, batch):
        """Per task: is the per-example loss (current weights, inference mode) finite wherever
        the example is labelled (weight > 0)? Shape [k], on one replica."""
        features, labels, weights = batch
        preds = self.model(features, training=False)
        out = []
        for spec, fn in zip(self.tasks, self.loss_fns, strict=True):
            per = tf.cast(fn(labels[spec.name], preds[spec.name]), tf.float32)
            w = tf.reshape(tf.cast(weights[spec.name], tf.float32), [-1] + [1] * (per.shape.rank - 1))
            labelled = tf.broadcast_to(w > 0, tf.shape(per))
            out.append(tf.reduce_all(tf.logical_or(tf.math.is_finite(per), tf.logical_not(labelled))))
        return tf.stack(out)

    def guarded_variables(self):
        """The float weights the guard checks, in ``model.weights`` order."""
        return [v for v in self.model.weights if "float" in str(v.dtype)]

    def _run_steps(self, iterator, n, check):
        def body(i, total, present, finite, tasks_ok):
            last = tf.logical_and(check, tf.equal(i, n - 1))  # the guard after the last update only
            losses_r, ok_r = self.strategy.run(self._step_fn, args=(next(iterator), last))
            losses = self.strategy.experimental_local_results(losses_r)[0]
            ok = tf.reduce_all(tf.stack(self.strategy.experimental_local_results(ok_r)), axis=0)
            with tf.control_dependencies([losses, ok]):
                self.step.assign_add(1)
                return (
                    i + 1,
                    total + losses,
                    present + tf.cast(tf.not_equal(losses, 0.0), tf.float32),  # the task had labelled examples
                    tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(losses))),
                    tf.logical_and(tasks_ok, ok),
                )

        start = (
            tf.constant(0, tf.int64),
            tf.zeros([self.k]),
            tf.zeros([self.k]),
            tf.constant(True),
            tf.ones([self.k], tf.bool),
        )
        _, total, present, finite, tasks_ok = tf.while_loop(lambda i, *_: i < n, body, start)
        n_weights = len(self.guarded_variables())
        weights_ok = tf.cond(
            check,
            lambda: tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in self.guarded_variables()]),
            lambda: tf.ones([n_weights], tf.bool),
        )
        # a task's mean over the steps whose batch held labelled examples of it (0 when none did)
        return total / tf.maximum(present, 1.0), present, finite, weights_ok, tasks_ok

    def run(self, iterator, n, check=False):
        """Runs ``n`` steps; returns (mean per-task losses as numpy, all finite?).

        A task's mean is over the steps whose batch held labelled examples of it (with task
        mixing or sparse labels a batch may hold none: its zero loss is not averaged in); it is 0
        when no step did, and :attr:`present` holds, per task, how many steps did.

        ``check``: also the NaN guard after the last update; then returns a third item, the
        list of what is not finite (weight paths, ``"task <name>'s loss"``; empty when all is well).
        """
        losses, present, finite, weights_ok, tasks_ok = self._run(
            iterator, tf.constant(n, tf.int64), tf.constant(bool(check))
        )
        self.present = present.numpy()
        if not check:
            return losses.numpy(), bool(finite.numpy())
        bad = [v.path for v, ok in zip(self.guarded_variables(), weights_ok.numpy(), strict=True) if not ok]
        if not bad:
            bad = [f"task {name}'s loss" for name, ok in zip(self.names, tasks_ok.numpy(), strict=True) if not ok]
        return losses.numpy(), bool(finite.numpy()), bad
