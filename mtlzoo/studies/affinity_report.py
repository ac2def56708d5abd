"""The affinity study's files: ``affinity.json``, ``affinity.md``, ``affinity_heatmap.png``, ``affinity_vs_transfer.png``.

See :mod:`mtlzoo.studies.affinity_study`. Every matrix is row = target, column = source.
"""

import math
import os

import numpy as np

from mtlzoo.fileio import write_json
from mtlzoo.studies.common import save_figure

TITLES = {
    "lookahead": "lookahead affinity Z (Fifty et al.)",
    "gradient_cosine": "gradient cosine",
    "covariance_E": "covariance similarity at E (normalised)",
    "covariance_rep": "covariance similarity of the shared representation (normalised)",
    "covariance_E_raw": "covariance similarity at E (Eq. 5, raw)",
    "covariance_rep_raw": "covariance similarity of the shared representation (Eq. 5, raw)",
    "probes": "short pairwise probes (Standley et al.)",
    "measured": "measured transfer",
}


def _noise_lines(noise, k):
    if noise is None or noise.get("seeds", 0) < 2:
        return []
    return [
        "",
        f"Seed noise of the measured transfer ({noise['seeds']} seeds): an entry's std over seeds is "
        f"{noise['entry_std']:.4f} on average, against a spread (std) of {noise['mean_spread']:.4f} between the "
        f"entries' means. One seed's transfer predicts another seed's with rho {noise['seed_pair_spearman']:+.3f} "
        f"(directed; pairs {noise['seed_pair_spearman_pair']:+.3f}) and top-1 precision {noise['seed_pair_top1']:.2f} "
        f"(mean over seed pairs); one seed against the mean of the others: rho {noise['leave_one_out_spearman']:+.3f}. "
        "These are the ceiling a predictor's numbers are read against.",
    ]


def _cost_lines(cost):
    lines = [
        "",
        f"Cost: the all-task run trained in {cost['train_seconds']:.1f} s; the {cost.get('measurement', 'host')} "
        f"measurement took {cost['predictor_seconds']:.2f} s"
        + (
            " (estimated: measurements x one compiled measurement's median time)"
            if cost.get("measurement") == "in_step"
            else ""
        )
        + f", {100 * cost['predictor_fraction_of_training']:.1f}% of the training without it.",
    ]
    if "all_task_run_epoch_fraction" in cost:
        lines[-1] += (
            f" In training epochs the all-task run is {100 * cost['all_task_run_epoch_fraction']:.1f}% of the full "
            f"pairwise report ({cost['pairwise_report_runs_per_seed']} runs per seed)"
        )
        if "report_seconds_per_seed" in cost:
            lines[-1] += (
                f"; in time {100 * cost['all_task_run_fraction']:.1f}% (the report's runs trained "
                f"{cost['report_seconds_per_seed']:.1f} s per seed, config.json to metrics.json, under that run's load)"
            )
        lines[-1] += "."
    if "probes" in cost:
        pr = cost["probes"]
        lines[-1] += (
            f" The probes ({pr['epochs']} epochs per run) trained {pr['seconds']:.1f} s"
            + (f": {100 * pr['epoch_fraction']:.0f}% of the report's epochs" if "epoch_fraction" in pr else "")
            + (f", {100 * pr['fraction']:.1f}% of its time." if "fraction" in pr else ".")
        )
    return lines


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _cell(v, fmt="{:+.4f}"):
    return "—" if v is None or not math.isfinite(v) else fmt.format(v)


def _matrix_md(names, m, fmt="{:+.4f}", diagonal=False):
    lines = ["| target \\ source | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for i, n in enumerate(names):
        cells = ["—" if i == j and not diagonal else _cell(m[i, j], fmt) for j in range(len(names))]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def markdown(result):
    """The study as Markdown: cost, validation, groupings, matrices, notes."""

    names, k = result["tasks"], len(result["tasks"])
    cost = result["cost"]
    lines = [
        "# Transfer predictors from one all-task run",
        "",
        "Matrices: row = target, column = source. One training run of the model with all "
        f"{k} tasks ({result['train_steps']} steps, {cost['train_seconds']:.1f} s); the lookahead affinity and the "
        f"gradient cosine measured every {result['every_steps']} steps ({result['measurements']} measurements, "
        f"{cost['predictor_seconds']:.1f} s of it; lookahead step size {result['lookahead_lr']:g}). The pairwise "
        f"transfer report trains {cost['pairwise_report_runs_per_seed']} models per seed and alignment variant.",
    ]
    if "validation" in result:
        seeds = result.get("measured_seeds") or []
        lines += [
            "",
            f"## Against measured transfer (alignment `{result['alignment']}`, seeds {', '.join(map(str, seeds)) or '?'})",
            "",
            f"Spearman's rho over the {k * (k - 1)} directed entries and over the {k * (k - 1) // 2} pairs (mean of both "
            f"directions); top-1 precision: targets whose predicted best source is a measured best source (chance "
            f"{1 / (k - 1):.2f}). Few entries: |rho| below {1.96 / math.sqrt(k * (k - 1) - 1):.2f} (directed, "
            f"n = {k * (k - 1)}) or {1.96 / math.sqrt(max(k * (k - 1) // 2 - 1, 1)):.2f} (pairs) is within chance at the 5% "
            "level (normal approximation 1.96 / sqrt(n - 1), entries taken as independent).",
            "",
            "| predictor | rho (directed) | rho (pairs) | top-1 precision |",
            "|---|---:|---:|---:|",
        ]
        for name, v in result["validation"].items():
            lines.append(
                f"| {name} | {_cell(v['spearman_directed'], '{:+.3f}')} | {_cell(v['spearman_pair'], '{:+.3f}')} | "
                f"{_cell(v['top1_precision'], '{:.2f}')} ({v['targets']} targets) |"
            )
        lines += _noise_lines(result.get("noise"), k)
    lines += _cost_lines(cost)
    if result["groupings"]:
        lines += [
            "",
            f"## Recommended groupings (budget {result['budget']} models)",
            "",
            "Objective of Fifty et al. (2021): each task is served by the selected group whose mean affinity onto it "
            "is highest; value = mean over tasks."
            + (" `measured value`: the same objective on the measured transfer." if "validation" in result else ""),
            "",
            "| from | groups | value | measured value |",
            "|---|---|---:|---:|",
        ]
        for name, g in result["groupings"].items():
            groups = ", ".join("{" + ", ".join(grp) + "}" for grp in g["groups"])
            lines.append(
                f"| {name} | {groups} | {g['value']:+.3g} | {_cell(g.get('measured_value', math.nan), '{:+.4f}')} |"
            )
    for name, m in result["predictors"].items():
        diag = name.startswith("covariance") or name == "gradient_cosine"
        lines += ["", f"## {TITLES.get(name, name)}", "", *_matrix_md(names, np.asarray(m), "{:+.3g}", diag)]
    if "measured" in result:
        lines += ["", f"## {TITLES['measured']}", "", *_matrix_md(names, np.asarray(result["measured"]))]
    if result["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def heatmaps(result, path):
    """One PNG: a heatmap per predictor (and the measured transfer), diagonals blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, k = result["tasks"], len(result["tasks"])
    panels = [(n, np.asarray(m, dtype=float)) for n, m in result["predictors"].items() if not n.endswith("_raw")]
    if "measured" in result:
        panels.append(("measured", np.asarray(result["measured"], dtype=float)))
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    size = 1.2 + 0.8 * k
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + 1.5, size * rows + 0.6), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for ax, (name, m) in zip(axes.ravel(), panels, strict=False):
        m = m.copy()
        np.fill_diagonal(m, np.nan)
        if not np.isfinite(m).any():
            m = np.zeros_like(m)
        if name.startswith("covariance"):  # all near 1: the colour scale spans the off-diagonal range
            lo, hi = float(np.nanmin(m)), float(np.nanmax(m))
            im = ax.imshow(m, cmap="viridis", vmin=lo, vmax=max(hi, lo + 1e-9))
            color = lambda v, lo=lo, hi=hi: "black" if v > (lo + hi) / 2 else "white"  # noqa: E731
        else:  # signed: white at 0
            lim = max(float(np.nanmax(np.abs(m))), 1e-9)
            im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim)
            color = lambda v: "black"  # noqa: E731
        for i in range(k):
            for j in range(k):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.3g}", ha="center", va="center", fontsize=7, color=color(m[i, j]))
        ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), names, fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("target")
        ax.set_title(TITLES.get(name, name), fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)  # atomic (mtlzoo.studies.common)


def scatter(result, path):
    """Each predictor's directed entries against the measured transfer, one panel per predictor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtlzoo.analysis.affinity import off_diagonal

    measured = off_diagonal(np.asarray(result["measured"], dtype=float))
    panels = [(n, m) for n, m in result["predictors"].items() if not n.endswith("_raw")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2), squeeze=False)
    for ax, (name, m) in zip(axes[0], panels, strict=True):
        ax.scatter(off_diagonal(np.asarray(m, dtype=float)), measured, s=14)
        rho = result["validation"][name]["spearman_directed"]
        ax.set_title(f"{name}\nrho = {_cell(rho, '{:+.2f}')}", fontsize=8)
        ax.set_xlabel("predicted", fontsize=8)
        ax.axhline(0, color="gray", linewidth=0.6)
    axes[0][0].set_ylabel("measured transfer", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)  # atomic (mtlzoo.studies.common)


def write_outputs(result, workdir):
    """Writes the study's files; returns ``{kind: path}``."""
    paths = {"json": os.path.join(workdir, "affinity.json"), "md": os.path.join(workdir, "affinity.md")}
    write_json(_jsonable(result), paths["json"])
    with open(paths["md"], "w") as f:
        f.write(markdown(result))
    paths["heatmap"] = heatmaps(result, os.path.join(workdir, "affinity_heatmap.png"))
    if "measured" in result:
        paths["scatter"] = scatter(result, os.path.join(workdir, "affinity_vs_transfer.png"))
    return paths


def _groups(groups):
    return ", ".join("{" + ", ".join(g) + "}" for g in groups)


def write_summary(summary, results, workdir):
    """``summary.json`` and ``summary.md``: each predictor's rho and top-1 precision, mean ± std over seeds."""
    seeds = sorted(results)
    first = results[seeds[0]]
    k = len(first["tasks"])
    write_json(
        _jsonable(
            {
                "seeds": seeds,
                "validation": summary,
                "tasks": first["tasks"],
                "noise": first.get("noise"),
                "cost": {s: results[s]["cost"] for s in seeds},
                "groupings": {s: results[s].get("groupings", {}) for s in seeds},
            }
        ),
        os.path.join(workdir, "summary.json"),
    )

    def ms(v, fmt):
        return _cell(v["mean"], fmt) + ("" if not math.isfinite(v["std"]) else f" ± {v['std']:.3f}")

    def mean_of(values):
        ok = [v for v in values if v is not None and math.isfinite(v)]
        return float(np.mean(ok)) if ok else math.nan

    costs = [results[s]["cost"] for s in seeds]
    run_cost = mean_of([c.get("all_task_run_fraction", math.nan) for c in costs])
    run_epochs = mean_of([c.get("all_task_run_epoch_fraction", math.nan) for c in costs])
    probe_cost = mean_of([c.get("probes", {}).get("fraction", math.nan) for c in costs])
    probe_epochs = mean_of([c.get("probes", {}).get("epoch_fraction", math.nan) for c in costs])
    overhead = mean_of([c["predictor_fraction_of_training"] for c in costs])

    def cost_of(name):
        epochs, wall = (probe_epochs, probe_cost) if name == "probes" else (run_epochs, run_cost)
        # wall time is in affinity.json ("all_task_run_fraction"): it compares runs made under different
        # loads of a shared machine, so the table shows the deterministic share of the epochs
        del wall
        return "—" if not math.isfinite(epochs) else f"{100 * epochs:.1f}%"

    measured_best = first.get("groupings", {}).get("measured")
    lines = [
        "# Transfer predictors: validation over seeds",
        "",
        f"Seeds {', '.join(map(str, seeds))} of the all-task run (mean ± std over seeds) against the measured transfer "
        f"of {first['transfer_report']} (alignment `{first['alignment']}`). {k * (k - 1)} directed entries, "
        f"{k * (k - 1) // 2} pairs; top-1 chance {1 / (k - 1):.2f}; |rho| within chance at the 5% level below "
        f"{1.96 / math.sqrt(k * (k - 1) - 1):.2f} (directed) and {1.96 / math.sqrt(max(k * (k - 1) // 2 - 1, 1)):.2f} "
        "(pairs). Cost: the predictor's training epochs as a share of the full pairwise report's per seed. "
        "Grouping: the measured transfer's objective at the "
        f"predictor's recommended grouping (budget {first['budget']})"
        + (
            f"; the measured best grouping {_groups(measured_best['groups'])} scores {measured_best['value']:+.4f}."
            if measured_best
            else "."
        ),
        "",
        "| predictor | rho (directed) | rho (pairs) | top-1 precision | cost | grouping's measured value |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, v in summary.items():
        lines.append(
            f"| {name} | {ms(v['spearman_directed'], '{:+.3f}')} | {ms(v['spearman_pair'], '{:+.3f}')} | "
            f"{ms(v['top1_precision'], '{:.2f}')} | {cost_of(name)} | {ms(v['grouping_measured_value'], '{:+.4f}')} |"
        )
    noise = first.get("noise")
    if noise and noise.get("seeds", 0) > 1:
        lines.append(
            f"| *one seed's measured transfer (noise ceiling)* | {noise['seed_pair_spearman']:+.3f} | "
            f"{noise['seed_pair_spearman_pair']:+.3f} | {noise['seed_pair_top1']:.2f} | "
            "100% | — |"
        )
    lines += _noise_lines(noise, k)
    lines += [
        "",
        f"The in-step lookahead / cosine measurement added {100 * overhead:.1f}% to the all-task run's training "
        "(mean over seeds; see each seed's cost line).",
        "",
        "Recommended groupings per seed:",
        "",
    ]
    for s in seeds:
        gs = results[s].get("groupings", {})
        lines.append(
            f"- seed {s}: "
            + "; ".join(f"{name} {_groups(g['groups'])}" for name, g in gs.items() if name != "measured")
        )
    lines += ["", "Per seed: `seed_<s>/affinity.md`."]
    with open(os.path.join(workdir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
