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

import math
import os
import re
import time

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.studies.svd_report import ARMS, EXTRA_ARMS, PARTS, all_report, extra_arm_report, pairs_report, write_report

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
    elif arm in EXTRA_ARMS:
        cfg["train"]["weighting"].update(EXTRA_ARMS[arm])
    else:
        raise ValueError(f"arm must be one of {ARMS + tuple(EXTRA_ARMS)}, got {arm!r}")
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
    from mtlzoo.metrics import task_metrics
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


def run_arm(cfg, run_dir, train_fn=None, starting=None):
    """Trains one sub-run (or reuses it) and returns ``(scores, status)``; see :func:`epoch_scores`.
    ``starting()`` is called before a sub-run trains (see :func:`mtlzoo.studies.common.train_or_load`)."""
    from mtlzoo.fileio import write_json
    from mtlzoo.studies.common import check_same_config, read_json, train_or_load

    path = os.path.join(run_dir, SCORES_FILE)
    check_same_config(cfg, run_dir)
    done = read_json(path)
    if done is not None:
        return done, "skipped (scores.json exists)"
    start = time.time()
    _, model, status = train_or_load(cfg, run_dir, train_fn, starting)
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
    extra_arms=(),
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
        extra_arms: optional arms of ``svd_report.EXTRA_ARMS`` (e.g. ``svd_normalised``: centred
            labels divided by their standard deviation), run next to the three arms and
            reported against the unweighted one (``report["extra"]``).

    Returns:
        the report dict written to ``svd_study.json`` (see :func:`pairs_report`, :func:`all_report`).
    """
    resolved, parts, seeds = _check_args(config, parts, corrupt_fraction, seeds)
    bad = [a for a in extra_arms if a not in EXTRA_ARMS]
    if bad:
        raise ValueError(f"extra arm {bad[0]!r} is not one of {', '.join(EXTRA_ARMS)}")
    arms = ARMS + tuple(extra_arms)
    labels = sorted(resolved.tasks.keys(), key=natural_key)  # label_2 before label_10
    plan = []
    pairs = sample_pairs(labels, num_pairs, pair_seed) if "pairs" in parts else []
    for clean, noisy in pairs:
        for arm in arms:
            cfg = arm_config(resolved, arm, [clean, noisy], {noisy: corrupt_fraction})
            plan.append(
                ("pairs", (clean, noisy), arm, cfg, os.path.join(workdir, "pairs", f"{clean}__noisy_{noisy}", arm))
            )
    if "all" in parts:
        for s in seeds:
            for arm in arms:
                cfg = arm_config(resolved, arm, seed=s)
                plan.append(("all", s, arm, cfg, os.path.join(workdir, "all", f"seed_{s}", arm)))
    os.makedirs(workdir, exist_ok=True)
    from mtlzoo.config import resolve_config

    for *_, cfg, _ in plan:  # every sub-config valid before any training
        resolve_config(cfg)
    from mtlzoo.studies.common import Progress

    results = {}
    prog = Progress(len(plan), progress)
    for i, (part, key, arm, cfg, run_dir) in enumerate(plan, 1):
        what = (f"pair clean={key[0]} noisy={key[1]}" if part == "pairs" else f"all labels seed={key}") + f" {arm}"
        scores, status = run_arm(cfg, run_dir, train_fn, starting=lambda i=i, w=what: prog.start(i, w))
        select = [key[0]] if part == "pairs" else labels
        summ = arm_summary(scores, select)
        results.setdefault(part, {}).setdefault(key, {})[arm] = summ
        shown = (
            f"{key[0]} test AUC {summ['test_auc'][key[0]]:.4f}"
            if part == "pairs"
            else f"mean test AUC {np.nanmean(list(summ['test_auc'].values())):.4f}"
        )
        prog.done(i, what, f"{status} ({shown} at epoch {summ['epoch']})")

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
            "extra_arms": {a: EXTRA_ARMS[a] for a in extra_arms},
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
        if extra_arms:
            report.setdefault("extra", {})["pairs"] = {a: extra_arm_report(rows, a) for a in extra_arms}
    if "all" in results:
        report["all"] = all_report(results["all"], labels)
        if extra_arms:
            report.setdefault("extra", {})["all"] = {a: extra_arm_report(results["all"], a, labels) for a in extra_arms}
    write_report(report, workdir)
    return report
