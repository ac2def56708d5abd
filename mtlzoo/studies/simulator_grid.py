"""The multi-task simulator's grid study (Bettgenhaeuser, Hedderich & Klakow 2020, arXiv 2006.05561).

:func:`run_grid` trains one model per cell of a grid over ``(T, n, AMI, repeat)`` on tasks
cut from a base text by the generator of :mod:`mtlzoo.data.simulator` (noisy label channel,
AMI calibration, disjoint task slices), and appends one CSV row per finished cell (flush +
fsync, :func:`mtlzoo.studies.common.append_csv_row`), so a rerun after a crash skips the
finished cells. Column names follow the paper's released data: ``n_tasks,
n_tokens_per_task, n_tokens_total, mutual_info, alpha, fscore``.

The model is the paper's multi-task tagger built by :func:`mtlzoo.models.build_model`
(:func:`tagger_config`): the ``tagger`` encoder (shared BiLSTM over the sentence,
``dense_layers`` shared Dense layers) and one tagging head per task; examples of different
tasks are mixed in one batch and carry weight 0 for the other tasks' heads.
:class:`TaggerTrainer` trains it for one cell; main-task quality is conlleval entity F1 on
a fixed test slice (:mod:`mtlzoo.metrics.tagging`).

Config sections (:func:`resolve_grid_config`): ``seed``, ``threads``, ``simulator`` (the
base text), ``grid``, ``model``, ``train``; ``configs/simulator_grid.py`` is the paper's grid.

Example:
    >>> csv_path = run_grid({"grid": {"n_tasks": [1, 2], "n_tokens_per_task": [300],
    ...                               "mutual_info": [0.5], "repeats": 1}}, "/tmp/simgrid")
"""

import os
import random
import sys
import time

import numpy as np

from mtlzoo.data.simulator import (
    alpha_for_ami,
    conll_corpus,
    hmm_corpus,
    layout_offset,
    simulate_tasks,
    to_task_data,
)
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json
from mtlzoo.schema import Field, check_fields, non_negative, positive
from mtlzoo.studies.common import Progress, append_csv_row, check_config_record, read_csv_rows

# ----------------------------------------------------------------------------------------
# Grid config
# ----------------------------------------------------------------------------------------


def _floats_in_unit(v):
    if not isinstance(v, (list, tuple)) or not v:
        return f"must be a non-empty list of numbers, got {v!r}"
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1 for x in v):
        return f"every entry must be a number in [0, 1], got {list(v)}"
    return None


def _nonempty_positive(v):
    if not v:
        return "must not be empty"
    return None if all(x > 0 for x in v) else f"every entry must be > 0, got {list(v)}"


SIMULATOR_SCHEMA = {
    "source": Field("hmm", str, choices=("hmm", "conll2000", "conll2002")),
    "data_dir": Field(None, str, optional=True),  # None: $MTLZOO_DATA_DIR
    "language": Field(None, str, optional=True),
    "num_types": Field(4, int, positive),
    "vocab_size": Field(2000, int, positive),
    "names_per_type": Field(150, int, positive),
    "pool_tokens": Field(200_000, int, positive),
    "test_tokens": Field(5000, int, positive),
    "max_length": Field(16, int, positive),
    "calibration_tokens": Field(50_000, int, positive),
}

GRID_SCHEMA = {
    "n_tasks": Field((1, 2, 3, 4, 5, 6), "ints", _nonempty_positive),
    "n_tokens_per_task": Field((150, 300, 600, 1200, 2400, 4800), "ints", _nonempty_positive),
    "mutual_info": Field((0.05, 0.2, 0.35, 0.5, 0.7, 0.9), None, _floats_in_unit),
    "repeats": Field(3, int, positive),
    "main_tokens": Field(None, int, positive, optional=True),  # set: unbalanced (fixed main, grid over aux)
}

SIM_MODEL_SCHEMA = {
    "embedding_dim": Field(32, int, positive),
    "hidden": Field(32, int, positive),
    "num_layers": Field(1, int, positive),
    "dense_layers": Field(1, int, non_negative),
    "dropout": Field(0.0, float, lambda v: None if 0 <= v < 1 else f"must be in [0, 1), got {v}"),
}

SIM_TRAIN_SCHEMA = {
    "batch_size": Field(64, int, positive),
    "epochs": Field(8, int, positive),
    "min_steps": Field(80, int, non_negative),
    "max_steps": Field(None, int, positive, optional=True),
    "learning_rate": Field(0.02, float, positive),
    "optimizer": Field("adam", str, choices=("adam", "adamw", "sgd", "rmsprop")),
}

GRID_TOP_SCHEMA = {
    "seed": Field(0, int, non_negative),
    "threads": Field(1, int, non_negative),  # TF intra/inter-op threads; 0 = TF's default
    "simulator": Field({}, "dict"),
    "grid": Field({}, "dict"),
    "model": Field({}, "dict"),
    "train": Field({}, "dict"),
}


def resolve_grid_config(config):
    """Validates a simulator grid config; returns a plain dict with defaults filled.

    Sections: ``seed``, ``threads``, ``simulator`` (:data:`SIMULATOR_SCHEMA`), ``grid``
    (:data:`GRID_SCHEMA`), ``model`` (:data:`SIM_MODEL_SCHEMA`), ``train``
    (:data:`SIM_TRAIN_SCHEMA`). Raises ConfigError naming the first bad field.
    """
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    top = check_fields(config, GRID_TOP_SCHEMA, "config")
    top["simulator"] = check_fields(top["simulator"], SIMULATOR_SCHEMA, "simulator")
    top["grid"] = check_fields(top["grid"], GRID_SCHEMA, "grid")
    top["grid"]["mutual_info"] = [float(x) for x in top["grid"]["mutual_info"]]
    top["model"] = check_fields(top["model"], SIM_MODEL_SCHEMA, "model")
    top["train"] = check_fields(top["train"], SIM_TRAIN_SCHEMA, "train")
    sim = top["simulator"]
    if sim["source"] != "hmm" and not (sim["data_dir"] or os.environ.get("MTLZOO_DATA_DIR")):
        raise ConfigError("simulator.data_dir", f"source {sim['source']!r} needs data_dir or $MTLZOO_DATA_DIR")
    grid = top["grid"]
    if sim["source"] == "hmm":
        n_main_max = grid["main_tokens"] or max(grid["n_tokens_per_task"])
        need = n_main_max + (max(grid["n_tasks"]) - 1) * max(grid["n_tokens_per_task"])
        if need > sim["pool_tokens"]:
            raise ConfigError(
                "simulator.pool_tokens",
                f"the largest cell needs {need} tokens (T={max(grid['n_tasks'])}), more than {sim['pool_tokens']}",
            )
    return top


def load_base_corpus(sim, seed):
    """The base text a resolved ``simulator`` section names."""
    if sim["source"] == "hmm":
        return hmm_corpus(
            pool_tokens=sim["pool_tokens"],
            test_tokens=sim["test_tokens"],
            num_types=sim["num_types"],
            vocab_size=sim["vocab_size"],
            names_per_type=sim["names_per_type"],
            seed=seed,
        )
    data_dir = sim["data_dir"] or os.environ.get("MTLZOO_DATA_DIR")
    return conll_corpus(sim["source"], data_dir, sim["language"])


def grid_cells(cfg):
    """The cells of a resolved grid config, in run order (cheap cells first within a repeat)."""
    g = cfg["grid"]
    cells = []
    for repeat in range(g["repeats"]):
        for n in sorted(g["n_tokens_per_task"]):
            for T in sorted(g["n_tasks"]):
                for mi in g["mutual_info"]:
                    n_main = g["main_tokens"] or n
                    cells.append({"n_tasks": T, "n_main": n_main, "n_aux": n, "mutual_info": mi, "repeat": repeat})
    return cells


def cell_key(n_tasks, n_main, n_aux, mutual_info, repeat):
    return (int(n_tasks), int(n_main), int(n_aux), f"{float(mutual_info):.6g}", int(repeat))


def cell_seed(base_seed, repeat, n_main, n_aux):
    """Seed of a cell's slices and model init: shared by all T and AMI of one (repeat, n)."""
    return int(np.random.SeedSequence([int(base_seed), int(repeat), int(n_main), int(n_aux)]).generate_state(1)[0])


# ----------------------------------------------------------------------------------------
# Model and training of one cell
# ----------------------------------------------------------------------------------------


def tagger_config(n_tasks, num_labels, vocab_size, max_length, model_opts):
    """The mtlzoo model config of the paper's multi-task tagger (tasks ``main``, ``aux_1``, ...)."""
    names = ["main"] + [f"aux_{i}" for i in range(1, n_tasks)]
    return {
        "tasks": [{"name": n, "kind": "tagging", "num_classes": int(num_labels)} for n in names],
        "model": {
            "encoder": {
                "name": "tagger",
                "vocab_size": int(vocab_size),
                "max_length": int(max_length),
                **{k: model_opts[k] for k in ("embedding_dim", "hidden", "num_layers", "dense_layers", "dropout")},
            },
            "tower": {"units": []},
        },
    }


class TaggerTrainer:
    """Trains the multi-task tagger for one cell; keeps one compiled model per T.

    Tracing a Keras train step costs seconds, more than a small cell's training; so the
    compiled model for a given T is kept, and each cell starts it from fresh weights (a
    model built with the cell's seed) and the optimizer's initial state. This gives the
    same computation as a new model (no dropout randomness is carried over).
    """

    def __init__(self, model_opts, train_opts, num_labels, vocab_size, max_length):
        self.model_opts = model_opts
        self.train_opts = train_opts
        self.num_labels = num_labels
        self.vocab_size = vocab_size
        self.max_length = max_length
        self._models = {}

    def _model(self, n_tasks, seed):
        from mtlzoo.models import build_model
        from mtlzoo.tasks import tasks_from_config
        from mtlzoo.training import compile_model

        cfg = tagger_config(n_tasks, self.num_labels, self.vocab_size, self.max_length, self.model_opts)
        # Keras initialisers draw their seeds from Python's `random`; keras.utils.set_random_seed
        # would also call tf.random.set_seed, which clears TF's kernel caches (a ~1 s retrace).
        random.seed(seed)
        np.random.seed(seed % 2**32)
        fresh = build_model(cfg)
        if n_tasks not in self._models:
            opts = {"learning_rate": self.train_opts["learning_rate"], "optimizer": self.train_opts["optimizer"]}
            compile_model(fresh, tasks_from_config(cfg["tasks"]), {"weight_decay": 0.0, **opts})
            fresh.optimizer.build(fresh.trainable_variables)
            state = [v.numpy() for v in fresh.optimizer.variables]
            self._models[n_tasks] = (fresh, state)
            return fresh
        model, state = self._models[n_tasks]
        # every variable, not only the weights: the dropout layers' seed-generator states too
        # (set_weights would leave them where the previous cell's training took them)
        for v, value in zip(model.variables, fresh.variables, strict=True):
            v.assign(value)
        for v, value in zip(model.optimizer.variables, state, strict=True):
            v.assign(value)
        return model

    def steps_and_epochs(self, rows):
        """Optimizer steps for ``rows`` training rows: ``epochs`` passes, at least ``min_steps``."""
        t = self.train_opts
        per_epoch = max(1, -(-rows // t["batch_size"]))
        steps = max(t["epochs"] * per_epoch, t["min_steps"])
        if t["max_steps"]:
            steps = min(steps, t["max_steps"])
        return steps, steps / per_epoch

    def __call__(self, data, n_tasks, seed):
        """Trains on ``data`` (see :func:`to_task_data`); returns main-task test metrics."""
        from mtlzoo.metrics.tagging import entity_scores

        model = self._model(n_tasks, seed)
        train = data.split("train")
        steps, epochs = self.steps_and_epochs(len(train))
        # one Keras epoch of `steps` steps over the reshuffled, repeated data: no per-epoch overhead
        ds = data.dataset("train", self.train_opts["batch_size"], ["tokens"], shuffle=True, seed=seed, repeat=True)
        t0 = time.perf_counter()
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        train_seconds = time.perf_counter() - t0
        test = data.split("test")
        probs = np.asarray(model.predict_on_batch({"tokens": test.features["tokens"]})["main"])
        mask = test.features["tokens"] != 0
        pred = np.argmax(probs, axis=-1)[mask]
        gold = data.info["test_gold"]
        lengths = data.info["test_lengths"]
        bounds = np.cumsum(lengths)[:-1]
        scores = entity_scores(np.split(gold, bounds), np.split(pred, bounds), data.info["label_names"])
        return {
            "fscore": scores["f1"],
            "accuracy": scores["accuracy"],
            "train_steps": steps,
            "epochs": epochs,
            "train_seconds": train_seconds,
        }


# ----------------------------------------------------------------------------------------
# Grid runner (resumable CSV)
# ----------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "n_tasks",
    "n_tokens_per_task",
    "n_tokens_total",
    "mutual_info",
    "alpha",
    "fscore",
    "accuracy",
    "mutual_info_measured",
    "n_main_tokens",
    "n_aux_tokens",
    "repeat",
    "seed",
    "train_steps",
    "epochs",
    "train_seconds",
    "seconds",
]


def read_finished(path):
    """Rows of a grid CSV that were written completely; a torn last line is dropped from the file."""
    return read_csv_rows(path, CSV_COLUMNS)


def append_row(path, row):
    """Appends one grid CSV row and makes it durable (flush + fsync); writes the header first if new."""
    append_csv_row(path, row, CSV_COLUMNS)


def calibrate_alphas(corpus, targets, calibration_tokens, seed):
    """``{target AMI: (alpha, achieved AMI)}`` on the first ``calibration_tokens`` pool labels."""
    labels = corpus.pool_labels[:calibration_tokens]
    return {float(t): alpha_for_ami(labels, float(t), corpus.num_labels, seed=seed) for t in targets}


def run_grid(config, workdir, cell_fn=None, progress=True, max_cells=None, log=print):
    """Runs every unfinished cell of a simulator grid; returns the path of the CSV.

    Args:
        config: grid config (see :func:`resolve_grid_config`).
        workdir: output directory: ``config.json``, ``alphas.json``, ``results.csv``.
        cell_fn: ``cell_fn(data, n_tasks, seed) -> {fscore, accuracy, train_steps, epochs,
            train_seconds}``; default a :class:`TaggerTrainer`.
        progress: show progress: a tqdm bar on stderr when it is a terminal, else one ``log``
            line per cell (:class:`mtlzoo.studies.common.Progress`: count, elapsed, time left).
        max_cells: stop after this many new cells (None: all).

    A rerun with the same workdir skips the cells already in ``results.csv``.
    """
    cfg = resolve_grid_config(config)
    os.makedirs(workdir, exist_ok=True)
    check_config_record(workdir, cfg, sections=("seed", "simulator", "model", "train"), write=True)
    csv_path = os.path.join(workdir, "results.csv")
    finished = read_finished(csv_path)
    done = {
        cell_key(r["n_tasks"], r["n_main_tokens"], r["n_aux_tokens"], r["mutual_info"], r["repeat"]) for r in finished
    }
    # T = 1 has no auxiliary task: its result does not depend on the AMI (same seed, same
    # slice), so it is trained once per (n, repeat) and its row repeated for each AMI value.
    single = {(int(r["n_main_tokens"]), int(r["repeat"])): r for r in finished if int(r["n_tasks"]) == 1}
    todo = [c for c in grid_cells(cfg) if cell_key(**c) not in done]
    if max_cells is not None:
        todo = todo[:max_cells]
    log(f"grid: {len(done)} cells finished before, {len(todo)} to run -> {csv_path}")
    if not todo:
        return csv_path
    sim = cfg["simulator"]
    corpus = load_base_corpus(sim, cfg["seed"])
    need = max(c["n_main"] + (max(cfg["grid"]["n_tasks"]) - 1) * c["n_aux"] for c in todo)
    if need > corpus.pool_tokens:
        raise ConfigError(
            "grid.n_tokens_per_task",
            f"the largest cell needs {need} tokens, but the {corpus.name} pool has {corpus.pool_tokens}",
        )
    alphas = calibrate_alphas(corpus, cfg["grid"]["mutual_info"], sim["calibration_tokens"], cfg["seed"])
    write_json(
        {str(k): {"alpha": a, "ami": m} for k, (a, m) in alphas.items()},
        os.path.join(workdir, "alphas.json"),
        sort_keys=False,
    )
    if cell_fn is None:
        if cfg["threads"]:
            _set_threads(cfg["threads"])
        cell_fn = TaggerTrainer(cfg["model"], cfg["train"], corpus.num_labels, corpus.vocab_size, sim["max_length"])
    max_tasks = max(cfg["grid"]["n_tasks"])
    from tqdm import tqdm

    lines = progress and not sys.stderr.isatty()  # a log file: one line per cell, no bar
    prog = Progress(len(todo), log if lines else None, start_lines=False)
    bar = tqdm(
        total=len(todo),
        disable=not progress or lines,
        file=sys.stderr,
        unit="cell",
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        dynamic_ncols=True,
    )
    try:
        for i, c in enumerate(todo, 1):
            prog.start(i, "")
            t0 = time.perf_counter()
            seed = cell_seed(cfg["seed"], c["repeat"], c["n_main"], c["n_aux"])
            alpha, _ = alphas[float(c["mutual_info"])]
            channel_seed = int(
                np.random.SeedSequence([seed, c["n_tasks"], int(round(c["mutual_info"] * 1e6))]).generate_state(1)[0]
            )
            offset = layout_offset(corpus.pool_tokens, c["n_main"], c["n_aux"], max_tasks, seed)
            tasks = simulate_tasks(corpus, c["n_tasks"], c["n_main"], c["n_aux"], alpha, channel_seed, offset=offset)
            reuse = single.get((c["n_main"], c["repeat"])) if c["n_tasks"] == 1 else None
            if reuse is not None:
                result = {k: float(reuse[k]) for k in ("fscore", "accuracy", "train_steps", "epochs", "train_seconds")}
            else:
                data = to_task_data(corpus, tasks, sim["max_length"], sim["test_tokens"])
                result = cell_fn(data, c["n_tasks"], seed)
            row = {
                "n_tasks": c["n_tasks"],
                "n_tokens_per_task": c["n_aux"],
                "n_tokens_total": tasks.n_tokens_total,
                "mutual_info": c["mutual_info"],
                "alpha": float(alpha),
                "fscore": float(result["fscore"]),
                "accuracy": float(result["accuracy"]),
                "mutual_info_measured": float(np.mean(tasks.ami)) if tasks.ami else float("nan"),
                "n_main_tokens": c["n_main"],
                "n_aux_tokens": c["n_aux"],
                "repeat": c["repeat"],
                "seed": seed,
                "train_steps": int(result["train_steps"]),
                "epochs": float(result["epochs"]),
                "train_seconds": float(result["train_seconds"]),
                "seconds": time.perf_counter() - t0,
            }
            append_row(csv_path, row)
            if c["n_tasks"] == 1 and reuse is None:
                single[(c["n_main"], c["repeat"])] = {k: row[k] for k in row}
            bar.update(1)
            prog.done(
                i,
                f"cell T={c['n_tasks']} n={c['n_aux']} ami={c['mutual_info']} repeat={c['repeat']}",
                f"F1 {row['fscore']:.3f} in {row['seconds']:.1f} s",
                times=True,
            )
            bar.set_postfix(T=c["n_tasks"], n=c["n_aux"], ami=c["mutual_info"], f1=f"{row['fscore']:.3f}")
    finally:
        bar.close()
    return csv_path


def _set_threads(n):
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TF already initialised in this process: keep its setting
        pass
