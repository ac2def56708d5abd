"""Cross-task overlap: evaluation examples of one task whose input is a training input of another.

With heterogeneous data (every example belongs to one task, ``task_id``), a multi-task model
sees every task's training inputs. If task j's training split holds the very inputs of task
i's evaluation split (e.g. SST-2 is built from the Rotten Tomatoes snippets of MR), a part of
task i's multi-task gain is memorisation rather than transfer. ``overlap[i, j]`` counts the
evaluation examples of task i whose feature row (all input arrays but ``task_id``, byte for
byte) equals some training row of task j; the diagonal is the usual train/test duplication.

Example:
    >>> data = load_data(cfg, tasks)
    >>> m = cross_task_overlap(data, [t.name for t in tasks])   # [k, k] counts
"""

import numpy as np


def _rows(split, tid):
    keys = sorted(k for k in split.features if k != "task_id")
    ids = np.asarray(split.features["task_id"])
    out = []
    for i in range(len(tid)):
        mine = np.flatnonzero(ids == i)
        out.append([b"".join(np.asarray(split.features[k][r]).tobytes() for k in keys) for r in mine])
    return out


def cross_task_overlap(data, tasks, eval_split="test", train_split="train"):
    """``[k, k]`` int array: eval examples of task i (row) found among task j's (column) training inputs.

    Also returns the eval example count per task: ``(overlap, eval_counts)``.
    """
    if "task_id" not in data.split(eval_split).features:
        raise ValueError("cross_task_overlap needs heterogeneous data (a task_id feature)")
    ev = _rows(data.split(eval_split), tasks)
    tr = [set(r) for r in _rows(data.split(train_split), tasks)]
    k = len(tasks)
    overlap = np.zeros((k, k), np.int64)
    for i in range(k):
        for j in range(k):
            overlap[i, j] = sum(r in tr[j] for r in ev[i])
    return overlap, np.asarray([len(r) for r in ev], np.int64)


def overlap_markdown(overlap, counts, tasks, eval_split="test"):
    """Markdown table of :func:`cross_task_overlap` (row = evaluated task, column = training task)."""
    lines = [
        f"| {eval_split} of \\ train of | " + " | ".join(tasks) + f" | {eval_split} examples |",
        "|---|" + "---:|" * (len(tasks) + 1),
    ]
    for i, t in enumerate(tasks):
        lines.append(f"| {t} | " + " | ".join(str(int(v)) for v in overlap[i]) + f" | {int(counts[i])} |")
    return "\n".join(lines) + "\n"


__all__ = ["cross_task_overlap", "overlap_markdown"]
