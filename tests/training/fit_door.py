"""Both doors on the same batches: ``train()`` and ``model.fit`` with ``compile_model``.

:func:`fit_door` fits a config as ``train()`` would train it; the one-device comparisons are in
tests/training/test_fit_door.py, the MirroredStrategy ones in the engine rows
(tests/training/engine_rows.py, run by tests/training/test_engine_mirrored.py).
"""

import math

from tests.training.three_tasks_config import get_config

# both doors run the same ops on the same batches: measured bit-identical weights on one CPU
# device and under MirroredStrategy; the tolerance only absorbs a reordered float sum
ATOL = 1e-6


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
    previous_policy = keras.config.dtype_policy()
    if c.train.mixed_precision != "none":  # the model is built under the policy, as train() builds it
        keras.config.set_dtype_policy(c.train.mixed_precision)
    try:
        with strategy.scope():
            model = build_model(c)
            svd_split = split if c.train.weighting.name == "svd" else None  # svd recomputes from it
            compile_model(model, tasks, c.train, steps_per_epoch=spe, seed=c.seed, svd_split=svd_split)
    finally:
        keras.config.set_dtype_policy(previous_policy)
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
