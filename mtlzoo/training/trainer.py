"""The trainer: config -> data, model, compiled multi-task steps, checkpoints, resume.

A run's workdir holds::

    config.json          resolved config (defaults filled)
    state/               tf.train checkpoints: model, optimizer, weighting state, step and
                         every RNG state (the dropout layers' seed generators)
    checkpoints/         model weights after every epoch (epoch_NNN.weights.h5)
    logs/                TensorBoard event files
    model.keras          the final model (written atomically)
    metrics.json         per-task metrics on the evaluation split

Rerunning the same command resumes from the newest checkpoint in ``state/``. The
batches of step s are a pure function of (seed, s) (:mod:`mtlzoo.data.mixing`), the
random draws of the weightings and aggregators are stateless functions of (seed, step),
and the dropout layers' seed-generator states are checkpointed (:func:`rng_state`), so a
resumed run follows the uninterrupted one exactly, dropout included. A checkpoint is listed only
once fully written (``tf.train.CheckpointManager`` updates its index atomically), a
non-finite loss stops the run before anything is saved, and so do non-finite weights or
outputs after the update (:meth:`mtlzoo.training.loop.TrainLoop.run` with ``check=True``,
run in the loop's own function before every checkpoint): the last good checkpoint stays.
"""

import dataclasses
import math
import os
import shutil
import sys

from mtlzoo.config import resolve_config, write_config
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import atomic_path, makedirs, write_json
from mtlzoo.tasks import build_loss, build_metrics, tasks_from_config


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss)."""


@dataclasses.dataclass
class TrainResult:
    model: object
    metrics: dict
    history: dict
    workdir: str
    chief: bool = True
    replicas: int = 1
    affinity: dict = None  # train.affinity's means (StepAffinity.result()), also in affinity.json


def make_optimizer(train_cfg, total_steps=None):
    """The optimizer of ``train``: its rate constant, or (``lr_schedule: linear`` and/or
    ``warmup_fraction`` > 0) linear warm-up then linear decay over ``total_steps`` optimizer
    steps (:class:`mtlzoo.training.schedules.LinearWarmupDecay`); ``clipnorm`` clips each
    gradient's norm."""
    import keras

    kw = {"learning_rate": train_cfg["learning_rate"]}
    if train_cfg.get("lr_schedule", "constant") != "constant" or train_cfg.get("warmup_fraction"):
        from mtlzoo.errors import ConfigError
        from mtlzoo.training.schedules import LinearWarmupDecay

        if not total_steps:
            raise ConfigError("train.lr_schedule", "a warm-up or decay schedule needs the number of training steps")
        warmup = int(round(train_cfg.get("warmup_fraction", 0.0) * total_steps))
        decay = train_cfg.get("lr_schedule") == "linear"
        kw["learning_rate"] = LinearWarmupDecay(train_cfg["learning_rate"], warmup, total_steps, decay)
    if train_cfg.get("clipnorm"):
        kw["clipnorm"] = train_cfg["clipnorm"]
    name = train_cfg["optimizer"]
    if name == "adamw":
        opt = keras.optimizers.AdamW(weight_decay=train_cfg["weight_decay"], **kw)
    else:
        if train_cfg["weight_decay"]:
            kw["weight_decay"] = train_cfg["weight_decay"]
        opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}[name](
            **kw
        )
    if train_cfg.get("mixed_precision") == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def compile_model(model, tasks, train_cfg, steps_per_epoch=None, seed=0, svd_split=None):
    """Compiles for ``model.fit`` / ``evaluate``: one loss and weighted metrics per task; a
    weighting or aggregator other than the default trains under ``fit`` with ``train()``'s step
    (:mod:`mtlzoo.training.fit`; ``svd_split``: the training split the ``svd`` weighting
    recomputes from). An unknown key of ``train_cfg`` is a ConfigError."""
    from mtlzoo.config import TRAIN_SCHEMA
    from mtlzoo.training.fit import check_train_keys, needs_fit_step, use_fit_step

    check_train_keys(train_cfg, TRAIN_SCHEMA)
    model.compile(
        optimizer=make_optimizer(train_cfg),
        loss={t.name: build_loss(t) for t in tasks},
        weighted_metrics={t.name: build_metrics(t) for t in tasks},
        jit_compile=False,
    )
    if needs_fit_step(train_cfg):
        use_fit_step(model, tasks, train_cfg, steps_per_epoch, seed, svd_split=svd_split)
    return model


def _evaluate_fn(model, tasks):
    """The compiled evaluation step of :func:`evaluate_model` and its metrics, kept on the model
    per task set: one ``tf.function`` call per batch does the prediction, the weighted loss
    sums and the metric updates (as Keras' ``test_step``; iterating the dataset inside one
    function measured 4x slower on CPU)."""
    import tensorflow as tf

    key = tuple(repr(t) for t in tasks)
    cached = getattr(model, "_mtlzoo_evaluate", None)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    metrics = {t.name: build_metrics(t) for t in tasks}
    loss_fns = {t.name: build_loss(t, reduction=None) for t in tasks}

    def batch_sums(features, labels, weights):
        import keras

        preds = model(features, training=False)
        sums, counts = [], []
        for t in tasks:
            p, y, w = preds[t.name], labels[t.name], tf.cast(weights[t.name], tf.float32)
            per = tf.cast(loss_fns[t.name](y, p), tf.float32)
            if t.is_sequence:
                mask = keras.src.backend.get_keras_mask(p)
                mask = tf.ones_like(per) if mask is None else tf.cast(mask, tf.float32)
                sw = mask * w
            else:
                sw = tf.reshape(w, [-1])
            sums.append(tf.reduce_sum(tf.cast(per * sw, tf.float64)))
            counts.append(tf.reduce_sum(tf.cast(sw, tf.float64)))
            for m in metrics[t.name]:
                m.update_state(y, p, sample_weight=sw)
        return tf.stack(sums), tf.stack(counts)

    # no autograph (as Keras' test step): the step has no tensor-dependent Python control flow
    fn = tf.function(tf.autograph.experimental.do_not_convert(batch_sums), reduce_retracing=True, autograph=False)
    model._mtlzoo_evaluate = (key, fn, metrics)
    return fn, metrics


def evaluate_model(model, dataset, tasks):
    """Per-task loss and metrics over a dataset of (features, labels, weights) batches.

    The loss is the weighted mean over the task's labelled examples,
    ``sum_b w_b l_b / sum_b w_b`` (tagging: over real tokens, ``sum w m l / sum w m``), so
    examples of other tasks (weight 0 = no label) do not dilute it; the metrics are the
    task's Keras metrics with the same weights. The sums are float64, accumulated on the
    device; each batch is one call of a compiled step (:func:`_evaluate_fn`).
    """
    import numpy as np
    import tensorflow as tf

    fn, metrics = _evaluate_fn(model, tasks)
    spec = getattr(dataset, "element_spec", None)
    if spec is not None:
        # one trace for every batch of the dataset: its element spec leaves the batch size
        # open, so the smaller last batch does not trace the step a second time
        fn.get_concrete_function(*spec)
    for ms in metrics.values():
        for m in ms:
            m.reset_state()
    sums = counts = tf.zeros([len(tasks)], tf.float64)
    for features, labels, weights in dataset:
        s, c = fn(features, labels, weights)
        sums, counts = sums + s, counts + c
    sums, counts = np.asarray(sums, np.float64), np.asarray(counts, np.float64)
    out = {}
    for i, t in enumerate(tasks):
        out[t.name] = {"loss": float(sums[i] / counts[i]) if counts[i] > 0 else float("nan")}
        out[t.name].update({m.name: float(np.asarray(m.result())) for m in metrics[t.name]})
    out["total_loss"] = float(sum(out[t.name]["loss"] for i, t in enumerate(tasks) if counts[i] > 0))
    return out


def format_metrics_table(metrics, title="metrics"):
    """A plain-text table, one row per task, one column per metric."""
    tasks = [t for t in metrics if isinstance(metrics[t], dict) and t != "architecture"]
    cols = sorted({c for t in tasks for c in metrics[t]}, key=lambda c: (c != "loss", c))
    width = max([len("task"), *map(len, tasks)])
    lines = [title, "  ".join(["task".ljust(width), *[c.rjust(10) for c in cols]])]
    for t in tasks:
        cells = [f"{metrics[t][c]:10.4f}" if c in metrics[t] else " " * 10 for c in cols]
        lines.append("  ".join([t.ljust(width), *cells]))
    return "\n".join(lines)


def set_alignment_phase(model, task_names, phase, train_alignment=True):
    """Trainable flags of the two phases of ``model.alignment = fixed_encoder`` (Algorithm 1).

    Phase 1 trains the multi-task model with every R_i held at the identity; phase 2
    freezes the shared encoder B (and E) and trains only the R_i and the task heads A_i
    (``train_alignment=False``, ``train.alignment_phase2 = heads``: the heads only, R_i = I,
    the control for Algorithm 1's extra head training).
    """
    from mtlzoo.models.builder import is_task_layer

    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name == "alignment":
            layer.trainable = phase == 2 and train_alignment
        elif not any(is_task_layer(layer.name, t) for t in task_names):
            layer.trainable = phase == 1


def rng_state(model):
    """Every random-number state of a model that is not a weight, in a fixed order.

    These are the states of Keras ``SeedGenerator`` s (one per ``Dropout`` and every other
    layer that draws random numbers in training): ``model.variables`` minus
    ``model.weights``. ``tf.train.Checkpoint(model=model)`` does not hold them, so a run
    restored without them would draw other dropout masks than the uninterrupted one; the
    trainer checkpoints this list beside the model. The order is the model's variable
    order, the same for the same config.
    """
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _call(callbacks, method, *args):
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None:
            fn(*args)


def check_input_shapes(config, data):
    """The encoder's fixed input sizes (``mlp``: ``input_dim``; ``image_cnn``: ``input_shape``)
    must match the data's features; ConfigError naming the field otherwise (before any training).
    Streamed sources are checked by the model's own input spec on the first batch."""
    if getattr(data, "streamed", False):
        return
    enc = config.model.encoder
    features = data.split("train").features
    checks = {"mlp": ("features", "input_dim", lambda v: (v,)), "image_cnn": ("image", "input_shape", tuple)}
    if enc.name not in checks:
        return
    name, field, expected = checks[enc.name]
    if name in features:
        got, want = tuple(features[name].shape[1:]), tuple(expected(enc[field]))
        if got != want:
            shown = got[0] if len(got) == 1 else list(got)
            raise ConfigError(
                f"model.encoder.{field}", f"is {enc[field]}, but the data's {name!r} inputs have shape {shown}"
            )


def train(config, workdir, strategy="default", callbacks=(), model_fn=None, datasets=None, overwrite=False):
    """Trains the model a config describes; resumes if ``workdir`` holds an interrupted run.

    Args:
        config: ConfigDict or mapping (see :mod:`mtlzoo.config`); validated first.
        workdir: output directory (created).
        strategy: a tf.distribute strategy name (:mod:`mtlzoo.training.strategy`) or object.
        callbacks: objects with optional ``on_epoch_begin(epoch)`` and
            ``on_epoch_end(epoch, logs)`` methods (Keras callbacks qualify).
        model_fn: builds the model from the resolved config inside the strategy scope
            (default :func:`mtlzoo.models.build_model`); fine-tuning passes one that loads
            pretrained weights and freezes layers before the variables are collected.
        datasets: ``{"train": ds, "validation": ds, ...}`` of ``tf.data.Dataset`` batches of the
            shared batch shape, used instead of the config's data source (streamed; see
            :func:`mtlzoo.data.streams.datasets_data`); the config names ``data.source: datasets``.
        overwrite: remove a previous run's outputs in ``workdir`` and start afresh.

    Returns:
        TrainResult with the trained model, per-task metrics on ``train.eval_split``
        and the per-epoch history.

    Raises:
        ConfigError: an invalid config (before any heavy work); a workdir another
            process is writing; a rerun with another config (without ``overwrite``).
        TrainingError: a non-finite loss (the last good checkpoint is kept).

    The chief holds the workdir's writer lock for the whole run, and a rerun of a workdir
    with another config is refused before anything is written unless ``overwrite``
    (:mod:`mtlzoo.training.guard`).
    """
    from mtlzoo.data.streams import datasets_data
    from mtlzoo.training.guard import WorkdirLock, check_rerun
    from mtlzoo.training.strategy import get_strategy, worker_info
    from mtlzoo.workdir import load_run_data

    config = resolve_config(config)
    strat = get_strategy(strategy) if isinstance(strategy, str) else strategy
    tasks = tasks_from_config(config.tasks)
    # the data load first: a bad file is a ConfigError before anything is written to the workdir
    # a resumed files run reuses the vocabularies its workdir saved (ids fixed if the files changed)
    data = load_run_data(config, tasks, workdir) if datasets is None else datasets_data(datasets, tasks, config)
    check_input_shapes(config, data)
    if not worker_info(strat)[0]:
        check_rerun(config, workdir)
        return _train(config, workdir, strat, callbacks, model_fn, tasks, data)
    with WorkdirLock(workdir):
        check_rerun(config, workdir, overwrite)
        return _train(config, workdir, strat, callbacks, model_fn, tasks, data)


def _train(config, workdir, strat, callbacks, model_fn, tasks, data):
    import keras
    import numpy as np
    import tensorflow as tf

    from mtlzoo.data import build_sampler
    from mtlzoo.data.mixing import BatchPlan, train_dataset
    from mtlzoo.models import build_model, save_model
    from mtlzoo.training.callbacks import ResumableEarlyStopping, SelectBest, prepare_callbacks
    from mtlzoo.training.guard import restore_newest_readable
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.training.strategy import worker_info
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting
    from mtlzoo.workdir import run_vocab, save_run_data

    chief, worker = worker_info(strat)
    tc = config.train
    names = [t.name for t in tasks]
    streamed = getattr(data, "streamed", False)  # files / tf.data sources (mtlzoo.data.streams)
    train_split = data.split("train")
    if streamed:
        data.check_training(config)
        global_batch = config.data.batch_size
    else:
        probe = BatchPlan(train_split, names, config.data.batch_size, "joint", seed=config.seed)
        global_batch = probe.global_batch_size if config.data.mixing == "joint" else config.data.batch_size
    makedirs(workdir)  # local or a tf.io.gfile URL (gs://, ram://)
    if chief:
        write_config(config, workdir)
        save_run_data(workdir, config, data)
    keras.utils.set_random_seed(config.seed)
    steps_per_epoch = tc.steps_per_epoch or max(1, math.ceil(len(train_split) / global_batch))
    phased = config.model.alignment == "fixed_encoder"
    phase1_steps = tc.epochs * steps_per_epoch
    total_steps = phase1_steps + ((tc.alignment_epochs or tc.epochs) * steps_per_epoch if phased else 0)
    plan = (
        None
        if streamed
        else BatchPlan(
            train_split,
            names,
            config.data.batch_size,
            config.data.mixing,
            build_sampler(config.data.sampler),
            config.seed,
            total_steps,
        )
    )

    previous_policy = keras.config.dtype_policy()
    if tc.mixed_precision != "none":
        keras.config.set_dtype_policy(tc.mixed_precision)
    try:
        with strat.scope():
            model = model_fn(config) if model_fn else build_model(config, vocab=run_vocab(data))
            optimizer = make_optimizer(tc, phase1_steps)
            weighting = build_weighting(dict(tc.weighting), names, seed=config.seed, steps_per_epoch=steps_per_epoch)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    svd = tc.weighting.name == "svd"
    if svd:
        weighting.attach(model)
        svd_every = tc.weighting.every_steps or steps_per_epoch
    aggregator = build_aggregator(dict(tc.aggregator), seed=config.seed)
    loop_args = (
        tasks,
        optimizer,
        weighting,
        aggregator,
        strat,
        global_batch,
        tc.jit_compile,
        tc.per_task_grads,
    )
    if phased:
        set_alignment_phase(model, names, 1)
    from mtlzoo.training.affinity import step_affinity_config

    # train.affinity: measured in phase 1's step (phase 2 of fixed_encoder trains no shared weight)
    loop = TrainLoop(model, *loop_args, affinity=step_affinity_config(tc))
    affinity = loop.affinity
    with strat.scope():
        optimizer.build(loop.shared + loop.own)
    extra = {}
    phase2_trains_r = tc.alignment_phase2 != "heads"
    if phased:  # phase 2 of Algorithm 1: B frozen, R_i and the heads train, with their own optimizer
        set_alignment_phase(model, names, 2, phase2_trains_r)
        with strat.scope():
            extra["alignment_optimizer"] = make_optimizer(tc, total_steps - phase1_steps)
        loop2 = TrainLoop(model, tasks, extra["alignment_optimizer"], *loop_args[2:], step=loop.step)
        with strat.scope():
            extra["alignment_optimizer"].build(loop2.shared + loop2.own)
        set_alignment_phase(model, names, 1)

    state_dir = os.path.join(workdir, "state" if chief else f".state_worker{worker}")
    # select: best's memory (best value, its 0-based epoch; -1 = none yet), saved with every checkpoint
    select_state = (tf.Variable(np.nan, dtype=tf.float64, trainable=False), tf.Variable(-1, dtype=tf.int64))
    # early stopping's counters (best, its epoch, epochs waited, epoch stopped at; kept whether or
    # not it is configured, so that a rerun may switch it on)
    stop_state = (
        tf.Variable(np.nan, dtype=tf.float64, trainable=False),
        *(tf.Variable(v, dtype=tf.int64, trainable=False) for v in (0, 0, -1)),
    )
    core = dict(model=model, optimizer=optimizer, weighting=weighting, step=loop.step, rng=rng_state(model), **extra)
    # callbacks' memories: restored when the checkpoint has them, left at their start otherwise
    optional = dict(
        select_best=tf.train.Checkpoint(value=select_state[0], epoch=select_state[1]),
        early_stopping=tf.train.Checkpoint(
            best=stop_state[0], best_epoch=stop_state[1], wait=stop_state[2], stopped=stop_state[3]
        ),
        **({"affinity": affinity.checkpoint()} if affinity is not None else {}),  # train.affinity's sums
    )
    ckpt = tf.train.Checkpoint(**core, **optional)
    # the newest checkpoint that restores; a corrupt newest one falls back to the one before
    manager, restored = restore_newest_readable(
        ckpt, state_dir, tc.keep_checkpoints, warn=lambda m: print(m, file=sys.stderr), core=core, optional=optional
    )
    if restored and tc.lr_schedule == "constant" and not tc.warmup_fraction:  # a schedule's rate is not settable
        optimizer.learning_rate = tc.learning_rate  # the config, not the checkpoint, sets the rate
    start = int(loop.step.numpy())

    input_names = list(model.input.keys()) if isinstance(model.input, dict) else [model.input.name]
    dist = strat.distribute_datasets_from_function(
        lambda ctx: (
            data.train_dataset(input_names, global_batch, start, total_steps, ctx)
            if streamed
            else train_dataset(train_split, plan, input_names, start, ctx)
        )
    )
    iterator = iter(dist)
    eval_ds = data.dataset(tc.eval_split, config.data.batch_size, input_names)

    verbose = tc.verbose if tc.verbose is not None else (1 if sys.stdout.isatty() else 2)
    progbar = keras.utils.Progbar(
        total_steps, verbose=1 if chief and verbose == 1 else 0, stateful_metrics=[f"{n}_loss" for n in names]
    )
    writer = tf.summary.create_file_writer(os.path.join(workdir, "logs", "train")) if chief else None
    weights_dir = os.path.join(workdir, "checkpoints")
    makedirs(weights_dir)
    history = {}
    step = start
    if verbose and chief:
        print(
            f"{type(strat).__name__} with {strat.num_replicas_in_sync} replica(s); {total_steps} steps of {global_batch} examples"
        )
        if start:
            print(f"resuming from step {start} ({restored})")
    lines = total_steps // steps_per_epoch if chief and verbose == 2 else None  # one line per epoch
    n_user = len(callbacks)
    callbacks = prepare_callbacks(callbacks, model, tc, names, lines)  # Keras callbacks get the model
    # the config's own callbacks (task averages, early stopping, select: best, epoch lines) end an
    # epoch before its checkpoint, so their state is saved with it; the user's see a saved epoch
    own, users = callbacks[: len(callbacks) - n_user], callbacks[len(callbacks) - n_user :]
    for cb in callbacks:
        if isinstance(cb, SelectBest):  # remembers the best epoch across a resume
            cb.remember(select_state, lambda e: os.path.join(weights_dir, f"epoch_{e + 1:03d}.weights.h5"))
        if isinstance(cb, ResumableEarlyStopping):  # and how long it has waited
            cb.remember(stop_state)
    _call(callbacks, "on_train_begin")
    if step < total_steps and step % steps_per_epoch == 0:
        _call(callbacks, "on_epoch_begin", step // steps_per_epoch)
    last_loss = {}  # task -> its latest mean loss over steps that held its examples
    while step < total_steps and not model.stop_training:  # (a resumed run that had decided to stop)
        if svd and step % svd_every == 0:
            alpha = weighting.recompute(model, train_split, tasks, config.seed)
            if verbose and chief:
                print(f"step {step}: SVD task weights {dict(zip(names, np.round(alpha, 3).tolist(), strict=True))}")
        if phased and step >= phase1_steps and loop is not loop2:
            set_alignment_phase(model, names, 2, phase2_trains_r)
            loop = loop2
            if verbose and chief:
                trained = "the alignments and the task heads" if phase2_trains_r else "the task heads (R_i = I)"
                print(f"step {step}: encoder frozen; training {trained}")
        boundary = (step // steps_per_epoch + 1) * steps_per_epoch
        if phased and step < phase1_steps:
            boundary = min(boundary, phase1_steps)
        if tc.checkpoint_every_steps:
            boundary = min(boundary, (step // tc.checkpoint_every_steps + 1) * tc.checkpoint_every_steps)
        if svd:
            boundary = min(boundary, (step // svd_every + 1) * svd_every)
        n = min(tc.steps_per_loop, boundary - step, total_steps - step)
        # the NaN guard runs before anything is saved (a checkpoint, or the final model)
        guarded = (step + n) % steps_per_epoch == 0 or step + n == total_steps
        guarded = guarded or bool(tc.checkpoint_every_steps and (step + n) % tc.checkpoint_every_steps == 0)
        losses, finite, *bad = loop.run(iterator, n, check=guarded)
        if not finite:
            raise TrainingError(
                f"a task loss became NaN or Inf between steps {step} and {step + n} (last losses "
                f"{dict(zip(names, np.round(losses, 4).tolist(), strict=True))}); training stopped and the last good "
                f"checkpoint ({manager.latest_checkpoint or 'none yet'}) was kept"
            )
        step += n
        # a task absent from every batch of these n steps keeps its last value (not a loss of 0)
        seen = [(t, float(v)) for t, v, p in zip(names, losses, loop.present, strict=True) if p > 0]
        last_loss.update(seen)
        progbar.update(step, [(f"{t}_loss", v) for t, v in seen])
        if writer is not None:
            with writer.as_default(step=step):
                for t, v in seen:
                    tf.summary.scalar(f"loss/{t}", v)
                for t, v in zip(names, weighting.weights(step).numpy(), strict=True):
                    tf.summary.scalar(f"task_weight/{t}", float(v))
        epoch_end = step % steps_per_epoch == 0
        saving = epoch_end or (tc.checkpoint_every_steps and step % tc.checkpoint_every_steps == 0)
        if bad and bad[0]:  # the NaN guard after the update (TrainLoop.run(check=True))
            raise TrainingError(
                f"the model became NaN or Inf between steps {step - n} and {step} ({bad[0][0]} after the update); "
                f"training stopped and the last good checkpoint ({manager.latest_checkpoint or 'none yet'}) was kept"
            )
        if epoch_end:
            epoch = step // steps_per_epoch - 1
            logs = {f"{t}_loss": last_loss.get(t, float("nan")) for t in names}
            if chief:
                with atomic_path(os.path.join(weights_dir, f"epoch_{epoch + 1:03d}.weights.h5"), ".weights.h5") as tmp:
                    model.save_weights(tmp)  # h5py writes local files: staged, then moved (mtlzoo.fileio)
                val = evaluate_model(model, eval_ds, tasks)
                logs.update({f"val_{t}_{k}": v for t in names for k, v in val[t].items()})
                with writer.as_default(step=step):
                    for key, v in logs.items():
                        if key.startswith("val_"):
                            tf.summary.scalar(key, v)
                writer.flush()  # the epoch's scalars on disk before its checkpoint (a killed run's log is whole)
            for key, v in logs.items():
                history.setdefault(key, []).append(v)
            _call(own, "on_epoch_end", epoch, logs)
        if saving:  # after the epoch's weights file and own callbacks: select: best's memory is saved with it
            manager.save(checkpoint_number=step)
        if epoch_end:
            _call(users, "on_epoch_end", epoch, logs)
            if model.stop_training:  # e.g. EarlyStopping
                break
            if step < total_steps:
                _call(callbacks, "on_epoch_begin", epoch + 1)
    _call(callbacks, "on_train_end")  # select: best restores the best epoch's weights here
    metrics = {"split": tc.eval_split, **evaluate_model(model, eval_ds, tasks)}
    from mtlzoo.models.soft_sharing import architecture_statistics

    eval_features = data.split(tc.eval_split).features
    stats = architecture_statistics(model, {k: eval_features[k] for k in input_names})
    if stats:  # mean gate weight per expert per task, cross-stitch matrices
        metrics["architecture"] = stats
    affinity_means = None
    if affinity is not None and int(affinity.measurements.numpy()):
        affinity_means = affinity.result()
    if chief:
        save_model(model, os.path.join(workdir, "model.keras"))
        write_json(metrics, os.path.join(workdir, "metrics.json"))
        if affinity_means is not None:
            write_json(affinity_json(affinity_means, names, affinity), os.path.join(workdir, "affinity.json"))
        writer.flush()
    else:
        shutil.rmtree(state_dir, ignore_errors=True)
    return TrainResult(model, metrics, history, workdir, chief, strat.num_replicas_in_sync, affinity_means)


def affinity_json(means, names, probe):
    """``affinity.json`` of a run with ``train.affinity``: the mean matrices (row = target, column =
    source; NaN as null) and how they were measured."""
    import numpy as np

    def rows(m):
        return [[float(v) if np.isfinite(v) else None for v in row] for row in np.asarray(m)]

    return {
        "tasks": list(names),
        "every_steps": probe.every_steps,
        "learning_rate": probe.learning_rate,
        "measurements": means["measurements"],
        "lookahead": rows(means["lookahead"]),
        "cosine": rows(means["cosine"]),
    }
