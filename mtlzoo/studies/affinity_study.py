"""Will these tasks help each other? Transfer predictors from one all-task run, checked against measured transfer.

One training run of the model with all k tasks (``model.fit`` on the trainer's batches: the
config's data, mixing, model and optimizer; the sum of the task losses, through the trainer's step,
:mod:`mtlzoo.training.fit`) that measures, before every ``every_steps``-th update and on that
step's batch, inside the compiled step (``train.affinity``,
:class:`mtlzoo.training.affinity.StepAffinity`; ``measurement="host"``: the host-driven reference
:class:`mtlzoo.training.affinity.AffinityTracker` instead):

* ``lookahead``: the inter-task affinity of Fifty et al. (NeurIPS 2021, Eq. 1),
  ``Z_{i->j} = 1 - L_j(theta_s - lr g_i) / L_j(theta_s)``, averaged over the measurements;
* ``gradient_cosine``: the cosine of the tasks' shared-parameter gradients, averaged likewise.

After training, the covariance similarity (Wu, Zhang & Ré, ICLR 2020, Eq. 5; raw and normalised)
of the tasks' training-split embeddings at the embedding E (``covariance_E``) and at the shared
representation the towers read (``covariance_rep``). Every matrix has row = target, column =
source, as the pairwise transfer report (:mod:`mtlzoo.analysis.transfer`).

``probes=f`` adds the costly baseline of Standley et al. (ICML 2020): the pairwise transfer
report itself (:func:`mtlzoo.studies.transfer.transfer_report`, this seed, the same alignment) with
the epochs scaled by ``f`` (at least 1); its transfer matrix is the prediction (``probes``).

Given a measured transfer report (its ``transfer.json``), each predictor is scored against the
measured transfer (one alignment variant, default ``none``): Spearman's rho over the k(k-1)
directed entries and over the k(k-1)/2 pairs (mean of both directions), and the top-1 precision
(for how many targets the predicted best source is a measured best source; chance ``1/(k-1)``).
The recommended grouping (:func:`mtlzoo.analysis.grouping.best_grouping`, budget ``b``) is given for
every predictor and, with a report, for the measured transfer under the same objective.

The measured transfer's own seed-to-seed noise (:func:`transfer_noise`, from the report's per-seed
``stl`` and ``mtl`` scores): the mean std over seeds of an entry against the spread of the mean
entries, and the Spearman rho of one seed's transfer with another's (mean over seed pairs), the
ceiling a predictor's rho is read against. Costs are fractions of the full report's training time
(:func:`report_seconds`: each sub-run's ``config.json`` to ``metrics.json``).

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


def load_transfer_seeds(path, names, alignment="none"):
    """Per-seed measured transfer ``[seeds, k, k]`` (``mtl - stl`` of each seed; row = target) of a
    transfer report, in ``names`` order; None when the report has no per-seed scores."""
    with open(path) as f:
        report = json.load(f)
    if "stl" not in report or alignment not in report.get("mtl", {}):
        return None
    tasks = list(report["tasks"])
    idx = [tasks.index(n) for n in names]

    def arr(m):
        return np.array([[np.nan if v is None else float(v) for v in row] for row in m], dtype=float)

    stl = arr(report["stl"])  # [seeds, k]
    mtl = np.stack([arr(m) for m in report["mtl"][alignment]])  # [seeds, k, k]
    per_seed = mtl - stl[:, :, None]
    return per_seed[:, idx][:, :, idx]


def transfer_noise(per_seed):
    """The measured transfer's seed-to-seed noise from its per-seed matrices ``[s, k, k]``.

    Returns ``{"seeds", "entry_std", "mean_spread", "seed_pair_spearman", "seed_pair_spearman_pair",
    "seed_pair_top1", "leave_one_out_spearman"}``: the mean over off-diagonal entries of their
    std over seeds (ddof 1); the std of the off-diagonal entries of the mean transfer; the
    Spearman rho (directed entries; pairs) and top-1 precision of seed a's transfer as a predictor
    of seed b's, mean over ordered seed pairs (the reliability of one measurement: a predictor that
    matches the transfer as well as another seed does reaches it); rho of each seed against the
    mean of the others, mean over seeds. NaN where fewer than 2 seeds.
    """
    from mtlzoo.analysis.affinity import spearman, top1_precision

    t = np.asarray(per_seed, dtype=float)
    s, k = t.shape[0], t.shape[1]
    off = ~np.eye(k, dtype=bool)
    out = {"seeds": s}
    mean = t.mean(axis=0)
    out["mean_spread"] = float(np.nanstd(mean[off]))
    if s < 2:
        out.update(
            entry_std=math.nan,
            seed_pair_spearman=math.nan,
            seed_pair_spearman_pair=math.nan,
            seed_pair_top1=math.nan,
            leave_one_out_spearman=math.nan,
        )
        return out
    out["entry_std"] = float(np.nanmean(t.std(axis=0, ddof=1)[off]))
    pairs = [(a, b) for a in range(s) for b in range(s) if a != b]
    out["seed_pair_spearman"] = float(np.nanmean([spearman(t[a], t[b])[0] for a, b in pairs]))
    out["seed_pair_spearman_pair"] = float(np.nanmean([spearman(t[a], t[b], "pair")[0] for a, b in pairs]))
    out["seed_pair_top1"] = float(np.nanmean([top1_precision(t[a], t[b])[0] for a, b in pairs]))
    loo = [spearman(t[a], np.delete(t, a, axis=0).mean(axis=0))[0] for a in range(s)]
    out["leave_one_out_spearman"] = float(np.nanmean(loo))
    return out


def report_seconds(path, seeds):
    """Training seconds of a transfer report's ``seeds`` (sum over their sub-runs of ``config.json``
    written to ``metrics.json`` written) and the number of sub-runs; ``(None, 0)`` when there are none
    (``runs/seed_<s>`` not there)."""
    base = os.path.join(os.path.dirname(os.path.abspath(path)), "runs")
    total, n = 0.0, 0
    for dirpath, _, files in (w for s in seeds for w in os.walk(os.path.join(base, f"seed_{s}"))):
        if "metrics.json" in files and "config.json" in files:
            total += os.path.getmtime(os.path.join(dirpath, "metrics.json")) - os.path.getmtime(
                os.path.join(dirpath, "config.json")
            )
            n += 1
    return (total if n else None), n


def _embedding_layer(resolved):
    """Name of the embedding layer E of the config's encoder (found by building it with an alignment)."""
    import keras

    from mtlzoo.models import build_model

    cfg = resolved.to_dict()
    # the layer's name only: the pretrained rows (which need the run's vocabulary) are not read
    encoder = {k: v for k, v in dict(cfg["model"]["encoder"]).items() if k != "embedding_pretrained"}
    cfg = {"tasks": cfg["tasks"], "model": {**cfg["model"], "encoder": encoder, "alignment": "joint"}}
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


def _check_args(config, budget, every_steps, lookahead_lr, alignment, measurement="in_step", probes=None):
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
    if measurement not in ("in_step", "host"):
        raise ConfigError(None, f"--measurement must be in_step or host, got {measurement!r}")
    if probes is not None and not (isinstance(probes, (int, float)) and 0 < probes <= 1):
        raise ConfigError(None, f"--probes must be a fraction of the epochs in (0, 1], got {probes!r}")
    if probes is not None and alignment not in ("none", "joint", "fixed_encoder"):
        raise ConfigError(None, f"--probes needs --alignment none, joint or fixed_encoder, got {alignment!r}")
    if resolved.data.mixing != "joint":  # one task per batch: no batch has a source and a target together
        raise ConfigError(
            "data.mixing",
            f"the lookahead affinity and gradient cosine compare tasks on one batch, and {resolved.data.mixing!r} "
            "batches hold one task each; run the study with --config.data.mixing=joint",
        )
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


def _median_seconds(fn, repeats=5):
    fn()  # traced and warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def train_with_predictors(resolved, tasks, every_steps, lookahead_lr, workdir, progress=None, measurement="in_step"):
    """Trains the all-task model with ``model.fit`` while measuring the predictors; returns a dict.

    ``measurement``: ``in_step`` (``train.affinity``: inside the compiled step; its cost is
    estimated as measurements x the median time of one compiled measurement on a training batch,
    timed after training) or ``host`` (the :class:`AffinityTracker` callback, timed directly).
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
    model = build_model(resolved, vocab=data.info.get("vocab"))  # (pretrained word vectors fill its rows)
    lr = float(lookahead_lr if lookahead_lr is not None else tc.learning_rate)
    train_cfg = tc.to_dict()
    if measurement == "in_step":
        train_cfg["affinity"] = {"every_steps": int(every_steps), "learning_rate": lr}
    # the trainer's step under model.fit (the config's weighting and aggregator; the in-step measurement)
    compile_model(model, tasks, train_cfg, steps_per_epoch=steps_per_epoch, seed=resolved.seed)
    if measurement == "host" and getattr(model, "_mtlzoo_fit_loop", None) is None:
        from mtlzoo.training.fit import use_fit_step

        use_fit_step(model, tasks, train_cfg, steps_per_epoch, resolved.seed)  # the same step as in_step
    input_names = list(model.input.keys()) if isinstance(model.input, dict) else [model.input.name]
    batch_fn = _batch_fn(train_split, plan, input_names, names)
    callbacks = [_epoch_progress(tc.epochs, progress)] if progress else []
    tracker = None
    if measurement == "host":
        tracker = AffinityTracker(tasks, lr, every_steps, batch_fn)
        callbacks.insert(0, tracker)
    start = time.perf_counter()
    model.fit(
        train_dataset(train_split, plan, input_names),
        epochs=tc.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # the batch plan orders the examples
        verbose=0,
    )
    seconds = time.perf_counter() - start
    metrics = evaluate_model(model, data.dataset(tc.eval_split, resolved.data.batch_size, input_names), tasks)
    if tracker is not None:
        res = tracker.result()
    else:
        import tensorflow as tf

        probe = model._mtlzoo_fit_loop.affinity
        res = probe.result()
        batch = tf.nest.map_structure(tf.convert_to_tensor, batch_fn(0))
        each = _median_seconds(lambda: probe.compute(batch))
        res["seconds"] = each * res["measurements"]
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
        "measurement": measurement,
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
    measurement="in_step",
    probes=None,
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
        measurement: ``in_step`` (inside the compiled step) or ``host`` (the reference callback).
        probes: a fraction f in (0, 1]: also the short pairwise probes (the transfer report with
            ``max(1, round(f * epochs))`` epochs, this seed) as a predictor; None: not run.

    Raises:
        ConfigError: an invalid config, fewer than 2 tasks, bad arguments, an unreadable report or one
            without the config's tasks (all before training).
    """
    from mtlzoo.analysis.grouping import best_grouping, selection_value

    say = progress or (lambda _: None)
    resolved, tasks = _check_args(config, budget, every_steps, lookahead_lr, alignment, measurement, probes)
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
    say(f"training the {k}-task model, measuring the lookahead affinity every {every_steps} steps ({measurement})")
    run = train_with_predictors(
        resolved, tasks, every_steps, lookahead_lr, workdir, progress=progress, measurement=measurement
    )
    say(
        f"trained {run['steps']} steps in {run['train_seconds']:.1f} s; {run['measurements']} measurements "
        f"took {run['predictor_seconds']:.1f} s" + (" (estimated)" if measurement == "in_step" else "")
    )
    predictors = {"lookahead": run["lookahead"], "gradient_cosine": run["gradient_cosine"]}
    probe_cost = None
    if probes is not None:
        probe_cost = run_probes(resolved, workdir, probes, alignment, progress)
        predictors["probes"] = probe_cost.pop("transfer")
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
    cost = {
        "train_seconds": run["train_seconds"],
        "predictor_seconds": run["predictor_seconds"],
        "predictor_fraction_of_training": run["predictor_seconds"]
        / max(run["train_seconds"] - run["predictor_seconds"], 1e-9),
        "measurement": measurement,
        "runs": 1,
        "pairwise_report_runs_per_seed": k + k * (k - 1) // 2,
    }
    if probe_cost is not None:
        cost["probes"] = probe_cost
    if transfer_report is not None:
        # in runs of the full number of epochs: 1 all-task run vs k + k(k-1)/2 per seed
        cost["all_task_run_epoch_fraction"] = 1 / cost["pairwise_report_runs_per_seed"]
        if probe_cost is not None:
            cost["probes"]["epoch_fraction"] = probe_cost["epochs"] / resolved.train.epochs
        total, n_runs = report_seconds(transfer_report, seeds) if seeds else (None, 0)
        if total is not None:
            per_seed = total / len(seeds)
            cost["report_seconds_per_seed"] = per_seed
            cost["report_runs"] = n_runs
            cost["all_task_run_fraction"] = run["train_seconds"] / per_seed
            if probe_cost is not None:
                cost["probes"]["fraction"] = probe_cost["seconds"] / per_seed
    result = {
        "tasks": names,
        "budget": budget,
        "every_steps": every_steps,
        "lookahead_lr": run["lookahead_lr"],
        "measurements": run["measurements"],
        "train_steps": run["steps"],
        "cost": cost,
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
        per_seed = load_transfer_seeds(transfer_report, names, alignment)
        if per_seed is not None:
            result["noise"] = transfer_noise(per_seed)
    from mtlzoo.studies.affinity_report import write_outputs

    paths = write_outputs(result, workdir)
    say(f"written: {', '.join(os.path.basename(p) for p in paths.values())}")
    return result


def run_probes(resolved, workdir, fraction, alignment, progress=None):
    """The short pairwise probes (Standley et al., ICML 2020): the transfer report of ``resolved`` with
    ``max(1, round(fraction * epochs))`` epochs, its seed only, in ``workdir/probes``.

    Returns ``{"transfer": [k, k] (row = target), "seconds", "wall_seconds", "epochs"}``: ``seconds``
    is measured as the full report's (:func:`report_seconds`: the sum of the sub-runs' training
    times), ``wall_seconds`` the call's (0 sub-runs trained when a finished report is found there).
    """
    from mtlzoo.studies.transfer import transfer_report

    epochs = max(1, int(round(fraction * resolved.train.epochs)))
    cfg = resolved.copy_and_resolve_references()
    cfg.train.epochs = epochs
    out_dir = os.path.join(workdir, "probes")
    say = progress or (lambda _: None)
    say(f"short pairwise probes: the transfer report with {epochs} of {resolved.train.epochs} epochs")
    start = time.perf_counter()
    report = transfer_report(cfg, out_dir, alignment=alignment, seeds=[int(resolved.seed)], progress=progress)
    wall = time.perf_counter() - start
    timed, _ = report_seconds(os.path.join(out_dir, "transfer.json"), [int(resolved.seed)])
    return {
        "transfer": np.asarray(report.transfer[alignment], dtype=float),
        "seconds": wall if timed is None else timed,
        "wall_seconds": wall,
        "epochs": epochs,
    }


def summarize_seeds(results):
    """Mean and sample std over seeds of every predictor's validation numbers.

    Args:
        results: ``{seed: result}`` of :func:`affinity_study` runs with a transfer report.

    Returns:
        ``{predictor: {metric: {"mean", "std", "values"}}}`` for ``spearman_directed``,
        ``spearman_pair``, ``top1_precision`` and ``grouping_measured_value`` (the measured transfer's
        objective at the predictor's recommended grouping) (std NaN for one seed; NaN values left out).
    """
    seeds = sorted(results)
    preds = list(results[seeds[0]]["validation"])
    out = {}
    for p in preds:
        out[p] = {}
        for metric in ("spearman_directed", "spearman_pair", "top1_precision", "grouping_measured_value"):
            if metric == "grouping_measured_value":
                vals = [results[s].get("groupings", {}).get(p, {}).get("measured_value", math.nan) for s in seeds]
            else:
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
