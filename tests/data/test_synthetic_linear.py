"""The Fig. 3 synthetic tasks: covariances, task vectors, labels, exact test MSE, seeding."""

import numpy as np
import pytest

from mtlzoo.data.synthetic_linear import fig3_tasks, sample_tasks


def _eig(cov):
    vals, vecs = np.linalg.eigh(cov)
    return vals[::-1], vecs[:, ::-1]


def test_covariance_and_task_vector_relations():
    t1, t2, t3, t4 = fig3_tasks(d=12, seed=0)
    cos = t1.theta @ t2.theta / (np.linalg.norm(t1.theta) * np.linalg.norm(t2.theta))
    assert cos == pytest.approx(0.96, abs=1e-12)
    np.testing.assert_allclose(t1.covariance, t2.covariance)
    assert np.trace(t1.covariance) == pytest.approx(12)
    v1, u1 = _eig(t1.covariance)
    v3, u3 = _eig(t3.covariance)
    v4, u4 = _eig(t4.covariance)
    # task 3: a different spectrum in the same eigenbasis (its covariance commutes with task 1's)
    assert not np.allclose(v3, v1, rtol=1e-2)
    np.testing.assert_allclose(t3.covariance @ t1.covariance, t1.covariance @ t3.covariance, atol=1e-9)
    # task 4: the same spectrum, rotated eigenvectors
    np.testing.assert_allclose(v4, v1, rtol=1e-9)
    assert np.abs(u4.T @ u1).max() < 0.99
    # tasks 3 and 4 are task 2 seen through their feature maps: theta_i = T_i^{-1} theta_2
    for t in (t3, t4):
        np.testing.assert_allclose(t.transform @ t.theta, t2.latent_theta, atol=1e-12)
        np.testing.assert_allclose(t.latent_theta, t2.latent_theta)


def test_samples_follow_the_model():
    tasks = fig3_tasks(d=6, seed=1, noise=0.2)
    for t in tasks:
        x, y = t.sample(40000, seed=2)
        np.testing.assert_allclose(x.T @ x / len(x), t.covariance, atol=0.08 * np.abs(t.covariance).max())
        resid = y - x @ t.theta
        assert resid.std() == pytest.approx(0.2, rel=0.03)
        assert abs(resid.mean()) < 0.01


def test_exact_test_mse_matches_monte_carlo():
    t = fig3_tasks(d=5, seed=3, noise=0.4)[3]
    theta_hat = t.theta + np.random.default_rng(4).normal(scale=0.3, size=5)
    x, y = t.sample(200000, seed=5)
    assert t.test_mse(theta_hat) == pytest.approx(np.mean((x @ theta_hat - y) ** 2), rel=0.02)
    assert t.test_mse(t.theta) == pytest.approx(0.16)


def test_classification_and_relu_variants():
    xc, yc = fig3_tasks(d=5, seed=6, kind="classification")[0].sample(500, seed=7)
    assert set(np.unique(yc)) == {0.0, 1.0}
    t = fig3_tasks(d=5, seed=6, kind="relu", noise=0.0)[2]
    x, y = t.sample(300, seed=8)
    np.testing.assert_allclose(y, np.maximum(x @ t.theta, 0), atol=1e-10)
    with pytest.raises(ValueError, match="exact only for linear"):
        t.test_mse(t.theta)


def test_seeding():
    a = fig3_tasks(d=8, seed=9)
    b = fig3_tasks(d=8, seed=9)
    c = fig3_tasks(d=8, seed=10)
    np.testing.assert_array_equal(a[3].transform, b[3].transform)
    assert not np.allclose(a[0].theta, c[0].theta)
    xs1, ys1 = sample_tasks(a, [5, 6, 7, 8], seed=0)
    xs2, ys2 = sample_tasks(b, [5, 60, 7, 8], seed=0)
    assert [len(x) for x in xs1] == [5, 6, 7, 8]
    np.testing.assert_array_equal(xs1[0], xs2[0])  # changing task 2's size leaves task 1's sample alone
    np.testing.assert_array_equal(ys1[3], ys2[3])
    assert not np.array_equal(sample_tasks(a, [5] * 4, seed=1)[0][0], xs1[0])


@pytest.mark.parametrize(
    "kwargs,words",
    [({"kind": "poisson"}, "kind must be one of"), ({"d": 1}, "d must be >= 2"), ({"cosine": 1.0}, "cosine")],
)
def test_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        fig3_tasks(**kwargs)
