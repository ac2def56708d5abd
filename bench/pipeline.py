"""Suite ``pipeline``: task-mixing input throughput versus the model's consumption rate.

The input pipeline is :func:`mtlzoo.data.mixing.train_dataset` over a
:class:`mtlzoo.data.mixing.BatchPlan` on an in-memory split of ``n`` examples with
k = 4 binary tasks and 128 float features:

* ``joint``: shared-input data (every example carries every label, one group), each
  step a batch of ``batch`` examples with all k labels;
* ``interleaved``: tasks with their own data (each example labelled for one task,
  ``task_id`` feature), each step ``batch`` examples of one task drawn by the
  ``uniform`` sampler.

Rows (median over repeats of consecutive chunks of ``batches`` batches, after warm-up):

* ``input``: batches/s of the whole pipeline (Python generator of row indices ->
  ``from_generator`` -> gather map -> prefetch), iterated eagerly;
* ``generator``: the Python part alone, ``BatchPlan.step`` calls per second (the
  generator's work per batch);
* ``from_generator``: ``tf.data.Dataset.from_generator`` over the precomputed plan's
  row indices without the gather map (the cost of crossing into Python per element);
* ``input_chunked``: a prototype (:func:`chunked_dataset`, not part of mtlzoo) that
  yields the row indices of 256 steps per generator call, gathers all 256 batches at
  once and splits them with ``unbatch``, so the Python crossing and the gather map are
  paid once per 256 batches;
* ``model``: training steps/s of :class:`mtlzoo.training.loop.TrainLoop` (the
  ``sharing`` suite's MLP encoder, ``sum`` aggregator, SGD) on one in-memory batch of
  the same size: the rate at which the model consumes batches;
* ``end_to_end``: training steps/s fed by the pipeline itself.

``headroom`` = input batches/s / model steps/s (target >= 5: the input is never the
bottleneck).
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.common import print_table, row  # noqa: E402

K = 4
INPUT_DIM = 128


def make_split(n, k=K, own_data=False, seed=0):
    """An in-memory :class:`mtlzoo.data.Split` of ``n`` examples and k binary tasks."""
    from mtlzoo.data import Split

    rng = np.random.default_rng(seed)
    features = {"features": rng.normal(size=(n, INPUT_DIM)).astype(np.float32)}
    labels = {f"t{i}": rng.integers(0, 2, size=(n, 1)).astype(np.float32) for i in range(k)}
    if own_data:
        task_id = rng.integers(0, k, size=n).astype(np.int64)
        features["task_id"] = task_id
        weights = {f"t{i}": (task_id == i).astype(np.float32) for i in range(k)}
    else:
        weights = {f"t{i}": np.ones(n, np.float32) for i in range(k)}
    return Split(features, labels, weights)


def make_plan(split, mode, batch, total_steps, k=K, seed=0):
    from mtlzoo.data import build_sampler
    from mtlzoo.data.mixing import BatchPlan

    if mode == "joint":
        # shared-input data: every example is in the one group (task_id not used)
        split = type(split)({"features": split.features["features"]}, split.labels, split.weights)
    sampler = build_sampler({"name": "uniform"}) if mode == "interleaved" else None
    names = [f"t{i}" for i in range(k)]
    return split, BatchPlan(split, names, batch, mode=mode, sampler=sampler, seed=seed, total_steps=total_steps)


def chunked_dataset(split, plan, input_names, chunk=256):
    """A prototype (not in mtlzoo) of ``train_dataset`` with the Python crossing amortised:
    the generator yields the row indices of ``chunk`` steps at once (``[chunk, batch]``),
    one gather builds the ``chunk`` batches of the chunk (the same gathers as
    :func:`mtlzoo.data.mixing.train_dataset` on one replica, vectorised over steps), and
    ``unbatch`` splits them into steps.
    """
    import tensorflow as tf

    from mtlzoo.data.base import is_sequence_label

    k, per = len(plan.task_names), plan.global_batch_size

    def chunks():
        for s0 in range(0, plan.total_steps, chunk):
            steps = [plan.step(s) for s in range(s0, min(s0 + chunk, plan.total_steps))]
            yield np.stack([r for r, _ in steps]), np.stack([m for _, m in steps])

    feats = {n: tf.constant(split.features[n]) for n in input_names}
    labels = {n: tf.constant(v) for n, v in split.labels.items()}
    weights = {
        n: tf.constant(v[:, None] if is_sequence_label(split.labels[n]) else v) for n, v in split.weights.items()
    }
    names = plan.task_names

    def gather(r, mask):  # r [chunk, batch], mask [chunk, k]: one gather per chunk
        f = {n: tf.gather(v, r) for n, v in feats.items()}
        y = {n: tf.gather(v, r) for n, v in labels.items()}
        w = {n: tf.gather(v, r) * mask[:, names.index(n), None] for n, v in weights.items()}
        return f, y, w

    ds = tf.data.Dataset.from_generator(
        chunks, output_signature=(tf.TensorSpec([None, per], tf.int64), tf.TensorSpec([None, k], tf.float32))
    )
    return ds.map(gather).unbatch().prefetch(tf.data.AUTOTUNE)


def _chunks(next_fn, batches, repeats, warmup):
    for _ in range(warmup):
        next_fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batches):
            next_fn()
        out.append((time.perf_counter() - t0) / batches)
    return out


def run(quick=False, batch_sizes=None, n=None):
    """Rows per (mode, batch): input, generator, from_generator, model, end_to_end."""
    import keras
    import tensorflow as tf

    from bench.sharing import model_config, train_loop
    from mtlzoo.data.mixing import train_dataset

    batch_sizes = batch_sizes or ((16,) if quick else (32, 128, 512))
    n = n or (2000 if quick else 50000)
    batches, repeats, warmup = (5, 2, 2) if quick else (100, 5, 20)
    total = warmup + batches * repeats + 1
    rows = []
    for b in batch_sizes:
        keras.utils.set_random_seed(0)
        cfg = model_config("mlp", K, quick)
        cfg["model"]["encoder"]["input_dim"] = INPUT_DIM
        x = {"features": np.random.default_rng(1).normal(size=(b, INPUT_DIM)).astype(np.float32)}
        loop, it, _ = train_loop(cfg, x, b)
        model_steps = max(1, batches // 4)
        loop.run(it, model_steps)  # warm-up: tracing
        t_model = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            loop.run(it, model_steps)
            t_model.append((time.perf_counter() - t0) / model_steps)
        for mode in ("joint", "interleaved"):
            split, plan = make_plan(make_split(n, own_data=mode == "interleaved"), mode, b, total)
            params = {"mode": mode, "batch": plan.global_batch_size, "k": K, "n": n}
            s = iter(range(total))
            t_gen = _chunks(lambda s=s, plan=plan: plan.step(next(s)), batches, repeats, warmup)
            steps = [plan.step(i) for i in range(total)]
            gen_only = tf.data.Dataset.from_generator(
                lambda steps=steps: iter(steps),
                output_signature=(tf.TensorSpec([b], tf.int64), tf.TensorSpec([K], tf.float32)),
            )
            t_fg = _chunks(iter(gen_only).__next__, batches, repeats, warmup)
            del gen_only
            it_in = iter(train_dataset(split, plan, ["features"]))
            t_input = _chunks(it_in.__next__, batches, repeats, warmup)
            del it_in
            it_ch = iter(chunked_dataset(split, plan, ["features"]))
            t_chunked = _chunks(it_ch.__next__, batches, repeats, warmup)
            del it_ch
            e2e_it = iter(
                tf.distribute.get_strategy().experimental_distribute_dataset(train_dataset(split, plan, ["features"]))
            )
            e2e_steps = max(1, batches // 4)
            loop.run(e2e_it, 2)  # warm-up: tracing for this iterator's element spec
            t_e2e = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                loop.run(e2e_it, e2e_steps)
                t_e2e.append((time.perf_counter() - t0) / e2e_steps)
            del e2e_it  # stop its prefetching before the next configuration is timed
            group = []
            for name, ts in (
                ("input", t_input),
                ("input_chunked", t_chunked),
                ("generator", t_gen),
                ("from_generator", t_fg),
                ("model", t_model),
                ("end_to_end", t_e2e),
            ):
                r = row("pipeline", name, params, ts, unit="s/batch")
                r["per_s"] = 1.0 / r["median"]
                group.append(r)
            for r in group:
                r["headroom"] = r["per_s"] / group[4]["per_s"]
            rows += group
        keras.backend.clear_session()
    print_table(
        rows,
        [
            ("mode", lambda r: r["params"]["mode"]),
            ("batch", lambda r: r["params"]["batch"]),
            ("stage", lambda r: r["name"]),
            ("per s", lambda r: f"{r['per_s']:.0f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("x model", lambda r: f"{r['headroom']:.2f}"),
        ],
    )
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
