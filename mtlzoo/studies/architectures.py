"""Multi-task architectures compared on one config, averaged over seeds.

Each (architecture, seed) is one run of the same config with only ``model.architecture``
and ``seed`` changed (shared bottom, MMoE, PLE, cross-stitch, ...: :mod:`mtlzoo.models`).
A run trains in ``<workdir>/<architecture>/seed<seed>`` through
:func:`mtlzoo.training.train`; a finished run (its ``metrics.json`` exists) is read back
(:func:`mtlzoo.studies.common.train_or_load`), so rerunning resumes. Next to it the run
keeps ``params.json`` (trainable parameters) and ``architecture_statistics.json`` (mean
gate weights or cross-stitch alphas on the evaluation split,
:func:`mtlzoo.models.soft_sharing.architecture_statistics`). The table
(``<workdir>/architectures.md``) gives per task the mean ± sample standard deviation over
seeds of one metric of ``metrics.json`` (:func:`mtlzoo.studies.common.mean_std`).

Example:
    >>> table = compare_architectures("configs/compare_architectures.py", "/tmp/archs",
    ...                               ["shared_bottom", "mmoe"], seeds=[0, 1], epochs=2)
"""

import inspect
import os

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json, write_text
from mtlzoo.studies.common import Progress, markdown_table, mean_std, pm, read_json, train_or_load

DEFAULT_ARCHITECTURES = ("shared_bottom", "mmoe", "ple", "cross_stitch")


def load_config(path, architecture):
    """The run config of ``architecture``: the file's ``get_config(architecture)``, or its
    ``get_config()`` with ``model.architecture`` set."""
    from mtlzoo.config import load_config_module

    module = load_config_module(path)
    takes_arg = bool(inspect.signature(module.get_config).parameters)
    cfg = module.get_config(architecture) if takes_arg else module.get_config()
    cfg.model.architecture = architecture
    return cfg


def markdown(results, tasks, metric, seeds):
    """``results``: {arch: {"metrics": [per-seed metrics.json], "params": int}} -> Markdown table."""
    head = ["architecture", "params", *[f"{t} {metric}" for t in tasks], f"mean {metric}"]
    rows = []
    for arch, r in results.items():
        cells = [f"`{arch}`", str(r["params"])]
        for t in tasks:
            cells.append(pm(*mean_std([m[t][metric] for m in r["metrics"]]), digits=4))
        cells.append(pm(*mean_std([sum(m[t][metric] for t in tasks) / len(tasks) for m in r["metrics"]]), digits=4))
        rows.append(cells)
    lines = markdown_table(head, rows)
    lines += ["", f"Mean ± sample standard deviation over seeds {', '.join(map(str, seeds))}."]
    return "\n".join(lines) + "\n"


def _record_run(model, cfg, run_dir):
    """Writes ``architecture_statistics.json`` and ``params.json`` of a freshly trained run."""
    import numpy as np

    from mtlzoo.data import load_data
    from mtlzoo.models.soft_sharing import architecture_statistics
    from mtlzoo.tasks import tasks_from_config

    split = load_data(cfg, tasks_from_config(cfg.tasks)).split(cfg.train.eval_split)
    inputs = {k: split.features[k] for k in (model.input if isinstance(model.input, dict) else {})}
    write_json(architecture_statistics(model, inputs), os.path.join(run_dir, "architecture_statistics.json"))
    params = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    write_json({"trainable_params": params}, os.path.join(run_dir, "params.json"))


def compare_architectures(
    config_path,
    workdir,
    architectures=DEFAULT_ARCHITECTURES,
    seeds=(0, 1, 2),
    metric="accuracy",
    epochs=None,
    progress=print,
    train_fn=None,
):
    """Trains (or reads back) every (architecture, seed) and writes ``<workdir>/architectures.md``.

    Args:
        config_path: config file with ``get_config(architecture)`` or ``get_config()``.
        architectures: names of :data:`mtlzoo.models.ARCHITECTURES`.
        seeds: ``config.seed`` of each run (initialisation, data split, label drops).
        metric: the key of each task's entry in ``metrics.json`` reported in the table.
        epochs: overrides ``train.epochs`` when set.
        progress: called with the progress lines (:class:`mtlzoo.studies.common.Progress`; None for silence).
        train_fn: ``train(config, workdir)`` (default :func:`mtlzoo.training.train`).

    Returns:
        the Markdown table (also written to ``<workdir>/architectures.md``).

    Raises:
        ConfigError: an unknown architecture, a bad config (every config is resolved before
            any training) or a metric a task lacks.
    """
    from mtlzoo.config import resolve_config
    from mtlzoo.models import ARCHITECTURES

    if not architectures:
        raise ConfigError(None, "--architectures must not be empty")
    for arch in architectures:
        if arch not in ARCHITECTURES.names():
            raise ConfigError(
                None, f"--architectures: unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES.names())}"
            )
    configs = {}
    for arch in architectures:
        cfg = load_config(config_path, arch)
        if epochs:
            cfg.train.epochs = epochs
        configs[arch] = resolve_config(cfg)  # every config checked before any training
    results, tasks = {}, None
    prog, i = Progress(len(configs) * len(seeds), progress), 0
    for arch, base in configs.items():
        results[arch] = {"metrics": [], "params": None}
        for seed in seeds:
            cfg = base.copy_and_resolve_references()
            cfg.seed = seed
            run_dir = os.path.join(workdir, arch, f"seed{seed}")
            i += 1
            what = f"{arch} seed {seed}"
            metrics, model, status = train_or_load(
                cfg, run_dir, train_fn, starting=lambda i=i, w=what, d=run_dir: prog.start(i, w, f"training -> {d}")
            )
            prog.done(i, what, status)
            if model is not None:  # trained just now
                _record_run(model, cfg, run_dir)
            params = read_json(os.path.join(run_dir, "params.json")) or {}
            results[arch]["params"] = params.get("trainable_params", "n/a")
            tasks = list(cfg.tasks)
            for t in tasks:
                if metric not in metrics[t]:
                    raise ConfigError(None, f"--metric: task {t} has no {metric!r} (it has {', '.join(metrics[t])})")
            results[arch]["metrics"].append(metrics)
    table = markdown(results, tasks, metric, list(seeds))
    write_text(table, os.path.join(workdir, "architectures.md"))
    return table
