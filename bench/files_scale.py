"""Suite ``files_scale``: the ``files`` source at scale: peak memory and input throughput versus
the model's step rate, for a generated CSV file and a TFRecord set of the same size.

    python bench/files_scale.py [--rows 5000000] [--batch 256] [--steps 400] [--dir DIR] [--out FILE]
    python bench/run.py --suite files_scale [--quick]        # --quick: 20,000 rows

Data (written once per ``--dir``/``--rows`` with numpy in chunks, then reused): ``rows``
examples of ``D = 32`` float features and two binary tasks, ``t1`` labelled on one row in
three (an empty cell / an absent feature is a missing label): ``data.csv`` (one file) and
``tfrecord/part-NNNNN.tfrecord`` (8 shards of ``tf.train.Example``).

Each format runs in a fresh Python process (so its peak RSS is its own):

* ``load``: seconds of :func:`mtlzoo.data.load_data` (open, count, the validation pass over
  every row);
* ``input``: examples/s of the training pipeline alone
  (:meth:`mtlzoo.data.streams.StreamData.train_dataset`, ``5 * --steps`` batches of ``--batch``
  after 20 warm-up batches), drawn as the trainer draws them: ``next(iterator)`` in a
  ``tf.while_loop`` inside one ``tf.function`` (:func:`drawn_in_graph`, as
  :meth:`mtlzoo.training.loop.TrainLoop.run`);
* ``input_eager``: the same pipeline iterated by Python, one ``next(iterator)`` call per batch
  (``--steps`` batches; the measure of the first six passes in docs/benchmarks.md): each call also costs
  Python about 0.1 ms, which training never pays;
* ``model``: training steps/s of the model on one in-memory batch (the ``mlp`` encoder of
  the ``sharing``/``pipeline`` suites, 512-256 units, ``input_dim`` D, two towers;
  :class:`mtlzoo.training.loop.TrainLoop`, SGD): the rate the model consumes batches;
* ``train``: training steps/s of the same loop fed by the file pipeline (``--steps`` steps);
* ``headroom`` = (input examples/s / batch) / model steps/s (the issue's target: >= 5);
* ``headroom_cpu`` = input batches per CPU second / model steps per CPU second (the process's
  CPU time, all threads, over the same two loops): the same ratio counted in CPU time, which
  on a shared machine moves much less with the other processes' load than the wall-clock one;
* ``peak_rss_mb``: the process's peak resident set size at the end (:func:`peak_rss_mb`;
  load, the input pass and the training steps included; the issue's target: < 2 GB).

``--readers N [--format csv|tfrecord]`` (:func:`compare_readers`): the data loaded once per
reader in one process (TFRecord: by its frames and by ``TFRecordDataset``,
``data.tfrecord_reader`` ``auto`` / ``tensorflow``; CSV: pyarrow in parts, pyarrow streamed,
TensorFlow's ops); checks that all give the same stored order and epoch 0, then times the
input loop above (``--steps`` batches) for each in N alternating repeats and prints input
examples/s and batches per CPU second of each (min / median / max).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

D = 32
SHARDS = 8
CHUNK = 200_000


def _chunks(rows, seed=0):
    """(x [n, D] float32, t0 [n] int, t1 [n] int or -1 = missing) chunk by chunk."""
    rng = np.random.default_rng(seed)
    for lo in range(0, rows, CHUNK):
        n = min(CHUNK, rows - lo)
        x = rng.normal(size=(n, D)).astype(np.float32)
        t0 = (x[:, 0] > 0).astype(np.int64)
        t1 = np.where(np.arange(lo, lo + n) % 3 == 0, (x[:, 1] > 0).astype(np.int64), -1)
        yield x, t0, t1


def write_csv(path, rows):
    """``rows`` lines ``x0..x{D-1},t0,t1`` (t1 empty when missing), written in numpy chunks."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(",".join([f"x{i}" for i in range(D)] + ["t0", "t1"]) + "\n")
        for x, t0, t1 in _chunks(rows):
            cells = np.round(x, 4).astype("U12")  # a C-level conversion, no per-cell Python call
            t1s = np.where(t1 < 0, "", t1.astype("U1"))
            table = np.concatenate([cells, t0.astype("U1")[:, None], t1s[:, None]], axis=1)
            f.write("\n".join(map(",".join, table.tolist())))
            f.write("\n")
    os.replace(tmp, path)


def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field, payload):
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _entry(key, feature):
    """One ``Features.feature`` map entry: key (field 1), Feature (field 2)."""
    return _ld(1, _ld(1, key.encode()) + _ld(2, feature))


def _int_feature(v):
    return _ld(3, _ld(1, _varint(v)))  # Feature.int64_list (3) -> Int64List.value (1, packed)


def example_records(x, t0, t1):
    """Serialized ``tf.train.Example`` protos of a chunk, encoded with numpy: every row has the
    same byte layout (features ``x`` float[D], ``t0`` int, and ``t1`` int when labelled), so the
    rows are a uint8 table whose float bytes are the only per-row part besides the labels."""
    x_head = _varint(1 << 3 | 2)  # Example.features
    float_list = _ld(1, b"\0" * (4 * D))  # FloatList.value, packed
    x_entry = _entry("x", _ld(2, float_list))
    out = [None] * len(x)
    for labelled in (False, True):
        rows = np.flatnonzero((t1 >= 0) == labelled)
        if not len(rows):
            continue
        tail = _entry("t0", _int_feature(0)) + (_entry("t1", _int_feature(0)) if labelled else b"")
        body = x_entry + tail
        prefix = x_head + _varint(len(body))
        table = np.frombuffer(prefix + body, np.uint8)[None, :].repeat(len(rows), 0)
        at = len(prefix) + len(x_entry) - 4 * D  # the float bytes end the x entry
        table[:, at : at + 4 * D] = x[rows].astype("<f4").view(np.uint8)
        t0_at = len(prefix) + len(x_entry) + len(_entry("t0", _int_feature(0))) - 1
        table[:, t0_at] = t0[rows]
        if labelled:
            table[:, -1] = t1[rows]
        for i, r in zip(rows.tolist(), table, strict=True):
            out[i] = r.tobytes()
    return out


def write_tfrecords(folder, rows):
    import tensorflow as tf

    os.makedirs(folder, exist_ok=True)
    writers = [tf.io.TFRecordWriter(os.path.join(folder, f".part-{i:05d}.tmp")) for i in range(SHARDS)]
    i = 0
    for x, t0, t1 in _chunks(rows):
        for rec in example_records(x, t0, t1):
            writers[i % SHARDS].write(rec)
            i += 1
    for k, w in enumerate(writers):
        w.close()
        os.replace(os.path.join(folder, f".part-{k:05d}.tmp"), os.path.join(folder, f"part-{k:05d}.tfrecord"))


def ensure_data(folder, rows):
    """Writes the data unless ``folder`` already holds it for ``rows``; returns seconds spent."""
    stamp = os.path.join(folder, "rows.json")
    if os.path.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == {"rows": rows, "d": D}:
                return 0.0
    os.makedirs(folder, exist_ok=True)
    t0 = time.perf_counter()
    write_csv(os.path.join(folder, "data.csv"), rows)
    write_tfrecords(os.path.join(folder, "tfrecord"), rows)
    with open(stamp, "w") as f:
        json.dump({"rows": rows, "d": D}, f)
    return time.perf_counter() - t0


def run_config(fmt, folder, batch):
    columns = [f"x{i}" for i in range(D)]
    if fmt == "csv":
        entry = {"path": os.path.join(folder, "data.csv"), "format": "csv", "split": "train"}
        features = {"features": {"kind": "numeric", "columns": columns}}
    else:
        entry = {
            "path": os.path.join(folder, "tfrecord", "part-*.tfrecord"),
            "format": "tfrecord",
            "split": "train",
            "schema": {"x": {"type": "float", "shape": [D]}, "t0": {"type": "int"}, "t1": {"type": "int"}},
        }
        features = {"features": {"kind": "numeric", "columns": ["x"]}}
    return {
        "seed": 0,
        "tasks": {"t0": {"kind": "binary"}, "t1": {"kind": "binary"}},
        "data": {"source": "files", "batch_size": batch, "files": [entry], "features": features},
        "model": {"encoder": {"name": "mlp", "input_dim": D, "units": [512, 256]}, "tower": {"units": [64]}},
    }


def drawn_in_graph():
    """``drain(iterator, n)`` -> the number of examples in the next ``n`` batches, drawn inside
    one ``tf.function`` by a ``tf.while_loop`` of ``next(iterator)``: how
    :meth:`mtlzoo.training.loop.TrainLoop.run` draws its batches (no Python per batch)."""
    import tensorflow as tf

    @tf.function(autograph=False)
    def drain(iterator, n):
        def body(i, examples):
            features, _, _ = next(iterator)
            return i + 1, examples + tf.shape(features["features"], out_type=tf.int64)[0]

        zero = tf.constant(0, tf.int64)
        return tf.while_loop(lambda i, _: i < n, body, (zero, zero))[1]

    return drain


def measure(fmt, folder, batch, steps, input_steps=None):
    """One format in this process: load, input, model, train, peak RSS (a dict). ``input_steps``
    (default ``5 * steps``): the batches of the input measure."""
    import tensorflow as tf

    from bench.sharing import train_loop
    from mtlzoo.config import resolve_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    config = resolve_config(run_config(fmt, folder, batch))
    tasks = tasks_from_config(config.tasks)
    t = time.perf_counter()
    data = load_data(config, tasks)
    load_s = time.perf_counter() - t
    n = len(data.split("train"))
    input_steps = input_steps or 5 * steps
    warm = 20
    drain = drawn_in_graph()
    it = iter(data.train_dataset(["features"], batch, 0, warm + input_steps))
    drain(it, tf.constant(warm, tf.int64))
    t, c = time.perf_counter(), time.process_time()
    assert int(drain(it, tf.constant(input_steps, tf.int64))) == input_steps * batch
    input_eps = input_steps * batch / (time.perf_counter() - t)
    input_cpu = input_steps / (time.process_time() - c)
    del it
    it = iter(data.train_dataset(["features"], batch, 0, warm + steps))
    for _ in range(warm):
        next(it)
    t = time.perf_counter()
    for _ in range(steps):
        next(it)
    input_eager_eps = steps * batch / (time.perf_counter() - t)
    del it

    x = {"features": np.random.default_rng(0).normal(size=(batch, D)).astype(np.float32)}
    loop, fixed, _ = train_loop(dict(config.to_dict()), x, batch)
    loop.run(fixed, warm)
    t, c = time.perf_counter(), time.process_time()
    loop.run(fixed, steps)
    model_sps = steps / (time.perf_counter() - t)
    model_cpu = steps / (time.process_time() - c)

    strategy = tf.distribute.get_strategy()
    fed = iter(strategy.experimental_distribute_dataset(data.train_dataset(["features"], batch, 0, warm + steps)))
    loop.run(fed, warm)
    t = time.perf_counter()
    loop.run(fed, steps)
    train_sps = steps / (time.perf_counter() - t)
    return {
        "format": fmt,
        "rows": n,
        "batch": batch,
        "load_s": load_s,
        "input_examples_per_s": input_eps,
        "input_eager_examples_per_s": input_eager_eps,
        "model_steps_per_s": model_sps,
        "train_steps_per_s": train_sps,
        "headroom": input_eps / batch / model_sps,
        "input_batches_per_cpu_s": input_cpu,
        "model_steps_per_cpu_s": model_cpu,
        "headroom_cpu": input_cpu / model_cpu,
        "peak_rss_mb": peak_rss_mb(),
    }


READERS = {  # format -> (reader, data options, files.PART while loading, the info that names the reading)
    "tfrecord": [
        ("frames", {"tfrecord_reader": "auto"}, None, ("tfrecord_readers", "frames")),
        ("tensorflow", {"tfrecord_reader": "tensorflow"}, None, ("tfrecord_readers", "tensorflow")),
    ],
    "csv": [
        ("parts", {"csv_reader": "auto"}, None, ("csv_readers", "pyarrow parts")),
        ("stream", {"csv_reader": "auto"}, 0, ("csv_readers", "pyarrow")),
        ("tensorflow", {"csv_reader": "tensorflow"}, None, ("csv_readers", "tensorflow")),
    ],
}


def compare_readers(folder, batch, steps, repeats, fmt="tfrecord"):
    """Input examples/s and batches per CPU second of training on ``fmt`` read by each of its
    readers (:data:`READERS`: TFRecord by frames and by TFRecordDataset; CSV by pyarrow in
    parts, pyarrow streamed (``files.PART = 0`` while loading) and TensorFlow's ops), each
    loaded once in this process, ``repeats`` alternating repeats of ``steps`` batches drawn in
    graph; first checks that every reader gives the first's stored order and epoch 0. Returns
    reader -> list of (examples/s, batches per CPU second)."""
    import tensorflow as tf

    from mtlzoo.config import resolve_config
    from mtlzoo.data import files, load_data
    from mtlzoo.tasks import tasks_from_config

    data, part = {}, files.PART
    for reader, options, load_part, (key, name) in READERS[fmt]:
        raw = run_config(fmt, folder, batch)
        raw["data"].update(options)
        config = resolve_config(raw)
        files.PART = part if load_part is None else load_part
        try:
            data[reader] = load_data(config, tasks_from_config(config.tasks))
        finally:
            files.PART = part
        assert set(data[reader].info[key].values()) == {name}, data[reader].info[key]
    first, *others = data.values()
    for epoch in (None, 0):
        for d in others:
            a, b = (x.split("train").batches(epoch).rebatch(50_000).as_numpy_iterator() for x in (first, d))
            for x, y in zip(a, b, strict=True):
                tf.nest.map_structure(np.testing.assert_array_equal, x, y)
    out, drain = {r: [] for r in data}, drawn_in_graph()
    for _ in range(repeats):
        for reader, d in data.items():
            it = iter(d.train_dataset(["features"], batch, 0, steps + 20))
            drain(it, tf.constant(20, tf.int64))
            t, c = time.perf_counter(), time.process_time()
            drain(it, tf.constant(steps, tf.int64))
            out[reader].append((steps * batch / (time.perf_counter() - t), steps / (time.process_time() - c)))
            del it
    return out


def peak_rss_mb():
    """This process's peak resident set size in MB: ``VmHWM`` of ``/proc/self/status`` (reset
    by exec, so a child started by a big parent reports its own), else ``ru_maxrss`` (which
    Linux carries over from the parent at fork and across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(fmt, folder, batch, steps):
    cmd = [sys.executable, os.path.abspath(__file__), "--_one", fmt, "--dir", folder]
    cmd += ["--batch", str(batch), "--steps", str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{fmt}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def rows_of(results, rows, gen_s):
    from bench.common import row

    out = []
    for m in results:
        params = {"format": m["format"], "rows": rows, "batch": m["batch"]}
        extra = {k: m[k] for k in m if k not in params}
        out.append(row("files_scale", m["format"], params, [m["load_s"]], unit="s (load)", generate_s=gen_s, **extra))
    return out


def print_rows(rows):
    from bench.common import print_table

    print_table(
        rows,
        [
            ("format", lambda r: r["params"]["format"]),
            ("rows", lambda r: f"{r['params']['rows']:,}"),
            ("load s", lambda r: f"{r['load_s']:.1f}"),
            ("input ex/s", lambda r: f"{r['input_examples_per_s']:,.0f}"),
            (
                "eager ex/s",
                lambda r: f"{r['input_eager_examples_per_s']:,.0f}" if "input_eager_examples_per_s" in r else "-",
            ),
            ("input batches/s", lambda r: f"{r['input_examples_per_s'] / r['params']['batch']:.1f}"),
            ("model steps/s", lambda r: f"{r['model_steps_per_s']:.1f}"),
            ("train steps/s", lambda r: f"{r['train_steps_per_s']:.1f}"),
            ("x model", lambda r: f"{r['headroom']:.2f}"),
            ("x model (CPU s)", lambda r: f"{r['headroom_cpu']:.2f}" if "headroom_cpu" in r else "-"),
            ("peak RSS MB", lambda r: f"{r['peak_rss_mb']:.0f}"),
        ],
    )


def run(quick=False, rows=None, batch=256, steps=None, folder=None):
    """The suite for bench/run.py: both formats; returns the rows."""
    rows = rows or (20_000 if quick else 5_000_000)
    steps = steps or (30 if quick else 400)
    folder = folder or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"mtlzoo_files_scale_{rows}")
    gen_s = ensure_data(folder, rows)
    if gen_s:
        print(f"wrote {rows:,} rows as CSV and TFRecord under {folder} in {gen_s:.0f} s")
    out = rows_of([_child(fmt, folder, batch, steps) for fmt in ("csv", "tfrecord")], rows, gen_s)
    print_rows(out)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--dir", help="data folder (default: $TMPDIR/mtlzoo_files_scale_<rows>)")
    p.add_argument("--out", help="append the rows as JSON lines to this file")
    p.add_argument("--readers", type=int, metavar="N", help="compare the readers of --format, N repeats")
    p.add_argument("--format", choices=sorted(READERS), default="tfrecord", help="the format --readers compares")
    p.add_argument("--_one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.readers:
        folder = args.dir or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"mtlzoo_files_scale_{args.rows}")
        ensure_data(folder, args.rows)
        for reader, v in compare_readers(folder, args.batch, args.steps, args.readers, args.format).items():
            for i, what in ((0, "input examples/s"), (1, "input batches / CPU s")):
                x = sorted(r[i] for r in v)
                print(f"{reader:10s} {what:22s} min {x[0]:,.0f} median {x[len(x) // 2]:,.0f} max {x[-1]:,.0f}")
        return 0
    if args._one:
        print(json.dumps(measure(args._one, args.dir, args.batch, args.steps)))
        return 0
    out = run(rows=args.rows, batch=args.batch, steps=args.steps, folder=args.dir)
    if args.out:
        with open(args.out, "a") as f:
            for r in out:
                f.write(json.dumps(r, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
