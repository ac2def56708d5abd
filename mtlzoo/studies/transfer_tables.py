"""The pairwise transfer report's tables (:mod:`mtlzoo.studies.transfer`): Markdown, CSV, JSON, heatmaps.

:class:`TransferReport` holds the measured tables (row = target task i, column = source
task j; ``transfer(i, j) = score_i(MTL {i, j}) - score_i(STL i)``, Wu, Zhang & Ré, ICLR
2020); the functions here only read it: :func:`suggested_groups`, :func:`markdown`,
:func:`alignment_effect` (MTL with covariance alignment, Algorithm 1, minus MTL without),
:func:`csv_rows`, :func:`heatmap` and :func:`write_report`, which writes every file
atomically through :mod:`mtlzoo.fileio`.
"""

import csv
import dataclasses
import math
import os

import numpy as np

from mtlzoo.fileio import atomic_open, write_json, write_text
from mtlzoo.studies.common import save_figure


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
            similarity (diagonal 1), or None where it is not defined (see ``notes``). The same
            keys with ``_raw`` after the name (``"before_raw"``, ``"after_raw:A"``,
            ``"aligned_before_raw:A"``, ``"after_raw"``, ``"aligned_before_raw"``) hold the raw
            Eq. 5 score of the same embeddings (diagonal NaN: not computed).
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


def _sim(v):
    return "—" if _nan(v) else f"{v:.3f}"


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
    for key, what in (
        ("before", "normalized"),
        ("after", "normalized"),
        ("before_raw", "raw Eq. 5"),
        ("after_raw", "raw Eq. 5"),
    ):
        m = report.similarity.get(key)
        if m is None or np.all(np.isnan(m)):
            continue
        title = f"## Covariance similarity of the embeddings ({key.split('_')[0]} alignment, {what})"
        lines += ["", title, "", header, rule]
        for i, n in enumerate(names):
            lines.append(f"| {n} | " + " | ".join(_sim(m[i, j]) for j in range(len(names))) + " |")
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
    alignment), ``gain`` (their difference, paired by seed), ``gain_std`` (its standard deviation
    over seeds, 0 for one seed), and the covariance similarity of the aligned model's two tasks at
    its embedding E (``sim_before``) and at the output of the alignment (``sim_after``):
    normalized, and the raw Eq. 5 score (``sim_before_raw``, ``sim_after_raw``; None when not
    recorded). Empty when the report lacks either variant.
    """
    if "none" not in report.mtl or alignment not in report.mtl:
        return []
    k = len(report.tasks)
    rows = []
    sims = {
        "sim_before": report.similarity.get(f"aligned_before:{alignment}"),
        "sim_after": report.similarity.get(f"after:{alignment}"),
        "sim_before_raw": report.similarity.get(f"aligned_before_raw:{alignment}"),
        "sim_after_raw": report.similarity.get(f"after_raw:{alignment}"),
    }
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
                    "gain_std": float(np.std(aligned - none, ddof=1)) if len(none) > 1 else 0.0,
                    **{key: None if m is None or _nan(m[i, j]) else float(m[i, j]) for key, m in sims.items()},
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
        "Mean of the two tasks' scores in the pair's MTL model without and with the alignment (gain: mean ± std "
        "over seeds, paired by seed); similarity of the aligned model's two tasks at the embedding E and at the "
        "alignment's output, normalized and raw (Eq. 5).",
        "",
        "| pair | MTL | MTL + alignment | gain | similarity at E | after alignment | Eq. 5 at E | Eq. 5 after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    multi = len(report.seeds) > 1
    for r in rows:
        sims = ["" if r[key] is None else f"{r[key]:.3f}" for key in _SIM_KEYS]
        gain = _fmt(r["gain"], r["gain_std"] if multi else None)
        cells = [f"{r['score_none']:.4f}", f"{r['score_aligned']:.4f}", gain, *sims]
        lines.append(f"| {'+'.join(r['pair'])} | " + " | ".join(cells) + " |")
    gains = [r["gain"] for r in rows]
    best = max(rows, key=lambda r: r["gain"])
    lines += [
        "",
        f"- The alignment raises the pair's mean score on {sum(g > 0 for g in gains)} of {len(rows)} pairs "
        f"(largest gain {best['gain']:+.4f}, {'+'.join(best['pair'])}; mean {np.mean(gains):+.4f}).",
    ]
    for suffix, what in (("", "normalized"), ("_raw", "raw Eq. 5")):
        with_sim = [r for r in rows if r["sim_before" + suffix] is not None and r["sim_after" + suffix] is not None]
        if with_sim:
            up = sum(r["sim_after" + suffix] > r["sim_before" + suffix] for r in with_sim)
            lines.append(
                f"- The covariance similarity ({what}) is higher after the alignment than at E on {up} of "
                f"{len(with_sim)} pairs."
            )
    return lines


_SIM_KEYS = ("sim_before", "sim_after", "sim_before_raw", "sim_after_raw")


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
                for key in ("before", "after", "before_raw", "after_raw"):
                    m = report.similarity.get(key)
                    row[f"similarity_{key}"] = "" if m is None or _nan(m[i, j]) else m[i, j]
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
    save_figure(fig, path, dpi=110)


def write_report(report, workdir, stem="transfer"):
    """Writes ``transfer.md``, ``transfer.csv``, ``transfer.json``, ``transfer_heatmap.png`` and, with an
    aligned variant, ``transfer_alignment.png``; returns their paths. ``stem`` replaces ``transfer``."""
    paths = {ext: os.path.join(workdir, f"{stem}.{ext}") for ext in ("md", "csv", "json")}
    write_text(markdown(report), paths["md"])
    rows = csv_rows(report)
    with atomic_open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and not np.isnan(v) else v) for k, v in r.items()})
    write_json(report.to_dict(), paths["json"])
    paths["png"] = os.path.join(workdir, f"{stem}_heatmap.png")
    heatmap(report, paths["png"])
    if plot_alignment_effect(report, os.path.join(workdir, f"{stem}_alignment.png")):
        paths["alignment_png"] = os.path.join(workdir, f"{stem}_alignment.png")
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
    save_figure(fig, path, dpi=120)
    return path
