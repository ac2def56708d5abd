"""The GLUE experiment of Wu, Zhang & Ré (ICLR 2020, Section 4.3) on a pretrained encoder, at a CPU's scale.

Per seed, up to five arms on the same GLUE tasks (default CoLA, SST-2, MRPC, STS-B, RTE), each
run trained into its own folder through :func:`mtlzoo.studies.common.train_or_load`:

* ``single_task``: one model per task (``WORKDIR/seed<s>/stl_<task>``);
* ``mtl``: one multi-task model over all tasks (``WORKDIR/seed<s>/mtl``);
* ``mtl_joint``: the same with the per-task covariance alignment R_i between the encoder's
  embedding block and its transformer layers, trained jointly (``model.alignment = joint``);
* ``mtl_fixed_encoder``: Algorithm 1's schedule: train the multi-task model (R_i = I), then
  freeze the shared layers and train only R_i and the heads (``model.alignment =
  fixed_encoder``, ``train.alignment_epochs``);
* ``mtl_fixed_heads``: the control for ``mtl_fixed_encoder``: the same two phases, but the
  second trains the heads only with R_i kept at the identity (``train.alignment_phase2 =
  heads``), so ``mtl_fixed_encoder - mtl_fixed_heads`` is what training R_i adds beyond the
  extra head training.

Each run is scored on the ``test`` split (GLUE's dev file; GLUE's test labels are hidden)
with GLUE's metric per task (:mod:`mtlzoo.metrics.glue`: Matthews corr. for CoLA, F1 and
accuracy for MRPC, Pearson and Spearman for STS-B, accuracy otherwise; a task's score is the
mean of its metrics, the GLUE average the mean over tasks). The single-task arm's GLUE
average is that of its per-task runs of the same seed. For the multi-task arms the study
also measures the covariance similarity of the task embeddings (:mod:`mtlzoo.analysis.covariance`,
:func:`~mtlzoo.analysis.covariance.normalized_covariance_similarity`: 1 = the same truncated
second-moment matrix; and Eq. 5) on up to ``similarity_examples`` training examples per
task, every real token one row: ``before`` at the embedding block's output E, ``after`` at
the alignment layer's output R_i E (aligned arms only).

**Resumable.** A run folder with ``result.json`` is finished and is read back; one with
``metrics.json`` only is evaluated and measured again; anything else trains (resuming from
its own checkpoint). After each finished run one row is appended to ``WORKDIR/glue_runs.csv``
(flush + fsync; a row torn by a crash is dropped on the next read) and the report
(``glue_study.md``, ``.json``, ``.png``) is regenerated from the CSV and the run folders, so
the report of a study still running (or interrupted) shows the finished runs and names the
missing ones (a run read back whose row is already in the CSV changes nothing and regenerates
nothing; the last run's report is the one written when the study ends). :func:`write_report`
regenerates it without training.

Example:
    >>> from configs.glue_minilm import get_config
    >>> report = run_glue_study(get_config, "/tmp/glue_study", seeds=[0], overrides={"train.epochs": 2})
    >>> report["summary"]["mtl_joint"]["average"]["mean"]
"""

import json
import os
import time

import numpy as np

from mtlzoo.config import field_parent
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json, write_text
from mtlzoo.metrics.glue import GLUE_METRICS
from mtlzoo.studies.common import (
    append_csv_row,
    markdown_table,
    mean_std,
    paired_stats,
    pm,
    read_csv_rows,
    read_json,
    save_figure,
    train_or_load,
)

FIVE = ("cola", "sst2", "mrpc", "stsb", "rte")
ARMS = ("single_task", "mtl", "mtl_joint", "mtl_fixed_encoder", "mtl_fixed_heads")
# the config fields each multi-task arm sets (single_task sets none)
ARM_FIELDS = {
    "mtl": {"model.alignment": "none"},
    "mtl_joint": {"model.alignment": "joint"},
    "mtl_fixed_encoder": {"model.alignment": "fixed_encoder"},
    "mtl_fixed_heads": {"model.alignment": "fixed_encoder", "train.alignment_phase2": "heads"},
}
ALIGNMENT = {arm: fields["model.alignment"] for arm, fields in ARM_FIELDS.items()}
LABELS = {
    "single_task": "(a) single-task",
    "mtl": "(b) MTL",
    "mtl_joint": "(c) MTL + alignment (joint)",
    "mtl_fixed_encoder": "(d) MTL + alignment (Alg. 1)",
    "mtl_fixed_heads": "(e) MTL + head-only phase (control for d)",
}
CSV_NAME = "glue_runs.csv"
REPORT_STEM = "glue_study"


# --------------------------------------------------------------------------- plan and configs


def csv_columns(tasks):
    """The result CSV's header for a study over ``tasks``: one row per finished run."""
    cols = ["seed", "arm", "run"]
    for t in tasks:
        cols += [f"{t}_{m}" for m in GLUE_METRICS[t]] + [f"{t}_score"]
    return [*cols, "glue_average", "train_seconds", "eval_seconds"]


def plan(tasks, seeds, arms=ARMS):
    """``[(seed, arm, run name, run tasks)]`` in the order the study trains them (seed by seed)."""
    out = []
    for seed in seeds:
        for arm in arms:
            if arm == "single_task":
                out += [(int(seed), arm, f"stl_{t}", (t,)) for t in tasks]
            else:
                out.append((int(seed), arm, arm, tuple(tasks)))
    return out


def _set(cfg, dotted, value):
    """``cfg.a.b = value`` for ``"a.b"``; ConfigError naming the key when the config has no such field."""
    try:
        node, last = field_parent(cfg, dotted)
    except KeyError as e:
        missing = e.args[0]
        what = "field" if missing == dotted else "section"
        raise ConfigError(dotted, f"the config has no {what} {missing.rsplit('.', 1)[-1]!r}") from None
    if dotted == "data.max_train_examples" and not hasattr(value, "items"):
        value = None if value is None else {t: int(value) for t in node[last]}  # one cap for every task
    node[last] = value


def run_config(get_config, seed, arm, run_tasks, overrides=None):
    """The ConfigDict of one run: ``get_config("TASK,...[,align]")`` with ``seed``, the arm's
    fields (:data:`ARM_FIELDS`) and the study's ``overrides`` (``{"train.epochs": 2, ...}``)."""
    import ml_collections

    cfg = get_config(",".join(run_tasks))
    for key, value in (overrides or {}).items():
        _set(cfg, key, value)
    cfg.seed = int(seed)
    for key, value in ARM_FIELDS.get(arm, {}).items():
        _set(cfg, key, value)
    if not isinstance(cfg, ml_collections.ConfigDict):  # pragma: no cover - get_config returns one
        raise ConfigError(None, "get_config must return an ml_collections.ConfigDict")
    return cfg


# --------------------------------------------------------------------------- one run


def load_run_data(cfg):
    """``(resolved config, tasks, TaskData)`` of a run's config (the same seeded subsample and split as its training)."""
    from mtlzoo.config import resolve_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    resolved = resolve_config(cfg)
    tasks = tasks_from_config(resolved.tasks)
    return resolved, tasks, load_data(resolved, tasks)


def test_scores(model, resolved, tasks, data, split="test"):
    """GLUE metrics of ``model`` on ``split`` (:func:`mtlzoo.metrics.glue.glue_report`), predicted in
    batches trimmed to their longest example (the split is length-bucketed)."""
    from mtlzoo.data.glue_files import traced_predict
    from mtlzoo.metrics.glue import glue_report

    names = list(model.input) if isinstance(model.input, dict) else [model.input.name]
    predict = traced_predict(model)
    parts = {"y": {}, "p": {}, "w": {}}
    for feats, labels, weights in data.dataset(split, resolved.data.batch_size, names):
        preds = predict(feats)
        for key, src in (("y", labels), ("p", preds), ("w", weights)):
            for k, v in src.items():
                parts[key].setdefault(k, []).append(np.asarray(v))
    joined = {key: {k: np.concatenate(v) for k, v in d.items()} for key, d in parts.items()}
    report = glue_report(tasks, joined["y"], joined["p"], joined["w"])
    if report is None:
        raise ConfigError("tasks", "no GLUE task in the run (tasks named after GLUE's, of GLUE's kind)")
    return report, len(data.split(split))


def _similarity(model, resolved, tasks, data, max_examples, embedding_layer, max_rows=2048):
    """Covariance similarity matrices of the tasks' token embeddings, before (E) and after alignment.

    ``{"tasks", "examples_per_task", "embedding_layer", "before": {"normalized", "eq5", "rows"},
    "after": ... or None}`` on the first ``max_examples`` training examples of each task (every
    real token one row, :func:`mtlzoo.analysis.covariance.task_embeddings`; a seeded sample of
    ``max_rows`` rows per task when there are more: ``tokens`` counts them all, ``rows`` the ones used).
    """
    from mtlzoo.analysis.covariance import covariance_similarity_matrix, task_embeddings

    split = data.split("train")
    feats = {k: np.asarray(v) for k, v in split.features.items()}
    tid = feats["task_id"].reshape(-1)
    keep = np.concatenate([np.flatnonzero(tid == i)[:max_examples] for i in range(len(tasks))])
    feats = {k: v[keep] for k, v in feats.items()}
    tid = tid[keep]
    if "padding_mask" in feats:  # drop all-padding columns (the split is padded to its longest example)
        width = int(feats["padding_mask"].sum(axis=1).max())
        feats = {k: (v[:, :width] if v.ndim == 2 and v.shape[1] > width else v) for k, v in feats.items()}
    out = {
        "tasks": [t.name for t in tasks],
        "examples_per_task": [int(np.sum(tid == i)) for i in range(len(tasks))],
        "embedding_layer": embedding_layer,
        "before": None,
        "after": None,
    }
    for key, layer in (("before", embedding_layer), ("after", "alignment")):
        if key == "after" and resolved.model.alignment == "none":
            continue
        xs = task_embeddings(model, feats, tid, layer, num_tasks=len(tasks), batch_size=64)
        tokens = [len(x) for x in xs]
        rng = np.random.default_rng(0)  # a seeded sample of token rows keeps the SVDs small
        xs = [x[np.sort(rng.choice(len(x), max_rows, replace=False))] if len(x) > max_rows else x for x in xs]
        out[key] = {
            "tokens": tokens,
            "normalized": covariance_similarity_matrix(xs, normalized=True).tolist(),
            "eq5": covariance_similarity_matrix(xs, normalized=False).tolist(),
            "rows": [len(x) for x in xs],
        }
    return out


def embedding_layer_of(cfg):
    """The name of the layer whose output is the embedding E (the alignment's input) for ``cfg``'s encoder."""
    import keras

    from mtlzoo.config import resolve_config
    from mtlzoo.models import build_model

    resolved = resolve_config(cfg).to_dict()
    model = build_model({"tasks": resolved["tasks"], "model": {**resolved["model"], "alignment": "joint"}})
    name = model.get_layer("alignment").input[0]._keras_history.operation.name
    keras.backend.clear_session()
    return name


def run_one(cfg, run_dir, similarity_examples=256, embedding_layer=None, train_fn=None):
    """Trains (or reads back) one run, scores it on ``test`` and measures its task embeddings.

    Returns ``(result dict, status line)``; the result is also ``run_dir/result.json``.
    """
    done = read_json(os.path.join(run_dir, "result.json"))
    if done is not None:
        return done, "skipped (result.json exists)"
    t0 = time.time()
    _, model, status = train_or_load(cfg, run_dir, train_fn)
    wall_path = os.path.join(run_dir, "wall_time.json")
    if model is not None:
        write_json({"seconds": time.time() - t0}, wall_path)
    train_seconds = (read_json(wall_path) or {}).get("seconds", float("nan"))
    t1 = time.time()
    if model is None:  # trained before, not yet scored
        from mtlzoo.workdir import load_workdir

        model = load_workdir(run_dir)[0]
    resolved, tasks, data = load_run_data(cfg)
    glue, n_test = test_scores(model, resolved, tasks, data)
    similarity = None
    if len(tasks) > 1 and similarity_examples:
        layer = embedding_layer or embedding_layer_of(cfg)
        similarity = _similarity(model, resolved, tasks, data, similarity_examples, layer)
    result = {
        "tasks": {t: {k: float(v) for k, v in m.items()} for t, m in glue["tasks"].items()},
        "glue_average": float(glue["average"]),
        "test_examples": int(n_test),
        "train_seconds": float(train_seconds),
        "eval_seconds": time.time() - t1,
        "similarity": similarity,
    }
    write_json(result, os.path.join(run_dir, "result.json"))
    return result, status


def _csv_row(seed, arm, run, result, tasks):
    row = {c: float("nan") for c in csv_columns(tasks)}
    row.update(seed=seed, arm=arm, run=run, glue_average=result["glue_average"])
    row.update(train_seconds=result["train_seconds"], eval_seconds=result["eval_seconds"])
    for t, m in result["tasks"].items():
        for k, v in m.items():
            row[f"{t}_{k}"] = v
    return row


# --------------------------------------------------------------------------- the study


def run_glue_study(
    get_config,
    workdir,
    seeds=(0,),
    tasks=FIVE,
    arms=ARMS,
    overrides=None,
    similarity_examples=256,
    progress=print,
    train_fn=None,
    figure=None,
):
    """Trains (or reads back) every run of the study and writes the report; returns it (a dict).

    Args:
        get_config: ``"TASK,...[,align]" -> ConfigDict`` (``configs/glue_minilm.py``'s).
        workdir: the study folder (run folders, ``glue_runs.csv``, the report).
        seeds: ints (initialisation, the train/validation split, the subsample, batch order).
        tasks: GLUE task names (at least two).
        arms: a subset of :data:`ARMS`.
        overrides: ``{"dotted.key": value}`` applied to every run's config (e.g. ``train.epochs``,
            ``data.max_train_examples`` (an int caps every task), ``data.max_length``).
        similarity_examples: training examples per task for the embedding similarity (0: skip).
        progress: called with one line per run.
        train_fn: passed to ``train_or_load`` (tests).
        figure: also save the plot there (e.g. ``docs/img/glue_study.png``).
    """
    tasks = tuple(tasks)
    seeds = [int(s) for s in seeds]
    if len(tasks) < 2:
        raise ConfigError("tasks", f"the GLUE study needs at least 2 tasks, got {len(tasks)}")
    unknown = [t for t in tasks if t not in GLUE_METRICS]
    if unknown:
        raise ConfigError("tasks", f"unknown GLUE task {unknown[0]!r}; choose from {', '.join(GLUE_METRICS)}")
    bad = [a for a in arms if a not in ARMS]
    if bad or not arms:
        raise ConfigError("arms", f"unknown arm {bad[0] if bad else None!r}; choose from {', '.join(ARMS)}")
    if not seeds or min(seeds) < 0:
        raise ConfigError("seeds", f"must be non-negative integers, got {seeds!r}")
    os.makedirs(workdir, exist_ok=True)
    settings = {"tasks": list(tasks), "overrides": dict(overrides or {}), "similarity_examples": similarity_examples}
    old = read_json(os.path.join(workdir, "study.json"))
    if old is not None and (old["tasks"] != settings["tasks"] or old["overrides"] != settings["overrides"]):
        raise ConfigError(
            "workdir", f"{workdir} holds a study with other tasks or overrides ({old}); use a new workdir"
        )
    write_json(settings, os.path.join(workdir, "study.json"))
    columns = csv_columns(tasks)
    csv_path = os.path.join(workdir, CSV_NAME)
    logged = {(int(r["seed"]), r["run"]) for r in read_csv_rows(csv_path, columns)}
    todo = plan(tasks, seeds, arms)
    embedding_layer = None
    start = time.time()
    for i, (seed, arm, run, run_tasks) in enumerate(todo, 1):
        cfg = run_config(get_config, seed, arm, run_tasks, overrides)
        if arm != "single_task" and similarity_examples and embedding_layer is None:
            if read_json(os.path.join(workdir, f"seed{seed}", run, "result.json")) is None:
                embedding_layer = embedding_layer_of(cfg)
        run_dir = os.path.join(workdir, f"seed{seed}", run)
        progress(f"[{i}/{len(todo)}] seed {seed} {run}: starting ({time.time() - start:.0f} s into the study)")
        result, status = run_one(cfg, run_dir, similarity_examples, embedding_layer, train_fn)
        appended = (seed, run) not in logged
        if appended:
            append_csv_row(csv_path, _csv_row(seed, arm, run, result, tasks), columns)
            logged.add((seed, run))
        scores = ", ".join(f"{t} {100 * m['score']:.1f}" for t, m in result["tasks"].items())
        progress(
            f"[{i}/{len(todo)}] seed {seed} {run}: {status}; test {scores}; GLUE avg "
            f"{100 * result['glue_average']:.2f}; train {result['train_seconds']:.0f} s"
        )
        if appended and i < len(todo):  # the CSV changed; the last run's report is the final one below
            write_report(workdir, seeds=seeds, tasks=tasks, arms=arms, figure=figure)
    report = write_report(workdir, seeds=seeds, tasks=tasks, arms=arms, figure=figure)
    progress(f"GLUE study done: {len(todo)} runs in {time.time() - start:.0f} s; report {workdir}/{REPORT_STEM}.md")
    return report


# --------------------------------------------------------------------------- the report


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def collect(workdir, seeds, tasks, arms=ARMS):
    """Per (arm, seed) results from the CSV: ``{arm: {seed: {"tasks": {t: {metric: v, "score": v}},
    "average", "seconds"}}}``; an arm's seed is present only when all its runs are finished."""
    rows = read_csv_rows(os.path.join(workdir, CSV_NAME), csv_columns(tasks))
    by_run = {(int(r["seed"]), r["run"]): r for r in rows}
    out = {}
    for arm in [a for a in ARMS if a in arms]:  # the report's order, whatever order the runs trained in
        out[arm] = {}
        for seed in seeds:
            runs = [run for s, a, run, _ in plan(tasks, [seed], [arm])]
            if not all((seed, run) in by_run for run in runs):
                continue
            per_task = {}
            seconds = 0.0
            for run in runs:
                r = by_run[(seed, run)]
                seconds += _float(r["train_seconds"]) + _float(r["eval_seconds"])
                for t in tasks if arm != "single_task" else [run[len("stl_") :]]:
                    per_task[t] = {m: _float(r[f"{t}_{m}"]) for m in (*GLUE_METRICS[t], "score")}
            out[arm][seed] = {
                "tasks": per_task,
                "average": float(np.mean([per_task[t]["score"] for t in tasks])),
                "seconds": seconds,
            }
    return out


def _similarity_summary(workdir, seeds, arms):
    """Mean off-diagonal normalized covariance similarity (and Eq. 5) per arm, before/after, over seeds."""
    out = {}
    for arm in arms:
        if arm == "single_task":
            continue
        vals = {"before": [], "after": [], "before_eq5": [], "after_eq5": []}
        mats = {"before": [], "after": []}
        for seed in seeds:
            res = read_json(os.path.join(workdir, f"seed{seed}", arm, "result.json"))
            sim = (res or {}).get("similarity")
            if not sim:
                continue
            for key in ("before", "after"):
                if sim.get(key):
                    m = np.asarray(sim[key]["normalized"])
                    off = m[~np.eye(len(m), dtype=bool)]
                    vals[key].append(float(off.mean()))
                    e = np.asarray(sim[key]["eq5"])
                    vals[f"{key}_eq5"].append(float(e[~np.eye(len(e), dtype=bool)].mean()))
                    mats[key].append(m)
            out.setdefault("tasks", sim["tasks"])
        if not vals["before"]:
            continue
        out[arm] = {k: mean_std(v) if v else None for k, v in vals.items()}
        out[arm]["matrix"] = {k: np.mean(v, axis=0).tolist() if v else None for k, v in mats.items()}
        out[arm]["seeds"] = len(vals["before"])
    return out


def summarize(workdir, seeds, tasks, arms=ARMS):
    """The report as a dict: per-arm per-task mean ± std, GLUE average, paired differences, similarity."""
    results = collect(workdir, seeds, tasks, arms)
    summary = {}
    for arm, by_seed in results.items():
        if not by_seed:
            continue
        s = {"seeds": sorted(by_seed)}
        for t in tasks:
            s[t] = {m: mean_std([r["tasks"][t][m] for r in by_seed.values()]) for m in (*GLUE_METRICS[t], "score")}
        s["average"] = dict(zip(("mean", "std"), mean_std([r["average"] for r in by_seed.values()]), strict=True))
        s["average"]["values"] = [by_seed[k]["average"] for k in sorted(by_seed)]
        s["seconds"] = float(np.mean([r["seconds"] for r in by_seed.values()]))
        summary[arm] = s
    diffs = {}
    for arm, base in (
        ("mtl_joint", "mtl"),
        ("mtl_fixed_encoder", "mtl"),
        ("mtl_fixed_encoder", "mtl_fixed_heads"),
        ("mtl_fixed_heads", "mtl"),
        ("mtl", "single_task"),
    ):
        common = sorted(set(results.get(arm, {})) & set(results.get(base, {})))
        if not common:
            continue
        d = {"seeds": common}
        d["average"] = paired_stats([results[arm][s]["average"] - results[base][s]["average"] for s in common])
        for t in tasks:
            d[t] = paired_stats(
                [results[arm][s]["tasks"][t]["score"] - results[base][s]["tasks"][t]["score"] for s in common]
            )
        diffs[f"{arm} - {base}"] = d
    missing = [
        f"seed {seed} {run}"
        for seed, arm, run, _ in plan(tasks, seeds, arms)
        if read_json(os.path.join(workdir, f"seed{seed}", run, "result.json")) is None
    ]
    return {
        "tasks": list(tasks),
        "seeds": list(seeds),
        "settings": read_json(os.path.join(workdir, "study.json")),
        "results": {a: {str(s): r for s, r in by.items()} for a, by in results.items()},
        "summary": summary,
        "differences": diffs,
        "similarity": _similarity_summary(workdir, seeds, arms),
        "missing_runs": missing,
        "run_seconds": float(sum(r["seconds"] for by in results.values() for r in by.values())),
    }


def _metric_cell(s, t):
    one = len(s["seeds"]) < 2  # no spread to show for one seed
    parts = [pm(s[t][m][0], None if one else s[t][m][1], scale=100, digits=1) for m in GLUE_METRICS[t]]
    return " / ".join(parts)


def markdown(report):
    """The report's Markdown: the table (x 100, mean ± std over seeds), differences, similarity, wall time."""
    tasks, summary = report["tasks"], report["summary"]
    metric_names = {t: "/".join(GLUE_METRICS[t]) for t in tasks}
    header = ["arm", "seeds", *[f"{t} ({metric_names[t]})" for t in tasks], "GLUE avg", "wall time / seed"]
    rows = []
    for arm, s in summary.items():
        rows.append(
            [
                LABELS.get(arm, arm),
                ",".join(map(str, s["seeds"])),
                *[_metric_cell(s, t) for t in tasks],
                f"**{pm(s['average']['mean'], s['average']['std'] if len(s['seeds']) > 1 else None, scale=100)}**",
                f"{s['seconds'] / 60:.1f} min",
            ]
        )
    lines = [
        "GLUE dev-set scores x 100 (the `test` split = GLUE's dev file), mean ± sample std over seeds; "
        "a task's GLUE score is the mean of its metrics, the GLUE average the mean of the task scores.",
        "",
        *markdown_table(header, rows),
        "",
    ]
    if report["differences"]:
        lines += ["Paired differences per seed (x 100; mean ± std, the seeds' values):", ""]
        for name, d in report["differences"].items():
            a = d["average"]
            per = ", ".join(f"{t} {100 * d[t]['mean_diff']:+.1f}" for t in tasks)
            std = f" ± {100 * a['std']:.2f}" if a["n"] > 1 else ""
            lines.append(
                f"- `{name}`: GLUE average {100 * a['mean_diff']:+.2f}{std} over seeds {d['seeds']} "
                f"({a['improved']} up, {a['worse']} down); per task {per}"
            )
        lines.append("")
    sim = report["similarity"]
    if any(k != "tasks" for k in sim):
        lines += [
            "Covariance similarity of the task embeddings (mean over task pairs of the normalized score, "
            "1 = the same truncated covariance; Eq. 5 in brackets), on the training examples' tokens: "
            "before = the embedding block's output E, after = the alignment's output R_i E.",
            "",
        ]
        for arm, v in sim.items():
            if arm == "tasks":
                continue

            def cell(pair, v=v):
                return pm(pair[0], pair[1] if v["seeds"] > 1 else None, digits=3)

            after = f"; after {cell(v['after'])} [{cell(v['after_eq5'])}]" if v.get("after") else ""
            lines.append(
                f"- {LABELS.get(arm, arm)} ({v['seeds']} seed(s)): before {cell(v['before'])} "
                f"[{cell(v['before_eq5'])}]{after}"
            )
        lines.append("")
    lines.append(
        f"Wall time of the finished runs (training + evaluation + similarity): {report['run_seconds'] / 60:.1f} min."
    )
    if report["missing_runs"]:
        lines.append(f"Not finished yet ({len(report['missing_runs'])}): " + ", ".join(report["missing_runs"]) + ".")
    return "\n".join(lines) + "\n"


def plot(report, path):
    """Per-task dev score and GLUE average, one bar per arm (error bars = std over seeds, dots = seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, summary = report["tasks"], report["summary"]
    arms = list(summary)
    cols = [*tasks, "average"]
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 2, 4.0))
    width = 0.8 / max(1, len(arms))
    for j, arm in enumerate(arms):
        s = summary[arm]
        means = [100 * (s[c]["score"][0] if c != "average" else s["average"]["mean"]) for c in cols]
        stds = [100 * (s[c]["score"][1] if c != "average" else s["average"]["std"]) for c in cols]
        x = np.arange(len(cols)) + (j - (len(arms) - 1) / 2) * width
        ax.bar(x, means, width, yerr=stds, capsize=2, label=LABELS.get(arm, arm), color=f"C{j}")
        for r in report["results"][arm].values():
            vals = [100 * (r["tasks"][c]["score"] if c != "average" else r["average"]) for c in cols]
            ax.scatter(x, vals, color="k", s=6, zorder=3)
    ax.set_xticks(range(len(cols)), [c if c != "average" else "GLUE avg" for c in cols])
    ax.set_ylabel("GLUE dev score x 100")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8, loc="lower right")
    seeds = sorted({int(s) for r in report["results"].values() for s in r})
    ax.set_title(f"GLUE dev, MiniLM-L6 encoder, seeds {', '.join(map(str, seeds))}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def write_report(workdir, seeds=None, tasks=None, arms=ARMS, figure=None):
    """Regenerates ``glue_study.{md,json,png}`` in ``workdir`` from its CSV and run folders (no training).

    ``seeds`` / ``tasks`` default to those the CSV and ``study.json`` hold. ``figure``: also save the plot there.
    """
    settings = read_json(os.path.join(workdir, "study.json"))
    if settings is None:
        raise ConfigError("workdir", f"{workdir} holds no GLUE study (no study.json)")
    tasks = tuple(tasks or settings["tasks"])
    if seeds is None:
        rows = read_csv_rows(os.path.join(workdir, CSV_NAME), csv_columns(tasks))
        seeds = sorted({int(r["seed"]) for r in rows}) or [0]
    report = summarize(workdir, list(seeds), tasks, arms)
    write_json(report, os.path.join(workdir, f"{REPORT_STEM}.json"), nan_to_null=True)
    write_text(markdown(report), os.path.join(workdir, f"{REPORT_STEM}.md"))
    if report["summary"]:
        plot(report, os.path.join(workdir, f"{REPORT_STEM}.png"))
        if figure:
            os.makedirs(os.path.dirname(os.path.abspath(figure)), exist_ok=True)
            plot(report, figure)
    return report


def read_report(workdir):
    """The last written report dict of a study folder (``glue_study.json``), or None."""
    path = os.path.join(workdir, f"{REPORT_STEM}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# --------------------------------------------------------------------------- the zoo entry
