"""SVD task reweighting under label noise and on clean labels (Wu, Zhang & Ré, ICLR 2020, Section 3.3).

Algorithm 2 of the paper weights task i's loss by alpha_i = ||U_r^T theta_i||, theta_i = X^T y_i
(X: the shared representation, U_r: the top-r left singular vectors of [theta_1 .. theta_k];
:func:`mtlzoo.analysis.svd_reweighting.svd_task_weights`). The paper reports on ChestX-ray14:

* **pairs**: pick two of the 14 labels, corrupt 20% of one task's training labels, train the
  two-task model unweighted and SVD-reweighted; the clean task's AUC improves by 2.4 points on
  average over 20 random pairs;
* **all**: all 14 labels, clean; reweighting improves AUC by 0.4 points per task.

This module runs both on any shared-input source whose ``data`` section has
``corrupt_labels`` (the ``yeast`` source). The config given is the *reweighted* arm (its
``train.weighting`` must be ``svd``; the study sets its ``center`` to false: Algorithm 2 as
written); the *centred* arm ``svd_centred`` is the same with ``center: true`` (theta_i =
X^T (y_i - mean y_i), not in the paper: with 0/1 labels on a non-negative representation the
uncentred theta_i mostly counts positives); the *unweighted* arm is the same config with
``train.weighting = {"name": "ew"}``. Every hyper-parameter but the weighting is shared.

Epoch selection (the same rule for every arm): every epoch's weights
(``checkpoints/epoch_NNN.weights.h5``, written by the trainer) are scored on the validation
and test splits; the reported test AUC is the one at the epoch of the best validation AUC of
the reported task (pairs: the clean task; all: the mean over the labels). The last epoch's
test AUC is kept next to it.

Layout: sub-runs ``workdir/pairs/<clean>__noisy_<noisy>/{ew,svd,svd_centred}`` (training seed =
the config's seed) and ``workdir/all/seed_<s>/{ew,svd,svd_centred}``, each an ordinary
:func:`mtlzoo.training.train` workdir plus ``scores.json`` (per-epoch validation and test AUC
and the SVD weights alpha held by the model at each epoch). A sub-run with ``scores.json`` is
skipped, so rerunning the same call resumes. Report: ``svd_study.md``, ``svd_study.json`` and
``svd_study.png`` in ``workdir``.

Example:
    >>> from configs.svd_yeast import get_config
    >>> report = svd_study(get_config(), "/tmp/svd", parts=("pairs",), num_pairs=20, corrupt_fraction=0.2)
    >>> report["pairs"]["summary"]["mean_diff"]     # mean (SVD - unweighted) clean-task test AUC, in points
"""

import json
import math
import os
import re
import time

import numpy as np

from mtlzoo.errors import ConfigError

PARTS = ("pairs", "all")
ARMS = ("ew", "svd", "svd_centred")
SCORES_FILE = "scores.json"


# --------------------------------------------------------------------------- plan


def natural_key(name):
    """Sort key that orders ``label_2`` before ``label_10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def sample_pairs(labels, count=20, seed=0):
    """``count`` distinct unordered pairs of ``labels``, each with its corrupted member drawn at random.

    Returns a list of ``(clean, noisy)`` name tuples: ``count`` of the k(k-1)/2 pairs drawn
    without replacement (numpy ``default_rng([seed, 0x5D1])``), then a fair coin per pair for
    which member is corrupted. The draw depends only on ``(labels, count, seed)``.
    """
    labels = list(labels)
    combos = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :]]
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= len(combos):
        raise ConfigError(
            None, f"num_pairs (--pairs) must be an integer in [1, {len(combos)}] for {len(labels)} labels, got {count}"
        )
    rng = np.random.default_rng([int(seed), 0x5D1])
    picks = rng.choice(len(combos), size=int(count), replace=False)
    coins = rng.integers(0, 2, size=int(count))
    return [combos[p] if c == 0 else combos[p][::-1] for p, c in zip(picks, coins, strict=True)]


def arm_config(resolved, arm, tasks=None, corrupt=None, seed=None):
    """The config of one sub-run (a plain dict): ``resolved`` with the arm's weighting, the
    given tasks (default: all), ``data.corrupt_labels`` and seed; the progress bar off."""
    cfg = resolved.to_dict()
    if tasks is not None:
        cfg["tasks"] = {n: dict(cfg["tasks"][n]) for n in tasks}
    if arm == "ew":
        cfg["train"]["weighting"] = {"name": "ew"}
        cfg["model"]["task_weights"] = False
    elif arm in ("svd", "svd_centred"):
        cfg["train"]["weighting"]["center"] = arm == "svd_centred"
    else:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    cfg["data"]["corrupt_labels"] = dict(corrupt or {})
    if seed is not None:
        cfg["seed"] = int(seed)
    cfg["train"]["verbose"] = 0
    return cfg


def _check_args(config, parts, corrupt_fraction, seeds):
    from mtlzoo.config import resolve_config

    resolved = resolve_config(config)
    if resolved.train.weighting.name != "svd":
        raise ConfigError(
            "train.weighting.name",
            f"the study's config is its SVD arm and must use the 'svd' weighting, got {resolved.train.weighting.name!r}",
        )
    if "corrupt_labels" not in resolved.data:
        raise ConfigError("data.source", f"source {resolved.data.source!r} has no corrupt_labels option (use yeast)")
    kinds = {t["kind"] for t in resolved.tasks.values()}
    if kinds != {"binary"}:
        raise ConfigError("tasks", f"the study scores binary tasks by AUC; the config has kinds {sorted(kinds)}")
    parts = list(parts)
    if not parts or any(p not in PARTS for p in parts):
        raise ConfigError(None, f"parts (--parts): choose from {', '.join(PARTS)}, got {parts!r}")
    if not 0 < corrupt_fraction <= 1:
        raise ConfigError(None, f"corrupt_fraction (--corrupt_fraction) must be in (0, 1], got {corrupt_fraction}")
    seeds = [int(resolved.seed)] if seeds is None else list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ConfigError(None, f"seeds (--seeds) must be a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(None, f"seeds (--seeds) must not repeat a seed, got {seeds!r}")
    if "pairs" in parts and resolved.train.weighting.rank > 2:
        raise ConfigError("train.weighting.rank", f"the pairs have 2 tasks; rank {resolved.train.weighting.rank} > 2")
    return resolved, parts, [int(s) for s in seeds]


# --------------------------------------------------------------------------- one sub-run


def epoch_scores(model, config, run_dir):
    """Test and validation AUC of every saved epoch of a finished run, and the SVD weights.

    Returns ``{"validation": {task: [auc per epoch]}, "test": {...}, "alpha": [[alpha] per
    epoch] or None, "alpha_centred": [...] or None, "tasks": [names]}``; AUC from
    :func:`mtlzoo.evaluation.task_metrics` on the examples with weight > 0 (NaN -> None when a
    split has one class only). ``alpha`` is the weight the model held during the epoch;
    ``alpha_centred`` is a diagnostic: Algorithm 2 on the epoch's final shared representation
    of the training split with each task's labels centred (y_i - mean y_i, equivalently the
    representation centred), which removes the part of theta_i = X^T y_i that only counts
    positives in a non-negative (ReLU) representation.
    """
    from mtlzoo.config import resolve_config
    from mtlzoo.data import load_data
    from mtlzoo.evaluation import task_metrics
    from mtlzoo.tasks import tasks_from_config

    config = resolve_config(config)
    tasks = tasks_from_config(config.tasks)
    data = load_data(config, tasks)
    names = list(model.input.keys()) if isinstance(model.input, dict) else [model.input.name]
    out = {"tasks": [t.name for t in tasks], "validation": {}, "test": {}, "alpha": None, "alpha_centred": None}
    svd = config.train.weighting.name == "svd"
    if svd:
        import keras

        from mtlzoo.analysis.svd_reweighting import svd_task_weights

        out["alpha"], out["alpha_centred"] = [], []
        rep_model = keras.Model(model.input, model.get_layer("shared_pooled").output)
        train = data.split("train")
        ws = [np.asarray(train.weights[t.name], np.float64) for t in tasks]
        ys = [np.asarray(train.labels[t.name], np.float64).reshape(len(train), -1) for t in tasks]
        ys = [y - (w[:, None] * y).sum(0) / w.sum() for y, w in zip(ys, ws, strict=True)]
    for split in ("validation", "test"):
        out[split] = {t.name: [] for t in tasks}
    for epoch in range(1, config.train.epochs + 1):
        model.load_weights(os.path.join(run_dir, "checkpoints", f"epoch_{epoch:03d}.weights.h5"))
        for split in ("validation", "test"):
            s = data.split(split)
            preds = model({k: s.features[k] for k in names}, training=False)
            for t in tasks:
                auc = task_metrics(t, s.labels[t.name], np.asarray(preds[t.name]), s.weights[t.name])["auc"]
                out[split][t.name].append(None if math.isnan(auc) else auc)
        if svd:
            out["alpha"].append(np.asarray(model.get_layer("task_weights").alpha, np.float64).tolist())
            x = np.asarray(rep_model({k: train.features[k] for k in names}, training=False), np.float64)
            rank = int(config.train.weighting.rank)
            out["alpha_centred"].append(svd_task_weights(x, ys, rank, weights=ws).tolist())
    return out


def run_arm(cfg, run_dir, train_fn=None):
    """Trains one sub-run (or reuses it) and returns ``(scores, status)``; see :func:`epoch_scores`."""
    from mtlzoo.analysis.runs import check_same_config, train_or_load
    from mtlzoo.fileio import write_json

    path = os.path.join(run_dir, SCORES_FILE)
    check_same_config(cfg, run_dir)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f), "skipped (scores.json exists)"
    start = time.time()
    _, model, status = train_or_load(cfg, run_dir, train_fn)
    if model is None:  # trained earlier, scores not yet written
        from mtlzoo.models import load_model

        model = load_model(os.path.join(run_dir, "model.keras"))
    scores = epoch_scores(model, cfg, run_dir)
    write_json(scores, path)
    return scores, f"{status}; scored in {time.time() - start:.1f} s"


def raw_feature_alpha(cfg):
    """Algorithm 2's alpha on the raw input ``features`` of the training split (no network).

    The linear setting of the paper's theory (X = the inputs): which task the weighting would
    favour before any representation is learned. Rank and labels as in the SVD arm.
    """
    from mtlzoo.analysis.svd_reweighting import svd_task_weights
    from mtlzoo.config import resolve_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    cfg = resolve_config(cfg)
    tasks = tasks_from_config(cfg.tasks)
    train = load_data(cfg, tasks).split("train")
    names = [t.name for t in tasks]
    alpha = svd_task_weights(
        np.asarray(train.features["features"], np.float64),
        [np.asarray(train.labels[n]) for n in names],
        rank=int(cfg.train.weighting.rank),
        weights=[np.asarray(train.weights[n]) for n in names],
    )
    return dict(zip(names, alpha.tolist(), strict=True))


def _nan(v):
    return np.nan if v is None else float(v)


def select_epoch(scores, tasks):
    """Index of the epoch with the best validation AUC (mean over ``tasks``; first on ties)."""
    val = np.array([[_nan(v) for v in scores["validation"][t]] for t in tasks])  # [tasks, epochs]
    with np.errstate(all="ignore"):
        mean = np.nanmean(val, axis=0) if val.shape[0] > 1 else val[0]
    if np.all(np.isnan(mean)):
        return len(mean) - 1
    return int(np.nanargmax(mean))


def arm_summary(scores, select_tasks):
    """Per-task test AUC at the selected epoch and at the last one, the epoch, alpha there."""
    e = select_epoch(scores, select_tasks)
    out = {
        "epoch": e + 1,
        "test_auc": {t: _nan(v[e]) for t, v in scores["test"].items()},
        "val_auc": {t: _nan(v[e]) for t, v in scores["validation"].items()},
        "last_test_auc": {t: _nan(v[-1]) for t, v in scores["test"].items()},
    }
    for key in ("alpha", "alpha_centred"):
        if scores.get(key):
            out[key] = dict(zip(scores["tasks"], scores[key][e], strict=True))
    return out


# --------------------------------------------------------------------------- report arithmetic


def paired_stats(diffs):
    """Mean, sample std, standard error, counts and a paired t-test of differences (AUC points)."""
    from scipy import stats

    d = np.asarray(diffs, np.float64)
    d = d[~np.isnan(d)]
    n = len(d)
    std = float(d.std(ddof=1)) if n > 1 else 0.0
    out = {
        "n": n,
        "mean_diff": float(d.mean()) if n else float("nan"),
        "median_diff": float(np.median(d)) if n else float("nan"),
        "std": std,
        "se": std / math.sqrt(n) if n > 1 else float("nan"),
        "improved": int(np.sum(d > 0)),
        "worse": int(np.sum(d < 0)),
        "ties": int(np.sum(d == 0)),
    }
    out["t_test_p"] = float(stats.ttest_1samp(d, 0.0).pvalue) if n > 1 and std > 0 else float("nan")
    return out


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


# --------------------------------------------------------------------------- the study


def svd_study(
    config,
    workdir,
    parts=PARTS,
    num_pairs=20,
    corrupt_fraction=0.2,
    pair_seed=0,
    seeds=None,
    progress=print,
    train_fn=None,
):
    """Runs the noisy-pair and/or all-label comparisons and writes the report.

    Args:
        config: the SVD arm's run config (``train.weighting.name == "svd"``), binary tasks on a
            source with ``corrupt_labels`` (``yeast``).
        workdir: report folder; sub-runs under ``workdir/pairs`` and ``workdir/all``.
        parts: ``"pairs"`` and/or ``"all"``.
        num_pairs, corrupt_fraction, pair_seed: the pairs part (:func:`sample_pairs`; the
            noisy member's training labels flipped on that fraction; training seed = config's).
        seeds: training seeds (split, initialisation) of the all-labels part (default: config's).
        progress: called with one line per sub-run (None for silence).
        train_fn: ``train(config, workdir)`` (default :func:`mtlzoo.training.train`).

    Returns:
        the report dict written to ``svd_study.json`` (see :func:`pairs_report`, :func:`all_report`).
    """
    resolved, parts, seeds = _check_args(config, parts, corrupt_fraction, seeds)
    labels = sorted(resolved.tasks.keys(), key=natural_key)  # label_2 before label_10
    plan = []
    pairs = sample_pairs(labels, num_pairs, pair_seed) if "pairs" in parts else []
    for clean, noisy in pairs:
        for arm in ARMS:
            cfg = arm_config(resolved, arm, [clean, noisy], {noisy: corrupt_fraction})
            plan.append(
                ("pairs", (clean, noisy), arm, cfg, os.path.join(workdir, "pairs", f"{clean}__noisy_{noisy}", arm))
            )
    if "all" in parts:
        for s in seeds:
            for arm in ARMS:
                cfg = arm_config(resolved, arm, seed=s)
                plan.append(("all", s, arm, cfg, os.path.join(workdir, "all", f"seed_{s}", arm)))
    os.makedirs(workdir, exist_ok=True)
    from mtlzoo.config import resolve_config

    for *_, cfg, _ in plan:  # every sub-config valid before any training
        resolve_config(cfg)
    results = {}
    width = len(str(len(plan)))
    for i, (part, key, arm, cfg, run_dir) in enumerate(plan, 1):
        scores, status = run_arm(cfg, run_dir, train_fn)
        select = [key[0]] if part == "pairs" else labels
        summ = arm_summary(scores, select)
        results.setdefault(part, {}).setdefault(key, {})[arm] = summ
        if progress is not None:
            what = f"pair clean={key[0]} noisy={key[1]}" if part == "pairs" else f"all labels seed={key}"
            shown = (
                f"{key[0]} test AUC {summ['test_auc'][key[0]]:.4f}"
                if part == "pairs"
                else f"mean test AUC {np.nanmean(list(summ['test_auc'].values())):.4f}"
            )
            progress(f"[{i:{width}d}/{len(plan)}] {what} {arm}: {status} ({shown} at epoch {summ['epoch']})")

    w = resolved.train.weighting
    report = {
        "settings": {
            "source": resolved.data.source,
            "labels": labels,
            "epochs": resolved.train.epochs,
            "learning_rate": resolved.train.learning_rate,
            "batch_size": resolved.data.batch_size,
            "encoder": resolved.model.encoder.to_dict(),
            "tower": resolved.model.tower.to_dict(),
            "svd": {"rank": w.rank, "every_steps": w.every_steps, "max_examples": w.max_examples},
            "config_seed": int(resolved.seed),
            "num_pairs": num_pairs if "pairs" in parts else None,
            "corrupt_fraction": corrupt_fraction,
            "pair_seed": pair_seed,
            "seeds": seeds if "all" in parts else None,
        }
    }
    if "pairs" in results:
        rows = [
            {
                "clean": c,
                "noisy": n,
                "raw_alpha": raw_feature_alpha(arm_config(resolved, "svd", [c, n], {n: corrupt_fraction})),
                **results["pairs"][(c, n)],
            }
            for c, n in pairs
        ]
        report["pairs"] = pairs_report(rows)
    if "all" in results:
        report["all"] = all_report(results["all"], labels)
    write_report(report, workdir)
    return report


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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_report(report, workdir):
    """Writes ``svd_study.md``, ``svd_study.json`` and ``svd_study.png``; returns their paths."""
    paths = {ext: os.path.join(workdir, f"svd_study.{ext}") for ext in ("md", "json", "png")}
    with open(paths["md"], "w") as f:
        f.write(markdown(report))
    from mtlzoo.fileio import write_json

    write_json(_jsonable(report), paths["json"])
    plot(report, paths["png"])
    return paths
