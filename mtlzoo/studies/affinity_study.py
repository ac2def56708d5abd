"""Will these tasks help each other? Transfer predictors from one all-task run, checked against measured transfer.

One training run of the model with all k tasks (``model.fit`` on the trainer's batches: the
config's data, mixing, model and optimizer; the sum of the task losses) while an
:class:`mtlzoo.training.affinity.AffinityTracker` measures, before every ``every_steps``-th step and
on that step's batch:

* ``lookahead``: the inter-task affinity of Fifty et al. (NeurIPS 2021, Eq. 1),
  ``Z_{i->j} = 1 - L_j(theta_s - lr g_i) / L_j(theta_s)``, averaged over the measurements;
* ``gradient_cosine``: the cosine of the tasks' shared-parameter gradients, averaged likewise.

After training, the covariance similarity (Wu, Zhang & Ré, ICLR 2020, Eq. 5; raw and normalised)
of the tasks' training-split embeddings at the embedding E (``covariance_E``) and at the shared
representation the towers read (``covariance_rep``). Every matrix has row = target, column =
source, as the pairwise transfer report (:mod:`mtlzoo.analysis.transfer`).

Given a measured transfer report (its ``transfer.json``), each predictor is scored against the
measured transfer (one alignment variant, default ``none``): Spearman's rho over the k(k-1)
directed entries and over the k(k-1)/2 pairs (mean of both directions), and the top-1 precision
(for how many targets the predicted best source is a measured best source; chance ``1/(k-1)``).
The recommended grouping (:func:`mtlzoo.analysis.grouping.best_grouping`, budget ``b``) is given for
every predictor and, with a report, for the measured transfer under the same objective.

Writes ``affinity.json``, ``affinity.md``, ``affinity_heatmap.png`` and, with a report,
``affinity_vs_transfer.png`` into the workdir (the run's ``config.json`` too).

Example:
    >>> from configs.transfer_synthetic import get_config
    >>> out = affinity_study(get_config(), "/tmp/affinity", transfer_report="/tmp/transfer/transfer.json")
    >>> out["validation"]["lookahead"]["spearman_directed"]
"""

import json
import math
import os
import time

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.studies.affinity_report import TITLES  # noqa: F401  (the report names the predictors)


def load_measured_transfer(path, names, alignment="none"):
    """The measured ``[k, k]`` transfer (row = target, column = source) of a transfer report, in ``names`` order.

    Returns ``(transfer, std or None, seeds)``. Raises ConfigError naming the file for a missing or
    unreadable file, a missing alignment variant or a task the report lacks.
    """
    try:
        with open(path) as f:
            report = json.load(f)
    except OSError as e:
        raise ConfigError(None, f"--transfer_report: cannot read {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise ConfigError(None, f"--transfer_report: {path} is not JSON (line {e.lineno}: {e.msg})") from e
    if not isinstance(report, dict) or "tasks" not in report or "transfer" not in report:
        raise ConfigError(None, f"--transfer_report: {path} is not a transfer report (no 'tasks' and 'transfer' keys)")
    if alignment not in report["transfer"]:
        have = ", ".join(report["transfer"])
        raise ConfigError(
            None, f"--transfer_report: {path} has no transfer for alignment {alignment!r} (it has: {have})"
        )
    tasks = list(report["tasks"])
    missing = [n for n in names if n not in tasks]
    if missing:
        raise ConfigError(None, f"--transfer_report: {path} has no task {missing[0]!r} (its tasks: {', '.join(tasks)})")
    idx = [tasks.index(n) for n in names]

    def pick(m):
        a = np.array([[np.nan if v is None else float(v) for v in row] for row in m])
        return a[np.ix_(idx, idx)]

    std = report.get("transfer_std", {}).get(alignment)
    return pick(report["transfer"][alignment]), (None if std is None else pick(std)), list(report.get("seeds", []))


def _embedding_layer(resolved):
    """Name of the embedding layer E of the config's encoder (found by building it with an alignment)."""
    import keras

    from mtlzoo.models import build_model

    cfg = resolved.to_dict()
    cfg = {"tasks": cfg["tasks"], "model": {**cfg["model"], "alignment": "joint"}}
    model = build_model(cfg)
    name = model.get_layer("alignment").input[0]._keras_history.operation.name
    del model
    keras.backend.clear_session()
    return name


def _batch_fn(split, plan, input_names, names):
    """The exact training batch of step s as numpy arrays (the trainer's batch plan)."""
    from mtlzoo.data.base import is_sequence_label

    def batch(s):
        rows, mask = plan.step(s)
        feats = {k: np.asarray(split.features[k])[rows] for k in input_names}
        labels = {t: np.asarray(split.labels[t])[rows] for t in names}
        weights = {}
        for i, t in enumerate(names):
            w = np.asarray(split.weights[t], np.float32)[rows] * mask[i]
            weights[t] = w[:, None] if is_sequence_label(split.labels[t]) else w
        return feats, labels, weights

    return batch


def _heterogeneous(split, names):
    tid = np.asarray(split.features.get("task_id", np.zeros(len(split), np.int32)))
    return all(np.all(tid[np.asarray(split.weights[t]) > 0] == i) for i, t in enumerate(names))


def _check_args(config, budget, every_steps, lookahead_lr, alignment):
    from mtlzoo.config import resolve_config
    from mtlzoo.tasks import tasks_from_config

    resolved = resolve_config(config)
    tasks = tasks_from_config(resolved.tasks)
    if len(tasks) < 2:
        raise ConfigError("tasks", f"the affinity study needs at least 2 tasks, the config has {len(tasks)}")
    for field, v in (("budget", budget), ("every_steps", every_steps)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ConfigError(None, f"--{field} must be a positive integer, got {v!r}")
    if lookahead_lr is not None and not (isinstance(lookahead_lr, (int, float)) and lookahead_lr > 0):
        raise ConfigError(None, f"--lookahead_lr must be a positive number, got {lookahead_lr!r}")
    if not isinstance(alignment, str):
        raise ConfigError(None, f"--alignment must name a transfer report's alignment, got {alignment!r}")
    return resolved, tasks


def _epoch_progress(epochs, say):
    """A Keras callback saying a :class:`mtlzoo.studies.common.Progress` line per epoch (start and end)."""
    import keras

    from mtlzoo.studies.common import Progress

    prog = Progress(epochs, say)

    class EpochProgress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            prog.start(epoch + 1, "epoch")

        def on_epoch_end(self, epoch, logs=None):
            shown = "  ".join(f"{k} {float(v):.4g}" for k, v in sorted((logs or {}).items()) if k.endswith("loss"))
            prog.done(epoch + 1, "epoch", f"done ({shown})", times=True)

    return EpochProgress()


def train_with_predictors(resolved, tasks, every_steps, lookahead_lr, workdir, progress=None):
    """Trains the all-task model with ``model.fit`` while tracking the predictors; returns a dict.
    ``progress``: called with a line when each epoch starts and ends (None: silent)."""
    import keras

    from mtlzoo.config import write_config
    from mtlzoo.data import build_sampler, load_data
    from mtlzoo.data.mixing import BatchPlan, train_dataset
    from mtlzoo.models import build_model
    from mtlzoo.training import compile_model, evaluate_model
    from mtlzoo.training.affinity import AffinityTracker

    names = [t.name for t in tasks]
    tc = resolved.train
    write_config(resolved, workdir)
    keras.backend.clear_session()
    keras.utils.set_random_seed(resolved.seed)
    data = load_data(resolved, tasks)
    train_split = data.split("train")
    probe = BatchPlan(train_split, names, resolved.data.batch_size, "joint", seed=resolved.seed)
    global_batch = probe.global_batch_size if resolved.data.mixing == "joint" else resolved.data.batch_size
    steps_per_epoch = tc.steps_per_epoch or max(1, math.ceil(len(train_split) / global_batch))
    total = tc.epochs * steps_per_epoch
    plan = BatchPlan(
        train_split,
        names,
        resolved.data.batch_size,
        resolved.data.mixing,
        build_sampler(resolved.data.sampler),
        resolved.seed,
        total,
    )
    model = build_model(resolved)
    compile_model(model, tasks, tc, steps_per_epoch=steps_per_epoch, seed=resolved.seed)  # the config's method
    input_names = list(model.input.keys()) if isinstance(model.input, dict) else [model.input.name]
    lr = float(lookahead_lr if lookahead_lr is not None else tc.learning_rate)
    tracker = AffinityTracker(tasks, lr, every_steps, _batch_fn(train_split, plan, input_names, names))
    start = time.perf_counter()
    model.fit(
        train_dataset(train_split, plan, input_names),
        epochs=tc.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[tracker] + ([_epoch_progress(tc.epochs, progress)] if progress else []),
        shuffle=False,  # the batch plan orders the examples
        verbose=0,
    )
    seconds = time.perf_counter() - start
    metrics = evaluate_model(model, data.dataset(tc.eval_split, resolved.data.batch_size, input_names), tasks)
    res = tracker.result()
    return {
        "model": model,
        "train_split": train_split,
        "lookahead": res["lookahead"],
        "gradient_cosine": res["cosine"],
        "measurements": res["measurements"],
        "steps": total,
        "lookahead_lr": lr,
        "train_seconds": seconds,
        "predictor_seconds": res["seconds"],
        "metrics": metrics,
    }


def embedding_similarities(model, resolved, split, names):
    """``{covariance_E, covariance_E_raw, covariance_rep, covariance_rep_raw}`` on the training split."""
    from mtlzoo.analysis.affinity import covariance_similarities
    from mtlzoo.analysis.covariance import task_embeddings

    feats = {k: np.asarray(v) for k, v in split.features.items()}
    tid = feats["task_id"]
    layers = {"E": _embedding_layer(resolved)}
    rep = [n for n in ("shared_pooled", "shared_sequence") if any(layer.name == n for layer in model.layers)]
    if rep:
        layers["rep"] = rep[0]
    out = {}
    for key, layer in layers.items():
        sims = covariance_similarities(task_embeddings(model, feats, tid, layer, num_tasks=len(names)))
        out[f"covariance_{key}"], out[f"covariance_{key}_raw"] = sims["normalized"], sims["raw"]
    return out, layers


def validate(predictors, measured):
    """Per predictor: Spearman rho (directed entries and pairs) and top-1 precision against ``measured``."""
    from mtlzoo.analysis.affinity import spearman, top1_precision

    out = {}
    for name, m in predictors.items():
        rho_d, n_d = spearman(m, measured, "directed")
        rho_p, n_p = spearman(m, measured, "pair")
        prec, rows = top1_precision(m, measured)
        out[name] = {
            "spearman_directed": rho_d,
            "n_directed": n_d,
            "spearman_pair": rho_p,
            "n_pair": n_p,
            "top1_precision": prec,
            "targets": rows,
        }
    return out


def affinity_study(
    config,
    workdir,
    transfer_report=None,
    budget=2,
    every_steps=10,
    lookahead_lr=None,
    alignment="none",
    singleton_score=None,
    progress=print,
):
    """Runs the study (see the module docstring) and writes its files; returns the results as a dict.

    Args:
        config: a run config with at least 2 tasks.
        workdir: output folder (created).
        transfer_report: path of a pairwise transfer report's ``transfer.json`` to validate against.
        budget: number of models b for the recommended grouping.
        every_steps: measure the lookahead affinity and gradient cosine every this many steps.
        lookahead_lr: the lookahead step size (default: ``train.learning_rate``).
        alignment: which transfer of the report to compare with (``none``, ``joint``, ...).
        singleton_score: the grouping's score of a task trained alone (None: no one-task groups).
        progress: called with a few progress lines (None for silence).

    Raises:
        ConfigError: an invalid config, fewer than 2 tasks, bad arguments, an unreadable report or one
            without the config's tasks (all before training).
    """
    from mtlzoo.analysis.grouping import best_grouping, selection_value

    say = progress or (lambda _: None)
    resolved, tasks = _check_args(config, budget, every_steps, lookahead_lr, alignment)
    names = [t.name for t in tasks]
    k = len(names)
    measured = std = None
    seeds = []
    if transfer_report is not None:
        measured, std, seeds = load_measured_transfer(transfer_report, names, alignment)
    os.makedirs(workdir, exist_ok=True)
    notes = []
    if resolved.train.weighting.name != "ew" or resolved.train.aggregator.name != "sum":
        notes.append(
            f"The run trains with model.fit and the trainer's step (mtlzoo.training.fit): the config's weighting "
            f"({resolved.train.weighting.name}) and aggregator ({resolved.train.aggregator.name}) are applied."
        )
    if resolved.train.optimizer != "sgd":
        notes.append(
            f"The lookahead step is plain SGD, theta - lr g_i (lr = {lookahead_lr or resolved.train.learning_rate:g}), "
            f"while the run trains with {resolved.train.optimizer}: the affinities are small (first order, about "
            "lr <g_i, g_j> / L_j) and only their ranking is meant to carry information."
        )
    say(f"training the {k}-task model, measuring the lookahead affinity every {every_steps} steps")
    run = train_with_predictors(resolved, tasks, every_steps, lookahead_lr, workdir, progress=progress)
    say(
        f"trained {run['steps']} steps in {run['train_seconds']:.1f} s; {run['measurements']} measurements "
        f"took {run['predictor_seconds']:.1f} s"
    )
    predictors = {"lookahead": run["lookahead"], "gradient_cosine": run["gradient_cosine"]}
    layers = {}
    if _heterogeneous(run["train_split"], names):
        sims, layers = embedding_similarities(run["model"], resolved, run["train_split"], names)
        predictors.update(sims)
    else:
        notes.append(
            "Every example carries every task's input (shared-input data), so the tasks' embeddings are identical and "
            "their covariance similarity is 1 by construction: it is left out."
        )
    groupings = {}
    for name, m in list(predictors.items()) + ([("measured", measured)] if measured is not None else []):
        try:
            g = best_grouping(m, budget, singleton_score=singleton_score)
        except ValueError as e:  # e.g. a NaN entry
            notes.append(f"No grouping from {name}: {e}.")
            continue
        groupings[name] = g.to_dict(names)
        if measured is not None and np.all(np.isfinite(measured[~np.eye(k, dtype=bool)])):
            groupings[name]["measured_value"] = selection_value(measured, g.groups, singleton_score)[0]
    result = {
        "tasks": names,
        "budget": budget,
        "every_steps": every_steps,
        "lookahead_lr": run["lookahead_lr"],
        "measurements": run["measurements"],
        "train_steps": run["steps"],
        "cost": {
            "train_seconds": run["train_seconds"],
            "predictor_seconds": run["predictor_seconds"],
            "runs": 1,
            "pairwise_report_runs_per_seed": k + k * (k - 1) // 2,
        },
        "embedding_layers": layers,
        "metrics": run["metrics"],
        "predictors": predictors,
        "groupings": groupings,
        "notes": notes,
    }
    if measured is not None:
        result["transfer_report"] = os.path.abspath(transfer_report)
        result["alignment"] = alignment
        result["measured"] = measured
        result["measured_std"] = std
        result["measured_seeds"] = seeds
        result["validation"] = validate(predictors, measured)
    from mtlzoo.studies.affinity_report import write_outputs

    paths = write_outputs(result, workdir)
    say(f"written: {', '.join(os.path.basename(p) for p in paths.values())}")
    return result


def summarize_seeds(results):
    """Mean and sample std over seeds of every predictor's validation numbers.

    Args:
        results: ``{seed: result}`` of :func:`affinity_study` runs with a transfer report.

    Returns:
        ``{predictor: {metric: {"mean", "std", "values"}}}`` for ``spearman_directed``,
        ``spearman_pair`` and ``top1_precision`` (std NaN for one seed; NaN values left out).
    """
    seeds = sorted(results)
    preds = list(results[seeds[0]]["validation"])
    out = {}
    for p in preds:
        out[p] = {}
        for metric in ("spearman_directed", "spearman_pair", "top1_precision"):
            vals = [results[s]["validation"][p][metric] for s in seeds]
            ok = np.array([v for v in vals if v is not None and math.isfinite(v)], dtype=float)
            out[p][metric] = {
                "mean": float(ok.mean()) if ok.size else math.nan,
                "std": float(ok.std(ddof=1)) if ok.size > 1 else math.nan,
                "values": vals,
            }
    return out


def affinity_study_seeds(config, workdir, seeds, progress=print, **kwargs):
    """:func:`affinity_study` once per seed (``workdir/seed_<s>``), then ``summary.{md,json}`` with the
    mean ± std over seeds of each predictor's rho and top-1 precision (needs ``transfer_report``)."""
    from mtlzoo.studies.affinity_report import write_summary

    if not kwargs.get("transfer_report"):
        raise ConfigError(
            None, "--seeds with more than one seed needs --transfer_report (the summary is the validation)"
        )
    if not seeds or len(set(seeds)) != len(seeds) or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(None, f"--seeds must be distinct non-negative integers, got {seeds!r}")
    results = {}
    for i, s in enumerate(seeds, 1):
        cfg = config.copy_and_resolve_references() if hasattr(config, "copy_and_resolve_references") else dict(config)
        cfg["seed"] = int(s)
        if progress:
            progress(f"[{i}/{len(seeds)}] seed {s}")
        results[s] = affinity_study(cfg, os.path.join(workdir, f"seed_{s}"), progress=progress, **kwargs)
    summary = summarize_seeds(results)
    write_summary(summary, results, workdir)
    return summary, results
