"""Pairwise transfer report: which tasks help each other, next to their covariance similarity.

After Wu, Zhang & Ré, "Understanding and Improving Information Transfer in Multi-Task
Learning" (ICLR 2020): for every task i a single-task model (STL), and for every pair
{i, j} one multi-task model (MTL) with a shared module B, with and without the per-task
covariance alignment R_i of Algorithm 1 (``model.alignment = "joint"``). The transfer from
source j to target i is::

    transfer(i, j) = score_i(MTL {i, j}) - score_i(STL i)

measured on ``train.eval_split``; the score is the accuracy for classification kinds
(binary, multiclass, multilabel, tagging) and minus the task's loss (the MSE by default)
for regression, so > 0 is positive transfer in every row. One MTL model per unordered pair
gives both directions (i, j) and (j, i).

Next to it: the normalized covariance similarity (:func:`normalized_covariance_similarity`,
1 for identical truncated covariances; the raw Eq. 5 score is below 1 even for identical
inputs and mis-ranks tasks, see the Fig. 3 section of docs/reproductions.md) of the two tasks' embeddings in
each pair's model, on the training split: ``before`` at the embedding E (the input of the
alignment; the raw features for ``mlp``), ``after`` at the output of the alignment layer.

Sub-runs live in ``workdir/runs/seed_<s>/{stl/<task>, mtl/<a>+<b>, mtl_joint/<a>+<b>}``; each
is an ordinary :func:`mtlzoo.training.train` workdir plus ``similarity.json``. A sub-run with
``metrics.json`` is skipped, so rerunning the same call resumes (an interrupted sub-run resumes
from its own checkpoint). The report files are ``transfer.md``, ``transfer.csv``,
``transfer.json`` and ``transfer_heatmap.png`` in ``workdir``.

Example:
    >>> from configs.transfer_synthetic import get_config
    >>> report = transfer_report(get_config(), "/tmp/transfer", alignment="both", seeds=(0,))
    >>> report.transfer["none"]       # [k, k]: row = target, column = source (diagonal NaN)
"""

import json
import os

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json
from mtlzoo.studies.common import Progress, train_or_load
from mtlzoo.studies.transfer_tables import TransferReport, write_report

ALIGNMENTS = {
    "both": ("none", "joint"),
    "all": ("none", "joint", "fixed_encoder"),
    "none": ("none",),
    "joint": ("joint",),
    "fixed_encoder": ("fixed_encoder",),
}
CLASSIFICATION_KINDS = ("binary", "multiclass", "multilabel", "tagging")
_RUN_DIRS = {"none": "mtl", "joint": "mtl_joint", "fixed_encoder": "mtl_fixed_encoder"}


def task_score(spec, task_metrics):
    """The score of one task from its metrics dict: accuracy (classification) or -loss (regression)."""
    if spec.kind in CLASSIFICATION_KINDS:
        return float(task_metrics["accuracy"])
    return -float(task_metrics["loss"])


def score_name(spec):
    return "accuracy" if spec.kind in CLASSIFICATION_KINDS else f"-loss ({spec.loss})"


def _check_args(config, alignment, seeds):
    from mtlzoo.config import resolve_config
    from mtlzoo.tasks import tasks_from_config

    if alignment not in ALIGNMENTS:
        raise ConfigError("alignment", f"unknown alignment {alignment!r}; choose one of {', '.join(ALIGNMENTS)}")
    resolved = resolve_config(config)
    tasks = tasks_from_config(resolved.tasks)
    if len(tasks) < 2:
        raise ConfigError("tasks", f"a transfer report needs at least 2 tasks, the config has {len(tasks)}")
    if seeds is None:
        seeds = (int(resolved.seed),)
    seeds = list(seeds)
    if not seeds or any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0 for s in seeds):
        raise ConfigError("seeds", f"must be a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("seeds", f"must not repeat a seed, got {seeds!r}")
    return resolved, tasks, [int(s) for s in seeds]


def sub_config(resolved, names, seed, alignment="none"):
    """The config of one sub-run: ``resolved`` restricted to the tasks ``names``.

    Also sets the seed and ``model.alignment``, adds ``accuracy`` to a classification task's
    metrics when missing (the score needs it), keeps only the named tasks' static weights
    and silences the per-step progress bar (``train.verbose = 0``).
    """
    cfg = resolved.to_dict()
    cfg["tasks"] = {n: dict(cfg["tasks"][n]) for n in names}
    for spec in cfg["tasks"].values():
        if spec["kind"] in CLASSIFICATION_KINDS and "accuracy" not in spec["metrics"]:
            spec["metrics"] = [*spec["metrics"], "accuracy"]
    cfg["seed"] = int(seed)
    cfg["model"]["alignment"] = alignment
    weighting = cfg["train"]["weighting"]
    if "weights" in weighting:
        weighting["weights"] = {t: w for t, w in weighting["weights"].items() if t in names}
    cfg["train"]["verbose"] = 0
    return cfg


def _eval_rows(config, tasks, split):
    """(features, task ids, {task: (labels, weights)}) of a config's split."""
    from mtlzoo.data import load_data

    s = load_data(config, tasks).split(split)
    return s.features, {t.name: (np.asarray(s.labels[t.name]), np.asarray(s.weights[t.name])) for t in tasks}


def check_data(resolved, tasks):
    """Checks the two assumptions of the report on the data; returns whether it is heterogeneous.

    1. A task gets the same ``train.eval_split`` examples whatever other tasks are configured
       (else MTL minus STL compares different test sets): checked for every single-task
       config against the full one. Raises ConfigError otherwise.
    2. Heterogeneous data: every labelled example of task i carries ``task_id == i``. Shared-input
       data (one example, many labels, e.g. ``digits``) is not, and alignment cannot separate
       its tasks.
    """
    from mtlzoo.config import resolve_config

    split = resolved.train.eval_split
    full_features, full = _eval_rows(resolved, tasks, split)
    tid = np.asarray(full_features.get("task_id", np.zeros(len(next(iter(full_features.values()))), np.int32)))
    heterogeneous = all(np.all(tid[w > 0] == i) for i, (_, w) in enumerate(full[t.name] for t in tasks))
    for t in tasks:
        single = resolve_config(sub_config(resolved, [t.name], resolved.seed))
        _, one = _eval_rows(single, [t], split)
        (y1, w1), (y0, w0) = one[t.name], full[t.name]
        if not (np.array_equal(y1[w1 > 0], y0[w0 > 0]) and np.array_equal(w1[w1 > 0], w0[w0 > 0])):
            raise ConfigError(
                "data.source",
                f"source {resolved.data.source!r} gives task {t.name!r} different {split} data when other tasks are "
                "configured, so its single-task and multi-task scores are not comparable",
            )
    return heterogeneous


def embedding_layer_name(model):
    """Name of the layer whose output is the embedding E in a model with an ``alignment`` layer."""
    x = model.get_layer("alignment").input[0]
    return x._keras_history.operation.name


def _embedding_layer_for(config):
    """The embedding layer's name for a config's encoder (built once with alignment to find it)."""
    import keras

    from mtlzoo.models import build_model

    encoder = {k: v for k, v in dict(config["model"]["encoder"]).items() if k != "embedding_pretrained"}
    cfg = {"tasks": config["tasks"], "model": {**config["model"], "encoder": encoder, "alignment": "joint"}}
    name = embedding_layer_name(build_model(cfg))  # (the layer's name, not its pretrained rows)
    keras.backend.clear_session()
    return name


def pair_similarity(model, config, embedding_layer, rows="tokens"):
    """Covariance similarity of a pair's two task embeddings, before and after alignment.

    Uses the training split's examples of the two tasks (grouped by ``task_id``); ``rows``:
    one row per real token or per example (the mean of its tokens), see
    :func:`mtlzoo.analysis.covariance.task_embeddings`. Returns
    ``{"before": s, "after": s or None, "before_raw": s, "after_raw": s or None}``: the
    normalized score (:func:`normalized_covariance_similarity`) and the raw Eq. 5 score
    (:func:`covariance_similarity`) of the same embeddings.
    """
    from mtlzoo.analysis.covariance import covariance_similarity_matrix, task_embeddings
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    tasks = tasks_from_config(config["tasks"])
    import ml_collections

    split = load_data(ml_collections.ConfigDict(config), tasks).split("train")
    feats = {k: np.asarray(v) for k, v in split.features.items()}
    tid = feats["task_id"]
    out = {}
    for key, layer in (("before", embedding_layer), ("after", "alignment")):
        if key == "after" and config["model"]["alignment"] == "none":
            out[key] = out[f"{key}_raw"] = None
            continue
        xs = task_embeddings(model, feats, tid, layer, num_tasks=len(tasks), rows=rows)
        out[key] = float(covariance_similarity_matrix(xs, normalized=True)[0, 1])
        out[f"{key}_raw"] = float(covariance_similarity_matrix(xs, normalized=False)[0, 1])
    return out


def _raw(key, suffix="_raw"):
    """``"after:joint"`` -> ``"after_raw:joint"``: the key of the raw Eq. 5 score of a similarity."""
    name, _, kind = key.partition(":")
    return f"{name}{suffix}" + (f":{kind}" if kind else "")


def _run_plan(tasks, seeds, alignments):
    names = [t.name for t in tasks]
    plan = []
    for seed in seeds:
        for n in names:
            plan.append((seed, "stl", (n,)))
        for a in alignments:
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    plan.append((seed, a, (names[i], names[j])))
    return plan


def run_dir_of(workdir, seed, kind, names):
    """The sub-workdir of one sub-run (``kind``: ``"stl"`` or an alignment)."""
    sub = "stl" if kind == "stl" else _RUN_DIRS[kind]
    return os.path.join(workdir, "runs", f"seed_{seed}", sub, "+".join(names))


SIMILARITY_ROWS = {
    "tokens": ("similarity.json", "transfer"),
    "examples": ("similarity_examples.json", "transfer_examples"),
}


def transfer_report(
    config, workdir, alignment="both", seeds=None, progress=print, train_fn=None, similarity_rows="tokens"
):
    """Trains the STL and pairwise MTL models of a config and writes the transfer report.

    Args:
        config: a run config (ConfigDict or mapping) with at least 2 tasks; every sub-run is
            this config restricted to its tasks.
        workdir: report folder; sub-runs go to ``workdir/runs/`` (see the module docstring).
        alignment: ``"both"`` (MTL without and with joint alignment), ``"all"`` (none, joint and
            fixed_encoder), ``"none"``, ``"joint"`` or
            ``"fixed_encoder"`` (the paper's schedule: train, then freeze B and train R_i and the heads).
        seeds: seeds to average over (default: the config's seed).
        progress: called with one line per sub-run (``None`` for silence).
        train_fn: ``train(config, workdir)`` (default :func:`mtlzoo.training.train`).
        similarity_rows: the rows of each task's embedding matrix X_i in the covariance
            similarity: ``"tokens"`` (every real token; ``similarity.json``, ``transfer.*``) or
            ``"examples"`` (one row per example, the mean of its token embeddings, as the paper's
            ``X_i`` has one row per data point; ``similarity_examples.json``,
            ``transfer_examples.*``, so both reports can live in one workdir).

    Returns:
        :class:`TransferReport`; ``transfer.md``/``.csv``/``.json`` and ``transfer_heatmap.png``
        are written to ``workdir``.

    Raises:
        ConfigError: an invalid config, fewer than 2 tasks, an unknown ``alignment``, bad
            seeds, a data source that changes a task's data with the task set, ``joint`` on
            shared-input data, or a resumed sub-run of a different config.
    """
    resolved, tasks, seeds = _check_args(config, alignment, seeds)
    if similarity_rows not in SIMILARITY_ROWS:
        raise ConfigError(
            "similarity_rows", f"unknown value {similarity_rows!r}; choose one of {', '.join(SIMILARITY_ROWS)}"
        )
    sim_file, stem = SIMILARITY_ROWS[similarity_rows]
    heterogeneous = check_data(resolved, tasks)
    notes = []
    alignments = list(ALIGNMENTS[alignment])
    if not heterogeneous:
        msg = (
            f"source {resolved.data.source!r} gives every example all tasks' inputs (one shared input, one task_id), so "
            "a covariance alignment cannot separate the tasks (a single R is applied to every task) and the tasks' "
            "embeddings are identical: their covariance similarity is 1 by construction and says nothing about grouping"
        )
        if alignment not in ("both", "all", "none"):
            raise ConfigError("model.alignment", msg)
        alignments = [a for a in alignments if a == "none"]
        notes.append(msg + "; only the runs without alignment were made.")
    os.makedirs(workdir, exist_ok=True)
    embedding_layer = _embedding_layer_for(resolved) if heterogeneous else None

    names = [t.name for t in tasks]
    specs = {t.name: t for t in tasks}
    idx = {n: i for i, n in enumerate(names)}
    k, s = len(names), len(seeds)
    stl = np.full((s, k), np.nan)
    mtl = {a: np.full((s, k, k), np.nan) for a in alignments}
    aligned_kinds = [a for a in alignments if a != "none"]
    sim_keys = ["before"] + [f"{key}:{a}" for a in aligned_kinds for key in ("after", "aligned_before")]
    sim_keys += [_raw(key) for key in sim_keys]  # the raw Eq. 5 score of the same embeddings
    sim = {key: np.full((s, k, k), np.nan) for key in sim_keys}
    plan = _run_plan(tasks, seeds, alignments)
    prog = Progress(len(plan), progress)
    for n_done, (seed, kind, pair) in enumerate(plan, 1):
        si = seeds.index(seed)
        cfg = sub_config(resolved, list(pair), seed, "none" if kind == "stl" else kind)
        run_dir = run_dir_of(workdir, seed, kind, pair)
        label = f"seed={seed} " + (f"stl {pair[0]}" if kind == "stl" else f"mtl {'+'.join(pair)} alignment={kind}")
        sim_path = os.path.join(run_dir, sim_file)
        metrics, model, status = train_or_load(
            cfg, run_dir, train_fn, starting=lambda i=n_done, w=label: prog.start(i, w)
        )
        scores = {n: task_score(specs[n], metrics[n]) for n in pair}
        if kind == "stl":
            stl[si, idx[pair[0]]] = scores[pair[0]]
        else:
            a, b = idx[pair[0]], idx[pair[1]]
            mtl[kind][si, a, b] = scores[pair[0]]
            mtl[kind][si, b, a] = scores[pair[1]]
            if heterogeneous:
                pair_sim = None
                if os.path.exists(sim_path):
                    with open(sim_path) as f:
                        pair_sim = json.load(f)
                    stale = "before_raw" not in pair_sim  # written before the raw Eq. 5 score was kept
                    if stale and (model is not None or os.path.exists(os.path.join(run_dir, "model.keras"))):
                        pair_sim = None
                if pair_sim is None:
                    if model is None:
                        from mtlzoo.models import load_model

                        model = load_model(os.path.join(run_dir, "model.keras"))
                    pair_sim = pair_similarity(model, cfg, embedding_layer, similarity_rows)
                    write_json(pair_sim, sim_path)
                # "before": from the plain MTL models when they were run, else from the aligned ones
                for raw in ("", "_raw"):
                    if kind == "none" or "none" not in alignments:
                        value = pair_sim.get("before" + raw, np.nan)
                        sim["before" + raw][si, a, b] = sim["before" + raw][si, b, a] = value
                    if kind != "none" and pair_sim.get("after") is not None:
                        for key, value in (
                            (_raw(f"after:{kind}", raw), pair_sim.get("after" + raw, np.nan)),
                            (_raw(f"aligned_before:{kind}", raw), pair_sim.get("before" + raw, np.nan)),
                        ):
                            sim[key][si, a, b] = sim[key][si, b, a] = value
        shown = ", ".join(f"{n} {score_name(specs[n])} {v:.4f}" for n, v in scores.items())
        prog.done(n_done, label, f"{status} ({shown})")

    transfer, transfer_std = {}, {}
    for a in alignments:
        diff = mtl[a] - stl[:, :, None]  # [seeds, target, source]
        transfer[a] = diff.mean(axis=0)
        transfer_std[a] = diff.std(axis=0, ddof=1) if s > 1 else np.zeros((k, k))
        np.fill_diagonal(transfer_std[a], np.nan)
    similarity = {"before": None, "after": None, "aligned_before": None}
    if heterogeneous:
        for key in sim_keys:
            m = sim[key].mean(axis=0)
            np.fill_diagonal(m, np.nan if key.startswith("before_raw") or "_raw:" in key else 1.0)
            similarity[key] = m
        if aligned_kinds:  # the first aligned variant's, under the plain names
            for key in ("after", "aligned_before"):
                for raw in ("", "_raw"):
                    similarity[key + raw] = similarity[_raw(f"{key}:{aligned_kinds[0]}", raw)]
    if heterogeneous:
        notes.append(
            f"Rows of each task's embedding matrix: {'every real token' if similarity_rows == 'tokens' else 'one per example, the mean of its token embeddings'}"
            " (similarity_rows). Similarity is the normalized covariance similarity (1 = same truncated covariance) of the two tasks' "
            f"training-split embeddings in each pair's model: before = the embedding E (layer {embedding_layer!r}) "
            "of the model without alignment, after = the output of the alignment layer; aligned_before = the "
            "embedding E of the aligned model (the input of its alignment layer). Per aligned variant A, the keys "
            "after:A and aligned_before:A of transfer.json; after / aligned_before are the first variant's."
        )
    report = TransferReport(
        tasks=names,
        seeds=seeds,
        alignments=alignments,
        score_names={n: score_name(specs[n]) for n in names},
        stl=stl,
        mtl=mtl,
        transfer=transfer,
        transfer_std=transfer_std,
        similarity=similarity,
        heterogeneous=heterogeneous,
        notes=notes,
    )
    write_report(report, workdir, stem)
    return report
