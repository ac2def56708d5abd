"""Suite ``serving``: latency of the exported TF Serving signature vs model.predict vs a bare tf.function.

    python bench/serving.py [--quick]          (or: python bench/run.py --suite serving)

For each model (the quickstart MLP, and a text CNN) the model is exported with
:func:`mtlzoo.export.export_model`, reloaded with ``tf.saved_model.load`` in the same
process, and three ways of running it are timed at batch 1 and 64, on inputs already
in memory (request parsing excluded):

* ``signature``: the export's ``serving_default`` (all tasks: probabilities and class
  ids), called through the loaded SavedModel, as TF Serving runs it;
* ``tf_function``: a bare ``tf.function(lambda x: model(x, training=False))`` of the
  same Keras model (probabilities only);
* ``predict``: ``model.predict(x, verbose=0)``.

Every call ends with the outputs as numpy arrays. Warm-up calls are excluded. Each
repeat times ``calls`` consecutive calls per method (a tenth of them for the much
slower ``predict``), methods interleaved repeat by repeat; ``p50_ms`` is the median
over repeats of each repeat's median latency, ``p99_ms`` the 99th percentile of all
timed calls pooled. ``x_bare`` is the row's p50 divided by ``tf_function``'s p50 for
the same model and batch, from the same run.
"""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = {
    "quickstart_mlp": {
        "tasks": {
            "digit": {"kind": "multiclass", "num_classes": 10},
            "magnitude": {"kind": "binary"},
            "parity": {"kind": "binary"},
        },
        "model": {"encoder": {"name": "mlp", "input_dim": 64, "units": [128, 64]}, "tower": {"units": [32]}},
    },
    "text_cnn": {
        "tasks": {"sentiment": {"kind": "binary"}, "topic": {"kind": "multiclass", "num_classes": 6}},
        "model": {
            "encoder": {"name": "text_cnn", "vocab_size": 20000, "embedding_dim": 128, "num_filters": 100},
            "tower": {"units": [64]},
        },
    },
}
TEXT_LENGTH = 40


def _percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def _inputs(name, batch, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    if name == "text_cnn":
        return {"tokens": rng.integers(1, 20000, size=(batch, TEXT_LENGTH)).astype(np.int32)}
    return {"features": rng.random((batch, 64)).astype(np.float32)}


def _methods(model, loaded, x):
    import tensorflow as tf

    tensors = {k: tf.constant(v) for k, v in x.items()}
    signature = loaded.signatures["serving_default"]
    bare = tf.function(lambda inputs: model(inputs, training=False))

    def run_signature():
        return {k: v.numpy() for k, v in signature(**tensors).items()}

    def run_bare():
        return {k: v.numpy() for k, v in bare(tensors).items()}

    def run_predict():
        return model.predict(x, verbose=0, batch_size=len(next(iter(x.values()))))

    return {"signature": run_signature, "tf_function": run_bare, "predict": run_predict}


def run(quick=False, models=tuple(MODELS), batches=(1, 64)):
    """Times every (model, batch, method); prints a table; returns one row per combination."""
    import tensorflow as tf

    import mtlzoo
    from mtlzoo.export import export_model
    from mtlzoo.tasks import tasks_from_config

    calls, repeats, warmup = (30, 3, 10) if quick else (200, 7, 50)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            cfg = MODELS[name]
            model = mtlzoo.build_model(cfg)
            path = export_model(model, tmp, name, tasks=tasks_from_config(cfg["tasks"]))
            loaded = tf.saved_model.load(path)
            for batch in batches:
                methods = _methods(model, loaded, _inputs(name, batch))
                n_calls = {m: max(5, calls // 10) if m == "predict" else calls for m in methods}
                for m, fn in methods.items():  # warm-up: tracing, first-call allocations
                    for _ in range(max(3, warmup * n_calls[m] // calls)):
                        fn()
                p50s = {m: [] for m in methods}
                pooled = {m: [] for m in methods}
                for _ in range(repeats):
                    for m, fn in methods.items():
                        lat = []
                        for _ in range(n_calls[m]):
                            t0 = time.perf_counter()
                            fn()
                            lat.append(time.perf_counter() - t0)
                        p50s[m].append(1e3 * _percentile(lat, 50))
                        pooled[m] += lat
                base = statistics.median(p50s["tf_function"])
                for m in methods:
                    p50 = statistics.median(p50s[m])
                    rows.append(
                        {
                            "suite": "serving",
                            "name": m,
                            "params": {"model": name, "batch": batch},
                            "unit": "ms",
                            "p50_ms": p50,
                            "p99_ms": 1e3 * _percentile(pooled[m], 99),
                            "median": p50 / 1e3,  # seconds, for bench/run.py's baseline comparison
                            "repeats": repeats,
                            "calls_per_repeat": n_calls[m],
                            "x_bare": p50 / base,
                        }
                    )
    _print(rows)
    return rows


def _print(rows):
    header = ["model", "batch", "method", "p50 ms", "p99 ms", "x bare p50", "repeats x calls"]
    cells = [header] + [
        [
            r["params"]["model"],
            str(r["params"]["batch"]),
            r["name"],
            f"{r['p50_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
            f"{r['x_bare']:.2f}",
            f"{r['repeats']} x {r['calls_per_repeat']}",
        ]
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for i, c in enumerate(cells):
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls and repeats (a smoke run)")
    args = parser.parse_args()
    run(quick=args.quick)
