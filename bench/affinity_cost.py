"""Suite ``affinity``: what the in-step affinity measurement (``train.affinity``) costs in training time.

The model of ``configs/affinity_yeast.py`` (k = 6 binary tasks on one 103-feature input, shared MLP
64 -> 32, towers of 16, batch 64, Adam): :class:`mtlzoo.training.loop.TrainLoop` runs ``steps``
compiled steps per timing without the measurement (``off``) and with the lookahead affinity and
gradient cosine measured inside the step every N steps (``every_N``,
:class:`mtlzoo.training.affinity.StepAffinity`); repeats are interleaved across the variants, and
each variant's median time per step is divided by ``off``'s from the same run (``ratio_to_off``);
the same with the process's CPU time (``cpu_ratio_to_off``), less sensitive to other jobs on a
shared machine.

``host_every_N`` is the host-driven reference (:class:`mtlzoo.training.affinity.ModelAffinity`:
shared weights to numpy, assigned, restored) as it would run between compiled steps: its median
time per measurement, times steps / N, added to ``off``'s time (computed from the two medians,
not timed as one loop).
"""

import time

import numpy as np

from bench.common import print_table, row, time_repeats


def _loop(k, every, batch=64, seed=0):
    import keras
    import tensorflow as tf

    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting

    tasks_cfg = {f"label_{i}": {"kind": "binary"} for i in range(k)}
    keras.utils.set_random_seed(seed)
    model = build_model(
        {
            "tasks": tasks_cfg,
            "model": {"encoder": {"name": "mlp", "input_dim": 103, "units": [64, 32]}, "tower": {"units": [16]}},
        }
    )
    tasks = tasks_from_config(tasks_cfg)
    strategy = tf.distribute.get_strategy()
    opt = keras.optimizers.Adam(2e-3)
    loop = TrainLoop(
        model,
        tasks,
        opt,
        build_weighting({"name": "ew"}, [t.name for t in tasks]),
        build_aggregator({"name": "sum"}),
        strategy,
        batch,
        affinity=None if every is None else (every, 2e-3),
    )
    opt.build(loop.shared + loop.own)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, 103)).astype(np.float32)
    y = {t.name: rng.integers(0, 2, size=(batch, 1)).astype(np.float32) for t in tasks}
    w = {t.name: np.ones(batch, np.float32) for t in tasks}
    batch_data = ({"features": x}, y, w)
    ds = tf.data.Dataset.from_tensors(batch_data).repeat()
    return loop, iter(strategy.experimental_distribute_dataset(ds)), model, tasks, batch_data


def run(quick=False, k=6, everies=(1, 10, 50)):
    """Rows ``off``, ``every_N`` (timed) and ``host_every_N`` (computed); ratios to ``off``."""
    from mtlzoo.training.affinity import ModelAffinity

    steps, repeats = (50, 3) if quick else (100, 15)
    variants = {"off": None, **{f"every_{n}": n for n in everies}}
    loops = {name: _loop(k, every) for name, every in variants.items()}
    samples = {name: [] for name in loops}
    cpu = {name: [] for name in loops}
    for loop, it, *_ in loops.values():  # trace every variant first
        loop.run(it, 2)
    for _ in range(repeats):  # interleaved, so drift hits every variant alike
        for name, (loop, it, *_) in loops.items():
            c0 = time.process_time()
            samples[name] += time_repeats(lambda loop=loop, it=it: loop.run(it, steps), repeats=1, warmup=0)
            cpu[name].append(time.process_time() - c0)
    _, _, model, tasks, batch_data = loops["off"]
    host = ModelAffinity(model, tasks)
    host_samples = time_repeats(lambda: host.compute(batch_data, 2e-3), repeats=repeats, warmup=1)
    params = {"k": k, "batch": 64, "units": [64, 32], "steps": steps}
    rows = [
        row(
            "affinity",
            name,
            {**params, "every_steps": variants[name]},
            [t / steps for t in s],
            cpu_median=float(np.median(cpu[name])) / steps,
        )
        for name, s in samples.items()
    ]
    off, off_cpu = rows[0]["median"], rows[0]["cpu_median"]
    for r in rows:
        r["ratio_to_off"] = r["median"] / off
        r["cpu_ratio_to_off"] = r["cpu_median"] / off_cpu
    host_each = float(np.median(host_samples))
    for n in everies:
        per_step = [off + t / n for t in host_samples]
        r = row("affinity", f"host_every_{n}", {**params, "every_steps": n}, per_step, host_seconds_each=host_each)
        r["ratio_to_off"] = r["median"] / off
        rows.append(r)
    print_table(
        rows,
        [
            ("variant", lambda r: r["name"]),
            ("ms/step", lambda r: f"{1e3 * r['median']:.3f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("x off", lambda r: f"{r['ratio_to_off']:.3f}"),
            ("cpu ms/step", lambda r: f"{1e3 * r['cpu_median']:.3f}" if "cpu_median" in r else "-"),
            ("cpu x off", lambda r: f"{r['cpu_ratio_to_off']:.3f}" if "cpu_ratio_to_off" in r else "-"),
        ],
    )
    return rows
