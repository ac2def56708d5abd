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
from mtlzoo.metrics.glue import glue_report
from mtlzoo.workdir import load_workdir

# Sources whose tasks named after GLUE's get GLUE's metrics and the GLUE average as well.
GLUE_SOURCES = ("glue_files", "glue")


def write_json(obj, path):
    """Writes ``obj`` as JSON atomically (:func:`mtlzoo.fileio.write_json`); NaN becomes null."""
    return fileio.write_json(obj, path, nan_to_null=True)


def evaluate(workdir, checkpoint=None, split="test", write=True):
    """Evaluates a training workdir (or zoo entry) on one split of its data.

    Rebuilds the data from ``<workdir>/config.json`` (:func:`mtlzoo.config.read_config`,
    :func:`mtlzoo.data.load_data`), loads ``model.keras`` or ``checkpoint`` (see
    :func:`mtlzoo.workdir.load_workdir`), predicts and scores every task
    (:func:`mtlzoo.metrics.compute_metrics`).

    Returns:
        ``{"split", "checkpoint", "examples", "tasks": {task: {metric: value}},
        "average": {metric: value}}``, plus for GLUE data (source ``glue_files`` or ``glue``)
        ``"glue": {"tasks": {task: {GLUE metric: value, "score": ...}}, "average": GLUE
        average}`` (:func:`mtlzoo.metrics.glue.glue_report`: Matthews corr. for CoLA, F1 and
        accuracy for MRPC/QQP, Pearson and Spearman for STS-B, accuracy otherwise); also written to ``<workdir>/eval_<split>.json``
        (atomically) when ``write``.

    Raises:
        ConfigError: missing workdir / model, unknown split, an empty split.
    """
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    if not os.path.isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    from mtlzoo.config import read_config

    config = read_config(workdir)
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
        "checkpoint": os.path.abspath(source),
        "examples": len(s),
        **compute_metrics(tasks, s.labels, predictions, s.weights, s.features, data.info.get("tag_vocab")),
    }
    if config.data.source in GLUE_SOURCES:
        glue = glue_report(tasks, s.labels, predictions, s.weights)
        if glue is not None:
            result["glue"] = glue
    if write:
        write_json(result, os.path.join(workdir, f"eval_{split}.json"))
    return result


def format_table(result):
    """The evaluation as a plain-text table: one row per task and an ``average`` row."""
    from mtlzoo.training import format_metrics_table

    rows = {t: {k: v for k, v in m.items() if k != "examples"} for t, m in result["tasks"].items()}
    rows["average"] = result["average"]
    table = format_metrics_table(rows, title=f"evaluation ({result['split']} split, {result['examples']} examples)")
    glue = result.get("glue")
    if glue:
        table += "\n\n" + format_metrics_table(glue["tasks"], title="GLUE metrics (score = mean of a task's metrics)")
        table += f"\nGLUE average ({len(glue['tasks'])} tasks): {glue['average']:.4f}"
    return table


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
