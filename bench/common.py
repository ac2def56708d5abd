"""Benchmark helpers: timing by medians over repeats, machine and version facts, rows."""

import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def time_repeats(fn, repeats=5, warmup=1):
    """Seconds per call of ``fn`` for each repeat, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def summarize(samples):
    """median and spread (max - min) / median of a list of timings."""
    med = statistics.median(samples)
    return {"median": med, "spread": (max(samples) - min(samples)) / med if med else 0.0, "repeats": len(samples)}


def device():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        return f"{len(gpus)} x {name}"
    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def versions():
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__}


def row(suite, name, params, samples, unit="s", **extra):
    return {"suite": suite, "name": name, "params": params, "unit": unit, **summarize(samples), **extra}


def print_table(rows, columns):
    """Prints rows as an aligned text table with the given (header, function) columns."""
    cells = [[h for h, _ in columns]] + [[str(f(r)) for _, f in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    for i, c in enumerate(cells):
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
