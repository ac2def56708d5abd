"""SVD reweighting variants under label noise, several seeds (Wu, Zhang & Ré, ICLR 2020, Section 3.3).

The paper: "After selecting two tasks from the ChestX-ray14 dataset, we test our method by
assigning random labels to 20% of the data on one task. On 20 randomly selected pairs, our
method improves over the unweighted scheme by an average 2.4% AUC score." This study runs that
protocol for a list of (clean, noisy) label pairs, training seeds and *arms* (weightings) on any
shared-input source with ``corrupt_labels`` / ``corrupt_mode`` (``yeast``, ``census``):

* ``ew``: unweighted; ``svd``: Algorithm 2 as written (rank 1, recomputed every epoch);
* ``svd_centred``: centred labels; ``svd_normalised``: centred labels / their std;
* ``svd_rank2``: rank 2 (for a pair r = k, so alpha_i is proportional to ||theta_i||);
* ``svd_every5``: recomputed every 5 steps instead of every epoch; ``svd_once``: computed once,
  before the first step, and held (the paper's "first compute the per-task weights ... then
  re-weight the loss").

Each arm is the study's config (its ``train.weighting`` must be ``svd``) with the arm's
weighting options (:data:`ARM_OPTIONS`); everything else is shared. The noisy member's training
labels are corrupted (``data.corrupt_labels = {noisy: fraction}``, ``data.corrupt_mode``; the
paper's is ``random``: a fair-coin label); validation and test labels stay clean. Scores: test
AUC of *both* tasks on clean test labels, each at the epoch of its own best validation AUC
(and at the last epoch), from :func:`mtlzoo.studies.svd.epoch_scores`.

Layout: ``workdir/<clean>__noisy_<noisy>/seed_<s>/<arm>`` (an ordinary training workdir plus
``scores.json``; finished sub-runs are skipped, so rerunning resumes). Report:
``svd_arms.md``, ``svd_arms.json``, ``svd_arms.png``.
"""

import math
import os

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json, write_text
from mtlzoo.studies.common import paired_stats, save_figure
from mtlzoo.studies.svd_report import jsonable

# arm -> the svd weighting options it sets on the study's config (None: the unweighted arm)
ARM_OPTIONS = {
    "ew": None,
    "svd": {"center": False, "normalize": False},
    "svd_centred": {"center": True, "normalize": False},
    "svd_normalised": {"center": True, "normalize": True},
    "svd_rank2": {"center": False, "normalize": False, "rank": 2},
    "svd_every5": {"center": False, "normalize": False, "every_steps": 5},
    "svd_once": {"center": False, "normalize": False, "every_steps": 10**9},
}
FILES = ("svd_arms.md", "svd_arms.json", "svd_arms.png")


def parse_pairs(text):
    """``"a:b,c:d"`` -> ``[("a", "b"), ("c", "d")]`` (clean:noisy); ConfigError naming a bad entry."""
    pairs = []
    for item in [t for t in str(text).split(",") if t.strip()]:
        parts = [p.strip() for p in item.split(":")]
        if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
            raise ConfigError(None, f"pair_list entry {item!r} must be clean:noisy with two different labels")
        pairs.append(tuple(parts))
    return pairs


def arms_config(resolved, arm, clean, noisy, fraction, mode, seed):
    """The sub-run config (a dict): the pair's tasks, the arm's weighting, the noisy label corrupted."""
    if arm not in ARM_OPTIONS:
        raise ConfigError(None, f"arm {arm!r} is not one of {', '.join(ARM_OPTIONS)}")
    cfg = resolved.to_dict()
    cfg["tasks"] = {n: dict(cfg["tasks"][n]) for n in (clean, noisy)}
    if ARM_OPTIONS[arm] is None:
        cfg["train"]["weighting"] = {"name": "ew"}
        cfg["model"]["task_weights"] = False
    else:
        cfg["train"]["weighting"].update(ARM_OPTIONS[arm])
    cfg["data"]["corrupt_labels"] = {noisy: float(fraction)}
    cfg["data"]["corrupt_mode"] = mode
    cfg["seed"] = int(seed)
    cfg["train"]["verbose"] = 0
    return cfg


def _nan(v):
    return math.nan if v is None else float(v)


def task_at_best(scores, task):
    """(test AUC at the epoch of the task's best validation AUC, that epoch (1-based), last-epoch test AUC)."""
    val = np.array([_nan(v) for v in scores["validation"][task]])
    e = len(val) - 1 if np.all(np.isnan(val)) else int(np.nanargmax(val))
    return _nan(scores["test"][task][e]), e + 1, _nan(scores["test"][task][-1])


def summarise(runs, arms):
    """``runs``: {(clean, noisy, seed): {arm: scores}} -> per-arm statistics against ``ew``.

    Per unit (pair, seed) and task role (clean, noisy): test AUC in points (x 100) at the task's
    own best-validation epoch; differences arm - ew paired by unit; ``noisy_weighted_less``: units
    where the arm's alpha (held at the last epoch) is smaller for the noisy task.
    """
    units = sorted(runs)
    out = {"units": [list(u) for u in units], "arms": {}}
    for arm in arms:
        rows = []
        for u in units:
            clean, noisy, seed = u
            sc = runs[u][arm]
            row = {"clean": clean, "noisy": noisy, "seed": seed}
            for role, task in (("clean", clean), ("noisy", noisy)):
                auc, epoch, last = task_at_best(sc, task)
                row[f"{role}_auc"], row[f"{role}_epoch"], row[f"{role}_last_auc"] = 100 * auc, epoch, 100 * last
            alpha = dict(zip(sc["tasks"], sc["alpha"][-1], strict=True)) if sc.get("alpha") else {}
            row["alpha_clean"], row["alpha_noisy"] = alpha.get(clean, math.nan), alpha.get(noisy, math.nan)
            rows.append(row)
        out["arms"][arm] = {"rows": rows}
    base = out["arms"]["ew"]["rows"] if "ew" in arms else None
    for arm in arms:
        rows = out["arms"][arm]["rows"]
        s = {
            "mean_clean_auc": float(np.nanmean([r["clean_auc"] for r in rows])),
            "mean_noisy_auc": float(np.nanmean([r["noisy_auc"] for r in rows])),
        }
        if base is not None and arm != "ew":
            for role in ("clean", "noisy"):
                s[role] = paired_stats([r[f"{role}_auc"] - b[f"{role}_auc"] for r, b in zip(rows, base, strict=True)])
                s[f"{role}_last"] = paired_stats(
                    [r[f"{role}_last_auc"] - b[f"{role}_last_auc"] for r, b in zip(rows, base, strict=True)]
                )
            s["both"] = paired_stats(
                [
                    (r["clean_auc"] + r["noisy_auc"] - b["clean_auc"] - b["noisy_auc"]) / 2
                    for r, b in zip(rows, base, strict=True)
                ]
            )
        if arm != "ew":
            s["noisy_weighted_less"] = int(sum(r["alpha_noisy"] < r["alpha_clean"] for r in rows))
            s["mean_alpha_noisy"] = float(np.nanmean([r["alpha_noisy"] for r in rows]))
        out["arms"][arm]["summary"] = s
    return out


def _f(v, fmt="{:.2f}"):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def markdown(report):
    st, res = report["settings"], report["results"]
    n = len(res["units"])
    lines = [
        "# SVD reweighting variants under label noise (Wu, Zhang & Ré 2020, Algorithm 2 / Section 3.3)",
        "",
        f"Source `{st['source']}`; pairs (clean:noisy) {', '.join(f'{c}:{m}' for c, m in st['pairs'])}; seeds "
        f"{st['seeds']}; {100 * st['corrupt_fraction']:.0f}% of the noisy label's training labels corrupted "
        f"(`{st['corrupt_mode']}`); {st['epochs']} epochs. Test AUC in points on clean test labels, each task at "
        f"the epoch of its own best validation AUC; differences paired with the unweighted arm over the {n} "
        "(pair, seed) units (mean ± standard error, better / n).",
        "",
        "| arm | options | clean-task AUC | clean − ew | noisy-task AUC | noisy − ew | mean of both − ew "
        "| noisy weighted less | mean alpha noisy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, a in res["arms"].items():
        s = a["summary"]
        opts = "" if ARM_OPTIONS[arm] is None else ", ".join(f"{k}: {v}" for k, v in ARM_OPTIONS[arm].items())

        def d(key, s=s):
            if key not in s:
                return "–"
            x = s[key]
            return f"{_f(x['mean_diff'], '{:+.2f}')} ± {_f(x['se'])} ({x['improved']}/{x['n']})"

        lines.append(
            f"| {arm} | {opts} | {_f(s['mean_clean_auc'])} | {d('clean')} | {_f(s['mean_noisy_auc'])} | "
            f"{d('noisy')} | {d('both')} | "
            + (f"{s['noisy_weighted_less']}/{n} | {_f(s['mean_alpha_noisy'])} |" if arm != "ew" else "– | – |")
        )
    lines += ["", "Per unit (clean / noisy test AUC; alpha clean / noisy at the last epoch):", ""]
    arms = list(res["arms"])
    lines.append("| clean | noisy | seed | " + " | ".join(arms) + " |")
    lines.append("|---|---|---:|" + "---:|" * len(arms))
    for i, u in enumerate(res["units"]):
        cells = []
        for arm in arms:
            r = res["arms"][arm]["rows"][i]
            alpha = "" if arm == "ew" else f" (α {_f(r['alpha_clean'])}/{_f(r['alpha_noisy'])})"
            cells.append(f"{_f(r['clean_auc'])} / {_f(r['noisy_auc'])}{alpha}")
        lines.append(f"| {u[0]} | {u[1]} | {u[2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(report, path, title=None):
    """PNG: per arm, mean (arm - unweighted) test AUC of the clean and the noisy task, s.e. whiskers,
    and the per-unit differences as dots (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = report["results"]
    arms = [a for a in res["arms"] if a != "ew"]
    fig, ax = plt.subplots(figsize=(1.3 * len(arms) + 2.5, 4.2))
    x = np.arange(len(arms))
    ew = res["arms"]["ew"]["rows"]
    for j, (role, color) in enumerate((("clean", "tab:blue"), ("noisy", "tab:orange"))):
        means = [res["arms"][a]["summary"][role]["mean_diff"] for a in arms]
        ses = [res["arms"][a]["summary"][role]["se"] for a in arms]
        ses = [0 if math.isnan(v) else v for v in ses]
        off = (j - 0.5) * 0.38
        ax.bar(x + off, means, width=0.38, yerr=ses, capsize=3, color=color, alpha=0.75, label=f"{role} task")
        for i, a in enumerate(arms):
            d = [r[f"{role}_auc"] - b[f"{role}_auc"] for r, b in zip(res["arms"][a]["rows"], ew, strict=True)]
            ax.scatter(np.full(len(d), i + off), d, s=8, color="k", zorder=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, arms, rotation=20, fontsize=8)
    ax.set_ylabel("test AUC minus unweighted (points)")
    st = report["settings"]
    ax.set_title(
        title
        or f"{st['source']}: {len(res['units'])} (pair, seed) units, {100 * st['corrupt_fraction']:.0f}% "
        f"{st['corrupt_mode']} labels on the noisy task",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def svd_arms_study(
    config,
    workdir,
    pairs,
    arms=tuple(ARM_OPTIONS),
    seeds=(0,),
    corrupt_fraction=0.2,
    corrupt_mode="random",
    progress=print,
    train_fn=None,
):
    """Runs every (pair, seed, arm) and writes ``svd_arms.{md,json,png}`` into ``workdir``.

    Args:
        config: the study's run config: binary tasks, ``train.weighting.name == "svd"``, a source
            with ``corrupt_labels`` and ``corrupt_mode`` (``yeast``, ``census``).
        pairs: list of (clean, noisy) task names.
        arms: names from :data:`ARM_OPTIONS`; must include ``ew`` (the reference).
        seeds: training seeds (each its own split, corruption and initialisation).
        corrupt_fraction, corrupt_mode: the noise on the noisy member's training labels.

    Returns:
        the report dict (also ``svd_arms.json``).
    """
    from mtlzoo.config import resolve_config
    from mtlzoo.studies.common import Progress
    from mtlzoo.studies.svd import run_arm

    resolved = resolve_config(config)
    if resolved.train.weighting.name != "svd":
        raise ConfigError("train.weighting.name", "the study's config must use the 'svd' weighting")
    arms = list(arms)
    bad = [a for a in arms if a not in ARM_OPTIONS]
    if bad or "ew" not in arms:
        raise ConfigError(None, f"arms must include ew and come from {', '.join(ARM_OPTIONS)}, got {arms}")
    if not pairs:
        raise ConfigError(None, "pairs: give at least one clean:noisy pair")
    for c, m in pairs:
        for t in (c, m):
            if t not in resolved.tasks:
                raise ConfigError(None, f"pair label {t!r} is not a task of the config")
    if not 0 < corrupt_fraction <= 1:
        raise ConfigError(None, f"corrupt_fraction must be in (0, 1], got {corrupt_fraction}")
    plan = []
    for c, m in pairs:
        for s in seeds:
            for arm in arms:
                cfg = arms_config(resolved, arm, c, m, corrupt_fraction, corrupt_mode, s)
                plan.append(((c, m, int(s)), arm, cfg, os.path.join(workdir, f"{c}__noisy_{m}", f"seed_{s}", arm)))
    for _, _, cfg, _ in plan:  # every sub-config valid before any training
        resolve_config(cfg)
    os.makedirs(workdir, exist_ok=True)
    prog = Progress(len(plan), progress)
    runs = {}
    for i, (unit, arm, cfg, run_dir) in enumerate(plan, 1):
        what = f"clean={unit[0]} noisy={unit[1]} seed={unit[2]} {arm}"
        scores, status = run_arm(cfg, run_dir, train_fn, starting=lambda i=i, w=what: prog.start(i, w))
        runs.setdefault(unit, {})[arm] = scores
        auc, epoch, _ = task_at_best(scores, unit[0])
        prog.done(i, what, f"{status} (clean test AUC {auc:.4f} at epoch {epoch})")
    report = {
        "settings": {
            "source": resolved.data.source,
            "pairs": [list(p) for p in pairs],
            "seeds": [int(s) for s in seeds],
            "arms": {a: ARM_OPTIONS[a] for a in arms},
            "corrupt_fraction": corrupt_fraction,
            "corrupt_mode": corrupt_mode,
            "epochs": resolved.train.epochs,
            "learning_rate": resolved.train.learning_rate,
            "batch_size": resolved.data.batch_size,
            "encoder": resolved.model.encoder.to_dict(),
            "tower": resolved.model.tower.to_dict(),
            "data": resolved.data.to_dict(),
        },
        "results": summarise(runs, arms),
    }
    paths = [os.path.join(workdir, f) for f in FILES]
    write_text(markdown(report), paths[0])
    write_json(jsonable(report), paths[1])
    plot(report, paths[2])
    return report
