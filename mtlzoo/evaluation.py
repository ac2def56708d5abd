"""Scoring a training workdir (or zoo entry) on one split of its data: ``evaluate(workdir)``.

The metrics themselves (by task kind, conlleval chunk scores for IOB tags, the average
over tasks) are :mod:`mtlzoo.metrics`; their names are re-exported here.

Example:
    >>> result = evaluate("/tmp/mtlzoo_quickstart", split="test")
    >>> result["tasks"]["digit"]["accuracy"]
    0.93...
"""

import os

from mtlzoo import fileio
from mtlzoo.errors import ConfigError
from mtlzoo.metrics import METRIC_NAMES, average_metrics, compute_metrics, task_metrics, token_mask_of
from mtlzoo.workdir import load_workdir, read_config


def write_json(obj, path):
    """Writes ``obj`` as JSON atomically (:func:`mtlzoo.fileio.write_json`); NaN becomes null."""
    return fileio.write_json(obj, path, nan_to_null=True)


def evaluate(workdir, checkpoint=None, split="test", write=True):
    """Evaluates a training workdir (or zoo entry) on one split of its data.

    Rebuilds the data from ``<workdir>/config.json`` (:func:`mtlzoo.workdir.read_config`,
    :func:`mtlzoo.data.load_data`), loads ``model.keras`` or ``checkpoint`` (see
    :func:`mtlzoo.workdir.load_workdir`), predicts and scores every task
    (:func:`mtlzoo.metrics.compute_metrics`).

    Returns:
        ``{"split", "checkpoint", "examples", "tasks": {task: {metric: value}},
        "average": {metric: value}}``; also written to ``<workdir>/eval_<split>.json``
        (atomically) when ``write``.

    Raises:
        ConfigError: missing workdir / model, a corrupt ``config.json``, unknown split, an
            empty split, ``eval_<split>.json`` that cannot be written (full disk, unwritable path).
    """
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    if not fileio.isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    config = read_config(workdir)  # one ConfigError naming the file when it is corrupt
    tasks = tasks_from_config(config.tasks)
    data = load_data(config, tasks)  # a bad split fails before the model loads
    if split not in data.splits:
        raise ConfigError(None, f"--split: split {split!r} is not in the data; it has {', '.join(data.splits)}")
    s = data.splits[split]
    if len(s) == 0:
        raise ConfigError(None, f"--split: split {split!r} is empty")
    model, config, source = load_workdir(workdir, checkpoint)
    names = list(model.input) if isinstance(model.input, dict) else []
    missing = [n for n in names if n not in s.features]
    if missing:
        raise ConfigError("data.source", f"the data has no feature {missing[0]!r} the model needs")
    inputs = {n: s.features[n] for n in names}
    predictions = model.predict(inputs, batch_size=config.data.batch_size, verbose=0)
    result = {
        "split": split,
        "checkpoint": source if fileio.is_remote(source) else os.path.abspath(source),
        "examples": len(s),
        **compute_metrics(tasks, s.labels, predictions, s.weights, s.features, data.info.get("tag_vocab")),
    }
    if write:
        path = os.path.join(workdir, f"eval_{split}.json")
        try:
            write_json(result, path)  # atomic: on failure the temporary file is removed, the old file kept
        except OSError as e:  # a full disk, a read-only or unwritable workdir
            raise ConfigError(None, f"cannot write {path}: {e.strerror or e}") from e
    return result


def format_table(result):
    """The evaluation as a plain-text table: one row per task and an ``average`` row."""
    from mtlzoo.training import format_metrics_table

    rows = {t: {k: v for k, v in m.items() if k != "examples"} for t, m in result["tasks"].items()}
    rows["average"] = result["average"]
    return format_metrics_table(rows, title=f"evaluation ({result['split']} split, {result['examples']} examples)")


__all__ = [
    "METRIC_NAMES",
    "average_metrics",
    "compute_metrics",
    "evaluate",
    "format_table",
    "task_metrics",
    "token_mask_of",
    "write_json",
]
