"""Gate, expert mixture and cross-stitch layers against numpy evaluations of their equations."""

import numpy as np
import pytest

from mtlzoo.layers import CrossStitch, ExpertMixture, MixtureGate
from tests.helpers import assert_keras_round_trip


def _softmax(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_gate_is_softmax_of_affine_map_and_rows_sum_to_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5)).astype(np.float32)
    gate = MixtureGate(3, expert_names=["a", "b", "c"])
    gate.build((None, 5))
    W = rng.normal(size=(5, 3)).astype(np.float32)
    b = rng.normal(size=(3,)).astype(np.float32)
    gate.set_weights([W, b])
    g = np.asarray(gate(x))
    np.testing.assert_allclose(g, _softmax(x @ W + b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g.sum(axis=1), np.ones(7), atol=1e-6)
    assert (g > 0).all()


def test_gate_rejects_wrong_number_of_expert_names():
    with pytest.raises(ValueError, match="expert_names"):
        MixtureGate(3, expert_names=["a", "b"])


def test_expert_mixture_is_the_gated_sum():
    rng = np.random.default_rng(1)
    g = _softmax(rng.normal(size=(4, 3))).astype(np.float32)
    experts = [rng.normal(size=(4, 6)).astype(np.float32) for _ in range(3)]
    y = np.asarray(ExpertMixture()([g, *experts]))
    ref = sum(g[:, j : j + 1] * experts[j] for j in range(3))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k,alpha_self", [(2, 0.9), (3, 0.7), (3, 1.0)])
def test_cross_stitch_initialisation_and_linear_combination(k, alpha_self):
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=(5, 4)).astype(np.float32) for _ in range(k)]
    unit = CrossStitch(k, alpha_self=alpha_self)
    ys = [np.asarray(y) for y in unit(xs)]
    off = (1 - alpha_self) / (k - 1)
    A = np.full((k, k), off) + np.eye(k) * (alpha_self - off)
    np.testing.assert_allclose(np.asarray(unit.alpha), A, atol=1e-7)
    for i in range(k):  # Misra et al. eq. 1: x~_i = sum_j alpha_ij x_j
        np.testing.assert_allclose(ys[i], sum(A[i, j] * xs[j] for j in range(k)), rtol=1e-5, atol=1e-6)
    # an arbitrary alpha
    B = rng.normal(size=(k, k)).astype(np.float32)
    unit.set_weights([B])
    ys = [np.asarray(y) for y in unit(xs)]
    for i in range(k):
        np.testing.assert_allclose(ys[i], sum(B[i, j] * xs[j] for j in range(k)), rtol=1e-5, atol=1e-5)


def test_identity_cross_stitch_passes_columns_through():
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(3)]
    for x, y in zip(xs, CrossStitch(3)(xs), strict=True):
        np.testing.assert_array_equal(np.asarray(y), x)


def test_layers_round_trip_through_a_keras_file(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((5,), name="x")
    e = [keras.layers.Dense(4, name=f"e{j}")(x) for j in range(3)]
    g = MixtureGate(3, expert_names=["e0", "e1", "e2"], name="gate")(x)
    m = ExpertMixture(name="mix")([g, *e])
    a, b = CrossStitch(2, alpha_self=0.8, task_names=["a", "b"], name="stitch")([m, e[0]])
    model = keras.Model(x, {"a": a, "b": b, "g": g})
    model.get_layer("stitch").set_weights([np.array([[0.7, 0.2], [0.4, 0.5]], np.float32)])
    data = np.random.default_rng(4).normal(size=(6, 5)).astype(np.float32)
    loaded = assert_keras_round_trip(model, data, tmp_path, "experts")
    assert loaded.get_layer("gate").expert_names == ["e0", "e1", "e2"]
    assert loaded.get_layer("stitch").task_names == ["a", "b"]
    assert loaded.get_layer("stitch").alpha_self == 0.8
