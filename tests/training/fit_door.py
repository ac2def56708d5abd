"""Both doors on the same batches: ``train()`` and ``model.fit`` with ``compile_model``.

Run as a script (``python -m tests.training.fit_door WEIGHTING AGGREGATOR [cpu_devices]``) it
prints a JSON line with the largest weight difference between the doors; the mirrored
test runs it in a subprocess because logical CPU devices must be set before TensorFlow starts.
"""

import json
import math
import sys
import tempfile

from tests.training.three_tasks_config import get_config


def config(weighting="ew", aggregator="sum", epochs=2, **train):
    cfg = get_config()
    cfg.train.epochs = epochs
    cfg.train.weighting = weighting if isinstance(weighting, dict) else {"name": weighting}
    cfg.train.aggregator = aggregator if isinstance(aggregator, dict) else {"name": aggregator}
    for k, v in train.items():
        cfg.train[k] = v
    return cfg


def fit_door(cfg, strategy=None, callbacks=(), validation=False, verbose=0):
    """Builds and compiles the model as ``train()`` does and fits it on ``train()``'s batches.

    Returns (model, history)."""
    import keras
    import tensorflow as tf

    from mtlzoo.config import resolve_config
    from mtlzoo.data import build_sampler, load_data
    from mtlzoo.data.mixing import BatchPlan, train_dataset
    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import compile_model

    c = resolve_config(cfg)
    tasks = tasks_from_config(c.tasks)
    names = [t.name for t in tasks]
    data = load_data(c, tasks)
    split = data.split("train")
    probe = BatchPlan(split, names, c.data.batch_size, "joint", seed=c.seed)
    spe = c.train.steps_per_epoch or max(1, math.ceil(len(split) / probe.global_batch_size))
    total = c.train.epochs * spe
    plan = BatchPlan(split, names, c.data.batch_size, c.data.mixing, build_sampler(c.data.sampler), c.seed, total)
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(c.seed)
    with strategy.scope():
        model = build_model(c)
        svd_split = split if c.train.weighting.name == "svd" else None  # svd recomputes from it
        compile_model(model, tasks, c.train, steps_per_epoch=spe, seed=c.seed, svd_split=svd_split)
    input_names = list(model.input.keys())
    ds = train_dataset(split, plan, input_names)
    val = data.dataset("validation", c.data.batch_size, input_names) if validation else None
    history = model.fit(
        ds,
        epochs=c.train.epochs,
        steps_per_epoch=spe,
        validation_data=val,
        callbacks=list(callbacks),
        verbose=verbose,
        shuffle=False,
    )
    return model, history


def max_difference(weighting, aggregator, strategy="default", cpu_devices=None, **train):
    import numpy as np

    from mtlzoo.training import get_strategy
    from mtlzoo.training import train as train_door

    if cpu_devices:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    cfg = config(weighting, aggregator, **train)
    if isinstance(strategy, str):  # one strategy object for both doors (their collectives share its keys)
        strategy = get_strategy(strategy)
    with tempfile.TemporaryDirectory() as wd:
        a = train_door(cfg, wd, strategy=strategy).model.get_weights()
    model, _ = fit_door(cfg, strategy)
    b = model.get_weights()
    assert len(a) == len(b)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True)), float(
        max(np.max(np.abs(x)) for x in a)
    )


# every weighting (with sum) and every aggregator (with ew): ``python -m tests.training.fit_door all all 2``
EVERY = [
    *[(w, "sum") for w in ("static", "uncertainty", "dwa", "rlw", "gradnorm", "svd")],
    *[("ew", a) for a in ("pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl")],
]


def _weighting(name):
    return {"name": "static", "weights": {"a": 2.0, "b": 0.5}} if name == "static" else name


if __name__ == "__main__":
    asked = (sys.argv[1], sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else None
    if n:  # logical CPU devices before anything starts TensorFlow's runtime
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    from mtlzoo.training import get_strategy

    strategy = get_strategy("mirrored" if n else "default")  # one for every run of the process
    for w, agg in EVERY if asked == ("all", "all") else [asked]:
        diff, scale = max_difference(_weighting(w), agg, strategy, epochs=3 if w == "dwa" else 2)
        print(json.dumps({"weighting": w, "aggregator": agg, "max_difference": diff, "scale": scale}), flush=True)
