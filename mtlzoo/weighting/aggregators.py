"""Gradient aggregators: per-task gradients of the shared parameters -> one update.

Each acts on ``G``, a ``[k, P]`` tensor whose row i is the gradient of task i's
(weighted) loss with respect to the flattened shared parameters, and returns a
``[P]`` gradient. TensorFlow ops only, so they run inside the compiled training step
under any tf.distribute strategy (G is all-reduced across replicas first).

* ``sum``: sum_i g_i (plain multi-task training).
* ``pcgrad`` (Yu et al. 2020, Alg. 1): for each i, in a random order of the other
  tasks j, if g_i' . g_j < 0 then g_i' -= (g_i' . g_j / ||g_j||^2) g_j; returns sum_i g_i'.
* ``mgda`` (Sener & Koltun 2018, Alg. 2): the min-norm point of the convex hull of
  {g_i}: min_{w in simplex} ||sum_i w_i g_i||^2 on the Gram matrix, solved exactly by
  enumerating the simplex's faces for k <= 10 (else accelerated projected gradient;
  the paper's Frank-Wolfe converges slowly when the optimum lies on a face); returns
  sum_i w_i g_i.
* ``cagrad`` (Liu et al. 2021, Alg. 1): g_0 = mean_i g_i, w* = argmin_{w in simplex}
  g_w . g_0 + sqrt(phi) ||g_w|| with phi = c^2 ||g_0||^2 and g_w = sum_i w_i g_i;
  d = g_0 + sqrt(phi) g_w / ||g_w||, divided by (1 + c^2) as in the authors' code (``rescale``).
* ``imtl_g`` (Liu et al. 2021, "Towards Impartial MTL", Eq. 8): weights alpha with
  sum alpha = 1 such that g = sum_i alpha_i g_i has equal projections onto every
  unit task gradient u_i: alpha_{2..k} = g_1 U^T (D U^T)^{-1}, D = g_1 - g_j, U = u_1 - u_j;
  a task with a zero gradient gets alpha_i = 0 and is left out of the condition.

Every aggregator maps an all-zero G to a zero update.
* ``aligned_mtl`` (Senushkin et al. 2023, Alg. 1): with G G^T = V L V^T, B =
  sqrt(l_min) V L^{-1/2} V^T makes the rows of B G orthogonal with equal norms
  sqrt(l_min) (the condition number of the system becomes 1); returns 1^T B G.

``nash_mtl`` is not offered: its per-step convex program (cvxpy in the authors' code)
has no robust in-graph solver here.
"""

import abc

import numpy as np

from mtlzoo import options
from mtlzoo.registry import Registry

AGGREGATORS = Registry("aggregator")
_EPS = 1e-12


class Aggregator(abc.ABC):
    """Base: ``__call__(G, step) -> [P]``; ``schema`` lists its options."""

    schema = {}

    def __init__(self, opts=None, seed=0):
        self.opts = {k: f.default for k, f in self.schema.items()} | dict(opts or {})
        self.seed = int(seed)

    @abc.abstractmethod
    def __call__(self, G, step):
        """``G`` [k, P] per-task gradients -> the [P] update direction."""


@AGGREGATORS.register("sum")
class Sum(Aggregator):
    def __call__(self, G, step):
        import tensorflow as tf

        return tf.reduce_sum(G, axis=0)


@AGGREGATORS.register("pcgrad")
class PCGrad(Aggregator):
    schema = options.AGGREGATORS["pcgrad"]

    def orders(self, k, step):
        """``[k, k]`` int32: row i is the order in which task i visits the tasks (its own
        entry is skipped). With ``shuffle`` a random permutation per task, drawn in-graph
        from (seed, step) (stateless, so a resumed or replicated run draws the same);
        otherwise 0, 1, ..., k-1."""
        import tensorflow as tf

        if not self.opts["shuffle"]:
            return tf.tile(tf.range(k)[None], [k, 1])
        keys = tf.random.stateless_uniform(
            [k, k], seed=tf.stack([tf.cast(self.seed, tf.int64), tf.cast(step, tf.int64)])
        )
        return tf.cast(tf.argsort(keys, axis=1), tf.int32)

    def __call__(self, G, step):
        import tensorflow as tf

        k = G.shape[0]
        orders = self.orders(k, step)
        # Every projected g_i' is a combination sum_l C_il g_l of the original gradients, so
        # the projections run on the k x k Gram matrix M = G G^T: g_i'.g_j = (C M)_ij.
        M = tf.matmul(G, G, transpose_b=True)
        diag = tf.linalg.diag_part(M)
        rows = tf.range(k)
        C = tf.eye(k, dtype=G.dtype)
        for pos in range(k):  # position pos of every task's order at once
            j = orders[:, pos]
            dot = tf.reduce_sum(C * tf.gather(M, j), axis=1)  # g_i' . g_{j_i}
            coef = tf.where(tf.logical_and(tf.not_equal(j, rows), dot < 0), dot / (tf.gather(diag, j) + _EPS), 0.0)
            C = C - coef[:, None] * tf.one_hot(j, k, dtype=G.dtype)
        return tf.linalg.matvec(G, tf.reduce_sum(C, axis=0), transpose_a=True)


def project_to_simplex(v):
    """Euclidean projection onto {w >= 0, sum w = 1} (Duchi et al. 2008, Fig. 1)."""
    import tensorflow as tf

    k = v.shape[0]
    u = tf.sort(v, direction="DESCENDING")
    css = tf.cumsum(u)
    j = tf.range(1, k + 1, dtype=v.dtype)
    rho = tf.reduce_max(tf.where(u - (css - 1.0) / j > 0, j, tf.ones_like(j)))
    theta = (tf.gather(css, tf.cast(rho, tf.int32) - 1) - 1.0) / rho
    return tf.maximum(v - theta, 0.0)


def minimize_on_simplex(f, grad, k, iters, dtype="float32"):
    """min_{w in simplex} f(w) for a convex f: accelerated projected gradient (FISTA,
    Beck & Teboulle 2009) with backtracking on the step size; returns the best iterate."""
    import tensorflow as tf

    w0 = tf.fill([k], tf.constant(1.0 / k, dtype))

    def step(y, L):
        fy, gy = f(y), grad(y)

        def cond(L, x):
            d = x - y
            return f(x) > fy + tf.reduce_sum(gy * d) + 0.5 * L * tf.reduce_sum(d * d) + 1e-12

        def grow(L, x):
            L = 2.0 * L
            return L, project_to_simplex(y - gy / L)

        return tf.while_loop(cond, grow, (L, project_to_simplex(y - gy / L)), maximum_iterations=60)

    def body(i, w, y, t, L, best_w, best_f):
        L, new = step(y, L)
        t_new = (1.0 + tf.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = new + ((t - 1.0) / t_new) * (new - w)
        fn = f(new)
        better = fn < best_f
        return i + 1, new, y, t_new, L * 0.9, tf.where(better, new, best_w), tf.where(better, fn, best_f)

    one = tf.constant(1.0, dtype)
    out = tf.while_loop(lambda i, *_: i < iters, body, (0, w0, w0, one, one, w0, f(w0)))
    return out[5]


MAX_ENUMERATED_TASKS = 10


def _supports(k, dtype):
    """All non-empty subsets of k tasks as a [2^k - 1, k] 0/1 matrix."""
    import tensorflow as tf

    bits = np.array([[(s >> j) & 1 for j in range(k)] for s in range(1, 2**k)], np.float64)
    return tf.constant(bits, dtype)


def _face_solve(M, S, rhs):
    """Solves M_SS u_S = rhs_S on each support S (rows of S), u_j = 0 off S: [n, k]."""
    import tensorflow as tf

    k = M.shape[0]
    eye = tf.eye(k, dtype=M.dtype)
    A = S[:, :, None] * S[:, None, :] * M[None] + (1.0 - S)[:, :, None] * eye[None]
    # the floor keeps an all-zero M (every gradient zero) solvable: then every face gives
    # finite weights and the update sum_i w_i g_i is zero
    ridge = (1e-7 * tf.reduce_mean(tf.linalg.diag_part(M)) + 1e-30) * eye
    return tf.linalg.solve(A + ridge[None], (rhs * S)[..., None])[..., 0]


def min_norm_exact(M):
    """argmin_{w in simplex} w^T M w by enumerating the faces of the simplex (k <= 10).

    On the face S the constrained minimiser is w_S = M_SS^{-1} 1 / (1^T M_SS^{-1} 1);
    the optimum is the feasible (w >= 0) candidate of least objective. Loop-free, so it
    costs microseconds inside a compiled step.
    """
    import tensorflow as tf

    k = M.shape[0]
    S = _supports(k, M.dtype)
    u = _face_solve(M, S, tf.ones([1, k], M.dtype))
    w = u / tf.reduce_sum(u, axis=1, keepdims=True)
    obj = tf.einsum("ni,ij,nj->n", w, M, w)
    ok = tf.reduce_all(w >= -1e-6, axis=1) & tf.reduce_all(tf.math.is_finite(w), axis=1)
    best = tf.argmin(tf.where(ok, obj, tf.cast(np.inf, M.dtype)))
    return tf.maximum(tf.gather(w, best), 0.0) / tf.reduce_sum(tf.maximum(tf.gather(w, best), 0.0))


def cagrad_exact(M, c):
    """argmin_{w in simplex} w.Mb + c' sqrt(w^T M w), b = 1/k, c' = c sqrt(b^T M b), exactly.

    On the face S the stationarity condition (Mb)_S + c' M_SS w_S / t = mu 1 (t = ||g_w||)
    with sum w = 1 and w^T M w = t^2 gives w_S = (mu a - d) / sqrt(D), a = M_SS^{-1} 1,
    d = M_SS^{-1} (Mb)_S, D = (1.d)^2 - (1.a)(d.(Mb)_S - c'^2); the optimum is the feasible
    candidate (D > 0, w >= 0) of least objective.
    """
    import tensorflow as tf

    k = M.shape[0]
    b = tf.fill([k], tf.constant(1.0 / k, M.dtype))
    Mb = tf.linalg.matvec(M, b)
    coef = c * tf.sqrt(tf.reduce_sum(b * Mb))
    S = _supports(k, M.dtype)
    a = _face_solve(M, S, tf.ones([1, k], M.dtype))
    d = _face_solve(M, S, Mb[None, :])
    sa, sd = tf.reduce_sum(a, 1), tf.reduce_sum(d, 1)
    disc = sd**2 - sa * (tf.reduce_sum(d * Mb[None] * S, 1) - coef**2)
    root = tf.sqrt(tf.maximum(disc, 1e-30))
    mu = (sd + root) / sa
    w = (mu[:, None] * a - d) / root[:, None] * S
    obj = tf.linalg.matvec(w, Mb) + coef * tf.sqrt(tf.maximum(tf.einsum("ni,ij,nj->n", w, M, w), 0.0))
    ok = (disc > 0) & tf.reduce_all(w >= -1e-6, axis=1) & tf.reduce_all(tf.math.is_finite(w), axis=1)
    ok = ok & (tf.abs(tf.reduce_sum(w, 1) - 1.0) < 1e-4)
    best = tf.argmin(tf.where(ok, obj, tf.cast(np.inf, M.dtype)))
    w = tf.maximum(tf.gather(w, best), 0.0)
    return tf.where(tf.reduce_any(ok), w / tf.reduce_sum(w), b)


@AGGREGATORS.register("mgda")
class MGDA(Aggregator):
    schema = options.AGGREGATORS["mgda"]

    def weights(self, G):
        """argmin_{w in simplex} w^T M w, M = G G^T (scaled to unit mean diagonal)."""
        import tensorflow as tf

        M = tf.matmul(G, G, transpose_b=True)
        M = M / (tf.reduce_mean(tf.linalg.diag_part(M)) + _EPS)
        if G.shape[0] <= MAX_ENUMERATED_TASKS:
            return tf.cast(min_norm_exact(tf.cast(M, tf.float64)), G.dtype)
        return minimize_on_simplex(
            lambda w: tf.reduce_sum(w * tf.linalg.matvec(M, w)),
            lambda w: 2.0 * tf.linalg.matvec(M, w),
            G.shape[0],
            self.opts["iterations"],
            G.dtype,
        )

    def __call__(self, G, step):
        import tensorflow as tf

        return tf.linalg.matvec(G, self.weights(G), transpose_a=True)


@AGGREGATORS.register("cagrad")
class CAGrad(Aggregator):
    schema = options.AGGREGATORS["cagrad"]

    def weights(self, G):
        """argmin_{w in simplex} w^T M b + c sqrt(b^T M b) sqrt(w^T M w), b = 1/k."""
        import tensorflow as tf

        k = G.shape[0]
        M = tf.matmul(G, G, transpose_b=True)
        M = M / (tf.reduce_mean(tf.linalg.diag_part(M)) + _EPS)  # F scales linearly with M
        b = tf.fill([k], tf.constant(1.0 / k, G.dtype))
        Mb = tf.linalg.matvec(M, b)
        coef = self.opts["c"] * tf.sqrt(tf.reduce_sum(b * Mb) + _EPS)

        def norm_w(w):
            return tf.sqrt(tf.reduce_sum(w * tf.linalg.matvec(M, w)) + 1e-10)

        if k <= MAX_ENUMERATED_TASKS and self.opts["c"] > 0:
            return tf.cast(cagrad_exact(tf.cast(M, tf.float64), self.opts["c"]), G.dtype)
        return minimize_on_simplex(
            lambda w: tf.reduce_sum(w * Mb) + coef * norm_w(w),
            lambda w: Mb + coef * tf.linalg.matvec(M, w) / norm_w(w),
            k,
            self.opts["iterations"],
            G.dtype,
        )

    def __call__(self, G, step):
        import tensorflow as tf

        c = self.opts["c"]
        g0 = tf.reduce_mean(G, axis=0)
        gw = tf.linalg.matvec(G, self.weights(G), transpose_a=True)
        lam = c * tf.norm(g0) / (tf.norm(gw) + _EPS)
        d = g0 + lam * gw
        return d / (1.0 + c**2) if self.opts["rescale"] else d


@AGGREGATORS.register("imtl_g")
class IMTLG(Aggregator):
    """IMTL-G (Liu et al. 2021, Eq. 8) on the tasks whose gradient is not zero.

    A task whose gradient is zero (``||g_i|| <= 1e-10 max_j ||g_j||``, e.g. a task absent
    from an interleaved batch) has no direction u_i to balance: it gets alpha_i = 0 and the
    equal-projection condition is imposed on the others only. All gradients zero: a zero
    update.
    """

    def weights(self, G):
        """alpha from the Gram matrix, as the (k+1) x (k+1) linear system
        ``u_i . sum_j alpha_j g_j = t`` (i with g_i != 0), ``alpha_i = 0`` (g_i = 0),
        ``sum_j alpha_j = 1`` in (alpha, t); equivalent to Eq. 8's
        alpha_{2..k} = g_1 U^T (D U^T)^{-1} on the non-zero tasks. No [k, P] intermediate."""
        import tensorflow as tf

        k = G.shape[0]
        M = tf.cast(tf.matmul(G, G, transpose_b=True), tf.float64)
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(M), 0.0))
        live = norms > 1e-10 * tf.reduce_max(norms)
        Mu = M / tf.where(live, norms, 1.0)[None, :]  # Mu[j, i] = g_j . u_i
        f64 = tf.float64
        zero, one = tf.constant(0.0, f64), tf.constant(1.0, f64)
        rows = tf.where(live[:, None], tf.transpose(Mu), tf.eye(k, dtype=f64))  # u_i . g_j, or alpha_i = 0
        t_col = tf.where(live, -one, zero)[:, None]
        anyone = tf.reduce_any(live)
        last = tf.concat(
            [tf.where(anyone, tf.ones([1, k], f64), tf.zeros([1, k], f64)), [[tf.where(anyone, zero, one)]]], 1
        )
        A = tf.concat([tf.concat([rows, t_col], 1), last], 0)
        rhs = tf.concat([tf.zeros([k], f64), [tf.where(anyone, one, zero)]], 0)
        alpha = tf.linalg.solve(A, rhs[:, None])[:k, 0]
        return tf.cast(alpha, G.dtype)

    def __call__(self, G, step):
        import tensorflow as tf

        return tf.linalg.matvec(G, self.weights(G), transpose_a=True)


@AGGREGATORS.register("aligned_mtl")
class AlignedMTL(Aggregator):
    def balance_matrix(self, G):
        import tensorflow as tf

        M = tf.matmul(G, G, transpose_b=True)
        lam, V = tf.linalg.eigh(M)
        tol = tf.reduce_max(lam) * float(G.shape[0]) * 1e-7
        keep = lam > tol
        inv_sqrt = tf.where(keep, 1.0 / tf.sqrt(tf.where(keep, lam, 1.0)), 0.0)
        lam_min = tf.reduce_min(tf.where(keep, lam, tf.reduce_max(lam)))
        return tf.sqrt(lam_min) * tf.matmul(V * inv_sqrt[None, :], V, transpose_b=True)

    def __call__(self, G, step):
        import tensorflow as tf

        alpha = tf.reduce_sum(self.balance_matrix(G), axis=0)
        return tf.linalg.matvec(G, alpha, transpose_a=True)


def build_aggregator(cfg, seed=0, field="train.aggregator"):
    """``cfg`` = ``{"name": ..., **options}`` -> an Aggregator (options validated)."""
    from mtlzoo.errors import ConfigError
    from mtlzoo.schema import check_fields

    cfg = dict(cfg or {"name": "sum"})
    if "name" not in cfg:
        raise ConfigError(f"{field}.name", "missing required field")
    cls = AGGREGATORS.get(cfg.pop("name"), f"{field}.name")
    return cls(check_fields(cfg, cls.schema, field), seed=seed)
