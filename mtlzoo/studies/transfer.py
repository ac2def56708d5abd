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

import dataclasses
import json
import math
import os

import numpy as np

from mtlzoo.analysis.runs import train_or_load
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json

ALIGNMENTS = {
    "both": ("none", "joint"),
    "all": ("none", "joint", "fixed_encoder"),
    "none": ("none",),
    "joint": ("joint",),
    "fixed_encoder": ("fixed_encoder",),
}
CLASSIFICATION_KINDS = ("binary", "multiclass", "multilabel", "tagging")
_RUN_DIRS = {"none": "mtl", "joint": "mtl_joint", "fixed_encoder": "mtl_fixed_encoder"}


@dataclasses.dataclass
class TransferReport:
    """The tables of a transfer report (row = target task i, column = source task j).

    Attributes:
        tasks: task names, in config order (k of them).
        seeds: the seeds averaged over.
        alignments: the MTL variants run (``"none"``, ``"joint"``, ``"fixed_encoder"``).
        score_names: task -> what its score is (``"accuracy"`` or ``"-loss (mse)"``).
        stl: ``[seeds, k]`` STL scores.
        mtl: alignment -> ``[seeds, k, k]``: score of task i in the MTL model of {i, j} (diagonal NaN).
        transfer: alignment -> ``[k, k]`` mean over seeds of ``mtl - stl`` (diagonal NaN).
        transfer_std: alignment -> ``[k, k]`` standard deviation over seeds (0 for one seed).
        similarity: ``"before"`` (embedding E of the model without alignment), and per aligned
            variant A ``"after:A"`` (output of the alignment layer) and ``"aligned_before:A"``
            (embedding E of the aligned model, the input of R_i; ``"after"`` and
            ``"aligned_before"`` are the first variant's) -> ``[k, k]`` mean normalized covariance
            similarity (diagonal 1), or None where it is not defined (see ``notes``).
        heterogeneous: whether every example carries its own task's ``task_id``.
        notes: plain sentences about what the report can and cannot say.
    """

    tasks: list
    seeds: list
    alignments: list
    score_names: dict
    stl: np.ndarray
    mtl: dict
    transfer: dict
    transfer_std: dict
    similarity: dict
    heterogeneous: bool
    notes: list

    def to_dict(self):
        def arr(a):
            return None if a is None else [[None if _nan(v) else float(v) for v in row] for row in np.asarray(a)]

        return {
            "tasks": list(self.tasks),
            "seeds": list(self.seeds),
            "alignments": list(self.alignments),
            "score_names": dict(self.score_names),
            "stl": arr(self.stl),
            "stl_mean": [float(v) for v in np.mean(self.stl, axis=0)],
            "mtl": {a: [arr(m) for m in v] for a, v in self.mtl.items()},
            "transfer": {a: arr(v) for a, v in self.transfer.items()},
            "transfer_std": {a: arr(v) for a, v in self.transfer_std.items()},
            "similarity": {k: arr(v) for k, v in self.similarity.items()},
            "heterogeneous": self.heterogeneous,
            "notes": list(self.notes),
        }


def _nan(v):
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, np.floating) and np.isnan(v))


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

    cfg = {"tasks": config["tasks"], "model": {**config["model"], "alignment": "joint"}}
    name = embedding_layer_name(build_model(cfg))
    keras.backend.clear_session()
    return name


def pair_similarity(model, config, embedding_layer):
    """Normalized covariance similarity of a pair's two task embeddings, before and after alignment.

    Uses the training split's examples of the two tasks (grouped by ``task_id``). Returns
    ``{"before": s, "after": s or None}``.
    """
    from mtlzoo.analysis.covariance import embedding_similarity_matrix
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
            out[key] = None
            continue
        m = embedding_similarity_matrix(model, feats, tid, layer, normalized=True, num_tasks=len(tasks))
        out[key] = float(m[0, 1])
    return out


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


def transfer_report(config, workdir, alignment="both", seeds=None, progress=print, train_fn=None):
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

    Returns:
        :class:`TransferReport`; ``transfer.md``/``.csv``/``.json`` and ``transfer_heatmap.png``
        are written to ``workdir``.

    Raises:
        ConfigError: an invalid config, fewer than 2 tasks, an unknown ``alignment``, bad
            seeds, a data source that changes a task's data with the task set, ``joint`` on
            shared-input data, or a resumed sub-run of a different config.
    """
    resolved, tasks, seeds = _check_args(config, alignment, seeds)
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
    sim = {key: np.full((s, k, k), np.nan) for key in sim_keys}
    plan = _run_plan(tasks, seeds, alignments)
    for n_done, (seed, kind, pair) in enumerate(plan, 1):
        si = seeds.index(seed)
        cfg = sub_config(resolved, list(pair), seed, "none" if kind == "stl" else kind)
        run_dir = run_dir_of(workdir, seed, kind, pair)
        label = f"[{n_done:{len(str(len(plan)))}d}/{len(plan)}] seed={seed} " + (
            f"stl {pair[0]}" if kind == "stl" else f"mtl {'+'.join(pair)} alignment={kind}"
        )
        sim_path = os.path.join(run_dir, "similarity.json")
        metrics, model, status = train_or_load(cfg, run_dir, train_fn)
        scores = {n: task_score(specs[n], metrics[n]) for n in pair}
        if kind == "stl":
            stl[si, idx[pair[0]]] = scores[pair[0]]
        else:
            a, b = idx[pair[0]], idx[pair[1]]
            mtl[kind][si, a, b] = scores[pair[0]]
            mtl[kind][si, b, a] = scores[pair[1]]
            if heterogeneous:
                if os.path.exists(sim_path):
                    with open(sim_path) as f:
                        pair_sim = json.load(f)
                else:
                    if model is None:
                        from mtlzoo.models import load_model

                        model = load_model(os.path.join(run_dir, "model.keras"))
                    pair_sim = pair_similarity(model, cfg, embedding_layer)
                    write_json(pair_sim, sim_path)
                # "before": from the plain MTL models when they were run, else from the aligned ones
                if kind == "none" or "none" not in alignments:
                    sim["before"][si, a, b] = sim["before"][si, b, a] = pair_sim["before"]
                if kind != "none" and pair_sim.get("after") is not None:
                    for key, value in (
                        (f"after:{kind}", pair_sim["after"]),
                        (f"aligned_before:{kind}", pair_sim["before"]),
                    ):
                        sim[key][si, a, b] = sim[key][si, b, a] = value
        if progress is not None:
            shown = ", ".join(f"{n} {score_name(specs[n])} {v:.4f}" for n, v in scores.items())
            progress(f"{label}: {status} ({shown})")

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
            np.fill_diagonal(m, 1.0)
            similarity[key] = m
        if aligned_kinds:  # the first aligned variant's, under the plain names
            for key in ("after", "aligned_before"):
                similarity[key] = similarity[f"{key}:{aligned_kinds[0]}"]
    if heterogeneous:
        notes.append(
            "Similarity is the normalized covariance similarity (1 = same truncated covariance) of the two tasks' "
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
    write_report(report, workdir)
    return report


def suggested_groups(report, alignment="none"):
    """Pairs whose transfer is positive in both directions (mean over seeds), best first."""
    t = report.transfer[alignment]
    k = len(report.tasks)
    pairs = [(min(t[i, j], t[j, i]), report.tasks[i], report.tasks[j]) for i in range(k) for j in range(i + 1, k)]
    return [(a, b, float(v)) for v, a, b in sorted(pairs, reverse=True) if v > 0]


def _within_noise(report, alignment, x, y):
    """Whether either direction of the pair's transfer is within one std (over seeds) of 0."""
    t, sd = report.transfer[alignment], report.transfer_std[alignment]
    i, j = report.tasks.index(x), report.tasks.index(y)
    return bool(t[i, j] <= sd[i, j] or t[j, i] <= sd[j, i])


def _fmt(v, std=None):
    if _nan(v):
        return "—"
    return f"{v:+.4f}" if std is None or _nan(std) else f"{v:+.4f} ± {std:.4f}"


def markdown(report):
    """The report as Markdown tables (row = target, column = source)."""
    names = report.tasks
    multi = len(report.seeds) > 1
    lines = [
        "# Pairwise transfer report",
        "",
        "transfer(target i, source j) = score of i in the MTL model of {i, j} minus its score in the STL model "
        "(eval split); > 0 = the source helps. Score: accuracy for classification, -loss for regression.",
        f"Seeds: {', '.join(map(str, report.seeds))}" + (" (mean ± std over seeds)." if multi else "."),
        "",
        "## Single-task scores",
        "",
        "| task | score | STL |",
        "|---|---|---:|",
    ]
    stl_mean = np.mean(report.stl, axis=0)
    for i, n in enumerate(names):
        lines.append(f"| {n} | {report.score_names[n]} | {stl_mean[i]:.4f} |")
    header = "| target \\ source | " + " | ".join(names) + " |"
    rule = "|---|" + "---:|" * len(names)
    for a in report.alignments:
        title = "MTL without alignment" if a == "none" else f"MTL with covariance alignment ({a})"
        lines += ["", f"## Transfer: {title}", "", header, rule]
        for i, n in enumerate(names):
            cells = [
                _fmt(report.transfer[a][i, j], report.transfer_std[a][i, j] if multi else None)
                for j in range(len(names))
            ]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    for key in ("before", "after"):
        m = report.similarity.get(key)
        if m is None:
            continue
        lines += ["", f"## Covariance similarity of the embeddings ({key} alignment, normalized)", "", header, rule]
        for i, n in enumerate(names):
            lines.append(f"| {n} | " + " | ".join(f"{m[i, j]:.3f}" for j in range(len(names))) + " |")
    for a in report.alignments:
        if a != "none":
            lines += alignment_effect_markdown(report, a)
    lines += ["", "## Groups", ""]
    for a in report.alignments:
        groups = suggested_groups(report, a)
        what = "without alignment" if a == "none" else f"with alignment ({a})"
        if groups:
            shown = ", ".join(
                f"{x}+{y} (min transfer {v:+.4f}{', within 1 std of 0' if multi and _within_noise(report, a, x, y) else ''})"
                for x, y, v in groups
            )
            lines.append(f"- Pairs that help each other {what}: {shown}.")
        else:
            lines.append(f"- No pair helps in both directions {what}.")
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def alignment_effect(report, alignment="joint"):
    """Per pair {i, j}: what the alignment changes, as in Wu, Zhang & Ré (2020), Sec. 3.2.

    Returns a list of dicts, one per unordered pair: ``score_none`` and ``score_aligned``
    (mean over seeds of ``(s_i + s_j) / 2`` in the pair's MTL model without / with the
    alignment), ``gain`` (their difference, paired by seed), and the normalized covariance
    similarity of the aligned model's two tasks at its embedding E (``sim_before``) and at the
    output of the alignment (``sim_after``). Empty when the report lacks either variant.
    """
    if "none" not in report.mtl or alignment not in report.mtl:
        return []
    k = len(report.tasks)
    rows = []
    sb, sa = report.similarity.get(f"aligned_before:{alignment}"), report.similarity.get(f"after:{alignment}")
    for i in range(k):
        for j in range(i + 1, k):
            none = (report.mtl["none"][:, i, j] + report.mtl["none"][:, j, i]) / 2
            aligned = (report.mtl[alignment][:, i, j] + report.mtl[alignment][:, j, i]) / 2
            rows.append(
                {
                    "pair": (report.tasks[i], report.tasks[j]),
                    "score_none": float(np.mean(none)),
                    "score_aligned": float(np.mean(aligned)),
                    "gain": float(np.mean(aligned - none)),
                    "sim_before": None if sb is None else float(sb[i, j]),
                    "sim_after": None if sa is None else float(sa[i, j]),
                }
            )
    return rows


def alignment_effect_markdown(report, alignment="joint"):
    """Markdown lines of :func:`alignment_effect` with the counts the paper reports."""
    rows = alignment_effect(report, alignment)
    if not rows:
        return []
    lines = [
        "",
        f"## What the alignment changes, per pair ({alignment})",
        "",
        "Mean of the two tasks' scores in the pair's MTL model without and with the alignment; similarity of "
        "the aligned model's two tasks at the embedding E and at the alignment's output.",
        "",
        "| pair | MTL | MTL + alignment | gain | similarity at E | after alignment |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        sims = ["" if r[key] is None else f"{r[key]:.3f}" for key in ("sim_before", "sim_after")]
        cells = [f"{r['score_none']:.4f}", f"{r['score_aligned']:.4f}", f"{r['gain']:+.4f}", *sims]
        lines.append(f"| {'+'.join(r['pair'])} | " + " | ".join(cells) + " |")
    gains = [r["gain"] for r in rows]
    best = max(rows, key=lambda r: r["gain"])
    lines += [
        "",
        f"- The alignment raises the pair's mean score on {sum(g > 0 for g in gains)} of {len(rows)} pairs "
        f"(largest gain {best['gain']:+.4f}, {'+'.join(best['pair'])}; mean {np.mean(gains):+.4f}).",
    ]
    with_sim = [r for r in rows if r["sim_before"] is not None and r["sim_after"] is not None]
    if with_sim:
        up = sum(r["sim_after"] > r["sim_before"] for r in with_sim)
        lines.append(
            f"- The covariance similarity is higher after the alignment than at E on {up} of {len(with_sim)} pairs."
        )
    return lines


def csv_rows(report):
    """Long-format rows: one per (alignment, target, source)."""
    rows = []
    stl_mean = np.mean(report.stl, axis=0)
    for a in report.alignments:
        mtl_mean = np.mean(report.mtl[a], axis=0)
        for i, t in enumerate(report.tasks):
            for j, src in enumerate(report.tasks):
                if i == j:
                    continue
                row = {
                    "alignment": a,
                    "target": t,
                    "source": src,
                    "score": report.score_names[t],
                    "stl_score": stl_mean[i],
                    "mtl_score": mtl_mean[i, j],
                    "transfer": report.transfer[a][i, j],
                    "transfer_std": report.transfer_std[a][i, j],
                    "seeds": len(report.seeds),
                }
                for key in ("before", "after"):
                    m = report.similarity.get(key)
                    row[f"similarity_{key}"] = "" if m is None else m[i, j]
                rows.append(row)
    return rows


def _text_color(what, v, lim):
    """Readable cell text: white on the dark ends of RdBu (transfer) and on dark viridis (similarity)."""
    if what == "transfer":
        return "white" if abs(v) > 0.6 * lim else "black"
    return "black" if v > 0.5 else "white"


def heatmap(report, path):
    """One PNG: a transfer heatmap per alignment next to the similarity matrices (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (f"transfer ({'no alignment' if a == 'none' else a + ' alignment'})", report.transfer[a], "transfer")
        for a in report.alignments
    ]
    panels += [
        (f"similarity {key} alignment", report.similarity[key], "similarity")
        for key in ("before", "after")
        if report.similarity.get(key) is not None
    ]
    k = len(report.tasks)
    size = 1.0 + 0.9 * k
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels) + 1, size + 0.8), squeeze=False)
    lim = max([np.nanmax(np.abs(report.transfer[a])) for a in report.alignments] + [1e-6])
    for ax, (title, m, what) in zip(axes[0], panels, strict=True):
        if what == "transfer":
            im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim)
        else:
            im = ax.imshow(m, cmap="viridis", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                if not np.isnan(m[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{m[i, j]:+.3f}" if what == "transfer" else f"{m[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color=_text_color(what, m[i, j], lim),
                    )
        ax.set_xticks(range(k), report.tasks, rotation=45, ha="right")
        ax.set_yticks(range(k), report.tasks)
        ax.set_xlabel("source" if what == "transfer" else "task")
        ax.set_ylabel("target" if what == "transfer" else "task")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report, workdir):
    """Writes ``transfer.md``, ``transfer.csv``, ``transfer.json``, ``transfer_heatmap.png`` and, with an
    aligned variant, ``transfer_alignment.png``; returns their paths."""
    import csv

    paths = {ext: os.path.join(workdir, f"transfer.{ext}") for ext in ("md", "csv", "json")}
    with open(paths["md"], "w") as f:
        f.write(markdown(report))
    rows = csv_rows(report)
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and not np.isnan(v) else v) for k, v in r.items()})
    write_json(report.to_dict(), paths["json"])
    paths["png"] = os.path.join(workdir, "transfer_heatmap.png")
    heatmap(report, paths["png"])
    if plot_alignment_effect(report, os.path.join(workdir, "transfer_alignment.png")):
        paths["alignment_png"] = os.path.join(workdir, "transfer_alignment.png")
    return paths


def plot_alignment_effect(report, path):
    """Per pair: the alignment's gain (bars, one colour per aligned variant) and the covariance
    similarity at E vs after the alignment (one dot per pair and variant; above the diagonal =
    the alignment raised it). Returns ``path``, or None when the report has no aligned variant."""
    kinds = [a for a in report.alignments if a != "none"]
    effects = {a: alignment_effect(report, a) for a in kinds}
    effects = {a: rows for a, rows in effects.items() if rows}
    if not effects:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = ["+".join(r["pair"]) for r in next(iter(effects.values()))]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2.2, 1]})
    width = 0.8 / len(effects)
    x = np.arange(len(pairs))
    for n, (a, rows) in enumerate(effects.items()):
        ax1.bar(x + (n - (len(effects) - 1) / 2) * width, [r["gain"] for r in rows], width, label=a)
        pts = [(r["sim_before"], r["sim_after"]) for r in rows if r["sim_before"] is not None]
        if pts:
            ax2.scatter(*zip(*pts, strict=True), label=a, s=18)
    ax1.axhline(0, color="black", linewidth=0.8)
    ax1.set_xticks(x, pairs, rotation=60, ha="right", fontsize=8)
    ax1.set_ylabel("pair score: aligned − not aligned")
    ax1.set_title("What the alignment changes, per pair")
    ax1.legend(fontsize=8)
    ax2.plot([0, 1], [0, 1], color="gray", linewidth=0.8)
    ax2.set_xlim(0, 1.02)
    ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("similarity at the embedding E")
    ax2.set_ylabel("similarity after the alignment")
    ax2.set_title("Covariance similarity of each pair")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
