"""The SVD task-reweighting study's report (:mod:`mtlzoo.studies.svd`): paired statistics, Markdown, plot.

Differences are reweighted minus unweighted test AUC in AUC points (x 100), paired by
label pair (the pairs part) or by seed (the all-labels part), summarised by
:func:`mtlzoo.studies.common.paired_stats` (mean, standard error, paired t-test). Files:
``svd_study.md``, ``svd_study.json`` and ``svd_study.png`` (:func:`write_report`).
"""

import math
import os

import numpy as np

from mtlzoo.fileio import write_json, write_text
from mtlzoo.studies.common import paired_stats, save_figure

PARTS = ("pairs", "all")
ARMS = ("ew", "svd", "svd_centred")
# optional arms (``svd_study(extra_arms=...)``): name -> the svd weighting options it sets
EXTRA_ARMS = {
    "svd_normalised": {"center": True, "normalize": True},
    "svd_scaled": {"center": False, "normalize": True},
}


def extra_arm_report(part_results, arm, labels=None):
    """Summary of one optional arm against the unweighted arm (and the centred SVD arm where run).

    ``part_results``: the pairs part's rows ``[{clean, noisy, ew, <arm>, ...}]`` (``labels``
    None; the clean task's test AUC) or the all part's ``{seed: {ew, <arm>}}`` with ``labels``
    (the mean test AUC over them per seed). Differences in AUC points (x 100).
    """
    out = {"arm": arm}
    if labels is None:
        rows = []
        for r in part_results:
            c, n = r["clean"], r["noisy"]
            alpha = r[arm].get("alpha") or {}
            rows.append(
                {
                    "clean": c,
                    "noisy": n,
                    "auc": 100 * r[arm]["test_auc"][c],
                    "diff": 100 * (r[arm]["test_auc"][c] - r["ew"]["test_auc"][c]),
                    "alpha_clean": alpha.get(c, float("nan")),
                    "alpha_noisy": alpha.get(n, float("nan")),
                    "epoch": r[arm]["epoch"],
                }
            )
        out["rows"] = rows
        out["summary"] = paired_stats([row["diff"] for row in rows])
        out["summary"]["noisy_weighted_less"] = int(sum(row["alpha_noisy"] < row["alpha_clean"] for row in rows))
        if all("svd_centred" in r for r in part_results):
            out["summary"]["vs_centred"] = paired_stats(
                [
                    100 * (r[arm]["test_auc"][r["clean"]] - r["svd_centred"]["test_auc"][r["clean"]])
                    for r in part_results
                ]
            )
        return out
    seeds = sorted(part_results)

    def mean_auc(s, a):
        return 100 * float(np.nanmean([part_results[s][a]["test_auc"][t] for t in labels]))

    out["summary"] = paired_stats([mean_auc(s, arm) - mean_auc(s, "ew") for s in seeds])
    out["summary"]["mean_auc"] = float(np.mean([mean_auc(s, arm) for s in seeds]))
    return out


def extra_markdown(report):
    """Markdown lines for the optional arms (empty without them)."""
    lines = []
    for part in PARTS:
        for arm, rep in (report.get("extra", {}).get(part) or {}).items():
            s = rep["summary"]
            opts = ", ".join(f"{k}: {str(v).lower()}" for k, v in EXTRA_ARMS[arm].items())
            head = f"## Optional arm `{arm}` ({opts}), {part}"
            lines += ["", head, ""]
            if part == "pairs":
                lines += [
                    f"**{arm} - unweighted on the clean task = {_f(s['mean_diff'], '{:+.2f}')} ± {_f(s['se'])}** "
                    f"(s.e. over pairs; median {_f(s['median_diff'], '{:+.2f}')}), better on {s['improved']} of {s['n']} "
                    f"pairs, paired t-test p = {_f(s['t_test_p'], '{:.3f}')}; noisy task weighted less in "
                    f"{s['noisy_weighted_less']} of {s['n']}"
                    + (
                        f"; {arm} - centred SVD = {_f(s['vs_centred']['mean_diff'], '{:+.2f}')} ± "
                        f"{_f(s['vs_centred']['se'])}."
                        if "vs_centred" in s
                        else "."
                    ),
                    "",
                    "| clean | noisy | AUC | - unweighted | alpha clean / noisy | epoch |",
                    "|---|---|---:|---:|---:|---:|",
                ]
                for r in rep["rows"]:
                    lines.append(
                        f"| {r['clean']} | {r['noisy']} | {_f(r['auc'])} | {_f(r['diff'], '{:+.2f}')} | "
                        f"{_f(r['alpha_clean'])} / {_f(r['alpha_noisy'])} | {r['epoch']} |"
                    )
            else:
                lines.append(
                    f"Mean test AUC over the labels {_f(s['mean_auc'])}; **{arm} - unweighted = "
                    f"{_f(s['mean_diff'], '{:+.2f}')} ± {_f(s['se'])}** (s.e. over seeds), better on "
                    f"{s['improved']} of {s['n']} seeds."
                )
    return lines


# --------------------------------------------------------------------------- report arithmetic


def pairs_report(rows):
    """``rows``: [{clean, noisy, ew, svd, svd_centred: arm_summary}] -> per-pair rows and summary.

    The differences are SVD (``diff``) and centred-label SVD (``diff_centred``) minus
    unweighted clean-task test AUC, in AUC points (x 100); ``summary["centred"]`` holds the
    statistics of ``diff_centred`` (same keys as the summary).
    """
    table = []
    for r in rows:
        c, n = r["clean"], r["noisy"]
        row = {"clean": c, "noisy": n}
        for arm in ARMS:
            row[f"{arm}_auc"] = 100 * r[arm]["test_auc"][c]
            row[f"{arm}_last_auc"] = 100 * r[arm]["last_test_auc"][c]
            row[f"{arm}_epoch"] = r[arm]["epoch"]
        row["diff"] = row["svd_auc"] - row["ew_auc"]
        row["last_diff"] = row["svd_last_auc"] - row["ew_last_auc"]
        row["diff_centred"] = row["svd_centred_auc"] - row["ew_auc"]
        row["last_diff_centred"] = row["svd_centred_last_auc"] - row["ew_last_auc"]
        alpha = r["svd"].get("alpha") or {}
        row["alpha_clean"], row["alpha_noisy"] = alpha.get(c, float("nan")), alpha.get(n, float("nan"))
        raw = r.get("raw_alpha") or {}
        row["raw_alpha_clean"], row["raw_alpha_noisy"] = raw.get(c, float("nan")), raw.get(n, float("nan"))
        cen = r["svd"].get("alpha_centred") or {}
        row["centred_alpha_clean"], row["centred_alpha_noisy"] = cen.get(c, float("nan")), cen.get(n, float("nan"))
        arm_c = r["svd_centred"].get("alpha") or {}
        row["centred_arm_alpha_clean"] = arm_c.get(c, float("nan"))
        row["centred_arm_alpha_noisy"] = arm_c.get(n, float("nan"))
        table.append(row)
    summary = paired_stats([row["diff"] for row in table])
    summary["last_epoch"] = paired_stats([row["last_diff"] for row in table])
    summary["mean_ew_auc"] = float(np.nanmean([row["ew_auc"] for row in table]))
    summary["mean_svd_auc"] = float(np.nanmean([row["svd_auc"] for row in table]))
    summary["noisy_weighted_less"] = int(sum(row["alpha_noisy"] < row["alpha_clean"] for row in table))
    summary["noisy_weighted_less_raw"] = int(sum(row["raw_alpha_noisy"] < row["raw_alpha_clean"] for row in table))
    summary["noisy_weighted_less_centred"] = int(
        sum(row["centred_alpha_noisy"] < row["centred_alpha_clean"] for row in table)
    )
    down = [row["diff"] for row in table if row["alpha_noisy"] < row["alpha_clean"]]
    up = [row["diff"] for row in table if row["alpha_noisy"] >= row["alpha_clean"]]
    summary["mean_diff_noisy_down"] = float(np.mean(down)) if down else float("nan")
    summary["mean_diff_noisy_up"] = float(np.mean(up)) if up else float("nan")
    centred = paired_stats([row["diff_centred"] for row in table])
    centred["last_epoch"] = paired_stats([row["last_diff_centred"] for row in table])
    centred["mean_svd_centred_auc"] = float(np.nanmean([row["svd_centred_auc"] for row in table]))
    centred["noisy_weighted_less"] = int(
        sum(row["centred_arm_alpha_noisy"] < row["centred_arm_alpha_clean"] for row in table)
    )
    down = [row["diff_centred"] for row in table if row["centred_arm_alpha_noisy"] < row["centred_arm_alpha_clean"]]
    up = [row["diff_centred"] for row in table if row["centred_arm_alpha_noisy"] >= row["centred_arm_alpha_clean"]]
    centred["mean_diff_noisy_down"] = float(np.mean(down)) if down else float("nan")
    centred["mean_diff_noisy_up"] = float(np.mean(up)) if up else float("nan")
    centred["vs_svd"] = paired_stats([row["svd_centred_auc"] - row["svd_auc"] for row in table])
    summary["centred"] = centred
    return {"rows": table, "summary": summary}


def all_report(per_seed, tasks):
    """``per_seed``: {seed: {ew, svd, svd_centred: arm_summary}} -> per-task means and the summary.

    Per task: test AUC (points) of each arm averaged over seeds and the mean differences from
    the unweighted arm (``diff``: SVD, ``diff_centred``: centred-label SVD); the summary's
    mean and standard error are over seeds of the per-seed mean-over-tasks difference
    (``summary["centred"]``: the same for the centred arm).
    """
    seeds = sorted(per_seed)
    auc = {arm: np.array([[100 * per_seed[s][arm]["test_auc"][t] for t in tasks] for s in seeds]) for arm in ARMS}
    last = {arm: np.array([[100 * per_seed[s][arm]["last_test_auc"][t] for t in tasks] for s in seeds]) for arm in ARMS}
    diffs = {arm: auc[arm] - auc["ew"] for arm in ARMS[1:]}  # [seeds, tasks]

    def mean_alpha(arm, t):
        return float(np.mean([per_seed[s][arm].get("alpha", {}).get(t, np.nan) for s in seeds]))

    def stats_of(arm):
        diff = diffs[arm]
        out = paired_stats(np.nanmean(diff, axis=1))
        out["seeds"] = seeds
        out["tasks_improved"] = int(np.sum(np.nanmean(diff, axis=0) > 0))
        out["mean_ew_auc"] = float(np.nanmean(auc["ew"]))
        out[f"mean_{arm}_auc"] = float(np.nanmean(auc[arm]))
        out["last_epoch"] = paired_stats(np.nanmean(last[arm] - last["ew"], axis=1))
        return out

    with np.errstate(all="ignore"):
        per_task = []
        for j, t in enumerate(tasks):
            row = {"task": t, "ew_auc": float(np.nanmean(auc["ew"][:, j]))}
            for arm, suffix in (("svd", ""), ("svd_centred", "_centred")):
                row[f"{arm}_auc"] = float(np.nanmean(auc[arm][:, j]))
                row[f"diff{suffix}"] = float(np.nanmean(diffs[arm][:, j]))
                row[f"diff{suffix}_std"] = (
                    float(np.nanstd(diffs[arm][:, j], ddof=1)) if len(seeds) > 1 else float("nan")
                )
                row[f"alpha{suffix}"] = mean_alpha(arm, t)
            per_task.append(row)
        summary = stats_of("svd")
        summary["epochs"] = {arm: [per_seed[s][arm]["epoch"] for s in seeds] for arm in ARMS}
        summary["centred"] = stats_of("svd_centred")
    return {"tasks": per_task, "summary": summary}


# --------------------------------------------------------------------------- output


def _f(v, fmt="{:.2f}"):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def markdown(report):
    st = report["settings"]
    svd = st["svd"]
    every = f"every {svd['every_steps']} steps" if svd["every_steps"] else "every epoch"
    lines = [
        "# SVD task reweighting (Wu, Zhang & Ré 2020, Algorithm 2)",
        "",
        f"Source `{st['source']}`; {st['epochs']} epochs, Adam lr {st['learning_rate']}, batch {st['batch_size']}; "
        f"encoder {st['encoder']}, tower {st['tower']}. SVD arm: rank {svd['rank']}, alpha recomputed {every} and "
        f"before training on up to {svd['max_examples']} training examples; centred SVD arm: the same with "
        "`center: true` (theta_i = X^T (y_i - mean y_i)); unweighted arm: the same config with "
        "`weighting: ew`. Test AUC in points (x 100) at the epoch of best validation AUC (pairs: the clean task's; "
        "all labels: the mean over labels), the same rule for every arm.",
    ]
    if "pairs" in report:
        p, s = report["pairs"], report["pairs"]["summary"]
        lines += [
            "",
            f"## Pairs: {st['num_pairs']} random pairs, {100 * st['corrupt_fraction']:.0f}% of one label's training "
            f"labels flipped (pair seed {st['pair_seed']}, training seed {st['config_seed']})",
            "",
            "| # | clean | noisy | unweighted AUC | SVD AUC | SVD - unweighted | alpha clean / noisy "
            "| alpha on raw features | alpha, centred labels | centred SVD AUC | centred - unweighted "
            "| centred alpha clean / noisy | epochs (ew, svd, centred) |",
            "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for i, r in enumerate(p["rows"], 1):
            lines.append(
                f"| {i} | {r['clean']} | {r['noisy']} | {_f(r['ew_auc'])} | {_f(r['svd_auc'])} | "
                f"{_f(r['diff'], '{:+.2f}')} | {_f(r['alpha_clean'])} / {_f(r['alpha_noisy'])} | "
                f"{_f(r['raw_alpha_clean'])} / {_f(r['raw_alpha_noisy'])} | "
                f"{_f(r['centred_alpha_clean'])} / {_f(r['centred_alpha_noisy'])} | {_f(r['svd_centred_auc'])} | "
                f"{_f(r['diff_centred'], '{:+.2f}')} | "
                f"{_f(r['centred_arm_alpha_clean'])} / {_f(r['centred_arm_alpha_noisy'])} | "
                f"{r['ew_epoch']}, {r['svd_epoch']}, {r['svd_centred_epoch']} |"
            )
        last = s["last_epoch"]
        lines += [
            "",
            f"Clean-task test AUC: unweighted {_f(s['mean_ew_auc'])}, SVD {_f(s['mean_svd_auc'])}; "
            f"**SVD - unweighted = {_f(s['mean_diff'], '{:+.2f}')} ± {_f(s['se'])} (standard error over "
            f"{s['n']} pairs)**, median {_f(s['median_diff'], '{:+.2f}')}, better on {s['improved']} of {s['n']} pairs (worse on {s['worse']}), paired t-test "
            f"p = {_f(s['t_test_p'], '{:.3f}')}. The SVD weight alpha (held by the model at the selected epoch, "
            f"computed on the MLP's shared representation) of the noisy task is below the clean task's in "
            f"{s['noisy_weighted_less']} of {s['n']} pairs; Algorithm 2 on the raw standardised input features "
            f"instead (the linear setting, no network) would give it the smaller weight in "
            f"{s['noisy_weighted_less_raw']} of {s['n']}, and on the MLP's representation with centred labels "
            f"(diagnostic, not used in training) in {s['noisy_weighted_less_centred']} of {s['n']}. Mean SVD - "
            f"unweighted where SVD gave the noisy task the smaller weight: {_f(s['mean_diff_noisy_down'], '{:+.2f}')} "
            f"({s['noisy_weighted_less']} pairs); elsewhere: {_f(s['mean_diff_noisy_up'], '{:+.2f}')} "
            f"({s['n'] - s['noisy_weighted_less']} pairs). At the last epoch instead of the selected one: "
            f"{_f(last['mean_diff'], '{:+.2f}')} ± {_f(last['se'])}, better on {last['improved']} of {last['n']}.",
        ]
        c, cl = s["centred"], s["centred"]["last_epoch"]
        lines += [
            "",
            f"Centred SVD arm (trained with centred labels): clean-task test AUC {_f(c['mean_svd_centred_auc'])}; "
            f"**centred SVD - unweighted = {_f(c['mean_diff'], '{:+.2f}')} ± {_f(c['se'])} (standard error over "
            f"{c['n']} pairs)**, median {_f(c['median_diff'], '{:+.2f}')}, better on {c['improved']} of {c['n']} "
            f"pairs (worse on {c['worse']}), paired t-test p = {_f(c['t_test_p'], '{:.3f}')}; centred SVD - SVD = "
            f"{_f(c['vs_svd']['mean_diff'], '{:+.2f}')} ± {_f(c['vs_svd']['se'])}. Its alpha (held at the selected "
            f"epoch) gives the noisy task the smaller weight in {c['noisy_weighted_less']} of {c['n']} pairs; "
            f"mean centred SVD - unweighted there: {_f(c['mean_diff_noisy_down'], '{:+.2f}')}, elsewhere: "
            f"{_f(c['mean_diff_noisy_up'], '{:+.2f}')}. At the last epoch: {_f(cl['mean_diff'], '{:+.2f}')} ± "
            f"{_f(cl['se'])}, better on {cl['improved']} of {cl['n']}.",
        ]
    if "all" in report:
        a, s = report["all"], report["all"]["summary"]
        lines += [
            "",
            f"## All {len(a['tasks'])} labels, clean (seeds {', '.join(map(str, s['seeds']))})",
            "",
            "| label | unweighted AUC | SVD AUC | SVD - unweighted (± std over seeds) | mean alpha "
            "| centred SVD AUC | centred - unweighted (± std) | mean centred alpha |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in a["tasks"]:
            lines.append(
                f"| {r['task']} | {_f(r['ew_auc'])} | {_f(r['svd_auc'])} | {_f(r['diff'], '{:+.2f}')} ± "
                f"{_f(r['diff_std'])} | {_f(r['alpha'])} | {_f(r['svd_centred_auc'])} | "
                f"{_f(r['diff_centred'], '{:+.2f}')} ± {_f(r['diff_centred_std'])} | {_f(r['alpha_centred'])} |"
            )
        c = s["centred"]
        lines += [
            f"| **mean** | **{_f(s['mean_ew_auc'])}** | **{_f(s['mean_svd_auc'])}** | "
            f"**{_f(s['mean_diff'], '{:+.2f}')} ± {_f(s['se'])}** (s.e. over seeds) | | "
            f"**{_f(c['mean_svd_centred_auc'])}** | **{_f(c['mean_diff'], '{:+.2f}')} ± {_f(c['se'])}** | |",
            "",
            f"SVD better on {s['tasks_improved']} of {len(a['tasks'])} labels (mean over seeds); better on "
            f"{s['improved']} of {s['n']} seeds in the mean over labels. Selected epochs: unweighted "
            f"{s['epochs']['ew']}, SVD {s['epochs']['svd']}, centred SVD {s['epochs']['svd_centred']}. At the "
            f"last epoch: {_f(s['last_epoch']['mean_diff'], '{:+.2f}')} ± {_f(s['last_epoch']['se'])}.",
            "",
            f"Centred SVD better on {c['tasks_improved']} of {len(a['tasks'])} labels (mean over seeds); better "
            f"on {c['improved']} of {c['n']} seeds in the mean over labels. At the last epoch: "
            f"{_f(c['last_epoch']['mean_diff'], '{:+.2f}')} ± {_f(c['last_epoch']['se'])}.",
        ]
    lines += extra_markdown(report)
    return "\n".join(lines) + "\n"


def plot(report, path):
    """PNG: per-pair and per-label AUC differences from the unweighted arm, SVD and centred SVD side
    by side (pairs sorted by the SVD difference; dashed lines: the means) (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in PARTS if p in report]
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 4.6), squeeze=False)
    arms = (("", "SVD", "tab:blue"), ("_centred", "centred SVD", "tab:orange"))
    for ax, part in zip(axes[0], panels, strict=True):
        s = report[part]["summary"]
        if part == "pairs":
            rows = sorted(report["pairs"]["rows"], key=lambda r: r["diff"])
            ticks = [f"{r['clean'][6:]}|{r['noisy'][6:]}" for r in rows]
            ax.set_xlabel("pair (clean label | noisy label), sorted by the SVD difference")
            ax.set_title("noisy pairs: clean-task test AUC minus unweighted")
        else:
            rows = report["all"]["tasks"]
            ticks = [r["task"][6:] for r in rows]
            ax.set_xlabel("label (bars: mean over seeds, whiskers: std)")
            ax.set_title(f"all labels clean: test AUC minus unweighted (seeds {s['seeds']})")
        x = np.arange(len(rows))
        for j, (suffix, name, color) in enumerate(arms):
            st = s if not suffix else s["centred"]
            d = [r[f"diff{suffix}"] for r in rows]
            err = None
            if part == "all":
                err = [0 if math.isnan(r[f"diff{suffix}_std"]) else r[f"diff{suffix}_std"] for r in rows]
            ax.bar(x + (j - 0.5) * 0.4, d, width=0.4, yerr=err, capsize=2, color=color, label=name)
            ax.axhline(
                st["mean_diff"],
                color=color,
                ls="--",
                lw=1.2,
                label=f"{name} mean {st['mean_diff']:+.2f} ± {_f(st['se'])} (s.e.), better on {st['improved']}/{st['n']} "
                + ("pairs" if part == "pairs" else "seeds"),
            )
        ax.set_xticks(x, ticks, rotation=90 if part == "pairs" else 0, fontsize=7 if part == "pairs" else 8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylabel("AUC points")
        ax.legend(fontsize=7)
        ax.title.set_fontsize(9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def jsonable(obj):
    """``obj`` with NaN as None, numpy scalars as Python numbers and dict keys as strings (for JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_report(report, workdir):
    """Writes ``svd_study.md``, ``svd_study.json`` and ``svd_study.png``; returns their paths."""
    paths = {ext: os.path.join(workdir, f"svd_study.{ext}") for ext in ("md", "json", "png")}
    write_text(markdown(report), paths["md"])
    write_json(jsonable(report), paths["json"])
    plot(report, paths["png"])
    return paths
