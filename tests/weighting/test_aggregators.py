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


def cagrad_objective(w, G, c):
    g0 = G.mean(0)
    gw = w @ G
    return gw @ g0 + c * np.linalg.norm(g0) * np.linalg.norm(gw)


@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_cagrad_solves_its_objective_and_forms_d(c):
    G = RNG.normal(size=(3, 6)).astype(np.float64)
    k = len(G)
    ref = minimize(
        lambda w: cagrad_objective(w, G, c),
        np.full(k, 1 / k),
        bounds=[(0, 1)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-12},
    )
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
