"""Input checks shared by the analysis functions: one ValueError sentence naming the problem."""

import numpy as np


def as_matrix(x, name, dim=None):
    """``x`` as a finite float64 ``[n, d]`` array with n >= 1; ValueError naming ``name`` otherwise."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric [n, d] array ({e})") from e
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [n, d] array, got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 examples)")
    if a.shape[1] == 0:
        raise ValueError(f"{name} has 0 features")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(
            f"{name} has {a.shape[1]} features but the first input has {dim}; feature dimensions must match"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def as_targets(y, n, name):
    """``y`` as a float64 ``[n, C]`` array (a 1-D ``[n]`` becomes one column)."""
    a = np.asarray(y, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be [n] or [n, C], got shape {a.shape}")
    if a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} rows but its features have {n}")
    if a.shape[1] == 0:
        raise ValueError(f"{name} has 0 columns")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def task_list(values, name, min_tasks=2):
    """A list (or a mapping's values) of per-task items with at least ``min_tasks`` entries."""
    if isinstance(values, np.ndarray) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a list with one entry per task")
    items = list(values.values()) if hasattr(values, "values") else list(values)
    if len(items) < min_tasks:
        raise ValueError(f"{name} needs at least {min_tasks} tasks (k >= {min_tasks}), got k={len(items)}")
    return items
