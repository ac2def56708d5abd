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
from mtlzoo.workdir import load_workdir, read_config

# Sources whose tasks named after GLUE's get GLUE's metrics and the GLUE average as well.
GLUE_SOURCES = ("glue_files", "glue")


def write_json(obj, path):
    """Writes ``obj`` as JSON atomically (:func:`mtlzoo.fileio.write_json`); NaN becomes null."""
    return fileio.write_json(obj, path, nan_to_null=True)


def evaluate(workdir, checkpoint=None, split="test", write=True, datasets=None):
    """Evaluates a training workdir (or zoo entry) on one split of its data.

    Rebuilds the data from ``<workdir>/config.json`` (:func:`mtlzoo.workdir.read_config`,
    :func:`mtlzoo.workdir.load_run_data`: a ``files`` run reuses the vocabularies its workdir
    saved), loads ``model.keras`` or ``checkpoint`` (see :func:`mtlzoo.workdir.load_workdir`),
    predicts and scores every task (:func:`mtlzoo.metrics.compute_metrics`). A streamed split
    (``files``, ``datasets``) is predicted batch by batch; labels, predictions and weights
    are gathered as arrays, so memory grows with the evaluated split only.

    Args:
        datasets: for a run trained on ``tf.data.Dataset``s in Python (``data.source:
            datasets``), ``{split: dataset}`` of the shared batch shape again (the workdir
            cannot hold them).

    Returns:
        ``{"split", "checkpoint", "examples", "tasks": {task: {metric: value}},
        "average": {metric: value}}``, plus for GLUE data (source ``glue_files`` or ``glue``)
        ``"glue": {"tasks": {task: {GLUE metric: value, "score": ...}}, "average": GLUE
        average}`` (:func:`mtlzoo.metrics.glue.glue_report`: Matthews corr. for CoLA, F1 and
        accuracy for MRPC/QQP, Pearson and Spearman for STS-B, accuracy otherwise); also written to ``<workdir>/eval_<split>.json``
        (atomically) when ``write``.

    Raises:
        ConfigError: missing workdir / model, a corrupt ``config.json``, unknown split, an
            empty split, a ``datasets`` run evaluated without ``datasets``, ``eval_<split>.json``
            that cannot be written (full disk, unwritable path).
    """
    return _evaluate(workdir, checkpoint, split, write, datasets)


def _evaluate(workdir, checkpoint=None, split="test", write=True, datasets=None, data=None, model=None):
    """:func:`evaluate`, with the run's data (``load_run_data`` of the workdir's config) and model
    (``model.keras`` loaded) when the caller has them already (``mtlzoo.zoo.publish``); the result
    is the same, without loading either a second time."""
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import load_run_data, model_source

    if not fileio.isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    config = read_config(workdir)  # one ConfigError naming the file when it is corrupt
    tasks = tasks_from_config(config.tasks)
    if data is None and datasets is not None:
        from mtlzoo.data.streams import datasets_data

        if not hasattr(datasets, "items") or split not in datasets:
            raise ConfigError("datasets", f"pass a mapping with the {split!r} split's tf.data.Dataset")
        data = datasets_data({"train": datasets[split], **datasets}, tasks, config)
    elif data is None:  # a bad split fails before the model loads
        needs = f"evaluate it in Python: mtlzoo.evaluate(workdir, split={split!r}, datasets={{{split!r}: ds}})"
        data = load_run_data(config, tasks, workdir, needs=needs)
    if split not in data.splits:
        raise ConfigError(None, f"--split: split {split!r} is not in the data; it has {', '.join(data.splits)}")
    s = data.splits[split]
    if len(s) == 0:
        raise ConfigError(None, f"--split: split {split!r} is empty")
    if model is None:
        model, config, source = load_workdir(workdir, checkpoint)
    else:
        source = model_source(workdir, checkpoint)
    names = list(model.input) if isinstance(model.input, dict) else []
    missing = [n for n in names if n not in s.features]
    if missing:
        raise ConfigError("data.source", f"the data has no feature {missing[0]!r} the model needs")
    if getattr(data, "streamed", False):
        labels, predictions, weights, features = _predict_stream(model, data, split, names, config.data.batch_size)
    else:
        inputs = {n: s.features[n] for n in names}
        predictions = model.predict(inputs, batch_size=config.data.batch_size, verbose=0)
        labels, weights, features = s.labels, s.weights, s.features
    result = {
        "split": split,
        "checkpoint": source if fileio.is_remote(source) else os.path.abspath(source),
        "examples": len(s),
        **compute_metrics(tasks, labels, predictions, weights, features, data.info.get("tag_vocab")),
    }
    if config.data.source in GLUE_SOURCES:
        glue = glue_report(tasks, labels, predictions, weights)
        if glue is not None:
            result["glue"] = glue
    if write:
        path = os.path.join(workdir, f"eval_{split}.json")
        try:
            write_json(result, path)  # atomic: on failure the temporary file is removed, the old file kept
        except OSError as e:  # a full disk, a read-only or unwritable workdir
            raise ConfigError(None, f"cannot write {path}: {e.strerror or e}") from e
    return result


def _predict_stream(model, data, split, input_names, batch_size):
    """Predicts a streamed split batch by batch; returns (labels, predictions, weights,
    token features) as numpy arrays over the split (features: only what the metrics read)."""
    import numpy as np

    kept = ("tokens", "padding_mask")
    parts = {"y": {}, "p": {}, "w": {}, "f": {}}
    for f, y, w in data.dataset(split, batch_size):
        out = model({n: f[n] for n in input_names}, training=False)
        for key, src in (("y", y), ("p", out), ("w", w), ("f", {k: f[k] for k in kept if k in f})):
            for k, v in src.items():
                parts[key].setdefault(k, []).append(np.asarray(v))
    joined = {key: {k: np.concatenate(v) for k, v in d.items()} for key, d in parts.items()}
    return joined["y"], joined["p"], joined["w"], joined["f"]


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
