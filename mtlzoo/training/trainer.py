"""The trainer: config -> data, model, ``fit`` with checkpoints, logs and resume.

A run's workdir holds::

    config.json          resolved config (defaults filled)
    backup/              Keras BackupAndRestore state: rerunning the command resumes
    checkpoints/         weights after every epoch (epoch_NNN.weights.h5)
    logs/                TensorBoard event files
    model.keras          the final model (written atomically)
    metrics.json         per-task metrics on the evaluation split
"""

import dataclasses
import json
import os
import sys

from mtlzoo.config import resolve_config, write_config
from mtlzoo.tasks import build_loss, build_metrics, tasks_from_config


@dataclasses.dataclass
class TrainResult:
    model: object
    metrics: dict
    history: dict
    workdir: str


def make_optimizer(train_cfg):
    import keras

    kw = {"learning_rate": train_cfg["learning_rate"]}
    if train_cfg.get("clipnorm"):
        kw["clipnorm"] = train_cfg["clipnorm"]
    name = train_cfg["optimizer"]
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=train_cfg["weight_decay"], **kw)
    if train_cfg["weight_decay"]:
        kw["weight_decay"] = train_cfg["weight_decay"]
    return {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}[name](**kw)


def compile_model(model, tasks, train_cfg):
    """Compiles with one loss and weighted metrics per task (sample weights mask them)."""
    model.compile(
        optimizer=make_optimizer(train_cfg),
        loss={t.name: build_loss(t) for t in tasks},
        weighted_metrics={t.name: build_metrics(t) for t in tasks},
        jit_compile=False,
    )
    return model


def per_task_metrics(logs, tasks):
    """Groups Keras logs (``digit_accuracy``, ``digit_loss``, ``loss``) by task."""
    out = {}
    for t in tasks:
        prefix = f"{t.name}_"
        out[t.name] = {k[len(prefix) :]: float(v) for k, v in logs.items() if k.startswith(prefix)}
    out["total_loss"] = float(logs.get("loss", float("nan")))
    return out


def format_metrics_table(metrics, title="metrics"):
    """A plain-text table, one row per task, one column per metric."""
    tasks = [t for t in metrics if isinstance(metrics[t], dict)]
    cols = sorted({c for t in tasks for c in metrics[t]}, key=lambda c: (c != "loss", c))
    width = max([len("task"), *map(len, tasks)])
    lines = [title, "  ".join(["task".ljust(width), *[c.rjust(10) for c in cols]])]
    for t in tasks:
        cells = [f"{metrics[t][c]:10.4f}" if c in metrics[t] else " " * 10 for c in cols]
        lines.append("  ".join([t.ljust(width), *cells]))
    return "\n".join(lines)


def train(config, workdir, strategy="default", callbacks=()):
    """Trains the model a config describes; resumes if ``workdir`` holds an interrupted run.

    Args:
        config: ConfigDict or mapping (see :mod:`mtlzoo.config`); validated first.
        workdir: output directory (created).
        strategy: tf.distribute strategy name (``default``, ``one_device``, ``mirrored``).
        callbacks: extra Keras callbacks, run after the trainer's own.

    Returns:
        TrainResult with the trained model, per-task metrics on ``train.eval_split``
        and the Keras history.
    """
    from mtlzoo.data import load_data
    from mtlzoo.training.strategy import get_strategy

    config = resolve_config(config)
    strat = get_strategy(strategy)  # fails fast on a bad name, before any heavy work
    import keras

    from mtlzoo.models import build_model, save_model

    os.makedirs(workdir, exist_ok=True)
    write_config(config, workdir)
    keras.utils.set_random_seed(config.seed)
    tasks = tasks_from_config(config.tasks)
    data = load_data(config, tasks)
    with strat.scope():
        model = build_model(config)
        compile_model(model, tasks, config.train)
    tc = config.train
    names = list(model.input.keys()) if isinstance(model.input, dict) else [model.input.name]
    steps = tc.steps_per_epoch
    train_ds = data.dataset(
        "train", config.data.batch_size, names, shuffle=True, seed=config.seed, repeat=steps is not None
    )
    eval_ds = data.dataset(tc.eval_split, config.data.batch_size, names)
    all_callbacks = [
        keras.callbacks.BackupAndRestore(
            os.path.join(workdir, "backup"), save_freq=tc.checkpoint_every_steps or "epoch"
        ),
        keras.callbacks.ModelCheckpoint(
            os.path.join(workdir, "checkpoints", "epoch_{epoch:03d}.weights.h5"), save_weights_only=True
        ),
        keras.callbacks.TensorBoard(os.path.join(workdir, "logs"), write_graph=False),
        *callbacks,
    ]
    os.makedirs(os.path.join(workdir, "checkpoints"), exist_ok=True)
    history = model.fit(
        train_ds,
        validation_data=eval_ds,
        epochs=tc.epochs,
        steps_per_epoch=steps,
        callbacks=all_callbacks,
        verbose=tc.verbose if tc.verbose is not None else (1 if sys.stdout.isatty() else 2),
        shuffle=False,  # the dataset is already shuffled by seed
    )
    save_model(model, os.path.join(workdir, "model.keras"))
    logs = model.evaluate(eval_ds, return_dict=True, verbose=0)
    metrics = {"split": tc.eval_split, **per_task_metrics(logs, tasks)}
    tmp = os.path.join(workdir, "metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(workdir, "metrics.json"))
    return TrainResult(model, metrics, history.history, workdir)
