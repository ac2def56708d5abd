"""Suite ``trainer``: ``train()`` as a whole vs ``model.fit`` doing the same work.

For three models (the quickstart as it is: its MLP on scikit-learn's digits, three tasks; a
text CNN and a small BERT with two tasks on random 32-token inputs, 512 training and 128
validation examples) and two aggregators (``sum``, ``pcgrad``), each door trains a fresh
model for ``epochs`` epochs of the same number of steps, in a fresh workdir:

* ``train``: :func:`mtlzoo.training.train` (``verbose=0``): its batch plan or
  ``datasets=`` pipeline, per-epoch validation, a ``tf.train`` checkpoint and a weights file
  per epoch, the NaN guard, TensorBoard scalars, and at the end ``model.keras`` and
  ``metrics.json``;
* ``fit``: :func:`mtlzoo.models.build_model` + :func:`mtlzoo.training.compile_model` (Keras'
  own step for ``sum``, the fit door's step for ``pcgrad``) + ``model.fit`` on a shuffled,
  repeated ``tf.data`` pipeline of the same training data with ``validation_data`` every
  epoch and two writes per epoch (``ModelCheckpoint`` weights file, ``BackupAndRestore``
  state), then ``model.evaluate``, ``model.keras`` and a metrics JSON.

Both include building and tracing the model. Two numbers per run: the whole run's wall time,
and the steady time per step, the median over epochs 2..E of the time between consecutive
epoch ends (training, validation and the per-epoch writes of one epoch) divided by the
steps per epoch. Runs are interleaved over ``repeats``; rows give medians and
``fit / train`` (>= 1: ``train()`` is at least as fast as fit).
"""

import os
import shutil
import tempfile
import time

import numpy as np

from bench.common import print_table, row

TEXT_TASKS = {"sentiment": {"kind": "binary"}, "topic": {"kind": "multiclass", "num_classes": 4}}
MODELS = {
    "quickstart_mlp": None,  # configs/quickstart.py as it is
    "text_cnn": {"encoder": {"name": "text_cnn", "vocab_size": 1000}, "tower": {"units": [32]}},
    "bert_small": {
        "encoder": {
            "name": "bert",
            "vocab_size": 1000,
            "num_layers": 2,
            "num_heads": 2,
            "hidden_dim": 64,
            "intermediate_dim": 128,
            "max_sequence_length": 32,
        },
        "tower": {"units": [32]},
    },
}
BATCH, SEQ, N_TRAIN, N_VAL = 32, 32, 512, 128


def EpochClock():  # noqa: N802  (a Keras callback class built on first use: keras loads lazily)
    """A callback of both doors: ``ends``, the time of every epoch end (after the door's own work)."""
    import keras

    class _EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())

    return _EpochClock()


def _config(name, aggregator, epochs):
    from mtlzoo.config import load_config_module, resolve_config
    from mtlzoo.configs import config_path

    if name == "quickstart_mlp":
        cfg = load_config_module(config_path("quickstart")).get_config()
    else:
        cfg = {
            "seed": 0,
            "tasks": TEXT_TASKS,
            "data": {"source": "datasets", "batch_size": BATCH},
            "model": MODELS[name],
            "train": {"learning_rate": 1e-3, "optimizer": "adam", "eval_split": "validation"},
        }
    cfg = resolve_config(cfg).copy_and_resolve_references()
    cfg.train.epochs = epochs
    cfg.train.verbose = 0
    cfg.train.aggregator = {"name": aggregator}
    return resolve_config(cfg)


def _text_datasets(cfg):
    """Random token data for the text models: {'train', 'validation'} batched tf.data (shared by both doors)."""
    import tensorflow as tf

    from mtlzoo.models import build_model

    model = build_model(cfg)
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", N_TRAIN), ("validation", N_VAL)):
        x = {}
        for inp in model.inputs:
            shape = [n, *[SEQ if d is None else d for d in inp.shape[1:]]]
            if "segment" in inp.name or "mask" in inp.name:  # BERT's segment ids (0), padding mask (1)
                x[inp.name] = np.full(shape, int("mask" in inp.name)).astype(str(inp.dtype))
            elif "int" in str(inp.dtype):
                x[inp.name] = rng.integers(1, 1000, size=shape).astype(str(inp.dtype))
            else:
                x[inp.name] = rng.normal(size=shape).astype("float32")
        y = {
            "sentiment": rng.integers(0, 2, (n, 1)).astype(np.float32),
            "topic": rng.integers(0, 4, n).astype(np.int32),
        }
        w = {k: np.ones(n, np.float32) for k in y}
        out[split] = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(BATCH)
    return out


def _fit_data(cfg, datasets, input_names):
    """(training, validation) tf.data for fit: the train() run's data, shuffled and repeated."""
    import tensorflow as tf

    if datasets is not None:
        train = datasets["train"].unbatch().shuffle(N_TRAIN, seed=0).repeat().batch(BATCH, drop_remainder=True)
        return train.prefetch(tf.data.AUTOTUNE), datasets["validation"]
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    data = load_data(cfg, tasks_from_config(cfg.tasks))
    train = data.dataset("train", BATCH, input_names, shuffle=True, repeat=True)
    return train, data.dataset("validation", BATCH, input_names)


def run_train(cfg, datasets, workdir):
    from mtlzoo.training import train

    clock = EpochClock()
    t0 = time.perf_counter()
    result = train(cfg, workdir, callbacks=[clock], datasets=datasets)
    return time.perf_counter() - t0, clock.ends, len(result.history[next(iter(result.history))])


def run_fit(cfg, datasets, workdir, steps_per_epoch):
    import keras

    from mtlzoo.fileio import write_json
    from mtlzoo.models import build_model, save_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import compile_model

    clock = EpochClock()
    t0 = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    tasks = tasks_from_config(cfg.tasks)
    model = build_model(cfg)
    compile_model(model, tasks, cfg.train.to_dict(), steps_per_epoch=steps_per_epoch, seed=cfg.seed)
    input_names = [i.name for i in model.inputs]
    train_ds, val_ds = _fit_data(cfg, datasets, input_names)
    callbacks = [
        keras.callbacks.ModelCheckpoint(os.path.join(workdir, "epoch_{epoch:03d}.weights.h5"), save_weights_only=True),
        keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup")),
        clock,
    ]
    model.fit(
        train_ds,
        epochs=cfg.train.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=val_ds,
        callbacks=callbacks,
        verbose=0,
    )
    metrics = model.evaluate(val_ds, verbose=0, return_dict=True)
    save_model(model, os.path.join(workdir, "model.keras"))
    write_json(metrics, os.path.join(workdir, "metrics.json"))
    return time.perf_counter() - t0, clock.ends


def _steps_per_epoch(cfg):
    import math

    from mtlzoo.data import load_data
    from mtlzoo.data.mixing import BatchPlan
    from mtlzoo.tasks import tasks_from_config

    if cfg.data.source == "datasets":
        return N_TRAIN // BATCH
    tasks = tasks_from_config(cfg.tasks)
    split = load_data(cfg, tasks).split("train")
    probe = BatchPlan(split, [t.name for t in tasks], cfg.data.batch_size, "joint", seed=cfg.seed)
    return max(1, math.ceil(len(split) / probe.global_batch_size))


def _steady(ends, steps):
    gaps = np.diff(ends)  # epoch 2..E: one epoch's training, validation and writes each
    return [g / steps for g in gaps]


def run(quick=False, models=tuple(MODELS), aggregators=("sum", "pcgrad"), epochs=None, repeats=None):
    import keras

    epochs = epochs or (2 if quick else 5)
    repeats = repeats or (1 if quick else 3)
    plans = []
    for m in models:
        for a in aggregators:
            cfg = _config(m, a, epochs)
            datasets = None if m == "quickstart_mlp" else _text_datasets(cfg)
            plans.append((m, a, cfg, datasets, _steps_per_epoch(cfg)))
    whole = {}
    steady = {}
    root = tempfile.mkdtemp(prefix="bench_trainer_")
    try:
        for rep in range(repeats):  # interleaved: drift on a shared machine hits every door alike
            for m, a, cfg, datasets, spe in plans:
                for door in ("train", "fit"):
                    keras.backend.clear_session()
                    wd = os.path.join(root, f"{m}_{a}_{door}_{rep}")
                    if door == "train":
                        seconds, ends, n_epochs = run_train(cfg, datasets, wd)
                        assert n_epochs == epochs
                    else:
                        seconds, ends = run_fit(cfg, datasets, wd, spe)
                    whole.setdefault((m, a, door), []).append(seconds / (epochs * spe))
                    steady.setdefault((m, a, door), []).extend(_steady(ends, spe))
                    shutil.rmtree(wd, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = []
    for m, a, _, _, spe in plans:
        for door in ("train", "fit"):
            params = {"model": m, "aggregator": a, "batch": BATCH, "epochs": epochs, "steps_per_epoch": spe}
            rows.append(
                row("trainer", door, params, steady[(m, a, door)], whole=row("", "", {}, whole[(m, a, door)])["median"])
            )
    for r in rows:
        peer = {"train": "fit", "fit": "train"}[r["name"]]
        other = next(b for b in rows if b["name"] == peer and b["params"] == r["params"])
        t, f = (r, other) if r["name"] == "train" else (other, r)
        r["fit_over_train"] = f["median"] / t["median"]
        r["fit_over_train_whole"] = f["whole"] / t["whole"]
    print_table(
        rows,
        [
            ("model", lambda r: r["params"]["model"]),
            ("aggregator", lambda r: r["params"]["aggregator"]),
            ("door", lambda r: r["name"]),
            ("steady ms/step", lambda r: f"{1e3 * r['median']:.2f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("whole run ms/step", lambda r: f"{1e3 * r['whole']:.2f}"),
            ("fit/train steady", lambda r: f"{r['fit_over_train']:.2f}"),
            ("fit/train whole", lambda r: f"{r['fit_over_train_whole']:.2f}"),
        ],
    )
    return rows
