"""Predictors of pairwise transfer from one multi-task run: lookahead affinity, gradient cosine, Eq. 5.

Every matrix here is ``k x k`` with **row = target task, column = source task**, the layout of
the pairwise transfer report (:mod:`mtlzoo.analysis.transfer`), so that a predictor and the
measured transfer can be compared entry by entry.

* **Lookahead inter-task affinity** (Fifty, Amid, Zhao, Yu, Anil & Finn, "Efficiently Identifying
  Task Groupings for Multi-Task Learning", NeurIPS 2021, Eq. 1)::

      Z_{i->j} = 1 - L_j(theta_s - lr * g_i, theta_j) / L_j(theta_s, theta_j)

  with ``g_i = d L_i / d theta_s`` the gradient of task i's loss on the shared parameters
  ``theta_s`` (one plain SGD step on task i alone, task-specific parameters unchanged), averaged
  over training. ``Z_{i->j} > 0``: a step on task i lowers task j's loss. Stored at
  ``[j, i]`` (target j, source i).
* **Gradient cosine** of the tasks' shared-parameter gradients,
  ``cos(g_i, g_j) = <g_i, g_j> / (||g_i|| ||g_j||)`` (the quantity PCGrad / gradient-vaccine
  style aggregators look at), averaged over training. Symmetric.
* **Covariance similarity** (Wu, Zhang & Ré, ICLR 2020, Eq. 5, raw and normalised) of the tasks'
  embeddings: :func:`covariance_similarities` wraps :mod:`mtlzoo.analysis.covariance`.

The functions need only numpy (and scipy for the rank correlation); the model is reached
through closures, so any framework can be plugged in (the Keras side is
:mod:`mtlzoo.training.affinity`).

Example (a linear model ``y_t = X_t w``, squared loss; the shared parameter is ``w``):
    >>> losses = lambda w: np.array([np.mean((X[t] @ w[0] - y[t]) ** 2) for t in range(k)])
    >>> grads = lambda w: [[2 * X[t].T @ (X[t] @ w[0] - y[t]) / len(y[t])] for t in range(k)]
    >>> Z = lookahead_affinity([w0], losses, grads, learning_rate=0.1)   # [target, source]
"""

import numpy as np

from mtlzoo.analysis._checks import task_list


def _structure(theta):
    """``theta`` as a list of float64 arrays (a single array becomes a one-element list)."""
    if isinstance(theta, np.ndarray) or np.isscalar(theta):
        return [np.asarray(theta, dtype=np.float64)], True
    return [np.asarray(t, dtype=np.float64) for t in theta], False


def _unwrap(parts, single):
    return parts[0] if single else parts


def affinity_from_losses(base_losses, lookahead_losses):
    """Lookahead affinity (Fifty et al. 2021, Eq. 1) from the losses before and after each task's step.

    Args:
        base_losses: ``[k]``: ``L_j(theta)`` for every task j.
        lookahead_losses: ``[k, k]``: entry ``[i, j]`` is ``L_j(theta - lr g_i)``, task j's loss
            after a step on task i's gradient alone (row = the task that stepped).

    Returns:
        float64 ``[k, k]`` ``Z`` with ``Z[j, i] = 1 - lookahead_losses[i, j] / base_losses[j]``
        (row = target j, column = source i); NaN where ``L_j(theta)`` is 0 or not finite
        (e.g. task j has no example in the batch).

    Raises:
        ValueError: shapes that do not match ``[k]`` and ``[k, k]``.
    """
    base = np.asarray(base_losses, dtype=np.float64).reshape(-1)
    look = np.asarray(lookahead_losses, dtype=np.float64)
    k = base.size
    if look.shape != (k, k):
        raise ValueError(f"lookahead_losses must be [k, k] = [{k}, {k}] for {k} base losses, got shape {look.shape}")
    ok = np.isfinite(base) & (base != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 1.0 - look.T / np.where(ok, base, 1.0)[:, None]  # [target j, source i]
    z[~ok, :] = np.nan
    return z


def lookahead_affinity(theta, task_losses, task_gradients, learning_rate):
    """Lookahead inter-task affinity at ``theta`` (Fifty et al. 2021, Eq. 1), model-agnostic.

    Args:
        theta: the shared parameters: an array or a list of arrays.
        task_losses: ``task_losses(params) -> [k]``: every task's loss at shared parameters
            ``params`` (same structure as ``theta``), on one fixed batch.
        task_gradients: ``task_gradients(params) -> list of k``: task i's gradient of its own loss
            on the shared parameters (each the structure of ``theta``).
        learning_rate: the step size ``lr`` of the lookahead step ``theta - lr * g_i``.

    Returns:
        float64 ``[k, k]``: ``Z[j, i] = 1 - L_j(theta - lr g_i) / L_j(theta)`` (row = target j,
        column = source i); see :func:`affinity_from_losses`.

    Raises:
        ValueError: a non-positive learning rate, gradients of the wrong count or shapes.
    """
    if not (isinstance(learning_rate, (int, float, np.floating)) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    parts, single = _structure(theta)
    base = np.asarray(task_losses(_unwrap([p.copy() for p in parts], single)), dtype=np.float64).reshape(-1)
    k = base.size
    grads = list(task_gradients(_unwrap([p.copy() for p in parts], single)))
    if len(grads) != k:
        raise ValueError(f"task_gradients returned {len(grads)} gradients for {k} task losses")
    look = np.empty((k, k))
    for i, g in enumerate(grads):
        g_parts, _ = _structure(g)
        if len(g_parts) != len(parts) or any(a.shape != b.shape for a, b in zip(g_parts, parts, strict=True)):
            raise ValueError(f"task {i}'s gradient does not have the shapes of theta")
        stepped = [p - learning_rate * gp for p, gp in zip(parts, g_parts, strict=True)]
        look[i] = np.asarray(task_losses(_unwrap(stepped, single)), dtype=np.float64).reshape(-1)
    return affinity_from_losses(base, look)


def flatten_gradients(gradients):
    """``[k, p]`` float64 from k per-task gradients (each an array or a list of arrays; None = 0)."""
    rows = []
    for g in gradients:
        parts = [g] if isinstance(g, np.ndarray) or np.isscalar(g) else list(g)
        rows.append(np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts if p is not None]))
    sizes = {r.size for r in rows}
    if len(sizes) != 1:
        raise ValueError(f"the per-task gradients have different sizes {sorted(sizes)}")
    return np.stack(rows)


def gradient_cosine(gradients):
    """Cosine similarity of per-task gradients: ``C[i, j] = <g_i, g_j> / (||g_i|| ||g_j||)``.

    Args:
        gradients: ``[k, p]`` array, or k per-task gradients (array or list of arrays each).

    Returns:
        float64 symmetric ``[k, k]`` in [-1, 1]; NaN in the rows and columns of a zero gradient
        (e.g. a task with no example in the batch).
    """
    g = np.asarray(gradients, dtype=np.float64) if isinstance(gradients, np.ndarray) else flatten_gradients(gradients)
    if g.ndim != 2:
        raise ValueError(f"gradients must be [k, p], got shape {g.shape}")
    norms = np.linalg.norm(g, axis=1)
    ok = norms > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (g @ g.T) / np.outer(np.where(ok, norms, 1.0), np.where(ok, norms, 1.0))
    c = np.clip(c, -1.0, 1.0)
    c[~ok, :] = np.nan
    c[:, ~ok] = np.nan
    return c


class MatrixMean:
    """Entry-wise running mean of ``k x k`` matrices, skipping NaN entries (averaging over training).

    ``add(m)`` once per measurement; ``mean()`` is the mean over the measurements where each entry
    was finite (NaN where it never was); ``counts`` says how many measurements each entry has.

    Example:
        >>> acc = MatrixMean(); acc.add(np.eye(2)); acc.add(np.zeros((2, 2))); acc.mean()[0, 0]
        0.5
    """

    def __init__(self):
        self.total = None
        self.counts = None
        self.calls = 0

    def add(self, matrix):
        m = np.asarray(matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"expected a square [k, k] matrix, got shape {m.shape}")
        if self.total is None:
            self.total, self.counts = np.zeros(m.shape), np.zeros(m.shape, dtype=np.int64)
        elif m.shape != self.total.shape:
            raise ValueError(f"matrix shape {m.shape} differs from the earlier {self.total.shape}")
        ok = np.isfinite(m)
        self.total[ok] += m[ok]
        self.counts += ok
        self.calls += 1

    def mean(self):
        if self.total is None:
            raise ValueError("no matrix was added")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.counts > 0, self.total / np.maximum(self.counts, 1), np.nan)


def covariance_similarities(embeddings, energy=0.99):
    """Eq. 5 covariance similarity (Wu, Zhang & Ré 2020) of k tasks' embeddings, raw and normalised.

    Args:
        embeddings: list (or name -> array mapping) of k ``[n_i, d]`` arrays, one per task.
        energy: spectrum fraction kept by the rank truncation (paper: 0.99).

    Returns:
        ``{"raw": [k, k], "normalized": [k, k]}``: :func:`mtlzoo.analysis.covariance_similarity_matrix`
        without and with ``normalized=True`` (symmetric, so row/column order does not matter).
    """
    from mtlzoo.analysis.covariance import covariance_similarity_matrix

    items = task_list(embeddings, "embeddings")
    return {
        "raw": covariance_similarity_matrix(items, energy, normalized=False),
        "normalized": covariance_similarity_matrix(items, energy, normalized=True),
    }


# ---- validation of a predictor against measured transfer ---------------------------------------


def off_diagonal(matrix, pairs="directed"):
    """The off-diagonal entries of a ``[k, k]`` matrix: ``directed`` = every ``[i, j]``, i != j, row by
    row (k(k-1) values); ``pair`` = the mean of ``[i, j]`` and ``[j, i]`` for i < j (k(k-1)/2 values)."""
    m = np.asarray(matrix, dtype=np.float64)
    k = m.shape[0]
    if pairs == "directed":
        return np.array([m[i, j] for i in range(k) for j in range(k) if i != j])
    if pairs == "pair":
        return np.array([(m[i, j] + m[j, i]) / 2 for i in range(k) for j in range(i + 1, k)])
    raise ValueError(f"pairs must be 'directed' or 'pair', got {pairs!r}")


def spearman(predicted, measured, pairs="directed"):
    """Spearman rank correlation of a predictor with measured transfer over the off-diagonal entries.

    Returns ``(rho, n)``; rho is NaN when fewer than 3 finite entries remain or either side is
    constant. Uses ``scipy.stats.spearmanr`` (average ranks for ties).
    """
    from scipy.stats import spearmanr

    p, t = off_diagonal(predicted, pairs), off_diagonal(measured, pairs)
    ok = np.isfinite(p) & np.isfinite(t)
    n = int(ok.sum())
    if n < 3 or np.ptp(p[ok]) == 0 or np.ptp(t[ok]) == 0:
        return float("nan"), n
    return float(spearmanr(p[ok], t[ok]).statistic), n


def top1_precision(predicted, measured, atol=1e-12):
    """Share of targets whose predicted best source is a measured best source.

    For every target row i: the source ``argmax_j predicted[i, j]`` (j != i) counts as a hit when
    its measured transfer ``measured[i, j]`` equals the row's measured maximum (within ``atol``,
    so tied best sources all count). Chance level is ``1 / (k - 1)`` without ties.

    Returns ``(precision, targets)``; rows with a non-finite entry are left out.
    """
    p = np.asarray(predicted, dtype=np.float64)
    t = np.asarray(measured, dtype=np.float64)
    k = p.shape[0]
    hits = rows = 0
    for i in range(k):
        others = [j for j in range(k) if j != i]
        pi, ti = p[i, others], t[i, others]
        if not (np.all(np.isfinite(pi)) and np.all(np.isfinite(ti))):
            continue
        rows += 1
        hits += bool(ti[int(np.argmax(pi))] >= ti.max() - atol)
    return (hits / rows if rows else float("nan")), rows
