"""Suite ``roofline``: achieved fraction of the device's measured matmul peak (MFU).

* ``peak``: FLOP/s of large float32 matmuls (``n x n @ n x n``, ``2 n^3`` FLOPs, n = 1024
  and 2048) in a ``tf.function``, measured in the same process in every timing round
  (the best rate of 3 calls of each size);
* model FLOPs per training step, counted from the layer shapes by
  :func:`forward_flops` (``2 m n k`` per matmul of the forward pass), times 3 for
  forward + backward (the backward pass of a matmul is two matmuls of the same size);
  elementwise work (activations, biases, the optimizer update, layer norms) is not
  counted, as usual for MFU;
* ``mfu``: (model FLOPs / step time) / peak, for a large MLP and a small BERT encoder
  (:mod:`mtlzoo.encoders.bert`, keras-hub ``TransformerEncoder`` layers) at several
  batch sizes, training through :class:`mtlzoo.training.loop.TrainLoop` (one binary
  task, ``sum`` aggregator, SGD), with and without ``jit_compile`` (XLA).

Each round times the peak matmuls and every configuration once (interleaved,
so load from other processes hits them alike); a round's MFU uses that round's peak;
the rows report the median over rounds (``mfu``), its range, the spread of the step
time, and ``mfu_best`` = the best step rate over the best peak (on a machine shared
with other jobs, load only ever slows a timing down, so the best of each is the least
disturbed estimate). Warm-up, tracing and XLA compilation are excluded.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.common import print_table, row  # noqa: E402

TOWER = {"units": []}


def _kernels(layer):
    return [v for v in layer.weights if v.name == "kernel"]


def forward_flops(model, batch, seq_len=1):
    """Matmul FLOPs of one forward pass of ``model`` on ``batch`` inputs of ``seq_len`` tokens.

    Counted from the layer shapes, ``2 m n k`` per matmul:

    * ``Dense`` (and the pooler): ``2 * positions * in * out``, positions = the product
      of the input's leading dims (``batch``, or ``batch * seq_len`` on sequences);
    * ``Conv1D`` (``same`` padding): ``2 * batch * seq_len * width * in * out``;
    * keras-hub ``TransformerEncoder`` with hidden size d, FFN size f:
      ``2 * batch * seq_len * (4 d^2 + 2 d f)`` for the Q, K, V, output and FFN kernels,
      plus ``4 * batch * seq_len^2 * d`` for ``Q K^T`` and ``A V``.

    Embedding lookups, recurrent layers and elementwise work are not counted.

    Example:
        >>> m = build_model({"tasks": {"a": {"kind": "binary"}}, "model": {"encoder":
        ...     {"name": "mlp", "input_dim": 8, "units": [4]}, "tower": {"units": []}}})
        >>> forward_flops(m, 10)   # 2*10*(8*4 + 4*1)
        720
    """
    import keras

    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "TransformerEncoder":
            attn = layer._self_attention_layer
            d = attn.num_heads * attn.key_dim
            kernel_sizes = sum(int(np.prod(v.shape)) for v in _kernels(layer))
            total += 2 * batch * seq_len * kernel_sizes + 4 * batch * seq_len**2 * d
        elif isinstance(layer, keras.layers.Conv1D):
            total += 2 * batch * seq_len * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            shape = layer.input.shape
            positions = batch * (seq_len if len(shape) == 3 else 1)
            total += 2 * positions * int(np.prod(layer.kernel.shape))
    return int(total)


def train_flops(model, batch, seq_len=1):
    """Matmul FLOPs of one training step: 3 x :func:`forward_flops`."""
    return 3 * forward_flops(model, batch, seq_len)


def matmul_peak(n=2048):
    """A no-argument function doing one ``n x n`` float32 matmul, and its FLOPs ``2 n^3``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.normal(size=(n, n)).astype(np.float32))
    b = tf.constant(rng.normal(size=(n, n)).astype(np.float32))
    fn = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return (lambda: fn().numpy()), 2 * n**3


def configs(quick=False):
    """The (name, model config, batch sizes, seq_len) of the suite."""
    if quick:
        mlp = {"name": "mlp", "input_dim": 32, "units": [64, 64]}
        bert = {"name": "bert", "vocab_size": 100, "num_layers": 1, "num_heads": 2, "hidden_dim": 16}
        bert.update(intermediate_dim=32, max_sequence_length=16)
        return [("mlp_large", mlp, (8, 32), 1, (32,)), ("bert_small", bert, (4,), 16, ())]
    mlp = {"name": "mlp", "input_dim": 512, "units": [1024, 1024, 1024]}
    wide = {"name": "mlp", "input_dim": 1024, "units": [2048, 2048, 2048]}
    bert = {"name": "bert", "vocab_size": 1000, "num_layers": 2, "num_heads": 4, "hidden_dim": 256}
    bert.update(intermediate_dim=1024, max_sequence_length=128)
    return [
        ("mlp_large", mlp, (32, 128, 512), 1, (512,)),
        ("mlp_wide", wide, (512,), 1, (512,)),
        ("bert_small", bert, (8, 32), 128, (32,)),
    ]


def _inputs(enc, batch, seq_len, seed=0):
    rng = np.random.default_rng(seed)
    if enc["name"] == "mlp":
        return {"features": rng.normal(size=(batch, enc["input_dim"])).astype(np.float32)}
    return {
        "token_ids": rng.integers(1, enc["vocab_size"], size=(batch, seq_len)).astype(np.int32),
        "segment_ids": np.zeros((batch, seq_len), np.int32),
        "padding_mask": np.ones((batch, seq_len), bool),
    }


def run(quick=False, peak_n=None, rounds=None, target_flops=None):
    """Rows: ``peak`` (FLOP/s) and one ``mfu`` row per (model, batch, jit)."""
    import keras

    from bench.sharing import train_loop

    peak_ns = (peak_n,) if peak_n else ((128, 256) if quick else (1024, 2048))
    rounds = rounds or (2 if quick else 5)
    target_flops = target_flops or (1e6 if quick else 2.5e10)  # FLOPs per timing
    peaks = [matmul_peak(n) for n in peak_ns]
    jobs = []
    for name, enc, batches, seq_len, jit_batches in configs(quick):
        cfg = {"tasks": {"y": {"kind": "binary"}}, "model": {"encoder": enc, "tower": dict(TOWER)}}
        for jit in (False, True):
            for b in jit_batches if jit else batches:
                keras.utils.set_random_seed(0)
                loop, it, model = train_loop(cfg, _inputs(enc, b, seq_len), b, jit_compile=jit)
                flops = train_flops(model, b, seq_len)
                steps = max(1, round(target_flops / flops))
                params = {"model": name, "batch": b, "jit": jit, "seq_len": seq_len, "units": enc.get("units")}
                jobs.append((params, flops, steps, lambda lp=loop, it=it, n=steps: lp.run(it, n)))
    for fn, _ in peaks:
        fn()
    for _, _, _, fn in jobs:  # warm-up: tracing (and XLA compilation) not timed
        fn()
    peak_t = []
    step_t = [[] for _ in jobs]
    for _ in range(rounds):
        best = 0.0  # a round's peak: the best rate of 3 matmuls of each size (load only slows)
        for fn, flops in peaks:
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                best = max(best, flops / (time.perf_counter() - t0))
        peak_t.append(1.0 / best)
        for i, (_, _, steps, fn) in enumerate(jobs):
            t0 = time.perf_counter()
            fn()
            step_t[i].append((time.perf_counter() - t0) / steps)
    peak_rate = [1.0 / t for t in peak_t]
    rows = [row("roofline", "peak", {"n": list(peak_ns)}, peak_t, unit="s/FLOP")]
    rows[0]["flops_per_s"] = 1.0 / rows[0]["median"]
    rows[0]["flops_per_s_max"] = max(peak_rate)
    for (params, flops, steps, _), ts in zip(jobs, step_t, strict=True):
        r = row("roofline", "mfu", params, ts, unit="s/step")
        mfu = [flops / t / p for t, p in zip(ts, peak_rate, strict=True)]
        r.update(
            flops_per_step=flops,
            flops_per_s=flops / r["median"],
            mfu=float(np.median(mfu)),
            mfu_range=[float(min(mfu)), float(max(mfu))],
            mfu_best=flops / min(ts) / max(peak_rate),
            steps_per_timing=steps,
        )
        rows.append(r)
    p = rows[0]
    print(
        f"peak: best float32 matmul of sizes {peak_ns} per round, {p['flops_per_s'] / 1e9:.1f} GFLOP/s median "
        f"(max {p['flops_per_s_max'] / 1e9:.1f}, spread {100 * p['spread']:.0f}%)\n"
    )
    print_table(
        rows[1:],
        [
            ("model", lambda r: r["params"]["model"]),
            ("batch", lambda r: r["params"]["batch"]),
            ("jit", lambda r: r["params"]["jit"]),
            ("GFLOP/step", lambda r: f"{r['flops_per_step'] / 1e9:.3f}"),
            ("ms/step", lambda r: f"{1e3 * r['median']:.1f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("GFLOP/s", lambda r: f"{r['flops_per_s'] / 1e9:.1f}"),
            ("MFU", lambda r: f"{100 * r['mfu']:.0f}%"),
            ("MFU range", lambda r: f"{100 * r['mfu_range'][0]:.0f}-{100 * r['mfu_range'][1]:.0f}%"),
            ("best/best", lambda r: f"{100 * r['mfu_best']:.0f}%"),
        ],
    )
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
