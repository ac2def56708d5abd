"""Loss weightings update as their papers define (checked against numpy)."""

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo import ConfigError
from mtlzoo.weighting.weightings import build_weighting

TASKS = ["a", "b", "c"]


def test_ew_and_static():
    w = build_weighting({"name": "ew"}, TASKS)
    weighted, extra = w.combine(tf.constant([1.0, 2.0, 3.0]), 0)
    np.testing.assert_allclose(weighted.numpy(), [1, 2, 3])
    s = build_weighting({"name": "static", "weights": {"b": 0.5}}, TASKS)
    np.testing.assert_allclose(s.combine(tf.constant([1.0, 2.0, 3.0]), 0)[0].numpy(), [1, 1, 3])
    with pytest.raises(ConfigError, match="train.weighting.weights.z: no task named 'z'"):
        build_weighting({"name": "static", "weights": {"z": 1.0}}, TASKS)


def test_uncertainty_matches_kendall_form_and_its_gradient():
    w = build_weighting({"name": "uncertainty"}, TASKS)
    w.log_vars.assign([0.0, 1.0, -1.0])
    L = tf.constant([2.0, 2.0, 2.0])
    with tf.GradientTape() as tape:
        weighted, extra = w.combine(L, 0)
        total = tf.reduce_sum(weighted) + extra
    s = np.array([0.0, 1.0, -1.0])
    np.testing.assert_allclose(total.numpy(), np.sum(2.0 / (2 * np.exp(s)) + s / 2), rtol=1e-6)
    # d/ds [L/(2e^s) + s/2] = -L/(2e^s) + 1/2
    np.testing.assert_allclose(tape.gradient(total, w.log_vars).numpy(), -2.0 / (2 * np.exp(s)) + 0.5, rtol=1e-5)


def test_dwa_uses_the_last_two_epoch_means():
    w = build_weighting({"name": "dwa", "temperature": 2.0}, TASKS, steps_per_epoch=2)
    epochs = [[[1.0, 1.0, 1.0], [3.0, 1.0, 1.0]], [[1.0, 2.0, 1.0], [1.0, 2.0, 3.0]]]
    step = 0
    for epoch in epochs:
        for losses in epoch:
            np.testing.assert_allclose(w.weights(step).numpy(), [1, 1, 1])  # first two epochs
            w.update(tf.constant(losses), tf.constant(step, tf.int64))
            step += 1
    l1 = np.mean(epochs[1], axis=0)
    l2 = np.mean(epochs[0], axis=0)
    r = l1 / l2
    expected = 3 * np.exp(r / 2) / np.exp(r / 2).sum()
    np.testing.assert_allclose(w.weights(step).numpy(), expected, rtol=1e-5)


def test_rlw_is_a_softmax_of_a_normal_draw_reproducible_by_step():
    w = build_weighting({"name": "rlw"}, TASKS, seed=3)
    a, b, c = w.weights(5).numpy(), w.weights(5).numpy(), w.weights(6).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert abs(a.sum() - 1) < 1e-6 and np.all(a > 0)
    draws = np.stack([w.weights(s).numpy() for s in range(400)])
    np.testing.assert_allclose(draws.mean(0), 1 / 3, atol=0.05)  # exchangeable: mean 1/k


def test_gradnorm_moves_weights_toward_balanced_gradient_norms():
    w = build_weighting({"name": "gradnorm", "alpha": 1.5, "lr": 0.1}, TASKS)
    norms = tf.constant([1.0, 2.0, 4.0])
    losses0 = tf.constant([1.0, 1.0, 1.0])
    w.update(losses0, 0, norms)
    # numpy: G = w * norms = [1, 2, 4]; r = 1; target = mean(G) = 7/3
    G = np.array([1.0, 2.0, 4.0])
    new = np.ones(3) - 0.1 * np.sign(G - 7 / 3) * np.array([1.0, 2.0, 4.0])
    new = new * 3 / new.sum()
    np.testing.assert_allclose(w.weights(1).numpy(), new, rtol=1e-5)
    assert abs(w.weights(1).numpy().sum() - 3) < 1e-5
    # the task with the largest gradient norm loses weight
    assert w.weights(1).numpy()[2] < 1 < w.weights(1).numpy()[0]
