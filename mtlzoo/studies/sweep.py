"""Named configs trained over seeds, with single-task vs multi-task and capacity summaries.

A sweep is ``{name: config}``; each (name, seed) trains in ``workdir/<name>/seed_<seed>``
(see :mod:`mtlzoo.studies.common`: a finished run is reused, so rerunning resumes). The
summaries read one metric per task from each run's ``metrics.json`` (the config's
``train.eval_split``):

* :func:`stl_vs_mtl`: for every task, the single-task score ``s_i(STL i)``, the multi-task
  score ``s_i(MTL)`` and the gain ``s_i(MTL) - s_i(STL i)`` (mean and sample standard
  deviation over seeds; the gain is paired by seed).
* :func:`capacity_curve`: for every shared capacity r, the multi-task score of each task
  and their mean ``(1/k) sum_i s_i(MTL_r)``, the curve of Wu, Zhang & Ré (2020), Sec. 3.1
  ("the shared module's capacity must be neither too small nor too large").

Example:
    >>> runs = run_sweep({"mtl": cfg, "stl_mr": cfg_mr}, "/tmp/sweep", seeds=(0, 1))
    >>> runs["mtl"][0]["mr"]["accuracy"]
"""

import os

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.studies.common import Progress, mean_std, pm, save_figure, train_or_load


def _pm(m, s, seeds):
    """``mean ± std`` in percent; the mean alone for one seed (no spread to show)."""
    return pm(m, s if seeds > 1 else None, scale=100.0, digits=1)


def run_sweep(variants, workdir, seeds=(0,), progress=print, train_fn=None):
    """Trains (or reads back) every variant at every seed.

    Args:
        variants: ``{name: config}`` (ConfigDict or mapping); ``name`` may contain ``/``.
        workdir: root folder; a run lives in ``workdir/<name>/seed_<seed>``.
        seeds: each run's config gets ``seed`` set to it.
        progress: called with the progress lines (:class:`mtlzoo.studies.common.Progress`: a line
            when a run starts training, one when it ends; ``None`` for silence).
        train_fn: ``train(config, workdir)`` (default :func:`mtlzoo.training.train`).

    Returns:
        ``{name: [metrics dict per seed]}`` in the order of ``seeds``.
    """
    from mtlzoo.config import resolve_config

    seeds = [int(s) for s in seeds]
    if not seeds or min(seeds) < 0:
        raise ConfigError("seeds", f"need at least one non-negative seed, got {seeds}")
    if not variants:
        raise ConfigError(None, "the sweep has no variants")
    resolved = {}
    for name, cfg in variants.items():  # every config checked before any training
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise ConfigError(None, f"variant name {name!r} is not a relative folder name")
        resolved[name] = resolve_config(cfg)
    prog = Progress(len(resolved) * len(seeds), progress)
    out, done = {}, 0
    for name, cfg in resolved.items():
        out[name] = []
        for seed in seeds:
            run_cfg = cfg.copy_and_resolve_references()
            run_cfg.seed = seed
            run_dir = os.path.join(workdir, name, f"seed_{seed}")
            done += 1
            what = f"{name} seed={seed}"
            metrics, _, status = train_or_load(
                run_cfg, run_dir, train_fn, starting=lambda i=done, w=what: prog.start(i, w)
            )
            out[name].append(metrics)
            prog.done(done, what, status)
    return out


def scores(runs, tasks, metric="accuracy"):
    """``[seeds, len(tasks)]`` array of ``metric`` from a list of per-seed metrics dicts."""
    rows = []
    for m in runs:
        row = []
        for t in tasks:
            if t not in m or metric not in m[t]:
                have = ", ".join(m.get(t, {})) if isinstance(m.get(t), dict) else "no such task"
                raise ConfigError(None, f"run metrics have no {metric!r} for task {t!r} ({have})")
            row.append(float(m[t][metric]))
        rows.append(row)
    return np.asarray(rows, np.float64)


def stl_vs_mtl(stl_runs, mtl_runs, tasks, metric="accuracy"):
    """Per-task single-task vs multi-task scores.

    Args:
        stl_runs: ``{task: [metrics per seed]}`` of each task's single-task model.
        mtl_runs: ``[metrics per seed]`` of the multi-task model of all ``tasks``.

    Returns:
        ``{"tasks", "stl", "stl_std", "mtl", "mtl_std", "gain", "gain_std", "mean": {...}}``:
        lists over tasks; ``gain = MTL - STL`` paired by seed (seed s of each); ``mean`` holds
        the same keys for the average over tasks.
    """
    n = len(mtl_runs)
    for t in tasks:
        if len(stl_runs[t]) != n:
            raise ConfigError(None, f"task {t!r} has {len(stl_runs[t])} single-task runs but the MTL model has {n}")
    stl = np.stack([scores(stl_runs[t], [t], metric)[:, 0] for t in tasks], axis=1)  # [seeds, k]
    mtl = scores(mtl_runs, tasks, metric)
    gain = mtl - stl
    out = {"tasks": list(tasks), "metric": metric, "seeds": n}
    for key, a in (("stl", stl), ("mtl", mtl), ("gain", gain)):
        m, s = mean_std(a, axis=0)
        out[key], out[key + "_std"] = m.tolist(), s.tolist()
    mean = {}
    for key, a in (("stl", stl), ("mtl", mtl), ("gain", gain)):
        m, s = mean_std(a.mean(axis=1))
        mean[key], mean[key + "_std"] = float(m), float(s)
    out["mean"] = mean
    return out


def capacity_curve(runs_by_capacity, tasks, metric="accuracy"):
    """``{capacity: [metrics per seed]}`` -> ``{"capacities", "per_task" [c][k], "mean", "mean_std", "best"}``.

    ``mean`` is the average over tasks of each run, then over seeds; ``best`` the capacity
    with the highest ``mean``.
    """
    caps = sorted(runs_by_capacity)
    per_task, mean, spread = [], [], []
    n_seeds = min(len(v) for v in runs_by_capacity.values())
    for c in caps:
        a = scores(runs_by_capacity[c], tasks, metric)
        per_task.append(a.mean(axis=0).tolist())
        m, s = mean_std(a.mean(axis=1))
        mean.append(float(m))
        spread.append(float(s))
    return {
        "tasks": list(tasks),
        "metric": metric,
        "capacities": caps,
        "per_task": per_task,
        "mean": mean,
        "mean_std": spread,
        "best": caps[int(np.argmax(mean))],
        "seeds": n_seeds,
    }


def stl_vs_mtl_markdown(by_encoder):
    """Markdown table from ``{encoder: stl_vs_mtl(...)}``: one row per task (+ mean), three
    columns per encoder (STL, MTL, gain), scores in percent, mean ± std over seeds."""
    encoders = list(by_encoder)
    first = by_encoder[encoders[0]]
    head = ["task"] + [f"{e} {col}" for e in encoders for col in ("STL", "MTL", "MTL − STL")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, t in enumerate(first["tasks"]):
        cells = [t]
        for e in encoders:
            r = by_encoder[e]
            cells += [_pm(r[k][i], r[k + "_std"][i], seeds=r["seeds"]) for k in ("stl", "mtl", "gain")]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**mean**"]
    for e in encoders:
        m = by_encoder[e]["mean"]
        cells += [_pm(m[k], m[k + "_std"], seeds=by_encoder[e]["seeds"]) for k in ("stl", "mtl", "gain")]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_stl_vs_mtl(by_encoder, path):
    """Grouped bars of the gain MTL − STL (percentage points) per task, one colour per encoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    encoders = list(by_encoder)
    tasks = by_encoder[encoders[0]]["tasks"]
    x = np.arange(len(tasks) + 1)
    width = 0.8 / len(encoders)
    fig, ax = plt.subplots(figsize=(8, 4))
    for j, e in enumerate(encoders):
        r = by_encoder[e]
        g = 100 * np.asarray(r["gain"] + [r["mean"]["gain"]])
        err = 100 * np.asarray(r["gain_std"] + [r["mean"]["gain_std"]])
        ax.bar(x + (j - (len(encoders) - 1) / 2) * width, g, width, yerr=err if err.any() else None, label=e)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, tasks + ["mean"])
    ax.set_ylabel(f"MTL − STL {by_encoder[encoders[0]]['metric']} (points)")
    ax.set_title("Six-task model vs single-task models")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def capacity_markdown(curve, stl_mean=None):
    """Markdown table of a :func:`capacity_curve`: one row per capacity, per-task and mean scores (percent)."""
    head = ["capacity r", *curve["tasks"], "mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c, row, m, s in zip(curve["capacities"], curve["per_task"], curve["mean"], curve["mean_std"], strict=True):
        best = " **(best)**" if c == curve["best"] else ""
        cells = [str(c), *[f"{100 * v:.1f}" for v in row], _pm(m, s, seeds=curve["seeds"]) + best]
        lines.append("| " + " | ".join(cells) + " |")
    if stl_mean is not None:
        lines.append(
            "| STL (default capacity) | " + " | ".join(["" for _ in curve["tasks"]]) + f" | {100 * stl_mean:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot_capacity(curve, path, stl_mean=None, title="Multi-task accuracy vs shared capacity"):
    """Mean score over tasks vs capacity (log x; error bars = std over seeds), tasks faint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    caps = np.asarray(curve["capacities"], np.float64)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    per_task = 100 * np.asarray(curve["per_task"])
    for i, t in enumerate(curve["tasks"]):
        ax.plot(caps, per_task[:, i], color="gray", alpha=0.35, linewidth=1)
        ax.annotate(t, (caps[-1], per_task[-1, i]), fontsize=7, color="gray", xytext=(3, 0), textcoords="offset points")
    ax.errorbar(
        caps,
        100 * np.asarray(curve["mean"]),
        yerr=100 * np.asarray(curve["mean_std"]),
        marker="o",
        color="C0",
        linewidth=2,
        capsize=3,
        label="MTL, mean over tasks",
    )
    if stl_mean is not None:
        ax.axhline(100 * stl_mean, color="C3", linestyle="--", label="STL mean (default capacity)")
    ax.set_xscale("log")
    ax.set_xlabel("shared module capacity r")
    ax.set_ylabel(f"{curve['metric']} (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


__all__ = [
    "capacity_curve",
    "capacity_markdown",
    "plot_capacity",
    "plot_stl_vs_mtl",
    "run_sweep",
    "scores",
    "stl_vs_mtl",
    "stl_vs_mtl_markdown",
]
