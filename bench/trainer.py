"""Suite ``trainer``: training steps per second of ``train()``'s loop and of ``model.fit``.

For three models (the quickstart MLP, 64 inputs and three tasks; a text CNN and a small BERT
with two tasks on 32-token inputs) one fixed batch is repeated, and each door trains the same
model on it:

* ``loop``: :class:`mtlzoo.training.loop.TrainLoop` as ``train()`` runs it (``run(n)``:
  n steps inside one ``tf.function``), without ``train()``'s per-epoch checkpoint and
  evaluation;
* ``fit``: ``model.fit`` after :func:`mtlzoo.training.compile_model` (for ``sum`` Keras' own
  step, for ``pcgrad`` the fit door's step, :mod:`mtlzoo.training.fit`), one epoch of n
  steps per timing, so its per-call set-up (callbacks, iterator) is included.

Each (model, aggregator, door) is timed ``repeats`` times, interleaved; rows give the median
time per step and ``fit / loop`` (> 1: the loop is faster).
"""

import numpy as np

from bench.common import print_table, row, time_repeats

MODELS = {
    "mlp": {"encoder": {"name": "mlp", "input_dim": 64, "units": [128, 64]}, "tower": {"units": [32]}},
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
TASKS = {
    "mlp": {
        "digit": {"kind": "multiclass", "num_classes": 10},
        "parity": {"kind": "binary"},
        "size": {"kind": "binary"},
    },
    "text_cnn": {"sentiment": {"kind": "binary"}, "topic": {"kind": "multiclass", "num_classes": 4}},
    "bert_small": {"sentiment": {"kind": "binary"}, "topic": {"kind": "multiclass", "num_classes": 4}},
}
BATCH, SEQ = 32, 32


def _batch(model, tasks, rng):
    inputs = model.input if isinstance(model.input, dict) else {model.input.name: model.input}
    x = {}
    for name, spec in inputs.items():
        shape = [BATCH, *[SEQ if d is None else d for d in spec.shape[1:]]]
        if "segment" in name or "mask" in name:  # BERT's segment ids (0) and padding mask (1)
            x[name] = np.full(shape, int("mask" in name)).astype(str(spec.dtype))
        elif "int" in str(spec.dtype):
            x[name] = rng.integers(1, 1000, size=shape).astype(str(spec.dtype))
        else:
            x[name] = rng.normal(size=shape).astype("float32")
    y, w = {}, {}
    for t in tasks:
        if t.kind == "multiclass":
            y[t.name] = rng.integers(0, t.num_classes, BATCH).astype(np.int32)
        else:
            y[t.name] = rng.integers(0, 2, (BATCH, 1)).astype(np.float32)
        w[t.name] = np.ones(BATCH, np.float32)
    return x, y, w


def _doors(name, aggregator, seed=0):
    import keras
    import tensorflow as tf

    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import compile_model
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting

    keras.utils.set_random_seed(seed)
    cfg = {"tasks": TASKS[name], "model": MODELS[name]}
    tasks = tasks_from_config(TASKS[name])
    train_cfg = {
        "learning_rate": 1e-3,
        "optimizer": "sgd",
        "weight_decay": 0.0,
        "aggregator": {"name": aggregator},
        "weighting": {"name": "ew"},
    }
    fit_model = compile_model(build_model(cfg), tasks, train_cfg)
    loop_model = build_model(cfg)
    opt = keras.optimizers.SGD(1e-3)
    strategy = tf.distribute.get_strategy()
    names = [t.name for t in tasks]
    loop = TrainLoop(
        loop_model,
        tasks,
        opt,
        build_weighting({"name": "ew"}, names),
        build_aggregator({"name": aggregator}),
        strategy,
        BATCH,
    )
    opt.build(loop.shared + loop.own)
    batch = _batch(fit_model, tasks, np.random.default_rng(seed))
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    it = iter(strategy.experimental_distribute_dataset(ds))
    return (
        lambda n: loop.run(it, n),
        lambda n: fit_model.fit(ds, epochs=1, steps_per_epoch=n, verbose=0, shuffle=False),
    )


def run(quick=False, models=tuple(MODELS), aggregators=("sum", "pcgrad")):
    steps, repeats = (5, 2) if quick else (50, 5)
    doors = {}
    for m in models:
        for a in aggregators:
            loop_fn, fit_fn = _doors(m, a)
            doors[(m, a, "loop")], doors[(m, a, "fit")] = loop_fn, fit_fn
    for fn in doors.values():  # trace every configuration first
        fn(2)
    samples = {key: [] for key in doors}
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits every door alike
        for key, fn in doors.items():
            samples[key] += time_repeats(lambda fn=fn: fn(steps), repeats=1, warmup=0)
    rows = []
    for (m, a, door), s in samples.items():
        rows.append(row("trainer", door, {"model": m, "aggregator": a, "batch": BATCH}, [t / steps for t in s]))
    for r in rows:
        p = r["params"]
        loop = next(b for b in rows if b["name"] == "loop" and b["params"] == p)
        fit = next(b for b in rows if b["name"] == "fit" and b["params"] == p)
        r["fit_over_loop"] = fit["median"] / loop["median"]
    print_table(
        rows,
        [
            ("model", lambda r: r["params"]["model"]),
            ("aggregator", lambda r: r["params"]["aggregator"]),
            ("door", lambda r: r["name"]),
            ("ms/step", lambda r: f"{1e3 * r['median']:.2f}"),
            ("steps/s", lambda r: f"{1 / r['median']:.0f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("fit/loop", lambda r: f"{r['fit_over_loop']:.2f}"),
        ],
    )
    return rows
