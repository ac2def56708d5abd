"""Linear theory of Wu, Zhang & Ré (ICLR 2020): task similarity, the Eq. (3) solver, Proposition 1.

The linear multi-task model has one shared module ``B`` (``d x r``) and a head ``A_i``
(``r x C_i``) per task; task i predicts ``X_i B A_i``. Eq. (3) fits them jointly::

    f(A, B) = sum_i w_i ||X_i B A_i - Y_i||_F^2          (w_i = 1 in the paper)

* :func:`single_task_solutions`: the single-task (STL) least-squares models theta_i.
* :func:`task_similarity_matrix`: cosine similarity of the STL models (the paper's task
  similarity, cos(theta_i, theta_j)).
* :func:`solve_linear_mtl`: minimises Eq. (3): in closed form (reduced-rank regression)
  when all tasks share the same X, else by alternating least squares with restarts.
* :func:`solve_aligned_linear_mtl`: Eq. (3) with a per-task alignment ``R_i`` (``d x d``)
  on the inputs, ``X_i R_i B A_i`` (the linear form of Algorithm 1), with the penalty
  ``lambda * sum_i ||R_i - I||_F^2``; trained jointly, or with B fixed as in the paper.
* :func:`check_proposition1`: Proposition 1: if r >= k (single-output tasks; r >= sum C_i
  in general) the optimum has ``B A_i = theta_i`` for every task, i.e. no transfer.
* :func:`train_relu_mtl`: the ReLU variant ``relu(X_i [R_i] B) A_i`` trained with Keras.

Example:
    >>> sol = solve_linear_mtl([x1, x2], [y1, y2], rank=1)
    >>> sol.predictors[0]          # B A_1, task 1's linear model (d x 1)
"""

import dataclasses

import numpy as np

from mtlzoo.analysis._checks import as_matrix, as_targets, task_list

# ---------------------------------------------------------------------------------------------
# inputs


def _tasks(xs, ys, min_tasks=2):
    """Checked ``(X_i [n_i, d], Y_i [n_i, C_i])`` lists; one ValueError sentence per problem."""
    xs = task_list(xs, "xs", min_tasks)
    ys = task_list(ys, "ys", min_tasks)
    if len(xs) != len(ys):
        raise ValueError(f"xs has {len(xs)} tasks but ys has {len(ys)}")
    first = as_matrix(xs[0], "xs[0]")
    out_x = [first] + [as_matrix(x, f"xs[{i}]", dim=first.shape[1]) for i, x in enumerate(xs[1:], 1)]
    out_y = [as_targets(y, x.shape[0], f"ys[{i}]") for i, (x, y) in enumerate(zip(out_x, ys, strict=True))]
    return out_x, out_y


def _task_weights(task_weights, k):
    if task_weights is None:
        return np.ones(k)
    w = np.asarray(task_weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != k:
        raise ValueError(f"task_weights has {w.shape[0]} entries but there are k={k} tasks")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("task_weights must be finite and > 0")
    return w


def _check_rank(rank, d):
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise ValueError(f"rank must be an integer, got {rank!r}")
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    if rank > d:
        raise ValueError(f"rank {rank} exceeds the feature dimension d={d}")
    return int(rank)


# ---------------------------------------------------------------------------------------------
# single-task models and task similarity


def least_squares(x, y, ridge=0.0):
    """The least-squares model theta = argmin ||X theta - y||^2 + ridge ||theta||^2 (min-norm if singular).

    Shapes: x ``[n, d]``, y ``[n]`` or ``[n, C]`` -> theta ``[d]`` or ``[d, C]``.
    """
    a = as_matrix(x, "x")
    y_arr = np.asarray(y)
    b = as_targets(y, a.shape[0], "y")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    if ridge:
        theta = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b)
    else:
        theta = np.linalg.lstsq(a, b, rcond=None)[0]
    return theta[:, 0] if y_arr.ndim == 1 else theta


def single_task_solutions(xs, ys, ridge=0.0):
    """STL models theta_i = argmin ||X_i theta - y_i||^2 for every task (list of ``[d]``/``[d, C_i]``)."""
    xs_c, _ = _tasks(xs, ys, min_tasks=1)
    return [least_squares(x, y, ridge) for x, y in zip(xs_c, task_list(ys, "ys", 1), strict=True)]


def cosine_similarity(a, b):
    """Cosine of two task models (Frobenius inner product for ``d x C`` matrices); 0 if either is 0."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"task models have different sizes {a.size} and {b.size}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb))


def task_similarity_matrix(xs, ys, ridge=0.0):
    """``k x k`` matrix of cos(theta_i, theta_j) of the single-task models (the paper's task similarity).

    Signed: a negative cosine means opposite models (|cos| is what the paper reports).

    Raises:
        ValueError: k < 2, mismatched feature dimensions or rows, empty task data.
    """
    _tasks(xs, ys)
    thetas = single_task_solutions(xs, ys, ridge)
    k = len(thetas)
    out = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = cosine_similarity(thetas[i], thetas[j])
    return out


# ---------------------------------------------------------------------------------------------
# the multi-task solver of Eq. (3)


@dataclasses.dataclass
class LinearMTLSolution:
    """A fitted linear multi-task model ``X_i R_i B A_i``.

    Attributes:
        shared: B, ``[d, r]`` (orthonormal columns).
        heads: list of A_i, ``[r, C_i]``.
        alignments: list of R_i ``[d, d]`` (identities for the plain Eq. (3) model).
        objective: the minimised value (Eq. (3), plus the alignment penalty if any).
        task_losses: ``||X_i R_i B A_i - Y_i||^2`` per task.
        iterations: iterations of the best restart (0 for the closed form).
        method: ``"closed_form"``, ``"als"``, ``"aligned_joint"`` or ``"aligned_fixed_shared"``.
    """

    shared: np.ndarray
    heads: list
    alignments: list
    objective: float
    task_losses: np.ndarray
    iterations: int
    method: str

    @property
    def predictors(self):
        """Each task's linear model ``R_i B A_i`` (``[d, C_i]``): what it multiplies X_i by."""
        return [r @ self.shared @ a for r, a in zip(self.alignments, self.heads, strict=True)]

    def predict(self, task, x):
        """``X R_task B A_task`` for new data ``x`` ``[n, d]`` -> ``[n, C_task]``."""
        return np.asarray(x, dtype=np.float64) @ self.predictors[task]


class _Stats:
    """Sufficient statistics of the tasks: S_i = X_i^T X_i, G_i = X_i^T Y_i, ||Y_i||^2."""

    def __init__(self, xs, ys):
        self.S = [x.T @ x for x in xs]
        self.G = [x.T @ y for x, y in zip(xs, ys, strict=True)]
        self.yy = np.array([float(np.sum(y * y)) for y in ys])

    def aligned(self, rs):
        out = object.__new__(_Stats)
        out.S = [r.T @ s @ r for r, s in zip(rs, self.S, strict=True)]
        out.G = [r.T @ g for r, g in zip(rs, self.G, strict=True)]
        out.yy = self.yy
        return out

    def losses(self, b, heads):
        out = []
        for s, g, yy, a in zip(self.S, self.G, self.yy, heads, strict=True):
            m = b @ a
            out.append(yy - 2 * np.sum(m * g) + np.sum(m * (s @ m)))
        return np.maximum(np.array(out), 0.0)


def _solve_small(lhs, rhs):
    """lhs^{-1} rhs for a small symmetric PSD lhs; least squares (min-norm) when it is singular."""
    try:
        if np.linalg.cond(lhs) < 1e12:
            return np.linalg.solve(lhs, rhs)
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(lhs, rhs, rcond=None)[0]


def _heads(stats, b):
    return [_solve_small(b.T @ s @ b, b.T @ g) for s, g in zip(stats.S, stats.G, strict=True)]


def _shared_step(stats, heads, w, d, r, direct_max):
    """argmin_B sum_i w_i ||X_i B A_i - Y_i||^2 for fixed heads: sum_i w_i S_i B A_i A_i^T = sum_i w_i G_i A_i^T."""
    rhs = sum(wi * (g @ a.T) for wi, g, a in zip(w, stats.G, heads, strict=True))
    aat = [a @ a.T for a in heads]
    if d * r <= direct_max:
        lhs = sum(wi * np.kron(m, s) for wi, m, s in zip(w, aat, stats.S, strict=True))
        vec = np.linalg.lstsq(lhs, rhs.flatten(order="F"), rcond=None)[0]
        return vec.reshape((d, r), order="F")
    from scipy.sparse.linalg import LinearOperator, cg

    def apply(v):
        bm = v.reshape((d, r), order="F")
        return sum(wi * (s @ bm @ m) for wi, s, m in zip(w, stats.S, aat, strict=True)).flatten(order="F")

    op = LinearOperator((d * r, d * r), matvec=apply, dtype=np.float64)
    vec, _ = cg(op, rhs.flatten(order="F"), rtol=1e-12, maxiter=10 * d * r)
    return vec.reshape((d, r), order="F")


def _als(stats, w, b0, max_iter, tol, direct_max, fixed_shared=False):
    d, r = b0.shape
    b = np.linalg.qr(b0)[0]
    heads = _heads(stats, b)
    scale = max(float(np.sum(w * stats.yy)), 1e-300)
    prev = float(np.sum(w * stats.losses(b, heads)))
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        if not fixed_shared:
            b = _shared_step(stats, heads, w, d, r, direct_max)
            if not np.any(b):
                break
            b = np.linalg.qr(b)[0]
        heads = _heads(stats, b)
        obj = float(np.sum(w * stats.losses(b, heads)))
        if prev - obj <= tol * scale:
            prev = obj
            break
        prev = obj
    return b, heads, prev, it


def _reduced_rank(xs, ys, w, r):
    """Closed-form minimiser of Eq. (3) when every task has the same X (reduced-rank regression)."""
    x = xs[0]
    yt = np.hstack([np.sqrt(wi) * y for wi, y in zip(w, ys, strict=True)])
    w_ols = np.linalg.lstsq(x, yt, rcond=None)[0]
    _, _, vt = np.linalg.svd(x @ w_ols, full_matrices=False)
    vr = vt[:r].T  # [sum C, r']
    if vr.shape[1] < r:  # fewer outputs than r: pad B with orthogonal directions (unused)
        vr = np.hstack([vr, np.zeros((vr.shape[0], r - vr.shape[1]))])
    b_raw = w_ols @ vr
    q, tri = np.linalg.qr(b_raw)
    a_all = tri @ vr.T
    heads, start = [], 0
    for wi, y in zip(w, ys, strict=True):
        heads.append(a_all[:, start : start + y.shape[1]] / np.sqrt(wi))
        start += y.shape[1]
    return q, heads


def _init_shared(thetas, r, d, rng, restart):
    if restart == 0:
        u, _, _ = np.linalg.svd(np.hstack(thetas), full_matrices=True)
        return u[:, :r]
    return rng.normal(size=(d, r))


def solve_linear_mtl(
    xs,
    ys,
    rank,
    task_weights=None,
    method="auto",
    restarts=3,
    max_iter=500,
    tol=1e-12,
    seed=0,
    init="svd",
    direct_max=4096,
):
    """Minimises Eq. (3), ``sum_i w_i ||X_i B A_i - Y_i||^2`` over B (``d x r``) and the heads A_i.

    Args:
        xs: list of k arrays ``[n_i, d]`` (the same array for every task = shared inputs).
        ys: list of k targets ``[n_i]`` or ``[n_i, C_i]``.
        rank: r, the width of the shared module B.
        task_weights: optional w_i > 0 (default 1).
        method: ``"auto"`` (closed form when all X_i are equal, else ALS), ``"closed_form"``
            or ``"als"``.
        restarts: ALS runs; the first starts from the top-r left singular vectors of the
            STL models [theta_1..theta_k] (unless ``init="random"``), the others from random
            B; the lowest objective wins.
        max_iter, tol: ALS stops when the objective falls by less than ``tol * sum_i w_i ||Y_i||^2``.
        seed: seeds the random restarts.
        direct_max: the B-step solves its ``dr x dr`` normal equations directly up to this
            size, by conjugate gradients above it (large d).

    Returns:
        :class:`LinearMTLSolution`.

    Raises:
        ValueError: k < 2, mismatched feature dimensions or rows, empty task data, bad rank,
            ``closed_form`` with different X_i.
    """
    xs_c, ys_c = _tasks(xs, ys)
    k, d = len(xs_c), xs_c[0].shape[1]
    r = _check_rank(rank, d)
    w = _task_weights(task_weights, k)
    shared_x = all(x.shape == xs_c[0].shape and np.array_equal(x, xs_c[0]) for x in xs_c[1:])
    if method not in ("auto", "closed_form", "als"):
        raise ValueError(f"method must be 'auto', 'closed_form' or 'als', got {method!r}")
    if init not in ("svd", "random"):
        raise ValueError(f"init must be 'svd' or 'random', got {init!r}")
    if method == "closed_form" and not shared_x:
        raise ValueError("method='closed_form' needs the same X for every task; use 'als'")
    stats = _Stats(xs_c, ys_c)
    eye = [np.eye(d)] * k
    if method == "closed_form" or (method == "auto" and shared_x):
        b, heads = _reduced_rank(xs_c, ys_c, w, r)
        losses = stats.losses(b, heads)
        return LinearMTLSolution(b, heads, eye, float(np.sum(w * losses)), losses, 0, "closed_form")

    thetas = [least_squares(x, y) for x, y in zip(xs_c, ys_c, strict=True)]
    rng = np.random.default_rng(seed)
    best = None
    for rs in range(max(1, int(restarts))):
        b0 = _init_shared(thetas, r, d, rng, rs + (1 if init == "random" else 0))
        b, heads, obj, it = _als(stats, w, b0, max_iter, tol, direct_max)
        if best is None or obj < best[2]:
            best = (b, heads, obj, it)
    b, heads, obj, it = best
    return LinearMTLSolution(b, heads, eye, obj, stats.losses(b, heads), it, "als")


def _alignment_step(s_eig, g, s, m, lam, wi):
    """argmin_R w ||X R M - Y||^2 + lam ||R - I||^2 in closed form (M = B A_i, d x C).

    With R = I + D the stationarity condition is w S D (M M^T) + lam D = w (G - S M) M^T;
    in the eigenbases S = Q diag(s) Q^T, M M^T = P diag(p) P^T it is diagonal.
    """
    sv, q = s_eig
    p, pv = np.linalg.eigh(m @ m.T)
    rhs = wi * (g - s @ m) @ m.T
    dp = (q.T @ rhs @ pv) / (wi * np.outer(np.maximum(sv, 0), np.maximum(p, 0)) + lam)
    return np.eye(len(sv)) + q @ dp @ pv.T


def solve_aligned_linear_mtl(
    xs,
    ys,
    rank,
    penalty,
    fix_shared=False,
    task_weights=None,
    restarts=3,
    max_iter=300,
    tol=1e-10,
    seed=0,
    direct_max=4096,
):
    """Eq. (3) with per-task alignment matrices: ``sum_i w_i ||X_i R_i B A_i - Y_i||^2 + penalty sum_i ||R_i - I||^2``.

    The linear form of covariance alignment (Algorithm 1): R_i (``d x d``) maps task i's
    inputs before the shared B. Starts from the Eq. (3) solution with R_i = I, then
    alternates exact block minimisations: every R_i in closed form, then the heads A_i
    and (unless ``fix_shared``) B. ``fix_shared=True`` is the paper's schedule (train the
    multi-task model, then fix B and train only R_i and A_i); the default trains R_i, B
    and A_i jointly. In a linear model R_i matters only through ``R_i B A_i``, so the
    penalty is what ties each task to the shared module: ``penalty -> inf`` gives back
    Eq. (3); ``penalty -> 0`` decouples the tasks (each fits its own least squares).

    Args:
        penalty: lambda > 0, on the same scale as the summed squared errors.
        Other arguments as in :func:`solve_linear_mtl`.

    Returns:
        :class:`LinearMTLSolution` with the fitted ``alignments``.
    """
    if not (isinstance(penalty, (int, float)) and penalty > 0):
        raise ValueError(f"penalty must be > 0, got {penalty!r}")
    xs_c, ys_c = _tasks(xs, ys)
    k, d = len(xs_c), xs_c[0].shape[1]
    w = _task_weights(task_weights, k)
    base = solve_linear_mtl(xs_c, ys_c, rank, w, method="als", restarts=restarts, seed=seed, direct_max=direct_max)
    stats = _Stats(xs_c, ys_c)
    eigs = [np.linalg.eigh(s) for s in stats.S]
    b, heads = base.shared, base.heads
    rs = [np.eye(d) for _ in range(k)]
    scale = max(float(np.sum(w * stats.yy)), 1e-300)

    def objective(rs, b, heads):
        losses = stats.aligned(rs).losses(b, heads)
        return float(np.sum(w * losses) + penalty * sum(np.sum((r - np.eye(d)) ** 2) for r in rs)), losses

    prev, _ = objective(rs, b, heads)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        rs = [
            _alignment_step(e, g, s, b @ a, penalty, wi)
            for e, g, s, a, wi in zip(eigs, stats.G, stats.S, heads, w, strict=True)
        ]
        b, heads, fit, _ = _als(stats.aligned(rs), w, b, 1, 0.0, direct_max, fixed_shared=fix_shared)
        obj = fit + penalty * sum(np.sum((r - np.eye(d)) ** 2) for r in rs)
        if prev - obj <= tol * scale:
            prev = obj
            break
        prev = obj
    obj, losses = objective(rs, b, heads)
    method = "aligned_fixed_shared" if fix_shared else "aligned_joint"
    return LinearMTLSolution(b, heads, rs, obj, losses, it, method)


# ---------------------------------------------------------------------------------------------
# Proposition 1


def check_proposition1(xs, ys, rank=None, rtol=1e-6, **solver_kwargs):
    """Numerical check of Proposition 1: with r >= k (single-output tasks) there is no transfer.

    Solves Eq. (3) with ``rank`` (default: the total number of outputs, k for single-output
    tasks) and compares each task's multi-task model ``B A_i`` with its single-task model
    ``theta_i``.

    Returns:
        dict with ``rank``, ``required_rank`` (sum of C_i), ``gaps`` (``||B A_i - theta_i||_F /
        ||theta_i||_F`` per task), ``max_gap``, ``objective_gap`` (Eq. (3) minus the sum of
        the STL losses, relative to ``sum ||y_i||^2``) and ``holds`` (``max_gap <= rtol``).
        Below the required rank the gaps measure the transfer the shared module forces.
    """
    xs_c, ys_c = _tasks(xs, ys)
    required = sum(y.shape[1] for y in ys_c)
    d = xs_c[0].shape[1]
    r = min(required, d) if rank is None else rank
    sol = solve_linear_mtl(xs_c, ys_c, r, **solver_kwargs)
    thetas = [least_squares(x, y) for x, y in zip(xs_c, ys_c, strict=True)]
    gaps = np.array(
        [np.linalg.norm(p - t) / max(np.linalg.norm(t), 1e-300) for p, t in zip(sol.predictors, thetas, strict=True)]
    )
    stl_loss = sum(float(np.sum((x @ t - y) ** 2)) for x, y, t in zip(xs_c, ys_c, thetas, strict=True))
    total = sum(float(np.sum(y * y)) for y in ys_c)
    return {
        "rank": int(r),
        "required_rank": int(required),
        "gaps": gaps,
        "max_gap": float(gaps.max()),
        "objective_gap": (float(np.sum(sol.task_losses)) - stl_loss) / max(total, 1e-300),
        "holds": bool(gaps.max() <= rtol),
    }


# ---------------------------------------------------------------------------------------------
# ReLU variant (Keras)


@dataclasses.dataclass
class ReLUMTLResult:
    """A trained ReLU multi-task model: ``model`` maps ``{"features", "task_id"}`` to ``{"task_i": ...}``."""

    model: object
    final_loss: float

    def predict(self, task, x):
        """Predictions ``[n, C_task]`` of task ``task`` for inputs ``x`` ``[n, d]``."""
        x = np.asarray(x, dtype=np.float32)
        feed = {"features": x, "task_id": np.full(len(x), task, np.int32)}
        return np.asarray(self.model.predict(feed, batch_size=4096, verbose=0)[f"task_{task}"], dtype=np.float64)


def build_relu_mtl_model(d, rank, outputs, alignment=False, identity_penalty=0.0):
    """The ReLU model of the paper: ``relu(X_i [R_i] B) A_i``, B a bias-free Dense, linear heads.

    Inputs ``features`` ``[batch, d]`` and ``task_id`` ``[batch]``; outputs ``task_i``
    ``[batch, C_i]`` for every task (each task's loss is weighted to its own examples).
    With ``alignment``, a :class:`~mtlzoo.layers.CovarianceAlignment` (``R_i``) sits before B.
    """
    import keras

    from mtlzoo.layers import CovarianceAlignment

    feats = keras.Input((d,), name="features")
    tid = keras.Input((), dtype="int32", name="task_id")
    h = feats
    if alignment:
        h = CovarianceAlignment(len(outputs), identity_penalty=identity_penalty, name="alignment")([h, tid])
    h = keras.layers.Dense(rank, activation="relu", use_bias=False, name="shared_B")(h)
    heads = {f"task_{i}": keras.layers.Dense(c, name=f"task_{i}")(h) for i, c in enumerate(outputs)}
    return keras.Model({"features": feats, "task_id": tid}, heads, name="relu_mtl")


def train_relu_mtl(
    xs, ys, rank, alignment=False, identity_penalty=0.0, epochs=300, learning_rate=0.01, batch_size=None, seed=0
):
    """Trains the ReLU variant of Eq. (3), ``sum_i ||relu(X_i [R_i] B) A_i - Y_i||^2``, with Keras (Adam).

    Every task's examples go into one data set with ``task_id``; each output's loss counts
    its own task's examples only (sample weight 1, others 0: the project's batch shape).

    Args:
        xs, ys: as in :func:`solve_linear_mtl`.
        rank: width r of the shared ReLU layer B.
        alignment: put a per-task alignment R_i (identity-initialised) before B.
        identity_penalty: ``lambda sum_i ||R_i - I||^2`` added to the loss (with alignment).
        epochs: passes over the data (full-batch: gradient steps).
        batch_size: default full batch.

    Returns:
        :class:`ReLUMTLResult`.
    """
    import keras

    xs_c, ys_c = _tasks(xs, ys)
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be an integer >= 1, got {rank!r}")
    keras.utils.set_random_seed(seed)
    d = xs_c[0].shape[1]
    model = build_relu_mtl_model(d, int(rank), [y.shape[1] for y in ys_c], alignment, identity_penalty)
    x_all = np.vstack(xs_c).astype(np.float32)
    tid = np.concatenate([np.full(len(x), i, np.int32) for i, x in enumerate(xs_c)])
    labels, weights = {}, {}
    for i, y in enumerate(ys_c):
        full = np.zeros((len(x_all), y.shape[1]), np.float32)
        full[tid == i] = y
        labels[f"task_{i}"] = full
        weights[f"task_{i}"] = (tid == i).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss={name: "mse" for name in labels})
    feats = {"features": x_all, "task_id": tid}
    if batch_size is None or batch_size >= len(x_all):
        # full-batch gradient steps in one Keras epoch (no per-epoch overhead)
        import tensorflow as tf

        steps = tf.data.Dataset.from_tensors((feats, labels, weights)).repeat(int(epochs))
        if epochs > 0:
            model.fit(steps, epochs=1, shuffle=False, verbose=0)
    else:
        model.fit(feats, labels, sample_weight=weights, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    loss = model.evaluate(feats, labels, sample_weight=weights, batch_size=len(x_all), verbose=0, return_dict=True)
    return ReLUMTLResult(model, float(loss["loss"]))
