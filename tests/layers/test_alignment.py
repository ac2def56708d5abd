"""CovarianceAlignment (Algorithm 1) against numpy, masks, gradients and the .keras round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.layers import CovarianceAlignment
from tests.helpers import assert_keras_round_trip


def _random_kernel(layer, seed=0):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=tuple(layer.kernel.shape)).astype(np.float32)
    layer.kernel.assign(kernel)
    return kernel


@pytest.mark.parametrize("shape", [(5, 4), (5, 3, 4)])
def test_identity_init_leaves_inputs_unchanged(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    task_id = np.array([0, 2, 1, 2, 0])
    layer = CovarianceAlignment(3)
    y = keras.ops.convert_to_numpy(layer([x, task_id]))
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.kernel), np.stack([np.eye(4)] * 3))


@pytest.mark.parametrize("shape", [(6, 4), (6, 3, 4)])
def test_routing_by_task_id_matches_numpy_einsum(shape):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype(np.float32)
    task_id = np.array([2, 0, 1, 1, 2, 0], dtype=np.int32)
    layer = CovarianceAlignment(3)
    layer([x, task_id])  # builds
    kernel = _random_kernel(layer)
    y = keras.ops.convert_to_numpy(layer([x, task_id]))
    per_example = kernel[task_id]  # [batch, d, d]
    expected = np.einsum("bd,bde->be" if x.ndim == 2 else "btd,bde->bte", x, per_example)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # [batch, 1] task ids route the same way
    y2 = keras.ops.convert_to_numpy(layer([x, task_id[:, None]]))
    np.testing.assert_array_equal(y, y2)


def test_gradient_reaches_only_the_tasks_in_the_batch():
    x = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)
    task_id = np.array([0, 2, 0, 2])
    layer = CovarianceAlignment(3)
    layer([x, task_id])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer([x, task_id]) ** 2)
    grad = tape.gradient(loss, layer.kernel.value)
    grad = tf.convert_to_tensor(grad).numpy()
    assert np.abs(grad[0]).sum() > 0 and np.abs(grad[2]).sum() > 0
    np.testing.assert_array_equal(grad[1], 0)
    # d/dR_0 sum ||x_b R_0||^2 over the task-0 rows = 2 X_0^T X_0 at R_0 = I
    x0 = x[task_id == 0]
    np.testing.assert_allclose(grad[0], 2 * x0.T @ x0, rtol=1e-5)


def test_keras_mask_passes_through_and_is_honoured_downstream():
    tokens = np.array([[3, 5, 7, 0, 0], [2, 0, 0, 0, 0], [4, 4, 9, 1, 6]], dtype=np.int32)
    task_id = np.array([1, 0, 1], dtype=np.int32)
    tok_in = keras.Input((None,), dtype="int32", name="tokens")
    tid_in = keras.Input((), dtype="int32", name="task_id")
    emb = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding")(tok_in)
    aligned = CovarianceAlignment(2, name="alignment")([emb, tid_in])
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(aligned)  # masked mean when a mask arrives
    model = keras.Model({"tokens": tok_in, "task_id": tid_in}, {"aligned": aligned, "pooled": pooled})
    kernel = _random_kernel(model.get_layer("alignment"), seed=3)
    out = model.predict({"tokens": tokens, "task_id": task_id}, verbose=0)

    table = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    expected_aligned = np.einsum("btd,bde->bte", table[tokens], kernel[task_id])
    np.testing.assert_allclose(out["aligned"], expected_aligned, rtol=1e-5, atol=1e-6)
    for b in range(len(tokens)):
        real = expected_aligned[b][tokens[b] != 0]
        np.testing.assert_allclose(out["pooled"][b], real.mean(0), rtol=1e-5, atol=1e-6)

    # eagerly, the mask object on the output is the input's mask
    x = model.get_layer("embedding")(tokens)
    y = model.get_layer("alignment")([x, task_id])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(y._keras_mask), tokens != 0)


def test_round_trip_through_keras_file(tmp_path):
    x_in = keras.Input((None, 4), name="x")
    tid_in = keras.Input((), dtype="int32", name="task_id")
    model = keras.Model({"x": x_in, "task_id": tid_in}, CovarianceAlignment(3, name="alignment")([x_in, tid_in]))
    _random_kernel(model.get_layer("alignment"), seed=4)
    rng = np.random.default_rng(5)
    feed = {"x": rng.normal(size=(5, 3, 4)).astype(np.float32), "task_id": np.array([0, 1, 2, 1, 0])}
    loaded = assert_keras_round_trip(model, feed, tmp_path, "alignment")
    layer = loaded.get_layer("alignment")
    assert isinstance(layer, CovarianceAlignment) and layer.num_tasks == 3


def test_identity_penalty_adds_the_distance_to_identity():
    layer = CovarianceAlignment(2, identity_penalty=0.5)
    x = np.ones((2, 3), np.float32)
    layer([x, np.array([0, 1])])
    kernel = _random_kernel(layer, seed=6)
    layer([x, np.array([0, 1])])
    expected = 0.5 * np.sum((kernel - np.eye(3)) ** 2)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(layer.losses[-1])), expected, rtol=1e-5)
    assert CovarianceAlignment.from_config(layer.get_config()).identity_penalty == 0.5


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_tasks must be >= 1"):
        CovarianceAlignment(0)
    with pytest.raises(ValueError, match="identity_penalty"):
        CovarianceAlignment(2, identity_penalty=-1)
    with pytest.raises(ValueError, match=r"\[batch, \.\.\., d\]"):
        CovarianceAlignment(2)([np.ones((2,), np.float32), np.array([0, 1])])


def test_images_align_channels_at_every_position():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)
    layer = CovarianceAlignment(2)
    layer.build([x.shape, (2,)])
    R = rng.normal(size=(2, 4, 4)).astype(np.float32)
    layer.set_weights([R])
    tid = np.array([1, 0])
    y = np.asarray(layer([x, tid]))
    np.testing.assert_allclose(y, np.einsum("bhwd,bde->bhwe", x, R[tid]), rtol=1e-5, atol=1e-5)


def test_unknown_d_and_numpy_num_tasks():
    with pytest.raises(ValueError, match="last dimension d of x must be known"):
        CovarianceAlignment(2).build([(None, None), (None,)])
    # num_tasks from numpy (e.g. a count of task ids) is stored as a Python int: the config is JSON
    import json

    layer = CovarianceAlignment(np.int64(3))
    assert json.loads(json.dumps(layer.get_config()))["num_tasks"] == 3
    assert CovarianceAlignment(2, identity_penalty=0).get_config()["identity_penalty"] == 0.0


def test_penalty_off_adds_no_loss_and_the_output_shape_is_x_shape():
    layer = CovarianceAlignment(2)
    layer([np.ones((2, 3), np.float32), np.array([0, 1])])
    assert layer.losses == []
    assert layer.compute_output_shape([(None, 5, 3), (None,)]) == (None, 5, 3)
    assert layer.compute_mask([np.ones((2, 3)), np.array([0, 1])], None) is None


def test_compute_mask_returns_the_mask_of_x_alone():
    """One output tensor, one mask: x's mask (a list of input masks or a bare mask), never the list."""
    layer = CovarianceAlignment(2)
    m = np.array([[True, True, False], [True, False, False]])
    x, tid = np.ones((2, 3, 4), np.float32), np.array([0, 1])
    np.testing.assert_array_equal(layer.compute_mask([x, tid], [m, None]), m)
    np.testing.assert_array_equal(layer.compute_mask([x, tid], (m, None)), m)
    np.testing.assert_array_equal(layer.compute_mask([x, tid], m), m)


def test_a_single_task_is_allowed_and_applies_its_one_matrix():
    layer = CovarianceAlignment(1)
    x = np.random.default_rng(7).normal(size=(3, 2)).astype(np.float32)
    layer([x, np.zeros(3, np.int32)])
    R = np.array([[[2.0, 1.0], [0.0, -1.0]]], np.float32)
    layer.set_weights([R])
    np.testing.assert_allclose(np.asarray(layer([x, np.zeros(3, np.int32)])), x @ R[0], rtol=1e-6)
