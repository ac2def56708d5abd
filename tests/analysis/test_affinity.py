"""Transfer predictors: lookahead affinity, gradient cosine, Eq. 5 wrapper, rank validation.

References are independent of the implementation: for a linear model with squared loss one SGD
step changes a loss by an exact quadratic, ``L_j(W - lr g_i) = L_j(W) - lr <g_j, g_i> + lr^2 q_ji``,
so the lookahead affinity has a closed form; cosines and ranks are recomputed directly.
"""

import numpy as np
import pytest

from mtlzoo.analysis.affinity import (
    MatrixMean,
    affinity_from_losses,
    covariance_similarities,
    gradient_cosine,
    lookahead_affinity,
    spearman,
    top1_precision,
)
from mtlzoo.analysis.covariance import covariance_similarity, normalized_covariance_similarity

D, H, K, B = 5, 3, 3, 12


def linear_problem(seed=0):
    """Shared W [D, H], heads A [K, H], a batch with per-task weights (some 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, D))
    w_shared = rng.normal(size=(D, H)) * 0.5
    heads = rng.normal(size=(K, H))
    y = rng.normal(size=(B, K))
    weights = (rng.random((B, K)) > 0.3).astype(np.float64)
    return x, w_shared, heads, y, weights


def closed_form(x, w_shared, heads, y, weights, lr):
    """Z[j, i] from the exact quadratic expansion of the squared loss along -lr g_i."""
    n = len(x)
    res = x @ w_shared @ heads.T - y  # [B, K]
    losses = (weights * res**2).sum(0) / n
    grads = [2 / n * x.T @ (weights[:, t] * res[:, t])[:, None] @ heads[t][None, :] for t in range(K)]
    z = np.empty((K, K))
    for j in range(K):
        for i in range(K):
            inner = np.sum(grads[j] * grads[i])
            q = (weights[:, j] * (x @ grads[i] @ heads[j]) ** 2).sum() / n
            z[j, i] = (lr * inner - lr**2 * q) / losses[j]
    return z, grads, losses


def numpy_closures(x, heads, y, weights):
    n = len(x)

    def losses(params):
        (w,) = params
        return (weights * (x @ w @ heads.T - y) ** 2).sum(0) / n

    def grads(params):
        (w,) = params
        res = x @ w @ heads.T - y
        return [[2 / n * x.T @ (weights[:, t] * res[:, t])[:, None] @ heads[t][None, :]] for t in range(K)]

    return losses, grads


@pytest.mark.parametrize("seed,lr", [(0, 0.1), (1, 0.03), (2, 0.5)])
def test_lookahead_equals_one_sgd_step_by_hand(seed, lr):
    x, w, heads, y, weights = linear_problem(seed)
    expected, _, _ = closed_form(x, w, heads, y, weights, lr)
    losses, grads = numpy_closures(x, heads, y, weights)
    z = lookahead_affinity([w], losses, grads, lr)
    np.testing.assert_allclose(z, expected, rtol=1e-10, atol=1e-12)
    # a bare array works as theta too, and theta itself is not modified
    w0 = w.copy()
    z2 = lookahead_affinity(w, lambda p: losses([p]), lambda p: [g[0] for g in grads([p])], lr)
    np.testing.assert_allclose(z2, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(w, w0)


def test_affinity_from_losses_layout_and_missing_task():
    base = np.array([2.0, 0.0, 4.0])
    look = np.array([[1.0, 0.0, 3.0], [2.0, 0.0, 5.0], [1.5, 0.0, 2.0]])  # row = the task that stepped
    z = affinity_from_losses(base, look)
    assert z[0, 1] == pytest.approx(1 - 2.0 / 2.0)  # target 0, source 1
    assert z[2, 0] == pytest.approx(1 - 3.0 / 4.0)  # target 2, source 0
    assert z[0, 2] == pytest.approx(1 - 1.5 / 2.0)
    assert np.all(np.isnan(z[1]))  # task 1 has loss 0 (no examples): undefined as a target
    with pytest.raises(ValueError, match="must be \\[k, k\\]"):
        affinity_from_losses(base, look[:2])


def test_gradient_cosine_equals_direct_computation():
    rng = np.random.default_rng(3)
    parts = [[rng.normal(size=(4, 2)), rng.normal(size=3)] for _ in range(4)]
    flat = [np.concatenate([p[0].ravel(), p[1]]) for p in parts]
    c = gradient_cosine(parts)
    for i in range(4):
        for j in range(4):
            assert c[i, j] == pytest.approx(
                np.dot(flat[i], flat[j]) / np.linalg.norm(flat[i]) / np.linalg.norm(flat[j])
            )
    zero = gradient_cosine(np.stack([flat[0], np.zeros_like(flat[0]), flat[2]]))
    assert np.isnan(zero[1]).all() and np.isnan(zero[:, 1]).all() and zero[0, 2] == pytest.approx(c[0, 2])


def test_matrix_mean_skips_nan():
    acc = MatrixMean()
    acc.add(np.array([[1.0, np.nan], [2.0, 4.0]]))
    acc.add(np.array([[3.0, np.nan], [np.nan, 0.0]]))
    m = acc.mean()
    assert m[0, 0] == 2.0 and np.isnan(m[0, 1]) and m[1, 0] == 2.0 and m[1, 1] == 2.0
    assert acc.counts.tolist() == [[2, 0], [1, 2]] and acc.calls == 2


def test_covariance_similarities_wraps_eq5():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(30, 4)) * s for s in (np.ones(4), np.array([3, 1, 1, 0.1]), np.array([1, 2, 3, 4]))]
    out = covariance_similarities(xs)
    for i in range(3):
        for j in range(3):
            assert out["raw"][i, j] == pytest.approx(covariance_similarity(xs[i], xs[j]))
            assert out["normalized"][i, j] == pytest.approx(normalized_covariance_similarity(xs[i], xs[j]))


def test_spearman_matches_closed_form_without_ties():
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    off = ~np.eye(4, dtype=bool)
    a, b = p[off], t[off]
    ra, rb = a.argsort().argsort(), b.argsort().argsort()
    n = len(a)
    expected = 1 - 6 * np.sum((ra - rb) ** 2) / (n * (n**2 - 1))
    rho, count = spearman(p, t)
    assert count == 12 and rho == pytest.approx(expected)
    rho_pair, n_pair = spearman(p, t, pairs="pair")
    assert n_pair == 6 and -1 <= rho_pair <= 1


def test_top1_precision_by_hand():
    measured = np.array([[0, 0.3, 0.1], [0.2, 0, 0.2], [0.5, -0.1, 0]])
    predicted = np.array([[0, 1.0, 2.0], [5.0, 0, 1.0], [3.0, 1.0, 0]])
    # target 0: predicted best 2, measured best 1 -> miss; target 1: 0 ties with 2 -> hit; target 2: hit
    assert top1_precision(predicted, measured) == (pytest.approx(2 / 3), 3)


# ---- the Keras helper (mtlzoo.training.affinity) on the same linear model -------------------------


def keras_linear(w_shared, heads):
    import keras

    x = keras.Input((D,), name="features")
    z = keras.layers.Dense(H, use_bias=False, name="shared_linear")(x)
    outs = {f"t{t}": keras.layers.Dense(1, use_bias=False, name=f"t{t}")(z) for t in range(K)}
    model = keras.Model({"features": x}, outs)
    model.get_layer("shared_linear").set_weights([w_shared.astype(np.float32)])
    for t in range(K):
        model.get_layer(f"t{t}").set_weights([heads[t][:, None].astype(np.float32)])
    return model


def keras_batch(x, y, weights):
    return (
        {"features": x.astype(np.float32)},
        {f"t{t}": y[:, t].astype(np.float32) for t in range(K)},
        {f"t{t}": weights[:, t].astype(np.float32) for t in range(K)},
    )


def regression_tasks():
    from mtlzoo.tasks import tasks_from_config

    return tasks_from_config({f"t{t}": {"kind": "regression"} for t in range(K)})


def test_keras_helper_equals_numpy_and_leaves_weights_unchanged():
    from mtlzoo.training.affinity import ModelAffinity

    x, w, heads, y, weights = linear_problem(4)
    lr = 0.1
    model = keras_linear(w, heads)
    before = [v.numpy().copy() for v in model.weights]
    out = ModelAffinity(model, regression_tasks()).compute(keras_batch(x, y, weights), lr)
    expected, grads, losses = closed_form(x, w, heads, y, weights, lr)
    np.testing.assert_allclose(out["lookahead"], expected, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(out["losses"], losses, rtol=1e-5)
    flat = [g.ravel() for g in grads]
    cos = np.array([[np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) for b in flat] for a in flat])
    np.testing.assert_allclose(out["cosine"], cos, rtol=1e-5, atol=1e-6)
    for a, b in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())


def test_tracker_averages_at_its_cadence_from_a_loop_and_from_fit():
    import keras

    from mtlzoo.training.affinity import AffinityTracker, ModelAffinity

    x, w, heads, y, weights = linear_problem(5)
    model = keras_linear(w, heads)
    tasks = regression_tasks()
    rng = np.random.default_rng(0)
    batches = [keras_batch(x, y + 0.1 * s * rng.normal(size=y.shape), weights) for s in range(5)]
    direct = [ModelAffinity(model, tasks).compute(batches[s], 0.05)["lookahead"] for s in (0, 2, 4)]
    tracker = AffinityTracker(tasks, 0.05, every_steps=2, batch_fn=lambda s: batches[s], model=model)
    for _ in range(5):  # an own loop that does not update the weights: steps 0, 2, 4 are measured
        tracker.on_train_batch_begin(None)
    res = tracker.result()
    assert res["steps"] == [0, 2, 4] and res["measurements"] == 3
    np.testing.assert_allclose(res["lookahead"], np.mean(direct, axis=0), rtol=1e-6, atol=1e-9)

    # with model.fit: measured before steps 0 and 3 of 4, and training goes on normally
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss={f"t{t}": "mse" for t in range(K)})
    fit_tracker = AffinityTracker(tasks, 0.05, every_steps=3, batch_fn=lambda s: batches[s])
    feats, labels, sw = batches[0]
    model.fit(feats, labels, sample_weight=sw, batch_size=3, epochs=1, verbose=0, callbacks=[fit_tracker])
    assert fit_tracker.result()["steps"] == [0, 3]
    assert np.all(np.isfinite(fit_tracker.result()["lookahead"]))
