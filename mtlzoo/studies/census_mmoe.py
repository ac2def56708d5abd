"""MMoE on Census-Income (Ma et al., KDD 2018, Section 6.3, first task group): AUC per task per architecture.

For each architecture (``shared_bottom``, ``mmoe``, ``cgc``, ``ple``, ``cross_stitch``) and
seed, the config of ``get_config(architecture)`` (with ``seed`` set: initialisation and the
train/validation/test split of the ``census`` source) trains into
``WORKDIR/<architecture>/seed<seed>`` through :func:`mtlzoo.studies.common.train_or_load`: a
finished folder (``metrics.json``) is read back, so rerunning the study resumes it. The
report: the test AUC of ``income`` (> 50K) and ``marital`` (never married) per run, mean
and sample standard deviation over seeds, trainable parameters, the mean gate weights of
the gated architectures, and the ranking of architectures per task.

Writes ``WORKDIR/census_mmoe.json``, ``census_mmoe.md`` and ``census_mmoe.png`` (AUC per
task, one bar per architecture, error bars = std over seeds).

Example:
    >>> report = run_census_study(module.get_config, "/tmp/census", ["shared_bottom", "mmoe"], [0, 1, 2])
    >>> report["summary"]["mmoe"]["income"]["mean"]
"""

import json
import os
import time

import numpy as np

from mtlzoo.fileio import write_json, write_text
from mtlzoo.studies.common import Progress, mean_std, save_figure, train_or_load

TASKS = ("income", "marital")


def _mean_std(values):
    mean, std = mean_std(values)  # the studies' one NaN rule (mtlzoo.studies.common)
    return {"mean": mean, "std": std, "values": [float(v) for v in values]}


def _params(run_dir, model):
    """Trainable parameters of a run, from the model just trained or the saved ``params.json``."""
    path = os.path.join(run_dir, "params.json")
    if model is not None:
        n = int(sum(int(np.prod(v.shape)) for v in model.trainable_variables))
        write_json({"trainable_params": n}, path)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["trainable_params"]


def _single_task_run(base, seed, workdir, train_fn, prog, unit):
    """The ``single_task`` arm: one shared_bottom model per task (``WORKDIR/single_task/<task>/seed<s>``);
    ``unit``: the number of the progress unit before this arm's first run."""
    auc, params, seconds = {}, 0, 0.0
    for task in TASKS:
        unit += 1
        what = f"single_task {task} seed {seed}"
        cfg = base.copy_and_resolve_references()
        cfg.seed = int(seed)
        cfg.tasks = {task: dict(cfg.tasks[task])}
        run_dir = os.path.join(workdir, "single_task", task, f"seed{seed}")
        t0 = time.time()
        metrics, model, status = train_or_load(cfg, run_dir, train_fn, starting=lambda i=unit, w=what: prog.start(i, w))
        if model is not None:
            write_json({"seconds": time.time() - t0}, os.path.join(run_dir, "wall_time.json"))
        auc[task] = float(metrics[task]["auc"])
        params += _params(run_dir, model) or 0
        if os.path.exists(os.path.join(run_dir, "wall_time.json")):
            with open(os.path.join(run_dir, "wall_time.json")) as f:
                seconds += json.load(f)["seconds"]
        prog.done(unit, what, f"{status}; AUC {auc[task]:.4f}")
    return {"seed": int(seed), "auc": auc, "gates": None, "params": params, "seconds": seconds}


def run_census_study(get_config, workdir, architectures, seeds, epochs=None, progress=print, train_fn=None):
    """Trains (or reads back) every (architecture, seed) run and writes the report; returns it as a dict.

    Args:
        get_config: ``architecture -> ConfigDict`` (e.g. ``configs/census_mmoe.py``'s).
        workdir: the study folder.
        architectures: names of ``model.architecture``, or ``single_task`` (``get_config("shared_bottom")``
            trained on each task alone; its row pairs the two single-task AUCs of a seed).
        seeds: ints.
        epochs: overrides ``train.epochs`` when set.
        progress: called with the progress lines (:class:`mtlzoo.studies.common.Progress`; None: silent).
        train_fn: passed to ``train_or_load`` (tests).
    """
    os.makedirs(workdir, exist_ok=True)
    configs = {}
    for arch in architectures:
        cfg = get_config("shared_bottom" if arch == "single_task" else arch)
        cfg.model.architecture = "shared_bottom" if arch == "single_task" else arch
        if epochs:
            cfg.train.epochs = epochs
        configs[arch] = cfg
    runs, start = {}, time.time()
    prog = Progress(sum(len(TASKS) if a == "single_task" else 1 for a in configs) * len(seeds), progress)
    unit = 0
    for arch, base in configs.items():
        runs[arch] = []
        for seed in seeds:
            if arch == "single_task":
                runs[arch].append(_single_task_run(base, seed, workdir, train_fn, prog, unit))
                unit += len(TASKS)
                continue
            cfg = base.copy_and_resolve_references()
            cfg.seed = int(seed)
            run_dir = os.path.join(workdir, arch, f"seed{seed}")
            t0 = time.time()
            unit += 1
            what = f"{arch} seed {seed}"
            metrics, model, status = train_or_load(
                cfg, run_dir, train_fn, starting=lambda i=unit, w=what: prog.start(i, w)
            )
            if model is not None:
                write_json({"seconds": time.time() - t0}, os.path.join(run_dir, "wall_time.json"))
            wall = None
            if os.path.exists(os.path.join(run_dir, "wall_time.json")):
                with open(os.path.join(run_dir, "wall_time.json")) as f:
                    wall = json.load(f)["seconds"]
            runs[arch].append(
                {
                    "seed": int(seed),
                    "auc": {t: float(metrics[t]["auc"]) for t in TASKS},
                    "gates": (metrics.get("architecture") or {}).get("gates"),
                    "params": _params(run_dir, model),
                    "seconds": wall,
                }
            )
            prog.done(unit, what, f"{status}; AUC " + ", ".join(f"{t} {runs[arch][-1]['auc'][t]:.4f}" for t in TASKS))
    summary = {
        arch: {t: _mean_std([r["auc"][t] for r in rs]) for t in TASKS} | {"params": rs[0]["params"]}
        for arch, rs in runs.items()
    }
    for arch, rs in runs.items():
        summary[arch]["mean_auc"] = _mean_std([np.mean([r["auc"][t] for t in TASKS]) for r in rs])
    ranking = {t: sorted(summary, key=lambda a, t=t: -summary[a][t]["mean"]) for t in (*TASKS, "mean_auc")}
    report = {
        "tasks": list(TASKS),
        "seeds": [int(s) for s in seeds],
        "epochs": {a: int(c.train.epochs) for a, c in configs.items()},
        "runs": runs,
        "summary": summary,
        "ranking": ranking,
        "study_seconds": time.time() - start,
        "run_seconds": float(sum(r["seconds"] or 0 for rs in runs.values() for r in rs)),
    }
    write_json(report, os.path.join(workdir, "census_mmoe.json"))
    write_text(markdown(report), os.path.join(workdir, "census_mmoe.md"))
    plot(report, os.path.join(workdir, "census_mmoe.png"))
    return report


def markdown(report):
    """The report's table (AUC x 100, mean ± std over seeds) and the ranking per task."""
    seeds = report["seeds"]
    lines = [
        "| architecture | params | AUC income | AUC marital | mean AUC |",
        "|---|---|---|---|---|",
    ]
    for arch, s in report["summary"].items():
        cells = [f"`{arch}`", str(s["params"])]
        cells += [f"{100 * s[k]['mean']:.2f} ± {100 * s[k]['std']:.2f}" for k in (*report["tasks"], "mean_auc")]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Test-split AUC x 100, mean ± sample std over seeds {', '.join(map(str, seeds))}.")
    for t, order in report["ranking"].items():
        lines.append(f"- ranking by {t}: " + " > ".join(order))
    gated = {a: rs for a, rs in report["runs"].items() if rs[0]["gates"]}
    for arch, rs in gated.items():
        top = []
        for r in rs:
            g = r["gates"]
            top.append(
                "seed "
                + str(r["seed"])
                + ": "
                + "; ".join(f"{t} top expert {max(g[t], key=g[t].get)} ({max(g[t].values()):.2f})" for t in g)
            )
        lines.append(f"- `{arch}` mean gate weights on the test split: " + " | ".join(top))
    return "\n".join(lines) + "\n"


def plot(report, path):
    """Bars of test AUC per task, one per architecture, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = list(report["summary"])
    fig, axes = plt.subplots(1, len(report["tasks"]), figsize=(4.2 * len(report["tasks"]), 3.6))
    for ax, t in zip(np.atleast_1d(axes), report["tasks"], strict=True):
        m = [100 * report["summary"][a][t]["mean"] for a in archs]
        s = [100 * report["summary"][a][t]["std"] for a in archs]
        ax.bar(range(len(archs)), m, yerr=s, color=[f"C{i}" for i in range(len(archs))], capsize=3)
        for i, a in enumerate(archs):  # each seed as a dot
            ax.scatter([i] * len(report["runs"][a]), [100 * r["auc"][t] for r in report["runs"][a]], color="k", s=8)
        lo = min(min(100 * r["auc"][t] for r in rs) for rs in report["runs"].values())
        hi = max(max(100 * r["auc"][t] for r in rs) for rs in report["runs"].values())
        ax.set_ylim(lo - 0.5 * (hi - lo) - 0.05, hi + 0.3 * (hi - lo) + 0.05)
        ax.set_xticks(range(len(archs)), archs, rotation=30, ha="right")
        ax.set_title(f"{t}: test AUC x 100")
    fig.suptitle(f"Census-Income, seeds {', '.join(map(str, report['seeds']))}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)  # atomic (mtlzoo.studies.common)
