"""Suite ``aggregators``: training-step time of each gradient aggregator relative to ``sum``.

A fixed MLP (64 -> 256 -> 256, towers of 32) with k binary tasks sharing one input
(k = 2, 4, 8), batch 256, SGD; each configuration runs ``steps`` compiled steps per
timing, repeats are interleaved across configurations, and the median per-step time
is divided by the median of ``sum`` at the same k from the same run.
"""

import numpy as np

from bench.common import print_table, row, time_repeats

AGGREGATORS = ("sum", "pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl")


def _loop(k, aggregator, per_task_grads, units=(256, 256), batch=256, seed=0):
    import tensorflow as tf

    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting

    tasks_cfg = {f"t{i}": {"kind": "binary"} for i in range(k)}
    model = build_model(
        {
            "tasks": tasks_cfg,
            "model": {"encoder": {"name": "mlp", "input_dim": 64, "units": list(units)}, "tower": {"units": [32]}},
        }
    )
    tasks = tasks_from_config(tasks_cfg)
    strategy = tf.distribute.get_strategy()
    import keras

    opt = keras.optimizers.SGD(0.01)
    loop = TrainLoop(
        model,
        tasks,
        opt,
        build_weighting({"name": "ew"}, [t.name for t in tasks]),
        build_aggregator({"name": aggregator}),
        strategy,
        batch,
        per_task_grads=per_task_grads,
    )
    opt.build(loop.shared + loop.own)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, 64)).astype(np.float32)
    y = {t.name: rng.integers(0, 2, size=(batch, 1)).astype(np.float32) for t in tasks}
    w = {t.name: np.ones(batch, np.float32) for t in tasks}
    ds = tf.data.Dataset.from_tensors(({"features": x}, y, w)).repeat()
    return loop, iter(strategy.experimental_distribute_dataset(ds))


def run(quick=False, ks=(2, 4, 8), per_task_grads="representation", units=(256, 256)):
    steps, repeats = (10, 3) if quick else (30, 7)
    loops = {(k, a): _loop(k, a, per_task_grads, units) for k in ks for a in AGGREGATORS}
    samples = {key: [] for key in loops}
    for loop, it in loops.values():  # warm up (trace) every configuration first
        loop.run(it, 2)
    for _ in range(repeats):
        for key, (loop, it) in loops.items():
            samples[key] += time_repeats(lambda loop=loop, it=it: loop.run(it, steps), repeats=1, warmup=0)
    rows = []
    for (k, a), s in samples.items():
        per_step = [t / steps for t in s]
        rows.append(
            row(
                "aggregators",
                a,
                {"k": k, "per_task_grads": per_task_grads, "batch": 256, "units": list(units)},
                per_step,
            )
        )
    for r in rows:
        base = next(b for b in rows if b["name"] == "sum" and b["params"]["k"] == r["params"]["k"])
        r["ratio_to_sum"] = r["median"] / base["median"]
    print_table(
        rows,
        [
            ("aggregator", lambda r: r["name"]),
            ("k", lambda r: r["params"]["k"]),
            ("ms/step", lambda r: f"{1e3 * r['median']:.2f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("x sum", lambda r: f"{r['ratio_to_sum']:.2f}"),
        ],
    )
    return rows
