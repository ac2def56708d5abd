"""Gradient aggregators against direct numpy / scipy references on fixed gradient matrices."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize

from mtlzoo.weighting.aggregators import AGGREGATORS, build_aggregator

RNG = np.random.default_rng(0)
G3 = RNG.normal(size=(3, 7)).astype(np.float32)
CONFLICT = np.array([[1.0, 0.2], [-0.9, 0.3]], np.float32)  # two gradients at > 90 degrees


def agg(name, G, step=0, **opts):
    return build_aggregator({"name": name, **opts})(tf.constant(G), tf.constant(step, tf.int64)).numpy()


def np_pcgrad(G, orders):
    out = []
    for i, order in enumerate(orders):
        gi = G[i].astype(np.float64).copy()
        for j in order:
            dot = gi @ G[j]
            if dot < 0:
                gi -= dot / (G[j] @ G[j]) * G[j]
        out.append(gi)
    return np.sum(out, axis=0)


def test_sum():
    np.testing.assert_allclose(agg("sum", G3), G3.sum(0), rtol=1e-6)


def test_pcgrad_matches_numpy_fixed_order():
    G = RNG.normal(size=(4, 9)).astype(np.float32)
    orders = [[j for j in range(4) if j != i] for i in range(4)]
    np.testing.assert_allclose(agg("pcgrad", G, shuffle=False), np_pcgrad(G, orders), rtol=1e-5, atol=1e-5)


def test_pcgrad_two_tasks_projects_conflicts_away():
    out = agg("pcgrad", CONFLICT)
    g1, g2 = CONFLICT.astype(np.float64)
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1
    np.testing.assert_allclose(out, p1 + p2, rtol=1e-5)
    assert not np.allclose(out, CONFLICT.sum(0))
    # no conflict: identical to sum
    G = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    np.testing.assert_allclose(agg("pcgrad", G), G.sum(0), rtol=1e-6)


def test_pcgrad_shuffle_is_reproducible_by_step():
    G = RNG.normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_array_equal(agg("pcgrad", G, step=3), agg("pcgrad", G, step=3))


def test_pcgrad_uses_a_distinct_random_order_per_step_against_numpy():
    """Each step's output is the numpy PCGrad with that step's explicit orders; the orders
    are permutations, differ between steps, and (on this G) change the result."""
    k = 4
    G = np.random.default_rng(7).normal(size=(k, 9)).astype(np.float32)
    a = build_aggregator({"name": "pcgrad"}, seed=3)
    seen, outputs = set(), []
    for step in range(6):
        orders = a.orders(k, tf.constant(step, tf.int64)).numpy()
        for row in orders:
            assert sorted(row.tolist()) == list(range(k))
        seen.add(orders.tobytes())
        explicit = [[int(j) for j in row if j != i] for i, row in enumerate(orders)]
        out = a(tf.constant(G), tf.constant(step, tf.int64)).numpy()
        np.testing.assert_allclose(out, np_pcgrad(G, explicit), rtol=1e-5, atol=1e-5)
        outputs.append(out)
    assert len(seen) == 6  # a new order every step
    assert not all(np.allclose(outputs[0], o, atol=1e-4) for o in outputs[1:])  # the order matters on G
    fixed = [[j for j in range(k) if j != i] for i in range(k)]
    reverse = [row[::-1] for row in fixed]
    assert not np.allclose(np_pcgrad(G, fixed), np_pcgrad(G, reverse), atol=1e-4)


def min_norm_qp(G):
    k = len(G)
    M = G.astype(np.float64) @ G.T.astype(np.float64)
    res = minimize(
        lambda w: w @ M @ w,
        np.full(k, 1 / k),
        jac=lambda w: 2 * M @ w,
        bounds=[(0, 1)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return res.x


def test_mgda_two_tasks_closed_form():
    g1, g2 = CONFLICT.astype(np.float64)
    gamma = np.clip((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), 0, 1)  # weight of g1
    expected = gamma * g1 + (1 - gamma) * g2
    np.testing.assert_allclose(agg("mgda", CONFLICT), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mgda_three_tasks_matches_qp(seed):
    G = np.random.default_rng(seed).normal(size=(3, 5)).astype(np.float32)
    w = min_norm_qp(G)
    expected = w @ G
    out = agg("mgda", G)
    assert np.linalg.norm(out) <= np.linalg.norm(expected) * (1 + 1e-3) + 1e-6
    np.testing.assert_allclose(out, expected, atol=2e-3)


def test_mgda_twelve_tasks_iterative_solver_matches_slsqp():
    """k = 12 > 10: the accelerated projected-gradient path, against scipy's SLSQP."""
    G = np.random.default_rng(12).normal(size=(12, 20)).astype(np.float32)
    w_ref = min_norm_qp(G)
    M = G.astype(np.float64) @ G.T.astype(np.float64)
    w = AGGREGATORS.get("mgda")({"iterations": 300}).weights(tf.constant(G)).numpy().astype(np.float64)
    assert abs(w.sum() - 1) < 1e-5 and np.all(w >= -1e-7)
    uniform = np.full(12, 1 / 12)
    assert w @ M @ w <= w_ref @ M @ w_ref * (1 + 1e-2) + 1e-6
    assert w_ref @ M @ w_ref < 0.5 * uniform @ M @ uniform  # the start (uniform) would fail
    np.testing.assert_allclose(agg("mgda", G), w_ref @ G, atol=2e-2)


def cagrad_objective(w, G, c):
    g0 = G.mean(0)
    gw = w @ G
    return gw @ g0 + c * np.linalg.norm(g0) * np.linalg.norm(gw)


@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_cagrad_solves_its_objective_and_forms_d(c):
    G = RNG.normal(size=(3, 6)).astype(np.float64)
    ref = cagrad_slsqp(G, c, full=True)
    a = AGGREGATORS.get("cagrad")({"c": c, "rescale": False, "iterations": 300})
    w = a.weights(tf.constant(G, tf.float32)).numpy().astype(np.float64)
    assert abs(w.sum() - 1) < 1e-5 and np.all(w >= 0)
    scale = np.abs(ref.fun) + np.linalg.norm(G.mean(0)) ** 2
    assert cagrad_objective(w, G, c) <= ref.fun + 1e-3 * scale
    g0, gw = G.mean(0), w @ G
    expected_d = g0 + c * np.linalg.norm(g0) / np.linalg.norm(gw) * gw
    out = a(tf.constant(G, tf.float32), 0).numpy()
    np.testing.assert_allclose(out, expected_d, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(agg("cagrad", G.astype(np.float32), c=c), expected_d / (1 + c**2), rtol=2e-3, atol=1e-4)


def test_cagrad_twelve_tasks_iterative_solver_matches_slsqp():
    G = np.random.default_rng(5).normal(size=(12, 20)).astype(np.float64)
    c, k = 0.5, 12
    ref = cagrad_slsqp(G, c, full=True)
    w = AGGREGATORS.get("cagrad")({"c": c}).weights(tf.constant(G, tf.float32)).numpy().astype(np.float64)
    scale = np.abs(ref.fun) + np.linalg.norm(G.mean(0)) ** 2
    assert cagrad_objective(w, G, c) <= ref.fun + 1e-3 * scale
    assert cagrad_objective(np.full(k, 1 / k), G, c) > ref.fun + 1e-2 * scale  # the start would fail


def test_cagrad_c0_is_mean_gradient():
    np.testing.assert_allclose(agg("cagrad", G3, c=0.0, rescale=False), G3.mean(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_imtl_g_equal_projections(k):
    G = np.random.default_rng(k).normal(size=(k, 8)).astype(np.float64)
    a = AGGREGATORS.get("imtl_g")()
    alpha = a.weights(tf.constant(G, tf.float32)).numpy()
    assert abs(alpha.sum() - 1) < 1e-5
    g = a(tf.constant(G, tf.float32), 0).numpy().astype(np.float64)
    np.testing.assert_allclose(g, alpha @ G, rtol=1e-4, atol=1e-5)
    u = G / np.linalg.norm(G, axis=1, keepdims=True)
    proj = u @ g
    np.testing.assert_allclose(proj, np.full(k, proj.mean()), rtol=1e-3)


def np_imtl_g(G):
    """Eq. 8 of Liu et al. 2021 on the tasks with a non-zero gradient (alpha = 0 elsewhere)."""
    G = G.astype(np.float64)
    live = np.flatnonzero(np.linalg.norm(G, axis=1) > 0)
    alpha = np.zeros(len(G))
    if len(live) == 0:
        return alpha
    S = G[live]
    U = S / np.linalg.norm(S, axis=1, keepdims=True)
    D = S[0] - S[1:]
    Ud = U[0] - U[1:]
    rest = S[0] @ Ud.T @ np.linalg.inv(D @ Ud.T) if len(live) > 1 else np.zeros(0)
    alpha[live] = np.concatenate([[1 - rest.sum()], rest])
    return alpha


@pytest.mark.parametrize("k", [2, 3, 5])
def test_imtl_g_matches_numpy_eq8(k):
    G = np.random.default_rng(10 + k).normal(size=(k, 8)).astype(np.float32)
    alpha = AGGREGATORS.get("imtl_g")().weights(tf.constant(G)).numpy()
    np.testing.assert_allclose(alpha, np_imtl_g(G), rtol=1e-3, atol=1e-4)


def test_imtl_g_with_one_zero_gradient_balances_the_others():
    G = np.random.default_rng(4).normal(size=(3, 8)).astype(np.float32)
    G[1] = 0.0
    a = AGGREGATORS.get("imtl_g")()
    alpha = a.weights(tf.constant(G)).numpy()
    np.testing.assert_allclose(alpha, np_imtl_g(G), rtol=1e-3, atol=1e-4)
    assert alpha[1] == 0 and abs(alpha.sum() - 1) < 1e-5
    g = a(tf.constant(G), 0).numpy().astype(np.float64)
    assert np.linalg.norm(g) > 0.1  # not a silent zero update
    u = G[[0, 2]] / np.linalg.norm(G[[0, 2]], axis=1, keepdims=True)
    np.testing.assert_allclose(u[0] @ g, u[1] @ g, rtol=1e-3)


@pytest.mark.parametrize("name", ["sum", "pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl"])
@pytest.mark.parametrize("k", [3, 12])
def test_all_zero_gradients_give_a_zero_update(name, k):
    out = agg(name, np.zeros((k, 6), np.float32))
    assert np.all(np.isfinite(out)) and np.all(out == 0), out


def test_aligned_mtl_orthogonalises_and_equalises():
    G = RNG.normal(size=(3, 10)).astype(np.float64)
    a = AGGREGATORS.get("aligned_mtl")()
    B = a.balance_matrix(tf.constant(G, tf.float32)).numpy().astype(np.float64)
    lam = np.linalg.eigvalsh(G @ G.T)
    aligned = B @ G
    np.testing.assert_allclose(aligned @ aligned.T, lam.min() * np.eye(3), atol=1e-3 * lam.max())
    np.testing.assert_allclose(a(tf.constant(G, tf.float32), 0).numpy(), B.sum(0) @ G, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl"])
def test_conflicting_toy_differs_from_sum_and_reduces_conflict(name):
    out = agg(name, CONFLICT)
    s = CONFLICT.sum(0)
    assert not np.allclose(out, s, atol=1e-3)
    # the update should not increase either task's loss to first order: g_i . d >= 0 (within tolerance)
    assert np.all(CONFLICT @ out >= -1e-5), (name, CONFLICT @ out)


def test_unknown_aggregator_and_option():
    from mtlzoo import ConfigError

    with pytest.raises(ConfigError, match="train.aggregator.name: unknown aggregator 'nash'"):
        build_aggregator({"name": "nash"})
    with pytest.raises(ConfigError, match="train.aggregator.c: must be >= 0"):
        build_aggregator({"name": "cagrad", "c": -1.0})


def test_build_aggregator_defaults_to_sum_and_needs_a_name():
    from mtlzoo import ConfigError
    from mtlzoo.weighting.aggregators import Sum

    assert type(build_aggregator(None)) is Sum and type(build_aggregator({})) is Sum
    with pytest.raises(ConfigError, match="train.aggregator.name: missing required field"):
        build_aggregator({"c": 0.5})
    with pytest.raises(ConfigError, match="phase.aggregator.name: missing required field"):
        build_aggregator({"c": 0.5}, field="phase.aggregator")
    assert build_aggregator({"name": "pcgrad"}, seed=7).seed == 7


def cagrad_slsqp(G, c, full=False):
    """CAGrad's simplex weights by scipy's SLSQP (``full``: the whole OptimizeResult)."""
    k = len(G)
    res = minimize(
        lambda w: cagrad_objective(w, G, c),
        np.full(k, 1 / k),
        bounds=[(0, 1)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return res if full else res.x


@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_cagrad_weights_inside_a_face_match_slsqp(c):
    """A G whose CAGrad optimum lies inside an edge (c = 0.2) or inside the whole triangle
    (c = 0.5, 0.9), where the face formula's discriminant decides the weights (at a vertex
    the weight is 1 whatever it says): the weights and d against scipy's SLSQP."""
    G = np.random.default_rng(14).normal(size=(3, 6)).astype(np.float32)
    G64 = G.astype(np.float64)
    ref = cagrad_slsqp(G64, c)
    assert (ref > 0.1).sum() == (2 if c == 0.2 else 3)  # the optimum is not a vertex
    a = AGGREGATORS.get("cagrad")({"c": c, "rescale": False})
    w = a.weights(tf.constant(G)).numpy().astype(np.float64)
    np.testing.assert_allclose(w, ref, atol=2e-4)
    g0, gw = G64.mean(0), ref @ G64
    np.testing.assert_allclose(
        a(tf.constant(G), 0).numpy(), g0 + c * np.linalg.norm(g0) / np.linalg.norm(gw) * gw, rtol=1e-3, atol=1e-4
    )


@pytest.mark.parametrize("name", ["mgda", "cagrad"])
def test_ten_tasks_are_solved_exactly_whatever_the_iterations(name):
    """k = 10 is the largest k solved by enumerating the faces (documented): with
    ``iterations=1`` the weights still equal SLSQP's, which one accelerated projected-gradient
    step from the uniform start does not reach."""
    G = np.random.default_rng(10).normal(size=(10, 16)).astype(np.float32)
    G64 = G.astype(np.float64)
    ref = min_norm_qp(G) if name == "mgda" else cagrad_slsqp(G64, 0.5)
    a = AGGREGATORS.get(name)({"iterations": 1})
    w = a.weights(tf.constant(G)).numpy().astype(np.float64)
    np.testing.assert_allclose(w, ref, atol=2e-4)
    assert np.abs(np.full(10, 0.1) - ref).max() > 0.05  # the start is far from the optimum


def np_simplex_projection(v):
    """argmin_{w in simplex} ||w - v||: w = max(v - theta, 0) with theta found by bisection
    (brentq) on sum_i max(v_i - theta, 0) = 1."""
    from scipy.optimize import brentq

    theta = brentq(lambda th: np.maximum(v - th, 0).sum() - 1, v.min() - 1, v.max(), xtol=1e-15, rtol=1e-15)
    return np.maximum(v - theta, 0)


def test_project_to_simplex_against_bisection():
    from mtlzoo.weighting.aggregators import project_to_simplex

    rng = np.random.default_rng(3)
    cases = [rng.normal(size=6) * s for s in (0.1, 1, 10)] + [np.array([5.0, -1, -2]), np.array([0.2, 0.3, 0.5])]
    cases += [np.array([-3.0, -3.5, -4.0, -10.0]), np.full(4, 7.0)]
    for v in cases:
        got = project_to_simplex(tf.constant(v, tf.float64)).numpy()
        np.testing.assert_allclose(got, np_simplex_projection(v), atol=1e-12, err_msg=str(v))


def np_fista(f, grad, k, iters):
    """Beck & Teboulle's FISTA with backtracking (L doubled until f(x) <= f(y) + g.(x - y) +
    L/2 ||x - y||^2 + 1e-12, at most 60 times; 0.9 L carried to the next step), from the
    uniform point and L = 1; the best iterate by f (the start included)."""
    w = y = best = np.full(k, 1.0 / k)
    t, L, best_f = 1.0, 1.0, f(best)
    for _ in range(iters):
        fy, gy = f(y), grad(y)
        x = np_simplex_projection(y - gy / L)
        for _ in range(60):
            d = x - y
            if f(x) <= fy + gy @ d + 0.5 * L * (d @ d) + 1e-12:
                break
            L *= 2.0
            x = np_simplex_projection(y - gy / L)
        t_new = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = x + (t - 1.0) / t_new * (x - w)
        w, t = x, t_new
        if f(x) < best_f:
            best, best_f = x, f(x)
        L *= 0.9
    return best


@pytest.mark.parametrize("iters", [1, 2, 3, 6])
def test_iterative_solvers_are_fista_with_backtracking_against_numpy(iters):
    """k = 12 (past the enumerated faces): MGDA's and CAGrad's weights after a few iterations
    equal numpy FISTA on the same objectives (M scaled to unit mean diagonal), in float64."""
    G = np.random.default_rng(12).normal(size=(12, 20))
    M = G @ G.T
    M = M / (np.mean(np.diag(M)) + 1e-12)
    k, c = 12, 0.5
    mgda = AGGREGATORS.get("mgda")({"iterations": iters}).weights(tf.constant(G)).numpy()
    np.testing.assert_allclose(
        mgda, np_fista(lambda w: w @ M @ w, lambda w: 2 * M @ w, k, iters), rtol=1e-9, atol=1e-12
    )
    Mb = M @ np.full(k, 1 / k)
    coef = c * np.sqrt(np.full(k, 1 / k) @ Mb + 1e-12)

    def norm_w(w):
        return np.sqrt(w @ M @ w + 1e-10)

    ref = np_fista(lambda w: w @ Mb + coef * norm_w(w), lambda w: Mb + coef * M @ w / norm_w(w), k, iters)
    cagrad = AGGREGATORS.get("cagrad")({"c": c, "iterations": iters}).weights(tf.constant(G)).numpy()
    np.testing.assert_allclose(cagrad, ref, rtol=1e-9, atol=1e-12)


def test_simplex_solver_converges_to_the_closed_form_in_float64():
    """min_{w in simplex} w^T M w with M positive definite and an interior minimiser has the
    closed form w* = M^-1 1 / (1^T M^-1 1) (Lagrange). In float64, 200 FISTA iterations reach
    it to 1e-8: the backtracking test allows 1e-12 of round-off; without that allowance the
    line search stalls (L doubles 60 times) once a step gains less than 1e-12, ~5e-7 from w*."""
    from mtlzoo.weighting.aggregators import minimize_on_simplex

    A = np.random.default_rng(3).normal(size=(4, 4))
    M = A @ A.T + 4 * np.eye(4)
    inv1 = np.linalg.solve(M, np.ones(4))
    w_star = inv1 / inv1.sum()
    assert (w_star > 0.1).all()
    Mt = tf.constant(M)
    w = minimize_on_simplex(
        lambda w: tf.reduce_sum(w * tf.linalg.matvec(Mt, w)), lambda w: 2 * tf.linalg.matvec(Mt, w), 4, 200, "float64"
    )
    np.testing.assert_allclose(w.numpy(), w_star, rtol=0, atol=1e-8)


@pytest.mark.parametrize("scale", [1e-6, 1e4])
def test_imtl_g_weights_do_not_depend_on_the_gradients_scale(scale):
    """Eq. 8's alpha is homogeneous of degree 0 in G, and the zero-gradient test is relative
    (||g_i|| <= 1e-10 max_j ||g_j||): small or large gradients get numpy's alpha, and a task
    1e-12 times smaller than the others counts as zero at every scale."""
    G = np.random.default_rng(21).normal(size=(3, 8))
    a = AGGREGATORS.get("imtl_g")()
    alpha = a.weights(tf.constant(G * scale)).numpy()
    np.testing.assert_allclose(alpha, np_imtl_g(G), rtol=1e-6, atol=1e-9)
    tiny = G.copy()
    tiny[2] *= 1e-12
    alpha = a.weights(tf.constant(tiny * scale)).numpy()
    ref = np_imtl_g(np.stack([G[0], G[1], np.zeros(8)]))
    np.testing.assert_allclose(alpha, ref, rtol=1e-6, atol=1e-9)
    assert alpha[2] == 0


def test_build_aggregator_defaults_to_seed_0():
    """Without ``seed`` PCGrad draws the orders of seed 0 (as every room's builder), not another."""
    step = tf.constant(4, tf.int64)
    default = build_aggregator({"name": "pcgrad"})
    assert default.seed == 0 and AGGREGATORS.get("pcgrad")().seed == 0
    np.testing.assert_array_equal(
        default.orders(5, step).numpy(), build_aggregator({"name": "pcgrad"}, seed=0).orders(5, step).numpy()
    )
    assert not np.array_equal(
        default.orders(5, step).numpy(), build_aggregator({"name": "pcgrad"}, seed=1).orders(5, step).numpy()
    )


def np_aligned_balance(G):
    """B = sqrt(l_min) V L^{-1/2} V^T over the eigenpairs of G G^T above k 1e-7 l_max (the
    rank cutoff of ``balance_matrix``); the others count as zero and are left out."""
    lam, V = np.linalg.eigh(G @ G.T)
    keep = lam > lam.max() * len(G) * 1e-7
    lam, V = lam[keep], V[:, keep]
    return np.sqrt(lam.min()) * (V / np.sqrt(lam)) @ V.T


@pytest.mark.parametrize("s3", [0.0, np.sqrt(1.5e-7), np.sqrt(4.5e-7), 0.3])
def test_aligned_mtl_rank_cutoff_against_numpy(s3):
    """G with singular values 1, 0.6, s3 (Gram eigenvalues 1, 0.36, s3^2; k = 3, so the cutoff
    is 3e-7): s3^2 = 0 or 1.5e-7 is dropped (rank 2: l_min = 0.36), 4.5e-7 and 0.09 are kept
    (then B is dominated by the smallest direction)."""
    rng = np.random.default_rng(8)
    U = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    V = np.linalg.qr(rng.normal(size=(10, 3)))[0]
    G = U @ np.diag([1.0, 0.6, s3]) @ V.T
    a = AGGREGATORS.get("aligned_mtl")()
    B = a.balance_matrix(tf.constant(G)).numpy()
    ref = np_aligned_balance(G)
    np.testing.assert_allclose(B, ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a(tf.constant(G), 0).numpy(), ref.sum(0) @ G, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("ratio,live", [(1.5e-10, True), (0.5e-10, False)])
def test_imtl_g_zero_gradient_threshold_is_1e_10_of_the_largest(ratio, live):
    """The documented zero test ``||g_i|| <= 1e-10 max_j ||g_j||`` on both sides: a task
    1.5e-10 times the largest gradient is balanced like the others (numpy Eq. 8 on all three),
    one 0.5e-10 times it gets alpha = 0 (numpy Eq. 8 with that row zero)."""
    G = np.random.default_rng(22).normal(size=(3, 8))
    G[1] *= ratio * np.linalg.norm(G[0]) / np.linalg.norm(G[1])
    G[2] *= 0.5 * np.linalg.norm(G[0]) / np.linalg.norm(G[2])  # G[0] is the largest
    alpha = AGGREGATORS.get("imtl_g")().weights(tf.constant(G)).numpy()
    ref = np_imtl_g(G if live else np.stack([G[0], np.zeros(8), G[2]]))
    np.testing.assert_allclose(alpha, ref, rtol=1e-6, atol=1e-9)
    assert (alpha[1] != 0) == live


@pytest.mark.parametrize("i", [0, 1, 2])
def test_mgda_finds_the_min_norm_point_at_each_vertex(i):
    """A short g_i at an acute angle to the others: g_i . g_j >= ||g_i||^2 for every j is the
    KKT condition for w = e_i (Sener & Koltun's min-norm point is g_i itself), so every vertex of
    the simplex, the first task's included, must be a candidate of the exact solver."""
    G = np.array([[1.0, 0.5, 0.2], [1.0, -0.5, 0.1], [0.8, 0.1, -0.6]])
    G[i] = [0.1, 0.0, 0.0]
    assert np.all(G @ G[i] >= G[i] @ G[i])
    w = AGGREGATORS.get("mgda")().weights(tf.constant(G)).numpy()
    np.testing.assert_allclose(w, np.eye(3)[i], atol=1e-9)


@pytest.mark.parametrize("iters", [1, 2, 3, 6])
def test_cagrad_iterations_on_a_shared_direction_against_numpy(iters):
    """k = 12 gradients = centred noise plus one shared direction. When backtracking doubles L
    at every step (the other FISTA test's G), scaling the objective by 2 doubles every L and
    leaves the iterates unchanged; here it does not, so the objective's scale (b = 1/k in
    w.Mb and in c sqrt(b.Mb)) shows and CAGrad must equal numpy FISTA on exactly it."""
    G = np.random.default_rng(0).normal(size=(12, 20))
    G = G - G.mean(0) + np.random.default_rng(99).normal(size=20)
    M = G @ G.T
    M = M / (np.mean(np.diag(M)) + 1e-12)
    k, c = 12, 0.5
    b = np.full(k, 1 / k)
    Mb = M @ b
    coef = c * np.sqrt(b @ Mb + 1e-12)

    def norm_w(w):
        return np.sqrt(w @ M @ w + 1e-10)

    ref = np_fista(lambda w: w @ Mb + coef * norm_w(w), lambda w: Mb + coef * M @ w / norm_w(w), k, iters)
    cagrad = AGGREGATORS.get("cagrad")({"c": c, "iterations": iters}).weights(tf.constant(G)).numpy()
    np.testing.assert_allclose(cagrad, ref, rtol=1e-9, atol=1e-12)
