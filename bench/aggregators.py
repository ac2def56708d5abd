"""Suite ``aggregators``: training-step time of each gradient aggregator relative to ``sum``.

A fixed MLP (64 -> 256 -> 256, towers of 32) with k binary tasks sharing one input
(k = 2, 4, 8), batch 256, SGD, per-task gradients taken w.r.t. the shared
representation (``representation``) or the shared weights (``params``); each
configuration runs ``steps`` compiled steps per timing, repeats are interleaved across
configurations, and the median per-step time is divided by the median of ``sum`` at the
same k and mode from the same run (``sum`` needs no per-task gradients, so it is the
same plain step in both modes).
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


def run(quick=False, ks=(2, 4, 8), modes=("representation", "params"), units=(256, 256)):
    """Rows per (per_task_grads mode, k, aggregator); ratios to ``sum`` at the same mode and k."""
    steps, repeats = (10, 3) if quick else (30, 7)
    loops = {(m, k, a): _loop(k, a, m, units) for m in modes for k in ks for a in AGGREGATORS}
    samples = {key: [] for key in loops}
    for loop, it in loops.values():  # warm up (trace) every configuration first
        loop.run(it, 2)
    for _ in range(repeats):  # interleave the configurations so drift hits them alike
        for key, (loop, it) in loops.items():
            samples[key] += time_repeats(lambda loop=loop, it=it: loop.run(it, steps), repeats=1, warmup=0)
    rows = []
    for (m, k, a), s in samples.items():
        params = {"k": k, "per_task_grads": m, "batch": 256, "units": list(units)}
        rows.append(row("aggregators", a, params, [t / steps for t in s]))
    for r in rows:
        p = r["params"]
        base = next(b for b in rows if b["name"] == "sum" and b["params"] == p)
        r["ratio_to_sum"] = r["median"] / base["median"]
    print_table(
        rows,
        [
            ("per_task_grads", lambda r: r["params"]["per_task_grads"]),
            ("aggregator", lambda r: r["name"]),
            ("k", lambda r: r["params"]["k"]),
            ("ms/step", lambda r: f"{1e3 * r['median']:.2f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("x sum", lambda r: f"{r['ratio_to_sum']:.2f}"),
        ],
    )
    return rows
