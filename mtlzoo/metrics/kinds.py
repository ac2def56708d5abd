"""Per-task metrics by task kind (scikit-learn / scipy), on arrays of one split.

Metrics by task kind (``p``: the model's output; a binary / multilabel prediction is
``p >= 0.5``, a multiclass / tagging one is ``argmax p``):

============  ================================================================
binary        ``accuracy``, ``f1`` (of class 1), ``auc`` (ROC), ``mcc`` (Matthews)
multiclass    ``accuracy``, ``macro_f1``, ``mcc``
multilabel    ``micro_f1``, ``macro_f1``, ``mean_auc`` (over labels with both classes)
regression    ``mse``, ``mae`` (mean over outputs), ``pearson``, ``spearman``
              (correlation per output, then the mean)
tagging       ``token_accuracy`` over non-padding tokens
============  ================================================================

Sample weights: an example of weight 0 has no label (or belongs to another task)
and is left out; other weights scale its contribution to accuracy, F1, AUC, MCC,
MSE, MAE and token accuracy. Pearson and Spearman use the labelled examples
unweighted (scipy's estimators). A metric that is undefined (AUC with one class
present, a correlation of a constant) is NaN in memory and ``null`` in JSON.
``average`` is, per metric name, the mean over the tasks that report it.

A tagging task whose tag vocabulary is IOB also gets conlleval chunk scores
(:mod:`mtlzoo.metrics.tagging`) in :func:`compute_metrics`.

Example:
    >>> import numpy as np
    >>> from mtlzoo.tasks import TaskSpec
    >>> task_metrics(TaskSpec("y", "binary"), np.array([[1], [0], [1]]), np.array([[0.9], [0.2], [0.4]]))
    {'accuracy': 0.666..., 'f1': 0.666..., 'auc': 1.0, 'mcc': 0.5, 'examples': 3}
"""

import math

import numpy as np

from mtlzoo.metrics.tagging import is_iob, tagging_scores

METRIC_NAMES = {
    "binary": ("accuracy", "f1", "auc", "mcc"),
    "multiclass": ("accuracy", "macro_f1", "mcc"),
    "multilabel": ("micro_f1", "macro_f1", "mean_auc"),
    "regression": ("mse", "mae", "pearson", "spearman"),
    "tagging": ("token_accuracy",),
}


def _auc(y, p, w):
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, p, sample_weight=w))


def _corr(fn, y, p):
    if len(y) < 2 or np.all(y == y[0]) or np.all(p == p[0]):
        return float("nan")
    return float(fn(y, p)[0])


def task_metrics(spec, y_true, y_prob, weights=None, token_mask=None):
    """Metrics of one task (see the module doc) on arrays of one split.

    Args:
        spec: the task's :class:`~mtlzoo.tasks.TaskSpec`.
        y_true: labels in the batch shape of the kind (binary ``[N, 1]``, multiclass
            ``[N]``, multilabel / regression ``[N, C]``, tagging ``[N, T]``).
        y_prob: the model's output for the task (``[N, 1]``, ``[N, C]`` or ``[N, T, C]``).
        weights: ``[N]`` sample weights; 0 = no label. None = all 1.
        token_mask: tagging only, ``[N, T]`` true at real (non-padding) tokens.

    Returns:
        ``{metric: float}`` plus ``examples`` (labelled examples; tokens for tagging).
    """
    import warnings

    with warnings.catch_warnings():  # e.g. sklearn on a split where one class is absent: handled as NaN / 0
        warnings.simplefilter("ignore", UserWarning)
        return _task_metrics(spec, y_true, y_prob, weights, token_mask)


def _task_metrics(spec, y_true, y_prob, weights, token_mask):
    from scipy import stats
    from sklearn import metrics as skm

    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob, dtype=np.float64)
    n = len(y_true)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).reshape(n)
    keep = w > 0
    nan = {m: float("nan") for m in METRIC_NAMES[spec.kind]}
    if spec.kind == "tagging":
        mask = np.ones(y_true.shape, bool) if token_mask is None else np.asarray(token_mask, bool)
        tw = w[:, None] * mask
        total = tw.sum()
        if total <= 0:
            return {**nan, "examples": 0}
        correct = (np.argmax(y_prob, axis=-1) == y_true) * tw
        return {"token_accuracy": float(correct.sum() / total), "examples": int((tw > 0).sum())}
    y_true, y_prob, w = y_true[keep], y_prob[keep], w[keep]
    if len(y_true) == 0:
        return {**nan, "examples": 0}
    out = {}
    if spec.kind == "binary":
        y = y_true.reshape(-1).astype(int)
        p = y_prob.reshape(-1)
        pred = (p >= 0.5).astype(int)
        out["accuracy"] = float(skm.accuracy_score(y, pred, sample_weight=w))
        out["f1"] = float(skm.f1_score(y, pred, sample_weight=w, zero_division=0))
        out["auc"] = _auc(y, p, w)
        out["mcc"] = float(skm.matthews_corrcoef(y, pred, sample_weight=w))
    elif spec.kind == "multiclass":
        y = y_true.reshape(-1).astype(int)
        pred = np.argmax(y_prob, axis=-1)
        out["accuracy"] = float(skm.accuracy_score(y, pred, sample_weight=w))
        out["macro_f1"] = float(skm.f1_score(y, pred, average="macro", sample_weight=w, zero_division=0))
        out["mcc"] = float(skm.matthews_corrcoef(y, pred, sample_weight=w))
    elif spec.kind == "multilabel":
        y = y_true.astype(int)
        pred = (y_prob >= 0.5).astype(int)
        out["micro_f1"] = float(skm.f1_score(y, pred, average="micro", sample_weight=w, zero_division=0))
        out["macro_f1"] = float(skm.f1_score(y, pred, average="macro", sample_weight=w, zero_division=0))
        aucs = [_auc(y[:, j], y_prob[:, j], w) for j in range(y.shape[1])]
        aucs = [a for a in aucs if not math.isnan(a)]
        out["mean_auc"] = float(np.mean(aucs)) if aucs else float("nan")
    elif spec.kind == "regression":
        y = y_true.reshape(len(y_true), -1).astype(np.float64)
        p = y_prob.reshape(len(y_prob), -1)
        out["mse"] = float(skm.mean_squared_error(y, p, sample_weight=w))
        out["mae"] = float(skm.mean_absolute_error(y, p, sample_weight=w))
        for name, fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
            vals = [_corr(fn, y[:, j], p[:, j]) for j in range(y.shape[1])]
            vals = [v for v in vals if not math.isnan(v)]
            out[name] = float(np.mean(vals)) if vals else float("nan")
    out["examples"] = int(len(y_true))
    return out


def average_metrics(per_task):
    """Per metric name, the mean over tasks that report a finite value (``examples`` excluded)."""
    names = sorted({m for r in per_task.values() for m in r if m != "examples"})
    avg = {}
    for m in names:
        vals = [r[m] for r in per_task.values() if m in r and not math.isnan(r[m])]
        avg[m] = float(np.mean(vals)) if vals else float("nan")
    return avg


def token_mask_of(features):
    """``[N, T]`` bool, true at real tokens: ``tokens != 0`` or BERT's ``padding_mask``; None if neither."""
    if "tokens" in features:
        return np.asarray(features["tokens"]) != 0
    if "padding_mask" in features:
        return np.asarray(features["padding_mask"]) != 0
    return None


def compute_metrics(tasks, labels, predictions, weights, features=None, tag_vocab=None):
    """Metrics of every task and their average: ``{"tasks": {task: {...}}, "average": {...}}``.

    ``tag_vocab`` (``{task: [tag by id]}``, a tagging source's ``info["tag_vocab"]``): a tagging
    task whose tags are IOB (``B-X`` / ``I-X`` / ``O``) also gets conlleval chunk scores
    ``chunk_precision``, ``chunk_recall`` and ``chunk_f1 = 2 P R / (P + R)``
    (:func:`mtlzoo.metrics.tagging.tagging_scores`).
    """
    mask = token_mask_of(features or {})
    per_task = {
        t.name: task_metrics(
            t, labels[t.name], predictions[t.name], weights.get(t.name), mask if t.is_sequence else None
        )
        for t in tasks
    }
    if tag_vocab and mask is not None:
        for t in tasks:
            if t.is_sequence and is_iob(tag_vocab.get(t.name, ())):
                sc = tagging_scores({t.name: labels[t.name]}, {t.name: predictions[t.name]}, mask, tag_vocab)[t.name]
                per_task[t.name].update({f"chunk_{k}": float(sc[k]) for k in ("precision", "recall", "f1")})
    return {"tasks": per_task, "average": average_metrics(per_task)}
