"""Suite ``sharing``: one hard-sharing multi-task model versus k single-task models.

Shared-input tasks: every input carries k binary labels (k = 2, 4, 8). For each
encoder (``mlp``, ``text_cnn``, ``lstm``; built with :func:`mtlzoo.build_model`,
``shared_bottom``, towers of 32) the suite times

* ``train``: ``steps`` training steps through :class:`mtlzoo.training.loop.TrainLoop`
  (``sum`` aggregator, equal weights, SGD) on one fixed batch of ``batch`` inputs, for
  the k-task model and for each of k single-task models (same encoder, one task each,
  built separately): the single-task time of an input is the sum over the k models;
* ``predict``: ``calls`` calls of a compiled inference function
  (``tf.function(lambda x: model(x, training=False))``, outputs fetched as numpy) on
  the same batch, the k-task model versus all k single-task models in turn.

Inputs per second are ``batch * steps / time``; ``speedup`` is the single-task time
over the multi-task time from the same repeat round (median over repeats, warm-up
and tracing excluded, configurations interleaved so drift hits them alike). At k the
single-task side uses the first k of the ``max(ks)`` single-task models.

For tasks with their own data (each input carries one label, so there is no input to
share and no per-input compute saving) the rows ``params`` and ``serving_bytes`` give
the parameter count and the bytes of weights of one k-task model versus k
single-task models.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.common import print_table, row  # noqa: E402

TEXT_LENGTH = 40
VOCAB = 20000
TOWER = {"units": [32]}


def encoder_config(name, quick=False):
    """The encoder options used for ``name`` (smaller in quick mode)."""
    if name == "mlp":
        return {"name": "mlp", "input_dim": 128, "units": [64, 32] if quick else [512, 256]}
    if name == "text_cnn":
        return {
            "name": "text_cnn",
            "vocab_size": 500 if quick else VOCAB,
            "embedding_dim": 16 if quick else 64,
            "num_filters": 8 if quick else 64,
            "max_length": TEXT_LENGTH,
        }
    if name == "lstm":
        return {
            "name": "lstm",
            "vocab_size": 500 if quick else VOCAB,
            "embedding_dim": 16 if quick else 64,
            "hidden": 8 if quick else 64,
            "max_length": TEXT_LENGTH,
        }
    raise ValueError(f"unknown encoder {name!r}")


def model_config(encoder, k, quick=False, prefix="t"):
    return {
        "tasks": {f"{prefix}{i}": {"kind": "binary"} for i in range(k)},
        "model": {"encoder": encoder_config(encoder, quick), "tower": dict(TOWER)},
    }


def inputs_for(encoder_cfg, batch, seed=0):
    """One batch of random inputs for the encoder described by ``encoder_cfg``."""
    rng = np.random.default_rng(seed)
    if encoder_cfg["name"] == "mlp":
        return {"features": rng.normal(size=(batch, encoder_cfg["input_dim"])).astype(np.float32)}
    length = encoder_cfg.get("max_length") or TEXT_LENGTH
    tokens = rng.integers(1, encoder_cfg["vocab_size"], size=(batch, length)).astype(np.int32)
    lengths = rng.integers(length // 2, length + 1, size=batch)
    tokens[np.arange(length)[None, :] >= lengths[:, None]] = 0  # some padding, as in real text
    return {"tokens": tokens}


def train_loop(config, x, batch, jit_compile=False, lr=0.01, seed=0):
    """A ``TrainLoop`` (sum aggregator, equal weights, SGD) for ``config`` and an
    endless iterator over one fixed batch ``x`` with random binary labels.

    Returns ``(loop, iterator, model)``; ``loop.run(iterator, n)`` runs n steps.
    """
    import keras
    import tensorflow as tf

    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting

    model = build_model(config)
    tasks = tasks_from_config(config["tasks"])
    strategy = tf.distribute.get_strategy()
    opt = keras.optimizers.SGD(lr)
    loop = TrainLoop(
        model,
        tasks,
        opt,
        build_weighting({"name": "ew"}, [t.name for t in tasks]),
        build_aggregator({"name": "sum"}),
        strategy,
        batch,
        jit_compile=jit_compile,
    )
    opt.build(loop.shared + loop.own)
    rng = np.random.default_rng(seed)
    y = {t.name: rng.integers(0, 2, size=(batch, 1)).astype(np.float32) for t in tasks}
    w = {t.name: np.ones(batch, np.float32) for t in tasks}
    ds = tf.data.Dataset.from_tensors((x, y, w)).repeat()
    return loop, iter(strategy.experimental_distribute_dataset(ds)), model


def predictor(model, x):
    """A no-argument function running the compiled inference of ``model`` on ``x``."""
    import tensorflow as tf

    fn = tf.function(lambda inputs: model(inputs, training=False))
    tensors = {k: tf.constant(v) for k, v in x.items()}

    def call():
        return {k: v.numpy() for k, v in fn(tensors).items()}

    return call


def weight_bytes(model):
    """Bytes of all weights of ``model`` (what a server holds in memory for it)."""
    return int(sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.weights))


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(quick=False, ks=(2, 4, 8), encoders=("mlp", "text_cnn", "lstm"), batch=None):
    """Rows per (encoder, k, phase): multi-task and single-task inputs/s and their ratio."""
    import keras

    batch = batch or (16 if quick else 128)
    steps, calls, repeats = (2, 2, 2) if quick else (5, 5, 5)
    kmax = max(ks)
    rows = []
    for enc in encoders:
        t_enc = time.perf_counter()
        keras.utils.set_random_seed(0)
        x = inputs_for(encoder_config(enc, quick), batch)
        mtl = {k: train_loop(model_config(enc, k, quick), x, batch) for k in ks}
        stl = [train_loop(model_config(enc, 1, quick, prefix=f"s{i}_t"), x, batch) for i in range(kmax)]
        jobs = {("train", "mtl", k): (lambda lp=lp, it=it: lp.run(it, steps)) for k, (lp, it, _) in mtl.items()}
        jobs.update(
            {("train", "stl", i): (lambda lp=lp, it=it: lp.run(it, steps)) for i, (lp, it, _) in enumerate(stl)}
        )
        preds = {("predict", "mtl", k): predictor(m, x) for k, (_, _, m) in mtl.items()}
        preds.update({("predict", "stl", i): predictor(m, x) for i, (_, _, m) in enumerate(stl)})
        for key, p in preds.items():
            jobs[key] = lambda p=p: [p() for _ in range(calls)]
        for fn in jobs.values():  # warm-up: tracing and first runs, not timed
            fn()
        samples = {key: [] for key in jobs}
        for _ in range(repeats):  # interleaved rounds
            for key, fn in jobs.items():
                samples[key].append(_timed(fn))
        for phase, n in (("train", steps), ("predict", calls)):
            for k in ks:
                t_mtl = samples[(phase, "mtl", k)]
                t_stl = [sum(samples[(phase, "stl", i)][r] for i in range(k)) for r in range(repeats)]
                params = {"encoder": enc, "k": k, "batch": batch, "phase": phase}
                per_mtl = [t / (batch * n) for t in t_mtl]  # seconds per input
                per_stl = [t / (batch * n) for t in t_stl]
                r_m = row("sharing", f"{phase}_mtl", params, per_mtl, unit="s/input")
                r_s = row("sharing", f"{phase}_stl_x{k}", params, per_stl, unit="s/input")
                speed = [s / m for s, m in zip(t_stl, t_mtl, strict=True)]
                r_m["inputs_per_s"] = 1.0 / r_m["median"]
                r_s["inputs_per_s"] = 1.0 / r_s["median"]
                r_m["speedup"] = float(np.median(speed))
                r_m["speedup_range"] = [float(min(speed)), float(max(speed))]
                rows += [r_m, r_s]
        # own-data tasks: parameters and serving memory of one k-task model vs k single-task ones
        stl_params = [m.count_params() for _, _, m in stl]
        stl_bytes = [weight_bytes(m) for _, _, m in stl]
        for k in ks:
            m = mtl[k][2]
            for name, one, many, unit in (
                ("params", m.count_params(), sum(stl_params[:k]), "params"),
                ("serving_bytes", weight_bytes(m), sum(stl_bytes[:k]), "bytes"),
            ):
                r = row("sharing", name, {"encoder": enc, "k": k}, [one], unit=unit)
                r["stl_total"] = many
                r["saving"] = many / one
                rows.append(r)
        keras.backend.clear_session()
        print(f"  {enc}: {time.perf_counter() - t_enc:.0f} s", flush=True)
    timing = [r for r in rows if "speedup" in r]
    print_table(
        timing,
        [
            ("encoder", lambda r: r["params"]["encoder"]),
            ("phase", lambda r: r["params"]["phase"]),
            ("k", lambda r: r["params"]["k"]),
            ("MTL inputs/s", lambda r: f"{r['inputs_per_s']:.0f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("k x STL inputs/s", lambda r: f"{_pair(rows, r)['inputs_per_s']:.0f}"),
            ("spread ", lambda r: f"{100 * _pair(rows, r)['spread']:.0f}%"),
            ("speedup", lambda r: f"{r['speedup']:.2f}x"),
            ("range", lambda r: f"{r['speedup_range'][0]:.2f}-{r['speedup_range'][1]:.2f}"),
        ],
    )
    print()
    mem = [r for r in rows if r["name"] in ("params", "serving_bytes")]
    print_table(
        mem,
        [
            ("encoder", lambda r: r["params"]["encoder"]),
            ("k", lambda r: r["params"]["k"]),
            ("quantity", lambda r: r["name"]),
            ("one k-task model", lambda r: f"{int(r['median']):,}"),
            ("k single-task models", lambda r: f"{int(r['stl_total']):,}"),
            ("saving", lambda r: f"{r['saving']:.2f}x"),
        ],
    )
    return rows


def _pair(rows, r):
    name = r["name"].replace("_mtl", f"_stl_x{r['params']['k']}")
    return next(s for s in rows if s["name"] == name and s["params"] == r["params"])


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
