"""The GLUE benchmark's metrics (Wang et al. 2019, Table 1) and its average score.

======  ==========================================  =====================
task    metric(s)                                   prediction
======  ==========================================  =====================
cola    Matthews correlation (``mcc``)              class (p >= 0.5)
sst2    ``accuracy``                                class
mrpc    ``f1`` (of the positive class), ``accuracy``  class
qqp     ``f1``, ``accuracy``                        class
stsb    ``pearson``, ``spearman`` correlation       score
mnli    ``accuracy`` (matched dev)                  argmax over 3 classes
qnli    ``accuracy``                                class
rte     ``accuracy``                                class
wnli    ``accuracy``                                class
======  ==========================================  =====================

A task's score is the mean of its metrics; the GLUE average is the mean of the task
scores (as on the GLUE leaderboard, which shows them x 100). Closed forms, numpy only:

* MCC = (TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN)), 0 when a factor is 0
  (scikit-learn's convention);
* F1 = 2 TP / (2 TP + FP + FN), 0 when there is no positive label or prediction;
* Pearson r = cov(y, p) / (sd(y) sd(p)); Spearman rho = Pearson r of the ranks (ties get
  their average rank). NaN when either side is constant.

Example:
    >>> m = task_metrics("mrpc", [1, 0, 1, 1], [0.9, 0.2, 0.4, 0.8])
    >>> m                          # {'f1': 0.8, 'accuracy': 0.75}
    >>> glue_average({"mrpc": m, "cola": task_metrics("cola", [1, 0], [0.7, 0.1])})   # 0.8875
"""

import numpy as np

GLUE_METRICS = {
    "cola": ("mcc",),
    "sst2": ("accuracy",),
    "mrpc": ("f1", "accuracy"),
    "qqp": ("f1", "accuracy"),
    "stsb": ("pearson", "spearman"),
    "mnli": ("accuracy",),
    "qnli": ("accuracy",),
    "rte": ("accuracy",),
    "wnli": ("accuracy",),
}


def matthews_corrcoef(y, p):
    """Matthews correlation of binary labels ``y`` and predictions ``p`` (0/1 arrays)."""
    y, p = np.asarray(y).astype(bool), np.asarray(p).astype(bool)
    tp, tn = float(np.sum(y & p)), float(np.sum(~y & ~p))
    fp, fn = float(np.sum(~y & p)), float(np.sum(y & ~p))
    den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return 0.0 if den == 0 else (tp * tn - fp * fn) / np.sqrt(den)


def f1_score(y, p):
    """F1 of the positive class of binary labels ``y`` and predictions ``p``."""
    y, p = np.asarray(y).astype(bool), np.asarray(p).astype(bool)
    tp = float(np.sum(y & p))
    den = 2 * tp + float(np.sum(~y & p)) + float(np.sum(y & ~p))
    return 0.0 if den == 0 else 2 * tp / den


def pearson(y, p):
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    dy, dp = y - y.mean(), p - p.mean()
    den = np.sqrt(np.sum(dy * dy) * np.sum(dp * dp))
    return float("nan") if den == 0 else float(np.sum(dy * dp) / den)


def average_ranks(x):
    """1-based ranks of ``x``, ties sharing their average rank."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind="stable")
    sx = x[order]
    starts = np.flatnonzero(np.r_[True, sx[1:] != sx[:-1]])
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + 1 + b) / 2.0
    return ranks


def spearman(y, p):
    return pearson(average_ranks(y), average_ranks(p))


def task_metrics(task, y_true, y_pred, weights=None):
    """The GLUE metrics of ``task`` (a key of ``GLUE_METRICS``).

    ``y_pred``: binary tasks a probability of class 1 (``[n]`` or ``[n, 1]``; class =
    ``p >= 0.5``), a 0/1 class, or the two class scores of a softmax head (``[n, 2]``,
    argmax); ``mnli`` class scores ``[n, 3]`` (argmax) or class ids
    ``[n]``; ``stsb`` the predicted score. ``weights``: examples of weight 0 are left out
    (labels of another task in a multi-task batch).
    """
    if task not in GLUE_METRICS:
        raise ValueError(f"unknown GLUE task {task!r}; choose from {', '.join(GLUE_METRICS)}")
    y, p = np.asarray(y_true), np.asarray(y_pred)
    if weights is not None:
        keep = np.asarray(weights).reshape(-1) > 0
        y, p = y[keep], p[keep]
    if task == "stsb":
        y, p = y.reshape(len(y), -1)[:, 0], p.reshape(len(p), -1)[:, 0]
        return {"pearson": pearson(y, p), "spearman": spearman(y, p)}
    if p.ndim == 2 and p.shape[1] > 1:  # class scores (mnli; a binary task with a 2-way softmax head)
        cls = np.argmax(p, axis=-1)
    elif task == "mnli":
        cls = p.reshape(-1).astype(int)
    else:
        cls = (p.reshape(-1) >= 0.5).astype(int)
    y = y.reshape(-1).astype(int)
    out = {}
    for name in GLUE_METRICS[task]:
        if name == "accuracy":
            out[name] = float(np.mean(cls == y)) if len(y) else float("nan")
        elif name == "f1":
            out[name] = f1_score(y, cls)
        else:
            out[name] = matthews_corrcoef(y, cls)
    return out


def task_score(task, metrics):
    """A task's GLUE score: the mean of its metrics."""
    return float(np.mean([metrics[m] for m in GLUE_METRICS[task]]))


def glue_average(per_task):
    """The GLUE average: mean over tasks of :func:`task_score`. ``per_task``: ``{task: metrics}``."""
    if not per_task:
        raise ValueError("glue_average needs at least one task")
    return float(np.mean([task_score(t, m) for t, m in per_task.items()]))


# The task kinds GLUE's metrics assume (a task of the same name but another kind is not GLUE's).
GLUE_KINDS = {t: ("regression" if t == "stsb" else "multiclass" if t == "mnli" else "binary") for t in GLUE_METRICS}


def is_glue_task(spec):
    """True when a TaskSpec is one of GLUE's tasks by name and of the kind GLUE gives it."""
    return GLUE_KINDS.get(spec.name) == spec.kind


def glue_report(tasks, labels, predictions, weights=None):
    """GLUE metrics of every GLUE task among ``tasks`` and their GLUE average.

    Returns ``{"tasks": {task: {metric: value, "score": task score}}, "average": GLUE average}``
    over the tasks for which :func:`is_glue_task` holds, or None if there are none.
    ``labels`` / ``predictions`` / ``weights``: ``{task: array}`` in the one batch shape
    (weight 0 = an example of another task, left out).
    """
    per_task = {}
    for t in tasks:
        if is_glue_task(t):
            w = None if weights is None else weights.get(t.name)
            per_task[t.name] = task_metrics(t.name, labels[t.name], predictions[t.name], w)
    if not per_task:
        return None
    return {
        "tasks": {t: {**m, "score": task_score(t, m)} for t, m in per_task.items()},
        "average": glue_average(per_task),
    }
