"""SVD-based task reweighting (Wu, Zhang & Ré, ICLR 2020, Algorithm 2), as a pure function.

Given the representation X of the training data (the shared module's output, or raw
features for a linear model) and each task's labels y_i::

    theta_i = X^T y_i                                    (d x C_i)
    Theta   = [theta_1 .. theta_k]  ~  U_r D_r V_r^T     (rank-r SVD, U_r: d x r)
    alpha_i = ||U_r^T theta_i||_F
    alpha  <- alpha * k / sum(alpha)                     (weights average 1)

Tasks whose label vectors lie in the dominant r-dimensional subspace shared by the
tasks get larger weights; a task pointing away from it (an outlier, or noise) gets a
smaller one. The weighting layer that holds alpha and the cadence at which it is
recomputed live in ``mtlzoo.weighting``; this module is only the math.

Labels:
    * ``[n]`` float/bool (regression, binary): one column, theta_i is ``d x 1``.
    * ``[n, C]``: used as given (multi-output regression, multilabel 0/1, one-hot).
    * ``[n]`` integer class ids with ``num_classes[i] = C`` given: one-hot encoded to
      ``[n, C]`` (multiclass), so theta_i is the ``d x C`` matrix of per-class sums
      ``sum_{j: y_j = c} x_j`` and alpha_i is the Frobenius norm of its projection.
      Every class column enters the SVD of Theta as its own column.
    * Sequence (tagging) data: flatten to one row per real token first.

Missing labels: ``weights[i]`` (``[n]``, as the project's sample weights) gives each
example's weight; theta_i = X^T diag(w_i) y_i over the rows with ``w > 0`` only, so
placeholder labels at weight 0 (even NaN) never enter. A task with no labelled row
is an error.

theta_i is a sum, not a mean, as in the paper: a task with more labelled examples has
a proportionally longer theta_i.

Centred labels (``center=True``, not in the paper): each label column is centred over the
task's labelled examples before the product::

    theta_i = X^T diag(w_i) (Y_i - 1 m_i^T),   m_i = sum_j w_ij Y_ij / sum_j w_ij

(m_i: the weighted column means over the rows with ``w > 0``; a one-hot multiclass column is
centred like any other). Equivalently X is centred by the same weighted mean. With 0/1 labels
and a non-negative (ReLU) representation the uncentred theta_i is dominated by the sum of the
positives' representations, so alpha mostly counts positives; centring removes that part and
keeps only how the labels co-vary with the representation.

Normalised labels (``normalize=True``, not in the paper): each label column is divided by its
weighted standard deviation s_ic over the task's labelled examples (after centring when
``center=True`` too)::

    theta_i = X^T diag(w_i) (Y_i - 1 m_i^T) S_i^{-1},   S_i = diag(s_i1 .. s_iC)

so a task's length in the SVD no longer grows with its label scale, e.g. with the positive
rate p of a 0/1 label (s = sqrt(p (1 - p))). Centred and normalised, theta_i / n_i is the
vector of covariances of each representation dimension with the standardised label. A
column with s = 0 (constant over the labelled rows) is left undivided.
"""

import numpy as np

from mtlzoo.analysis._checks import as_matrix, task_list


def _labels_matrix(y, n, num_classes, name):
    a = np.asarray(y)
    if a.ndim == 0:
        raise ValueError(f"{name} must be [n] or [n, C], got a scalar")
    if a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} rows but the features have {n}")
    if num_classes is not None:
        c = int(num_classes)
        if c < 2:
            raise ValueError(f"num_classes for {name} must be >= 2, got {num_classes}")
        if a.ndim != 1:
            raise ValueError(f"{name}: class ids must be [n] when num_classes is given, got shape {a.shape}")
        return a, c
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"{name} must be [n] or [n, C], got shape {a.shape}")
    return a, None


def task_vectors(x, labels, weights=None, num_classes=None, center=False, normalize=False):
    """``theta_i = X_i^T diag(w_i) Y_i`` for every task (step 1 of Algorithm 2).

    With ``center=True``, ``theta_i = X_i^T diag(w_i) (Y_i - 1 m_i^T)`` with ``m_i`` the
    weighted mean of each label column over the task's labelled rows (module docstring).

    Args:
        x: shared representation ``[n, d]``, or a list of k per-task arrays ``[n_i, d]``.
        labels: list of k label arrays (``[n]``, ``[n, C]`` or class ids), or a mapping
            task name -> labels (order kept).
        weights: optional list/mapping of k ``[n]`` sample weights; 0 = missing label.
        num_classes: optional list/mapping of k entries: an int C for tasks whose labels are
            class ids to one-hot encode, None for labels used as given.
        center: centre each label column over the task's labelled examples first.
        normalize: divide each label column by its weighted standard deviation over the
            task's labelled examples (module docstring).

    Returns:
        list of k float64 arrays ``[d, C_i]``.

    Raises:
        ValueError: k < 2, mismatched rows or feature dimensions, empty task data, a task
            with no labelled example, non-finite values, class ids out of range.
    """
    ys = task_list(labels, "labels")
    k = len(ys)
    ws = [None] * k if weights is None else task_list(weights, "weights")
    cs = [None] * k if num_classes is None else task_list(num_classes, "num_classes")
    for name, seq in (("weights", ws), ("num_classes", cs)):
        if len(seq) != k:
            raise ValueError(f"{name} has {len(seq)} entries but labels has {k} tasks")

    if isinstance(x, (list, tuple)):
        if len(x) != k:
            raise ValueError(f"x has {len(x)} per-task arrays but labels has {k} tasks")
        first = as_matrix(x[0], "x[0]")
        xs = [first] + [as_matrix(xi, f"x[{i}]", dim=first.shape[1]) for i, xi in enumerate(x[1:], 1)]
    else:
        xs = [as_matrix(x, "x")] * k

    thetas = []
    for i, (xi, yi, wi, ci) in enumerate(zip(xs, ys, ws, cs, strict=True)):
        n = xi.shape[0]
        y, c = _labels_matrix(yi, n, ci, f"labels[{i}]")
        if wi is None:
            w = np.ones(n)
        else:
            w = np.asarray(wi, dtype=np.float64).reshape(-1)
            if w.shape[0] != n:
                raise ValueError(f"weights[{i}] has {w.shape[0]} entries but the features have {n} rows")
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"weights[{i}] must be finite and >= 0")
        keep = w > 0
        if not keep.any():
            raise ValueError(f"task {i} has no labelled examples (all weights are 0)")
        y = y[keep]
        if c is not None:
            ids = y.astype(np.int64)
            if np.any(ids != y) or ids.min() < 0 or ids.max() >= c:
                raise ValueError(f"labels[{i}] must be integer class ids in [0, {c}) when num_classes={c}")
            y = np.eye(c)[ids]
        y = y.astype(np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError(f"labels[{i}] has NaN or infinite values at examples with weight > 0")
        wk = w[keep][:, None]
        mean = (wk * y).sum(axis=0) / wk.sum()
        if normalize:
            sd = np.sqrt((wk * (y - mean) ** 2).sum(axis=0) / wk.sum())
        if center:
            y = y - mean
        if normalize:
            y = y / np.where(sd > 0, sd, 1.0)
        thetas.append(xi[keep].T @ (wk * y))
    return thetas


def svd_task_weights(x, labels, rank, weights=None, num_classes=None, center=False, normalize=False):
    """Task weights alpha of Algorithm 2 (SVD-based task reweighting), averaging 1.

    Args:
        x: shared representation ``[n, d]`` (every example may carry every task's label),
            or a list of k per-task arrays ``[n_i, d]``.
        labels: list (or mapping) of k label arrays; see the module docstring.
        rank: r, the rank of the SVD of ``[theta_1 .. theta_k]``; ``1 <= r <= k`` and ``r <= d``.
        weights: optional per-task sample weights (0 = missing label, excluded).
        num_classes: optional per-task class counts for labels given as class ids.
        center: use centred labels, ``theta_i = X^T diag(w_i) (Y_i - 1 m_i^T)`` (module
            docstring); False is Algorithm 2 as written.
        normalize: divide each label column by its weighted standard deviation (module
            docstring); False is Algorithm 2 as written.

    Returns:
        float64 ``[k]`` array alpha with ``alpha.mean() == 1`` (a dict name -> alpha when
        ``labels`` is a mapping).

    Raises:
        ValueError: k < 2, rank outside [1, k] or above d, mismatched dimensions, empty
            task data, all task vectors zero.

    Example:
        >>> x = np.random.randn(100, 8)
        >>> ys = [x @ np.ones(8), x @ np.ones(8) + 0.1, np.random.randn(100)]
        >>> svd_task_weights(x, ys, rank=1)    # the third (unrelated) task gets the smallest weight
    """
    thetas = task_vectors(x, labels, weights, num_classes, center=center, normalize=normalize)
    k = len(thetas)
    d = thetas[0].shape[0]
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise ValueError(f"rank must be an integer, got {rank!r}")
    if not 1 <= rank <= k:
        raise ValueError(f"rank must be between 1 and the number of tasks k={k}, got {rank}")
    if rank > d:
        raise ValueError(f"rank {rank} exceeds the feature dimension d={d}")
    big = np.hstack(thetas)
    if not np.any(big):
        what = "X^T (y_i - mean y_i)" if center else "X^T y_i"
        raise ValueError(f"all task vectors theta_i = {what} are zero; the weights are undefined")
    u, _, _ = np.linalg.svd(big, full_matrices=False)
    ur = u[:, :rank]
    alpha = np.array([np.linalg.norm(ur.T @ t) for t in thetas])
    alpha = alpha * k / alpha.sum()
    if hasattr(labels, "keys"):
        return dict(zip(labels.keys(), alpha, strict=True))
    return alpha
