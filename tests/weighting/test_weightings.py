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


def _gradnorm_numpy(w, initial, losses, norms, alpha, lr):
    """One GradNorm update (Chen et al. 2018, Eq. 1-2 with the sign step), written out in numpy."""
    G = w * norms
    ratio = losses / initial
    r = ratio / ratio.mean()
    target = G.mean() * r**alpha
    new = np.maximum(w - lr * np.sign(G - target) * norms, 1e-6)
    return new * len(w) / new.sum()


def test_gradnorm_two_steps_use_the_first_losses_and_alpha_against_numpy():
    w = build_weighting({"name": "gradnorm", "alpha": 1.5, "lr": 0.1}, TASKS)
    L0, L1 = np.array([1.0, 2.0, 4.0]), np.array([0.2, 2.0, 4.0])
    n0, n1 = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0])
    w.update(tf.constant(L0, tf.float32), 0, tf.constant(n0, tf.float32))
    w1 = _gradnorm_numpy(np.ones(3), L0, L0, n0, 1.5, 0.1)
    np.testing.assert_allclose(w.weights(1).numpy(), w1, rtol=1e-5)
    w.update(tf.constant(L1, tf.float32), 1, tf.constant(n1, tf.float32))
    ref = _gradnorm_numpy(w1, L0, L1, n1, 1.5, 0.1)  # the ratios are to the FIRST step's losses
    np.testing.assert_allclose(w.weights(2).numpy(), ref, rtol=1e-5)
    # these numbers tell the first losses from the current ones, and alpha from 0
    assert not np.allclose(ref, _gradnorm_numpy(w1, L1, L1, n1, 1.5, 0.1))
    assert not np.allclose(ref, _gradnorm_numpy(w1, L0, L1, n1, 0.0, 0.1))


def test_dwa_over_three_epochs_against_numpy_epoch_means():
    """Three epochs of two steps: each epoch's mean starts from zero (a sum carried over from
    the epoch before would change the ratios unevenly here)."""
    w = build_weighting({"name": "dwa", "temperature": 2.0}, TASKS, steps_per_epoch=2)
    epochs = [
        [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]],
        [[1.0, 1.0, 4.0], [3.0, 1.0, 2.0]],
        [[2.0, 2.0, 2.0], [4.0, 1.0, 1.0]],
    ]
    means = [np.mean(e, axis=0) for e in epochs]
    step = 0
    for e, epoch in enumerate(epochs):
        if e >= 2:
            r = means[e - 1] / means[e - 2]
            np.testing.assert_allclose(w.weights(step).numpy(), 3 * np.exp(r / 2) / np.exp(r / 2).sum(), rtol=1e-5)
        for losses in epoch:
            w.update(tf.constant(losses), tf.constant(step, tf.int64))
            step += 1
    r = means[2] / means[1]
    np.testing.assert_allclose(w.weights(step).numpy(), 3 * np.exp(r / 2) / np.exp(r / 2).sum(), rtol=1e-5)


def test_gradnorm_floors_a_weight_pushed_below_zero_at_1e6():
    w = build_weighting({"name": "gradnorm", "alpha": 1.5, "lr": 10.0}, TASKS)
    L = np.array([1.0, 1.0, 1.0])
    n = np.array([1.0, 2.0, 4.0])
    w.update(tf.constant(L, tf.float32), 0, tf.constant(n, tf.float32))
    # w - 10 * sign(G - 7/3) * n = [11, 21, -39]: the last floored to 1e-6, then renormalised to sum 3
    raw = np.array([11.0, 21.0, 1e-6])
    np.testing.assert_allclose(w.weights(1).numpy(), raw * 3 / raw.sum(), rtol=1e-5)


def test_uncertainty_reports_its_weights_as_half_exp_minus_s():
    w = build_weighting({"name": "uncertainty"}, TASKS)
    s = np.array([0.0, 1.0, -1.0])
    w.log_vars.assign(s)
    np.testing.assert_allclose(w.weights(0).numpy(), 0.5 * np.exp(-s), rtol=1e-6)


def test_ew_weights_are_ones_and_carry_no_gradient():
    w = build_weighting({"name": "ew"}, TASKS)
    np.testing.assert_array_equal(w.weights(0).numpy(), [1, 1, 1])
    L = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        weighted, extra = w.combine(L, 0)
        total = tf.reduce_sum(weighted)
    np.testing.assert_array_equal(tape.gradient(total, L).numpy(), [1, 1, 1])
    assert float(extra) == 0.0


def test_build_weighting_defaults_to_ew_and_needs_a_name():
    from mtlzoo.weighting.weightings import EqualWeighting

    assert type(build_weighting(None, TASKS)) is EqualWeighting and type(build_weighting({}, TASKS)) is EqualWeighting
    with pytest.raises(ConfigError, match="train.weighting.name: missing required field"):
        build_weighting({"temperature": 2.0}, TASKS)
    with pytest.raises(ConfigError, match="phase.weighting.name: missing required field"):
        build_weighting({"temperature": 2.0}, TASKS, field="phase.weighting")
    w = build_weighting({"name": "dwa"}, TASKS, seed=5, steps_per_epoch=7)
    assert (w.seed, w.steps_per_epoch, w.k, w.opts["temperature"]) == (5, 7, 3, 2.0)


def test_a_weighting_is_a_named_tf_module_that_tracks_its_variables():
    w = build_weighting({"name": "uncertainty"}, TASKS)
    assert w.name == "uncertaintyweighting"
    assert [v.name for v in w.trainable_variables] == ["log_vars:0"]


def test_build_weighting_defaults_seed_0_and_one_step_per_epoch():
    w = build_weighting({"name": "dwa"}, TASKS)
    assert (w.seed, w.steps_per_epoch) == (0, 1)
    np.testing.assert_array_equal(build_weighting({"name": "rlw"}, TASKS).weights(3).numpy(), _rlw_seed0(3))


def _rlw_seed0(step):
    """RLW's weights for seed 0 (softmax of the stateless normal draw keyed by (seed, step))."""
    return tf.nn.softmax(tf.random.stateless_normal([3], seed=tf.constant([0, step], tf.int64))).numpy()


@pytest.mark.parametrize("name,state", [("dwa", 4), ("gradnorm", 3)])
def test_dwa_and_gradnorm_state_is_not_trainable(name, state):
    """Their state moves by the paper's own rule in ``update`` (DWA's epoch means, GradNorm's
    Eq. 2 step), never by the optimiser: no trainable variable, all of it tracked."""
    w = build_weighting({"name": name}, TASKS)
    assert w.trainable_variables == ()
    assert len(w.variables) == state and not any(v.trainable for v in w.variables)


def test_dwa_epochs_of_three_steps_end_at_steps_2_5_8():
    """An epoch of 3 steps ends after steps 2, 5, 8 (0-based): the means are over those
    blocks of three (with 2 steps an epoch, s + 1 and s - 1 have the same parity)."""
    w = build_weighting({"name": "dwa", "temperature": 2.0}, TASKS, steps_per_epoch=3)
    losses = np.random.default_rng(4).uniform(0.5, 3.0, size=(9, 3))
    for step, row in enumerate(losses):
        w.update(tf.constant(row, tf.float32), tf.constant(step, tf.int64))
    means = losses.reshape(3, 3, 3).mean(axis=1)  # [epoch, task]
    r = means[2] / means[1]
    np.testing.assert_allclose(w.weights(9).numpy(), 3 * np.exp(r / 2) / np.exp(r / 2).sum(), rtol=1e-5)


def test_gradnorm_target_raises_r_to_the_power_alpha():
    """G = [1, 2, 3] sits around its mean 2: the target mean(G) r^alpha (r = 1 at the first
    step) puts task 0 below and task 2 above it, while r * alpha = 1.5 would put tasks 0 and 1
    below; at the second step r = [0.5, 1, 2] / mean spreads the targets further."""
    w = build_weighting({"name": "gradnorm", "alpha": 1.5, "lr": 0.1}, TASKS)
    L0, L1, n = np.array([1.0, 1.0, 1.0]), np.array([0.5, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    w.update(tf.constant(L0, tf.float32), 0, tf.constant(n, tf.float32))
    w1 = _gradnorm_numpy(np.ones(3), L0, L0, n, 1.5, 0.1)
    np.testing.assert_allclose(w.weights(1).numpy(), w1, rtol=1e-5)
    w.update(tf.constant(L1, tf.float32), 1, tf.constant(n, tf.float32))
    np.testing.assert_allclose(w.weights(2).numpy(), _gradnorm_numpy(w1, L0, L1, n, 1.5, 0.1), rtol=1e-5)


def test_a_weighting_built_directly_defaults_to_seed_0_and_one_step_per_epoch():
    from mtlzoo.weighting.weightings import WEIGHTINGS

    for name in ("ew", "dwa", "rlw"):
        w = WEIGHTINGS.get(name)(TASKS)
        assert (w.seed, w.steps_per_epoch) == (0, 1), name
    np.testing.assert_array_equal(WEIGHTINGS.get("rlw")(TASKS).weights(3).numpy(), _rlw_seed0(3))
