"""The Fig. 3 study of Wu, Zhang & Ré (ICLR 2020): covariance misalignment and alignment.

Target task 1 has few samples; it is trained together with one source task (2, 3 or 4
of :func:`mtlzoo.data.synthetic_linear.fig3_tasks`) whose sample size grows. For each
source size we report the target's test MSE of multi-task learning minus that of
single-task learning (below 0: positive transfer; above 0: negative transfer):

* ``mtl``: Eq. (3) with a shared B of rank r (default 1 < k = 2, so the tasks must share);
* ``aligned``: Eq. (3) with per-task alignments R_i before B, trained jointly with B and
  the heads (penalty ``lambda ||R_i - I||^2``);
* ``aligned_fixed_b``: the paper's Algorithm 1 schedule: B from ``mtl`` kept fixed, then
  R_i and the heads trained.

Test MSEs are exact expectations (``LinearTask.test_mse``), not test-sample estimates.
Samples are nested: a seed's source sample of size n is the first n rows of its largest one.

Example:
    >>> result = run_fig3_study(seeds=(0, 1))
    >>> paths = write_fig3_outputs(result, "/tmp/fig3")
"""

import os

import numpy as np

from mtlzoo.analysis.covariance import covariance_similarity, normalized_covariance_similarity
from mtlzoo.analysis.linear import cosine_similarity, least_squares, solve_aligned_linear_mtl, solve_linear_mtl
from mtlzoo.data.synthetic_linear import fig3_tasks
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json, write_text
from mtlzoo.studies.common import mean_se, save_figure

DEFAULTS = {
    "seeds": tuple(range(10)),
    "d": 20,
    "target_size": 40,
    "source_sizes": (10, 20, 40, 80, 160, 320, 640, 1280),
    "noise": 0.5,
    "rank": 1,
    "penalty": 10.0,
}
METHODS = ("mtl", "aligned", "aligned_fixed_b")
METHOD_LABELS = {
    "mtl": "MTL (Eq. 3)",
    "aligned": "MTL + alignment (joint)",
    "aligned_fixed_b": "MTL + alignment (B fixed, Alg. 1)",
}
SOURCES = (2, 3, 4)


def check_settings(seeds, source_sizes, target_size, d, rank, penalty, prefix=""):
    """ConfigError naming ``<prefix><setting>`` for empty seeds or sizes, a negative seed, a size
    below 1, ``d < 2``, ``rank`` outside ``[1, d]`` or a penalty that is not > 0."""
    for name, values, minimum in (("seeds", seeds, 0), ("source_sizes", source_sizes, 1)):
        if not len(values):
            raise ConfigError(f"{prefix}{name}", "is empty")
        if min(values) < minimum:
            raise ConfigError(f"{prefix}{name}", f"every entry must be >= {minimum}, got {list(values)}")
    for name, v, minimum in (("target_size", target_size, 1), ("d", d, 2), ("rank", rank, 1)):
        if v < minimum:
            raise ConfigError(f"{prefix}{name}", f"must be >= {minimum}, got {v}")
    if rank > d:
        raise ConfigError(f"{prefix}rank", f"must be <= d={d}, got {rank}")
    if not penalty > 0:
        raise ConfigError(f"{prefix}penalty", f"must be > 0, got {penalty}")


def run_fig3_study(
    seeds=DEFAULTS["seeds"],
    d=DEFAULTS["d"],
    target_size=DEFAULTS["target_size"],
    source_sizes=DEFAULTS["source_sizes"],
    noise=DEFAULTS["noise"],
    rank=DEFAULTS["rank"],
    penalty=DEFAULTS["penalty"],
    progress=None,
):
    """Runs the study; returns a JSON-ready dict with the settings, per-run ``rows`` and ``summary``.

    Args:
        seeds: one run per seed (new tasks and samples each).
        d, noise: passed to :func:`~mtlzoo.data.synthetic_linear.fig3_tasks`.
        target_size: task 1's sample size.
        source_sizes: the growing source sample sizes.
        rank: width r of the shared B.
        penalty: lambda of the alignment penalty.
        progress: optional callable(str) for progress lines (:class:`mtlzoo.studies.common.Progress`).

    Raises:
        ConfigError: see :func:`check_settings`.
    """
    check_settings(seeds, source_sizes, target_size, d, rank, penalty)
    seeds = [int(s) for s in seeds]
    sizes = sorted({int(n) for n in source_sizes})
    from mtlzoo.studies.common import Progress

    prog = Progress(len(seeds) * len(SOURCES), progress, action="solving")
    rows, similarity, unit = [], [], 0
    for seed in seeds:
        tasks = fig3_tasks(d=d, seed=seed, noise=noise)
        target = tasks[0]
        x1, y1 = target.sample(target_size, seed=[seed, 1])
        stl = least_squares(x1, y1)
        stl_mse = target.test_mse(stl)
        for src in SOURCES:
            unit += 1
            prog.start(unit, f"seed {seed} source {src}", f"solving {len(sizes)} source sizes x 3 methods")
            task = tasks[src - 1]
            xs_all, ys_all = task.sample(sizes[-1], seed=[seed, src])
            similarity.append(
                {
                    "seed": seed,
                    "source": src,
                    "eq5": covariance_similarity(x1, xs_all),
                    "eq5_normalized": normalized_covariance_similarity(x1, xs_all),
                    "cos_theta": cosine_similarity(target.theta, task.theta),
                }
            )
            for n in sizes:
                xs, ys = [x1, xs_all[:n]], [y1, ys_all[:n]]
                sols = {
                    "mtl": solve_linear_mtl(xs, ys, rank, seed=seed),
                    "aligned": solve_aligned_linear_mtl(xs, ys, rank, penalty, seed=seed),
                    "aligned_fixed_b": solve_aligned_linear_mtl(xs, ys, rank, penalty, fix_shared=True, seed=seed),
                }
                row = {"seed": seed, "source": src, "n_source": n, "stl_mse": stl_mse}
                for m, sol in sols.items():
                    row[f"{m}_mse"] = target.test_mse(sol.predictors[0])
                    row[f"{m}_delta"] = row[f"{m}_mse"] - stl_mse
                rows.append(row)
            prog.done(unit, f"seed {seed} source {src}", "done", times=True)
    settings = {
        "seeds": seeds,
        "d": d,
        "target_size": target_size,
        "source_sizes": sizes,
        "noise": noise,
        "rank": rank,
        "penalty": penalty,
    }
    return {"settings": settings, "rows": rows, "summary": summarize(rows), "similarity": similarity}


def summarize(rows):
    """Mean and standard error over seeds of each method's delta, per (source, n_source)."""
    keys = sorted({(r["source"], r["n_source"]) for r in rows})
    out = []
    for src, n in keys:
        sel = [r for r in rows if r["source"] == src and r["n_source"] == n]
        entry = {"source": src, "n_source": n, "runs": len(sel)}
        entry["stl_mse"], entry["stl_mse_se"] = mean_se([r["stl_mse"] for r in sel])
        for m in METHODS:
            entry[f"{m}_delta"], entry[f"{m}_delta_se"] = mean_se([r[f"{m}_delta"] for r in sel])
        out.append(entry)
    return out


def sign_pattern(summary, small=3):
    """The paper's qualitative claims, checked on the summary (means over seeds).

    * ``source2_positive``: MTL with source 2 lowers the target MSE at every source size.
    * ``sources34_worse_at_small_sizes``: at the ``small`` smallest source sizes, sources 3
      and 4 transfer less than source 2 (higher delta) or negatively (delta > 0).
    * ``alignment_reduces_harm``: wherever MTL with source 3 or 4 hurts (delta > 0), the
      jointly trained alignment's delta is lower.
    """
    by = {(e["source"], e["n_source"]): e for e in summary}
    sizes = sorted({e["n_source"] for e in summary})
    src2 = all(by[(2, n)]["mtl_delta"] < 0 for n in sizes)
    worse = all(
        by[(s, n)]["mtl_delta"] > by[(2, n)]["mtl_delta"] or by[(s, n)]["mtl_delta"] > 0
        for s in (3, 4)
        for n in sizes[:small]
    )
    harmed = [by[(s, n)] for s in (3, 4) for n in sizes if by[(s, n)]["mtl_delta"] > 0]
    reduces = bool(harmed) and all(e["aligned_delta"] < e["mtl_delta"] for e in harmed)
    return {
        "source2_positive": bool(src2),
        "sources34_worse_at_small_sizes": bool(worse),
        "alignment_reduces_harm": bool(reduces),
        "harmful_settings": len(harmed),
    }


def format_table(result):
    """A Markdown table of the summary (mean ± standard error over seeds), plus similarity scores."""
    s = result["settings"]
    lines = [
        f"Target: task 1, n = {s['target_size']}, d = {s['d']}, noise = {s['noise']}, shared rank r = {s['rank']}, "
        f"alignment penalty lambda = {s['penalty']}, seeds = {', '.join(map(str, s['seeds']))}.",
        "",
        "Target test MSE of each method minus single-task learning (STL); below 0 = positive transfer. "
        "Mean ± standard error over seeds.",
        "",
        "| source | n source | STL MSE | " + " | ".join(METHOD_LABELS[m] for m in METHODS) + " |",
        "|---|---:|---:|" + "---:|" * len(METHODS),
    ]
    for e in result["summary"]:
        cells = [f"{e[f'{m}_delta']:+.3f} ± {e[f'{m}_delta_se']:.3f}" for m in METHODS]
        lines.append(f"| task {e['source']} | {e['n_source']} | {e['stl_mse']:.3f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Similarity of each source to the target (mean over seeds; samples: target n = "
        f"{s['target_size']}, source n = {s['source_sizes'][-1]}):",
        "",
        "| source | cos(theta_1, theta_source) | Eq. 5 score | Eq. 5 normalised |",
        "|---|---:|---:|---:|",
    ]
    for src in SOURCES:
        sel = [r for r in result["similarity"] if r["source"] == src]
        mean = {key: np.mean([r[key] for r in sel]) for key in ("cos_theta", "eq5", "eq5_normalized")}
        lines.append(f"| task {src} | {mean['cos_theta']:.3f} | {mean['eq5']:.3f} | {mean['eq5_normalized']:.3f} |")
    checks = sign_pattern(result["summary"])
    lines += ["", "Sign pattern: " + ", ".join(f"{k} = {v}" for k, v in checks.items()) + "."]
    return "\n".join(lines) + "\n"


def plot(result, path):
    """Writes the study's PNG: one panel per source, delta vs source size (log x), ± standard error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SOURCES), figsize=(4.2 * len(SOURCES), 3.6), sharey=True)
    titles = {2: "source task 2 (same covariance)", 3: "source task 3 (spectrum)", 4: "source task 4 (rotation)"}
    styles = {"mtl": ("C3", "o", "-"), "aligned": ("C0", "s", "-"), "aligned_fixed_b": ("C2", "^", "--")}
    for ax, src in zip(axes, SOURCES, strict=True):
        sel = [e for e in result["summary"] if e["source"] == src]
        n = np.array([e["n_source"] for e in sel])
        for m in METHODS:
            mean = np.array([e[f"{m}_delta"] for e in sel])
            se = np.array([e[f"{m}_delta_se"] for e in sel])
            color, marker, ls = styles[m]
            ax.plot(n, mean, marker=marker, ls=ls, color=color, label=METHOD_LABELS[m], ms=4)
            ax.fill_between(n, mean - se, mean + se, color=color, alpha=0.15)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(titles[src], fontsize=10)
        ax.set_xlabel("source samples")
    axes[0].set_ylabel("target MSE: MTL − STL")
    axes[0].legend(fontsize=8, loc="upper left")
    s = result["settings"]
    fig.suptitle(
        f"Fig. 3 study: target task 1 (n={s['target_size']}, d={s['d']}), rank {s['rank']}, "
        f"{len(s['seeds'])} seeds; below 0 = positive transfer",
        fontsize=10,
    )
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def write_fig3_outputs(result, workdir):
    """Writes ``fig3_results.json``, ``fig3_table.md`` and ``fig3_covariance.png`` into ``workdir``."""
    os.makedirs(workdir, exist_ok=True)
    paths = {
        "json": os.path.join(workdir, "fig3_results.json"),
        "table": os.path.join(workdir, "fig3_table.md"),
        "plot": os.path.join(workdir, "fig3_covariance.png"),
    }
    write_json({**result, "sign_pattern": sign_pattern(result["summary"])}, paths["json"], indent=1, sort_keys=False)
    write_text(format_table(result), paths["table"])
    plot(result, paths["plot"])
    return paths
