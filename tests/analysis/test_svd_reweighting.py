"""SVD task reweighting (Algorithm 2) against a direct numpy evaluation."""

import numpy as np
import pytest

from mtlzoo.analysis import svd_task_weights, task_vectors


def _algorithm2(thetas, rank):
    """Algorithm 2 from its definition: SVD of [theta_1..theta_k], alpha_i = ||U_r^T theta_i||, mean 1."""
    u = np.linalg.svd(np.concatenate([t.reshape(t.shape[0], -1) for t in thetas], axis=1))[0][:, :rank]
    alpha = np.array([np.linalg.norm(u.T @ t.reshape(t.shape[0], -1)) for t in thetas])
    return alpha / alpha.mean()


def _data(seed=0, n=60, d=7, k=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    base = rng.normal(size=d)
    ys = [x @ (base + 0.3 * rng.normal(size=d)) + 0.1 * rng.normal(size=n) for _ in range(k - 1)]
    ys.append(rng.normal(size=n))  # an unrelated task
    return x, ys


@pytest.mark.parametrize("rank", [1, 2, 3, 4])
def test_weights_equal_direct_numpy_algorithm2(rank):
    x, ys = _data()
    alpha = svd_task_weights(x, ys, rank)
    np.testing.assert_allclose(alpha, _algorithm2([x.T @ y for y in ys], rank), rtol=1e-10)
    assert alpha.mean() == pytest.approx(1.0)


def test_rank_k_weights_are_proportional_to_theta_norms_and_outlier_is_downweighted():
    x, ys = _data(seed=1)
    norms = np.array([np.linalg.norm(x.T @ y) for y in ys])
    np.testing.assert_allclose(svd_task_weights(x, ys, rank=4), norms / norms.mean(), rtol=1e-10)
    alpha = svd_task_weights(x, ys, rank=1)
    assert np.argmin(alpha) == 3


def test_per_task_inputs():
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=(n, 5)) for n in (20, 35, 50)]
    ys = [x @ rng.normal(size=5) for x in xs]
    np.testing.assert_allclose(
        svd_task_weights(xs, ys, 2), _algorithm2([x.T @ y for x, y in zip(xs, ys, strict=True)], 2), rtol=1e-10
    )


def test_multiclass_labels_are_one_hot_and_use_frobenius_norms():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 6))
    cls = rng.integers(0, 3, size=80)
    reg = x @ rng.normal(size=6)
    multi = rng.integers(0, 2, size=(80, 2)).astype(float)  # multilabel, used as given
    alpha = svd_task_weights(x, [cls, reg, multi], rank=2, num_classes=[3, None, None])
    onehot = np.zeros((80, 3))
    onehot[np.arange(80), cls] = 1
    thetas = [x.T @ onehot, x.T @ reg[:, None], x.T @ multi]
    np.testing.assert_allclose(alpha, _algorithm2(thetas, 2), rtol=1e-10)
    assert task_vectors(x, [cls, reg], num_classes=[3, None])[0].shape == (6, 3)


def test_missing_labels_are_excluded_and_weights_scale_rows():
    x, ys = _data(seed=4)
    rng = np.random.default_rng(5)
    keep = [rng.random(len(x)) < 0.6 for _ in ys]
    holes = [np.where(k, y, np.nan) for k, y in zip(keep, ys, strict=True)]  # NaN placeholders at weight 0
    alpha = svd_task_weights(x, holes, 2, weights=[k.astype(float) for k in keep])
    np.testing.assert_allclose(
        alpha, _algorithm2([x[k].T @ y[k] for k, y in zip(keep, ys, strict=True)], 2), rtol=1e-10
    )
    w = [rng.uniform(0.5, 2.0, size=len(x)) for _ in ys]
    alpha = svd_task_weights(x, ys, 2, weights=w)
    np.testing.assert_allclose(alpha, _algorithm2([x.T @ (wi * y) for wi, y in zip(w, ys, strict=True)], 2), rtol=1e-10)


def test_centred_labels_equal_numpy_algorithm2_with_centred_labels():
    # 0/1 labels on a non-negative representation, the case centring is for
    rng = np.random.default_rng(8)
    x = np.maximum(rng.normal(size=(90, 6)), 0)
    ys = [(rng.random(90) < p).astype(float) for p in (0.1, 0.3, 0.5, 0.8)]
    for rank in (1, 2):
        alpha = svd_task_weights(x, ys, rank, center=True)
        np.testing.assert_allclose(alpha, _algorithm2([x.T @ (y - y.mean()) for y in ys], rank), rtol=1e-10)
        # the same as centring the representation instead of the labels
        xc = x - x.mean(axis=0)
        np.testing.assert_allclose(alpha, _algorithm2([xc.T @ y for y in ys], rank), rtol=1e-10)
    assert not np.allclose(svd_task_weights(x, ys, 1, center=True), svd_task_weights(x, ys, 1))
    # center=False is Algorithm 2 as written
    np.testing.assert_allclose(svd_task_weights(x, ys, 2, center=False), _algorithm2([x.T @ y for y in ys], 2))


def test_centred_labels_use_the_mean_over_labelled_examples_only():
    rng = np.random.default_rng(9)
    x = np.maximum(rng.normal(size=(70, 5)), 0)
    ys = [(rng.random(70) < 0.3).astype(float) for _ in range(3)]
    keep = [rng.random(70) < 0.7 for _ in ys]
    holes = [np.where(k, y, np.nan) for k, y in zip(keep, ys, strict=True)]
    alpha = svd_task_weights(x, holes, 2, weights=[k.astype(float) for k in keep], center=True)
    thetas = [x[k].T @ (y[k] - y[k].mean()) for k, y in zip(keep, ys, strict=True)]
    np.testing.assert_allclose(alpha, _algorithm2(thetas, 2), rtol=1e-10)
    # non-uniform sample weights: the weighted mean, theta_i = X^T diag(w) (y - m_w)
    w = [rng.uniform(0.5, 2.0, size=70) for _ in ys]
    alpha = svd_task_weights(x, ys, 2, weights=w, center=True)
    thetas = [x.T @ (wi * (y - np.average(y, weights=wi))) for wi, y in zip(w, ys, strict=True)]
    np.testing.assert_allclose(alpha, _algorithm2(thetas, 2), rtol=1e-10)


def test_centred_multiclass_one_hot_columns_are_centred_each():
    rng = np.random.default_rng(10)
    x = np.maximum(rng.normal(size=(80, 6)), 0)
    cls = rng.integers(0, 3, size=80)
    binary = (rng.random(80) < 0.2).astype(float)
    onehot = np.zeros((80, 3))
    onehot[np.arange(80), cls] = 1
    alpha = svd_task_weights(x, [cls, binary], rank=1, num_classes=[3, None], center=True)
    thetas = [x.T @ (onehot - onehot.mean(axis=0)), x.T @ (binary - binary.mean())[:, None]]
    np.testing.assert_allclose(alpha, _algorithm2(thetas, 1), rtol=1e-10)
    np.testing.assert_allclose(
        task_vectors(x, [cls, binary], num_classes=[3, None], center=True)[0], thetas[0], rtol=1e-10
    )


def test_centred_constant_labels_give_zero_task_vectors():
    x = np.abs(np.random.default_rng(11).normal(size=(20, 3)))
    with pytest.raises(ValueError, match=r"theta_i = X\^T \(y_i - mean y_i\) are zero"):
        svd_task_weights(x, [np.ones(20), np.zeros(20)], 1, center=True)


def test_mapping_in_mapping_out():
    x, ys = _data(seed=6, k=3)
    out = svd_task_weights(x, {"a": ys[0], "b": ys[1], "c": ys[2]}, 1)
    assert list(out) == ["a", "b", "c"]
    np.testing.assert_allclose(list(out.values()), svd_task_weights(x, ys, 1))


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"labels": [np.ones(10)], "rank": 1}, "at least 2 tasks (k >= 2), got k=1"),
        ({"rank": 5}, "rank must be between 1 and the number of tasks k=4, got 5"),
        ({"rank": 0}, "rank must be between 1 and the number of tasks k=4, got 0"),
        ({"x": [np.ones((10, 3)), np.ones((10, 4)), np.ones((10, 3)), np.ones((10, 3))]}, "x[1] has 4 features"),
        ({"labels": [np.ones(10), np.ones(9), np.ones(10), np.ones(10)]}, "labels[1] has 9 rows"),
        ({"x": [np.ones((10, 3)), np.ones((0, 3)), np.ones((10, 3)), np.ones((10, 3))]}, "x[1] is empty"),
        ({"weights": [np.ones(10), np.zeros(10), np.ones(10), np.ones(10)]}, "task 1 has no labelled examples"),
        ({"num_classes": [2, None, None, None]}, "integer class ids in [0, 2)"),
        # the label-shape and rank checks (survivors of bench/mutation.py, docs/testing.md)
        ({"labels": [np.float64(1.0), *[np.ones(10)] * 3]}, "labels[0] must be [n] or [n, C], got a scalar"),
        ({"num_classes": [1, None, None, None]}, "num_classes for labels[0] must be >= 2, got 1"),
        (
            {"labels": [np.zeros((10, 2)), *[np.ones(10)] * 3], "num_classes": [3, None, None, None]},
            "labels[0]: class ids must be [n] when num_classes is given, got shape (10, 2)",
        ),
        (
            {"labels": [np.ones((10, 2, 2)), *[np.ones(10)] * 3]},
            "labels[0] must be [n] or [n, C], got shape (10, 2, 2)",
        ),
        ({"labels": [np.ones((10, 0)), *[np.ones(10)] * 3]}, "labels[0] must be [n] or [n, C], got shape (10, 0)"),
        ({"rank": 1.5}, "rank must be an integer, got 1.5"),
        ({"rank": True}, "rank must be an integer, got True"),
        ({"rank": 4}, "rank 4 exceeds the feature dimension d=3"),
        ({"labels": [np.array([np.nan] + [1.0] * 9), *[np.ones(10)] * 3]}, "labels[0] has NaN or infinite values"),
        ({"weights": [np.ones(10)] * 3}, "weights has 3 entries but labels has 4 tasks"),
        (
            {"labels": [np.array([-1] + [0] * 9), *[np.ones(10)] * 3], "num_classes": [2, None, None, None]},
            "labels[0] must be integer class ids in [0, 2)",
        ),
        (
            {"labels": [np.array([2] + [0] * 9), *[np.ones(10)] * 3], "num_classes": [2, None, None, None]},
            "labels[0] must be integer class ids in [0, 2)",
        ),
        ({"weights": [np.ones(9), *[np.ones(10)] * 3]}, "weights[0] has 9 entries but the features have 10 rows"),
        ({"weights": [np.array([-1.0] + [1.0] * 9), *[np.ones(10)] * 3]}, "weights[0] must be finite and >= 0"),
        ({"weights": [np.array([np.nan] + [1.0] * 9), *[np.ones(10)] * 3]}, "weights[0] must be finite and >= 0"),
        ({"num_classes": [None] * 5}, "num_classes has 5 entries but labels has 4 tasks"),
    ],
)
def test_bad_input_names_the_problem(kwargs, words):
    rng = np.random.default_rng(7)
    args = {"x": rng.normal(size=(10, 3)), "labels": [rng.normal(size=10) for _ in range(4)], "rank": 2}
    args.update(kwargs)
    if isinstance(args["x"], list):
        args["labels"] = [np.ones(len(xi)) for xi in args["x"]]
    with pytest.raises(ValueError) as e:
        svd_task_weights(**args)
    assert words in str(e.value)


def test_rank_may_equal_the_feature_dimension():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(10, 3))
    w = svd_task_weights(x, [rng.normal(size=10) for _ in range(4)], 3)  # rank = d = 3 < k = 4
    assert len(w) == 4 and np.all(np.isfinite(w))


def test_per_task_inputs_must_match_the_tasks():
    with pytest.raises(ValueError, match="x has 2 per-task arrays but labels has 3 tasks"):
        svd_task_weights([np.ones((5, 2))] * 2, [np.ones(5)] * 3, 1)


@pytest.mark.parametrize("center", [False, True])
def test_normalised_labels_equal_numpy_algorithm2_with_standardised_labels(center):
    """theta_i = X^T (y_i [- mean]) / std(y_i), written here with numpy's np.std; rank 1 and 2."""
    rng = np.random.default_rng(11)
    x = np.maximum(rng.normal(size=(120, 6)), 0)
    ys = [(rng.random(120) < p).astype(float) for p in (0.05, 0.2, 0.5, 0.9)]
    for rank in (1, 2, 3):
        alpha = svd_task_weights(x, ys, rank, center=center, normalize=True)
        want = [x.T @ ((y - y.mean()) if center else y) / np.std(y) for y in ys]
        np.testing.assert_allclose(alpha, _algorithm2(want, rank), rtol=1e-10)
    # scaling one task's labels changes nothing once normalised (it does without)
    scaled = [ys[0] * 7.0, *ys[1:]]
    np.testing.assert_allclose(
        svd_task_weights(x, scaled, 2, center=center, normalize=True),
        svd_task_weights(x, ys, 2, center=center, normalize=True),
        rtol=1e-10,
    )
    assert not np.allclose(svd_task_weights(x, scaled, 2, center=center), svd_task_weights(x, ys, 2, center=center))


def test_normalised_labels_use_weighted_std_over_labelled_rows_and_per_column():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(80, 5))
    multi = rng.normal(size=(80, 3)) * [1.0, 10.0, 0.1]  # a 3-column label: each column by its own std
    y2 = rng.normal(size=80)
    w2 = (rng.random(80) < 0.6).astype(float)
    y2_holes = np.where(w2 > 0, y2, np.nan)  # unlabelled rows never enter, not even their std
    thetas = task_vectors(x, [multi, y2_holes], weights=[None, w2], center=True, normalize=True)
    keep = w2 > 0
    np.testing.assert_allclose(thetas[0], x.T @ ((multi - multi.mean(0)) / multi.std(0)), rtol=1e-10)
    z = (y2[keep] - y2[keep].mean()) / y2[keep].std()
    np.testing.assert_allclose(thetas[1][:, 0], x[keep].T @ z, rtol=1e-10)
    # a constant column is left undivided (its std is 0): uncentred it is X^T 1 * c
    const = task_vectors(x, [np.full(80, 2.0), y2], normalize=True)[0]
    np.testing.assert_allclose(const[:, 0], 2.0 * x.sum(0), rtol=1e-10)
