"""Fine-tuning rate on one GLUE task: ``mtlzoo train`` vs keras-hub's own ``BertTextClassifier.fit``, side by side.

    nice python bench/glue_finetune.py [--task=sst2] [--examples=320] [--batch=16] [--epochs=3] [--rounds=3]
        [--seed=0] [--override=data.bucket_by_length=false ...] [--systems=mtlzoo,keras_hub]

Both systems fine-tune the same pretrained encoder (``$MTLZOO_DATA_DIR/bert/all-MiniLM-L6-v2``,
or ``--checkpoint``) in one process, on the same examples: the seeded draw of the
``glue_files`` source, ``--examples`` training examples (a multiple of ``--batch``) and
``--validation`` held-out ones (default examples / 8), so ``examples / batch`` steps per epoch,
``--epochs`` epochs:

* mtlzoo: ``mtlzoo.train`` with ``configs/glue_minilm.py:<task>`` (length-bucketed batches
  padded to their longest example, AdamW, linear warm-up/decay, clipping, mean pooling), with
  everything it does each epoch as usual: the NaN guard, a ``tf.train`` checkpoint (weights and
  AdamW state), the epoch's ``.weights.h5`` and the evaluation on the validation examples;
* keras-hub: ``BertTextClassifier.from_preset(DIR, num_classes=2)`` with its
  ``BertTextClassifierPreprocessor`` (every example packed to ``--hub_sequence_length``, 128,
  tokenised in the ``tf.data`` pipeline; a transformers-format directory alone would pack to
  256), ``.fit`` with its default compile (Adam 5e-5) and ``validation_data`` = the same
  validation examples (so both evaluate the same examples each epoch).

``--override key=value`` (repeatable) sets a field of the mtlzoo config as the tools'
``--config.key=value`` does (``train.learning_rate=3e-5``, ``data.bucket_by_length=false``,
``tasks.sst2.kind=multiclass``): the key must name an existing field, the value is parsed as a
Python literal (a bare word is a string, ``true``/``false`` booleans) and must fit the field's
type, and the resulting config is validated before anything trains (a bad one: exit 2).

``--rounds`` rounds, each training both systems from scratch, in alternating order (round 0
mtlzoo first, round 1 keras-hub first, ...), so both see the same machine load. Round r uses
the training seed ``--seed`` + r for both systems (mtlzoo: ``config.seed``; keras-hub:
``keras.utils.set_random_seed`` and its shuffle): it sets the head's initialisation, dropout
and the batch order; the examples stay the seed-0 draw in every round, for both.
``--systems`` runs only the named system(s) (a dev-score study of mtlzoo settings needs no
keras-hub); the ratios are then left out. Two rates per
system, median over the rounds of each round's median over its timed epochs (every epoch but
the first, which holds the graph tracing):

* ``epoch``: examples / (epoch end - previous epoch end): steps *and* each system's per-epoch
  work (for mtlzoo: guard, checkpoint, weights file, validation; for keras-hub: validation);
* ``steps``: examples / time inside the training steps alone (mtlzoo: ``TrainLoop.run``;
  keras-hub: ``on_train_batch_begin`` .. ``on_train_batch_end``), no checkpoint I/O or
  validation for either.

Also per system: the whole call's wall time (data, model build, tracing included) and the dev
score (GLUE's dev file: accuracy, Matthews corr. for CoLA) after the same number of steps, of
every round's model (``<system>_dev_rounds``; ``<system>_dev`` their mean, ``<system>_dev_sd``
their sample standard deviation); and for mtlzoo the seconds per epoch of its per-epoch pieces (the
trainer's functions, timed by wrapping them here) and how often its training step was traced
(1: one graph serves every bucket width).
"""

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TASKS = ("rte", "mrpc", "cola", "sst2")
SYSTEMS = ("mtlzoo", "keras_hub")


class Clock:
    """Epoch-end timestamps and time inside training batches (a Keras callback and an
    mtlzoo.train callback; mtlzoo's step time comes from ``mtlzoo_steps`` instead)."""

    def __init__(self):
        self.ends = []
        self.epoch_steps = []  # seconds inside train batches, per epoch (keras-hub)
        self._t = None
        self._acc = 0.0

    def set_model(self, model):
        pass

    def set_params(self, params):
        pass

    def __getattr__(self, name):  # the other Keras callback hooks: no-ops
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_train_begin(self, logs=None):
        self.ends.append(time.perf_counter())

    def on_train_batch_begin(self, batch, logs=None):
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._acc += time.perf_counter() - self._t

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())
        self.epoch_steps.append(self._acc)
        self._acc = 0.0

    def epoch_seconds(self):
        return [b - a for a, b in zip(self.ends, self.ends[1:], strict=False)]


class Wrapped:
    """Times calls of named module/class functions (restored by ``close``): ``{label: [s, ...]}``."""

    def __init__(self, targets):
        self.times = {}
        self._saved = []
        for obj, name, label in targets:
            if not hasattr(obj, name):  # the trainer may have changed: time what exists
                continue
            f = getattr(obj, name)
            self._saved.append((obj, name, f))
            self.times[label] = []
            setattr(obj, name, self._timed(f, self.times[label]))

    @staticmethod
    def _timed(f, out):
        def g(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                out.append(time.perf_counter() - t)

        return g

    def close(self):
        for obj, name, f in reversed(self._saved):
            setattr(obj, name, f)


def split_examples(args):
    """``{"train": (a, b, y), "validation": ..., "test": ...}`` as the glue_files source draws them."""
    from mtlzoo.data.glue_files import GlueFilesSource

    opts = {"data_dir": args.data_dir, "max_train_examples": args.examples + args.validation}
    opts["validation_fraction"] = args.validation / (args.examples + args.validation)
    out = GlueFilesSource.read_task(opts, args.task, 0)
    if len(out["train"][2]) < args.examples:
        raise SystemExit(f"error: --examples={args.examples}: {args.task} has only {len(out['train'][2])} left")
    return out


def dev_score(task, labels, predicted):
    """GLUE's metric of a binary task from predicted 0/1 labels: accuracy, Matthews corr. for CoLA."""
    import numpy as np

    y, p = np.asarray(labels, int), np.asarray(predicted, int)
    if task != "cola":
        return float(np.mean(y == p))
    tp, tn = float(np.sum((p == 1) & (y == 1))), float(np.sum((p == 0) & (y == 0)))
    fp, fn = float(np.sum((p == 1) & (y == 0))), float(np.sum((p == 0) & (y == 1)))
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / den) if den else 0.0


def set_field(cfg, key, text):
    """Sets ``cfg.<key>`` (dotted) from the text of ``--override key=text`` as the tools'
    ``--config.key=text`` would: a Python literal (``3e-5``, ``(64,)``, ``None``), ``true``/``false``
    as booleans, any other word as a string. ValueError naming the key: no such field, or a
    value of the wrong type for it."""
    import ast

    from mtlzoo.config import field_parent

    try:
        node, last = field_parent(cfg, key)
    except KeyError as e:
        raise ValueError(f"--override {key}: the config has no field {e.args[0]!r}") from None
    if text.lower() in ("true", "false"):
        value = text.lower() == "true"
    else:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
    try:
        node[last] = value
    except (TypeError, ValueError) as e:
        raise ValueError(f"--override {key}={text}: {str(e).splitlines()[0]}") from e


def mtlzoo_config(args, seed=None):
    from mtlzoo.config import load_config_module
    from mtlzoo.configs import config_path

    cfg = load_config_module(config_path("glue_minilm")).get_config(args.task)
    cfg.data.checkpoint = args.checkpoint
    cfg.model.encoder.preset = args.checkpoint
    cfg.data.data_dir = args.data_dir
    cfg.data.max_train_examples[args.task] = args.examples + args.validation
    cfg.data.validation_fraction = args.validation / (args.examples + args.validation)
    cfg.data.batch_size = args.batch
    cfg.train.eval_split = "validation"
    cfg.train.epochs = args.epochs
    cfg.train.steps_per_epoch = args.examples // args.batch
    cfg.train.verbose = 0
    if args.pooling:
        cfg.model.encoder.pooling = args.pooling
    if args.recipe == "hub":  # keras-hub's default compile: Adam at a constant 5e-5, nothing else
        cfg.train.optimizer = "adam"
        cfg.train.learning_rate = 5e-5
        cfg.train.lr_schedule = "constant"
        cfg.train.warmup_fraction = 0.0
        cfg.train.weight_decay = 0.0
        cfg.train.clipnorm = None
    for item in args.override:
        key, _, text = item.partition("=")
        set_field(cfg, key.strip(), text.strip())
    if seed is not None:
        cfg.seed = seed
    return cfg


def mtlzoo_predict(model, args, a, b):
    """0/1 predictions of an mtlzoo model on raw texts (the source's own encoding,
    :func:`mtlzoo.data.glue_files.predict_texts`: length-sorted batches cut to their longest example)."""
    import numpy as np

    from mtlzoo.data.glue_files import predict_texts, tokenizer_files, wordpiece_tokenizer

    tok = wordpiece_tokenizer(*tokenizer_files({"checkpoint": args.checkpoint}))
    p = predict_texts(model, tok, args.task, a, b, 128)
    if p.ndim == 2:  # a softmax head (tasks.<task>.kind=multiclass): its argmax
        return np.argmax(p, axis=1)
    return (p > 0.5).astype(int)


def run_mtlzoo(args, data, score=False, seed=None):
    import keras
    import tensorflow as tf

    import mtlzoo
    from mtlzoo.data.glue_files import GlueFilesSource
    from mtlzoo.training import loop, trainer

    cfg = mtlzoo_config(args, seed)
    clock = Clock()
    w = Wrapped(
        [
            (loop.TrainLoop, "run", "steps"),
            (trainer, "check_weights", "nan_guard"),
            (tf.train.CheckpointManager, "save", "tf_checkpoint"),
            (keras.Model, "save_weights", "weights_h5"),
            (trainer, "evaluate_model", "evaluate"),
        ]
    )
    loops = []  # the trainer's TrainLoop, to count how often its step function was traced
    init = loop.TrainLoop.__init__

    def keep(self, *a, **k):
        init(self, *a, **k)
        loops.append(self)

    loop.TrainLoop.__init__ = keep
    # the examples are the seed-0 draw whatever the round's training seed (as keras-hub's)
    read_task = GlueFilesSource.read_task
    GlueFilesSource.read_task = staticmethod(lambda opts, task, _seed: read_task(opts, task, 0))
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = mtlzoo.train(cfg, os.path.join(tmp, "run"), callbacks=[clock])
    finally:
        w.close()
        loop.TrainLoop.__init__ = init
        GlueFilesSource.read_task = staticmethod(read_task)
    wall = time.perf_counter() - t0
    # TrainLoop.run covers up to steps_per_loop steps, never past an epoch end: add up each epoch's calls
    per_epoch = _group(w.times.pop("steps", []), cfg.train.steps_per_epoch, cfg.train.steps_per_loop)
    out = {"epoch_s": clock.epoch_seconds(), "steps_s": per_epoch, "wall_s": wall, "pieces": w.times}
    traced = [getattr(x._run, "experimental_get_tracing_count", lambda: None)() for x in loops]
    out["traces"] = traced[0] if len(traced) == 1 else traced  # 1: one graph for every bucket width
    if score:
        a, b, y = data["test"]
        out["dev"] = dev_score(args.task, y, mtlzoo_predict(result.model, args, a, b))
    return out


def _group(times, steps_per_epoch, steps_per_loop):
    """Per-epoch sums of ``TrainLoop.run`` times (each call runs up to steps_per_loop steps,
    never past an epoch end)."""
    calls = -(-steps_per_epoch // steps_per_loop)
    return [sum(times[i : i + calls]) for i in range(0, len(times), calls)]


def run_keras_hub(args, data, score=False, seed=0):
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    a, b, y = data["train"]
    n = args.examples
    va, vb, vy = data["validation"]
    pair = b is not None
    x = (np.array(a[:n]), np.array(b[:n])) if pair else np.array(a[:n])
    vx = (np.array(va), np.array(vb)) if pair else np.array(va)
    t0 = time.perf_counter()
    keras.utils.set_random_seed(seed)  # the head's initialisation and dropout
    # A transformers-format directory's preset preprocessor packs to 256; pin the 128 of the
    # keras-hub BERT presets (and of the benchmark row) unless --hub_sequence_length says otherwise.
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
        args.checkpoint, sequence_length=args.hub_sequence_length
    )
    classifier = keras_hub.models.BertTextClassifier.from_preset(
        args.checkpoint, num_classes=2, preprocessor=preprocessor
    )
    # keras-hub batches numpy inputs in order (fit's shuffle is ignored for them): a tf.data
    # dataset reshuffled every epoch, as mtlzoo's batches are
    train_ds = tf.data.Dataset.from_tensor_slices((x, np.array(y[:n])))
    train_ds = train_ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(args.batch)
    val_ds = tf.data.Dataset.from_tensor_slices((vx, np.array(vy))).batch(args.batch)
    clock = Clock()
    classifier.fit(train_ds, validation_data=val_ds, epochs=args.epochs, verbose=0, callbacks=[clock])
    wall = time.perf_counter() - t0
    out = {"epoch_s": clock.epoch_seconds(), "steps_s": clock.epoch_steps, "wall_s": wall}
    out["sequence_length"] = classifier.preprocessor.sequence_length
    if score:
        ta, tb, ty = data["test"]
        tx = (np.array(ta), np.array(tb)) if pair else np.array(ta)
        logits = classifier.predict(tx, batch_size=32, verbose=0)
        out["dev"] = dev_score(args.task, ty, np.argmax(logits, axis=-1))
    return out


def rates(runs, key, examples):
    """Median over rounds of each round's median examples/s over its timed epochs (all but the first)."""
    per_round = [statistics.median(examples / s for s in r[key][1:]) for r in runs if len(r[key]) > 1]
    return (statistics.median(per_round) if per_round else float("nan")), per_round


def dev_stats(scores):
    """``(mean, sample sd)`` of the rounds' dev scores (sd None for one round; both None for none)."""
    scores = [x for x in scores if x is not None]
    if not scores:
        return None, None
    return statistics.fmean(scores), (statistics.stdev(scores) if len(scores) > 1 else None)


def summarize(args, runs):
    n = args.examples
    row = {
        "task": args.task,
        "examples_per_epoch": n,
        "validation_examples": args.validation,
        "batch": args.batch,
        "steps_per_epoch": n // args.batch,
        "epochs": args.epochs,
        "rounds": args.rounds,
        "seeds": [args.seed + r for r in range(args.rounds)],
        "systems": list(args.systems),
        "mtlzoo_recipe": args.recipe,
        "mtlzoo_pooling": args.pooling or "config",
        "mtlzoo_overrides": list(args.override),
    }
    for name in args.systems:
        rs = rs_of(runs, name)
        for key in ("epoch", "steps"):
            med, per = rates(rs, f"{key}_s", n)
            row[f"{name}_{key}_examples_per_s"] = med
            row[f"{name}_{key}_rounds"] = per
        row[f"{name}_wall_s"] = statistics.median(r["wall_s"] for r in rs)
        row[f"{name}_dev_rounds"] = [r.get("dev") for r in rs]
        row[f"{name}_dev"], row[f"{name}_dev_sd"] = dev_stats(row[f"{name}_dev_rounds"])
    if "keras_hub" in args.systems:
        row["keras_hub_sequence_length"] = runs[-1]["keras_hub"]["sequence_length"]
    if len(args.systems) == 2:
        row["ratio_epoch"] = row["mtlzoo_epoch_examples_per_s"] / row["keras_hub_epoch_examples_per_s"]
        row["ratio_steps"] = row["mtlzoo_steps_examples_per_s"] / row["keras_hub_steps_examples_per_s"]
        row["ratio_wall"] = row["keras_hub_wall_s"] / row["mtlzoo_wall_s"]
        if row["mtlzoo_dev"] is not None and row["keras_hub_dev"] is not None:
            row["dev_difference"] = row["mtlzoo_dev"] - row["keras_hub_dev"]
    if "mtlzoo" in args.systems:
        # mtlzoo's per-epoch pieces: seconds per epoch, median over the timed epochs of every round
        pieces = {}
        for r in rs_of(runs, "mtlzoo"):
            for label, times in r["pieces"].items():
                pieces.setdefault(label, []).extend(times[1:] if len(times) > 1 else times)
        row["mtlzoo_per_epoch_pieces_s"] = {k: statistics.median(v) for k, v in pieces.items() if v}
        row["mtlzoo_step_traces"] = runs[-1]["mtlzoo"].get("traces")
        row["mtlzoo_timed_epoch_s"] = statistics.median(s for r in rs_of(runs, "mtlzoo") for s in r["epoch_s"][1:])
    return row


def rs_of(runs, name):
    return [r[name] for r in runs]


def parse_args(argv=None):
    data = os.environ.get("MTLZOO_DATA_DIR", ".")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="sst2", choices=TASKS)
    p.add_argument("--examples", type=int, default=320, help="training examples per epoch (a multiple of --batch)")
    p.add_argument("--validation", type=int, default=None, help="validation examples (default examples / 8)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--epochs", type=int, default=3, help="epochs per run; all but the first are timed")
    p.add_argument("--rounds", type=int, default=3, help="rounds of (mtlzoo, keras-hub), order alternating")
    p.add_argument("--checkpoint", default=os.path.join(data, "bert", "all-MiniLM-L6-v2"))
    p.add_argument("--data_dir", default=os.path.join(data, "glue"))
    p.add_argument("--hub_sequence_length", type=int, default=128, help="keras-hub's packed length")
    p.add_argument("--no_dev", action="store_true", help="skip the dev-set score")
    p.add_argument(
        "--pooling",
        default=None,
        choices=("cls", "mean"),
        help="mtlzoo's pooling (default: the config's, mean; cls = [CLS] through BERT's pooler, as keras-hub)",
    )
    p.add_argument(
        "--recipe",
        default="config",
        choices=("config", "hub"),
        help="mtlzoo's optimizer: the config's (AdamW, warm-up/decay, clipping) or keras-hub's (Adam, constant 5e-5)",
    )
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a field of the mtlzoo config, as the tools' --config.KEY=VALUE (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0, help="training seed of round 0 (round r: seed + r), both systems")
    p.add_argument(
        "--systems",
        default="mtlzoo,keras_hub",
        help="comma-separated systems to run: mtlzoo, keras_hub (both: the ratios)",
    )
    p.add_argument("--out", default=None, help="also write the row as JSON here")
    args = p.parse_args(argv)
    if args.validation is None:
        args.validation = max(1, args.examples // 8)
    if args.examples < args.batch or args.examples % args.batch:
        p.error(f"--examples={args.examples} must be a positive multiple of --batch={args.batch}")
    if args.epochs < 2:
        p.error(f"--epochs={args.epochs}: at least 2 (the first is not timed)")
    if args.rounds < 1:
        p.error(f"--rounds={args.rounds} must be at least 1")
    if args.seed < 0:
        p.error(f"--seed={args.seed} must be non-negative")
    systems = [x.strip() for x in args.systems.split(",") if x.strip()]
    bad = [x for x in systems if x not in SYSTEMS]
    if bad or not systems or len(set(systems)) != len(systems):
        p.error(f"--systems={args.systems}: name each of {', '.join(SYSTEMS)} at most once")
    args.systems = tuple(x for x in SYSTEMS if x in systems)
    for item in args.override:
        if "=" not in item or not item.partition("=")[0].strip():
            p.error(f"--override {item!r}: expected KEY=VALUE (e.g. data.bucket_by_length=false)")
    if args.override and "mtlzoo" in args.systems:
        check_overrides(args, p)
    return args


def check_overrides(args, parser):
    """Builds the mtlzoo config with ``--override`` applied and validates it (mtlzoo's static
    checks, no TensorFlow): a bad key, value or resulting config is one line and exit 2."""
    from mtlzoo.config import check_config
    from mtlzoo.errors import ConfigError

    try:
        check_config(mtlzoo_config(args, args.seed))
    except ValueError as e:
        parser.error(str(e))
    except ConfigError as e:
        parser.error(f"--override {' '.join(args.override)}: {e}")


def main(argv=None):
    args = parse_args(argv)
    import gc

    import keras

    from bench.common import device, versions

    data = split_examples(args)
    runs = []
    for r in range(args.rounds):
        order = args.systems if r % 2 == 0 else args.systems[::-1]
        done = {}
        for name in order:
            run = run_mtlzoo if name == "mtlzoo" else run_keras_hub
            done[name] = run(args, data, score=not args.no_dev, seed=args.seed + r)
            keras.backend.clear_session()
            gc.collect()
            e = done[name]["epoch_s"]
            dev = done[name].get("dev")
            print(
                f"round {r} (seed {args.seed + r}) {name}: epochs {[round(s, 1) for s in e]} s, "
                f"wall {done[name]['wall_s']:.0f} s" + ("" if dev is None else f", dev {dev:.4f}"),
                flush=True,
            )
        runs.append(done)
    row = {**summarize(args, runs), "device": device(), **versions()}
    print(json.dumps(row, indent=1))
    parts = []
    for name in args.systems:
        dev = row[f"{name}_dev"]
        sd = row[f"{name}_dev_sd"]
        shown = "" if dev is None else f", dev {dev:.3f}" + ("" if sd is None else f" ± {sd:.3f}")
        parts.append(
            f"{name} {row[f'{name}_epoch_examples_per_s']:.1f} examples/s per epoch "
            f"({row[f'{name}_steps_examples_per_s']:.1f} in steps){shown} (n={args.rounds})"
        )
    line = f"{args.task}: " + "; ".join(parts)
    if "ratio_epoch" in row:
        line += f"; ratio {row['ratio_epoch']:.2f}x per epoch, {row['ratio_steps']:.2f}x in steps"
    print(line)
    if args.out:
        from mtlzoo.fileio import write_json

        write_json(row, args.out)
    return row


if __name__ == "__main__":
    main()
