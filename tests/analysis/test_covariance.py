"""Covariance similarity (Eq. 5) against a direct numpy evaluation, and model task embeddings."""

import numpy as np
import pytest

from mtlzoo.analysis import (
    covariance_similarity,
    covariance_similarity_matrix,
    embedding_similarity_matrix,
    normalized_covariance_similarity,
    task_embeddings,
)


def _eq5_reference(x1, x2, energy):
    """Eq. 5 straight from the definition: eigendecompose X_i^T X_i, truncate, take norms."""

    def factor(x):
        d, u = np.linalg.eigh(x.T @ x)
        order = np.argsort(d)[::-1]
        d, u = np.clip(d[order], 0, None), u[:, order]
        r = int(np.argmax(np.cumsum(d) / d.sum() >= energy - 1e-12)) + 1
        return u[:, :r] @ np.diag(np.sqrt(d[:r])), d[:r]

    f1, d1 = factor(x1)
    f2, d2 = factor(x2)
    num = np.linalg.norm(f1.T @ f2, "fro")
    eq5 = num / (np.linalg.norm(f1, "fro") * np.linalg.norm(f2, "fro"))
    normalized = num / np.sqrt(np.linalg.norm(d1) * np.linalg.norm(d2))
    return eq5, normalized


def _correlated(rng, n, d, scales):
    return rng.normal(size=(n, d)) @ np.diag(scales) @ np.linalg.qr(rng.normal(size=(d, d)))[0]


@pytest.mark.parametrize("energy", [0.5, 0.9, 0.99, 1.0])
def test_score_equals_direct_numpy_evaluation(energy):
    rng = np.random.default_rng(0)
    d = 12
    x1 = _correlated(rng, 50, d, np.geomspace(5, 0.1, d))
    x2 = _correlated(rng, 80, d, np.geomspace(3, 0.3, d))
    eq5, normalized = _eq5_reference(x1, x2, energy)
    assert covariance_similarity(x1, x2, energy) == pytest.approx(eq5, rel=1e-9)
    assert normalized_covariance_similarity(x1, x2, energy) == pytest.approx(normalized, rel=1e-9)
    assert covariance_similarity(x2, x1, energy) == pytest.approx(eq5, rel=1e-9)


def test_large_d_with_few_examples_matches_reference():
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(30, 600)), rng.normal(size=(25, 600)) + rng.normal(size=600)
    eq5, normalized = _eq5_reference(x1, x2, 0.99)
    assert covariance_similarity(x1, x2) == pytest.approx(eq5, rel=1e-7)
    assert normalized_covariance_similarity(x1, x2) == pytest.approx(normalized, rel=1e-7)


def test_invariant_to_a_rotation_applied_to_both_inputs():
    rng = np.random.default_rng(2)
    d = 10
    x1 = _correlated(rng, 40, d, np.geomspace(4, 0.2, d))
    x2 = _correlated(rng, 60, d, np.linspace(1, 2, d))
    q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    for fn in (covariance_similarity, normalized_covariance_similarity):
        assert fn(x1 @ q, x2 @ q) == pytest.approx(fn(x1, x2), rel=1e-9)
    # ... but not to a rotation of only one of them
    assert covariance_similarity(x1 @ q, x2) != pytest.approx(covariance_similarity(x1, x2), rel=1e-3)


def test_scores_lie_in_unit_interval_and_hit_the_ends():
    rng = np.random.default_rng(3)
    for _ in range(25):
        d = int(rng.integers(2, 15))
        rank = int(rng.integers(1, d + 1))
        x1 = rng.normal(size=(int(rng.integers(1, 40)), rank)) @ rng.normal(size=(rank, d)) * rng.exponential()
        x2 = rng.normal(size=(int(rng.integers(1, 40)), d)) * rng.exponential(size=d)
        for fn in (covariance_similarity, normalized_covariance_similarity):
            assert 0.0 <= fn(x1, x2, float(rng.uniform(0.3, 1.0))) <= 1.0
    # orthogonal supports -> 0; identical rank-one data -> 1 for Eq. 5 itself
    a = np.zeros((20, 6))
    b = np.zeros((20, 6))
    a[:, :3], b[:, 3:] = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    assert covariance_similarity(a, b) == pytest.approx(0.0, abs=1e-12)
    line = rng.normal(size=(15, 1)) @ rng.normal(size=(1, 5))
    assert covariance_similarity(line, 2 * line) == pytest.approx(1.0)


def test_identical_inputs_give_frobenius_over_trace_and_normalized_one():
    x = np.random.default_rng(4).normal(size=(100, 8)) * np.arange(1, 9)
    eig = np.sort(np.linalg.eigvalsh(x.T @ x))[::-1]
    r = int(np.argmax(np.cumsum(eig) / eig.sum() >= 0.99)) + 1
    d_r = eig[:r]
    assert covariance_similarity(x, x) == pytest.approx(np.linalg.norm(d_r) / d_r.sum(), rel=1e-9)
    assert normalized_covariance_similarity(x, x) == pytest.approx(1.0)
    assert normalized_covariance_similarity(x, -3 * x) == pytest.approx(1.0)


def test_matrix_is_the_pairwise_scores():
    rng = np.random.default_rng(5)
    xs = [rng.normal(size=(30 + 5 * i, 6)) * rng.exponential(size=6) for i in range(4)]
    for normalized, fn in ((False, covariance_similarity), (True, normalized_covariance_similarity)):
        m = covariance_similarity_matrix(xs, normalized=normalized)
        assert m.shape == (4, 4)
        np.testing.assert_allclose(m, m.T)
        for i in range(4):
            for j in range(4):
                assert m[i, j] == pytest.approx(fn(xs[i], xs[j]), rel=1e-12)
    named = covariance_similarity_matrix({"a": xs[0], "b": xs[1]})
    assert named[0, 1] == pytest.approx(covariance_similarity(xs[0], xs[1]))


@pytest.mark.parametrize(
    "call,words",
    [
        (
            lambda: covariance_similarity(np.ones((5, 3)), np.ones((5, 4))),
            "x2 has 4 features but the first input has 3",
        ),
        (lambda: covariance_similarity(np.ones((0, 3)), np.ones((5, 3))), "x1 is empty"),
        (lambda: covariance_similarity(np.zeros((4, 3)), np.ones((5, 3))), "x1 is all zeros"),
        (lambda: covariance_similarity(np.ones((4, 3)), np.ones((5, 3)), energy=0), "energy must be in (0, 1]"),
        (lambda: covariance_similarity(np.ones((4, 3)), np.ones((5, 3)), energy=1.5), "energy must be in (0, 1]"),
        (lambda: covariance_similarity(np.ones(3), np.ones((5, 3))), "2-D [n, d]"),
        (lambda: covariance_similarity_matrix([np.ones((4, 3))]), "at least 2 tasks (k >= 2), got k=1"),
        (lambda: covariance_similarity_matrix([np.ones((4, 3)), np.ones((4, 2))]), "xs[1] has 2 features"),
        (lambda: covariance_similarity_matrix([np.ones((4, 3)), np.ones((0, 3))]), "xs[1] is empty"),
    ],
)
def test_bad_input_names_the_problem(call, words):
    with pytest.raises(ValueError) as e:
        call()
    assert words in str(e.value)


def _text_cnn_model():
    import mtlzoo
    from tests.helpers import model_config

    return mtlzoo.build_model(model_config("text_cnn"))


def test_task_embeddings_of_a_text_cnn_exclude_padding():
    import keras

    from tests.helpers import random_features

    model = _text_cnn_model()
    tokens = random_features("text_cnn", batch=12, time=9, seed=6)["tokens"]
    task_ids = np.arange(12) % 3
    xs = task_embeddings(model, {"tokens": tokens}, task_ids, "embedding")

    table = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    assert len(xs) == 3
    for i in range(3):
        own = tokens[task_ids == i]
        expected = table[own[own != 0]]  # one row per real token, row-major order
        np.testing.assert_allclose(xs[i], expected, rtol=1e-6)
    scores = embedding_similarity_matrix(model, {"tokens": tokens}, task_ids, "embedding")
    np.testing.assert_allclose(
        scores,
        covariance_similarity_matrix(
            [table[t[t != 0]] for t in (tokens[task_ids == 0], tokens[task_ids == 1], tokens[task_ids == 2])]
        ),
        rtol=1e-9,
    )


def test_task_embeddings_one_row_per_example_is_the_mean_of_its_real_tokens():
    import keras

    from tests.helpers import random_features

    model = _text_cnn_model()
    tokens = random_features("text_cnn", batch=12, time=9, seed=6)["tokens"]
    tokens[5] = 0  # an example without real tokens is dropped
    task_ids = np.arange(12) % 3
    xs = task_embeddings(model, {"tokens": tokens}, task_ids, "embedding", rows="examples")
    table = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    for i in range(3):
        expected = [table[t[t != 0]].mean(axis=0) for t in tokens[task_ids == i] if (t != 0).any()]
        np.testing.assert_allclose(xs[i], np.array(expected), rtol=1e-5, atol=1e-8)  # float32 sums
    assert [len(x) for x in xs] == [4, 4, 3]
    with pytest.raises(ValueError, match="rows must be"):
        task_embeddings(model, {"tokens": tokens}, task_ids, "embedding", rows="words")


def test_task_embeddings_of_flat_inputs_and_errors():
    import mtlzoo
    from tests.helpers import model_config, random_features

    model = mtlzoo.build_model(model_config("mlp"))
    feats = random_features("mlp", batch=8, seed=7)["features"]
    task_ids = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    xs = task_embeddings(model, {"features": feats}, task_ids, "features")
    np.testing.assert_allclose(xs[0], feats[task_ids == 0], rtol=1e-6)
    np.testing.assert_allclose(xs[1], feats[task_ids == 1], rtol=1e-6)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        task_embeddings(model, {"features": feats}, task_ids, "nope")
    with pytest.raises(ValueError, match="task 2 has no"):
        task_embeddings(model, {"features": feats}, task_ids, "features", num_tasks=3)
    with pytest.raises(ValueError, match="8 examples but task_ids has 3"):
        task_embeddings(model, {"features": feats}, task_ids[:3], "features")


def test_task_embeddings_of_bert_use_the_padding_mask():
    import keras

    import mtlzoo
    from tests.helpers import model_config, random_features

    model = mtlzoo.build_model(model_config("bert"))
    feats = random_features("bert", batch=6, time=7, seed=8)
    task_ids = np.array([0, 1, 0, 1, 1, 0])
    xs = task_embeddings(model, feats, task_ids, "embeddings_dropout")

    # reference: BERT's embedding block applied eagerly, sub-layer by sub-layer (dropout is off)
    tok = model.get_layer("token_embedding")(feats["token_ids"])
    summed = model.get_layer("embeddings_add")(
        (tok, model.get_layer("position_embedding")(tok), model.get_layer("segment_embedding")(feats["segment_ids"]))
    )
    full = keras.ops.convert_to_numpy(model.get_layer("embeddings_layer_norm")(summed))
    real = feats["padding_mask"] != 0
    for i in range(2):
        np.testing.assert_allclose(xs[i], full[task_ids == i][real[task_ids == i]], rtol=1e-4, atol=1e-5)


def test_task_embeddings_without_a_keras_mask_drop_padding_by_token_id():
    """A layer that carries no Keras mask (Embedding without mask_zero): padding rows are found
    from the ``tokens`` input (id 0), the documented fallback; the reference is numpy indexing."""
    import keras

    tokens = np.array([[3, 4, 0, 0], [5, 0, 0, 0], [1, 2, 6, 7], [2, 0, 0, 0], [7, 7, 1, 0]], np.int32)
    task_ids = np.array([0, 1, 0, 1, 1])
    inp = keras.Input((4,), dtype="int32", name="tokens")
    emb = keras.layers.Embedding(8, 3, mask_zero=False, name="embedding")(inp)
    model = keras.Model({"tokens": inp}, keras.layers.GlobalAveragePooling1D()(emb))
    table = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    xs = task_embeddings(model, {"tokens": tokens}, task_ids, "embedding")
    for i in range(2):
        own = tokens[task_ids == i]
        np.testing.assert_allclose(xs[i], table[own[own != 0]], rtol=1e-6)
    assert [len(x) for x in xs] == [6, 5]


def test_the_default_energy_is_099_everywhere():
    """Every public entry point keeps 99% of the spectrum unless told otherwise (the paper's setting)."""
    from mtlzoo.analysis.covariance import spectral_factor

    rng = np.random.default_rng(11)
    x1, x2 = _correlated(rng, 40, 6, [3, 2, 1, 0.5, 0.1, 0.01]), _correlated(rng, 40, 6, [1, 1, 1, 1, 1, 1])
    eq5, normalized = _eq5_reference(x1, x2, 0.99)
    assert covariance_similarity(x1, x2) == pytest.approx(eq5, rel=1e-9)
    assert normalized_covariance_similarity(x1, x2) == pytest.approx(normalized, rel=1e-9)
    np.testing.assert_allclose(covariance_similarity_matrix([x1, x2])[0, 1], eq5, rtol=1e-9)
    np.testing.assert_allclose(covariance_similarity_matrix([x1, x2], normalized=True)[0, 1], normalized, rtol=1e-9)
    f, eig = spectral_factor(x1)
    f99, eig99 = spectral_factor(x1, 0.99)
    np.testing.assert_array_equal(f, f99)
    assert len(eig) == len(eig99) < 6  # 99% of this spectrum needs fewer than all 6 directions


def test_rank_is_the_smallest_that_reaches_the_energy_exactly():
    """A flat spectrum (four equal eigenvalues): 50% of the energy is reached by exactly 2 directions,
    100% by all 4 (the round-off allowance must not add a direction)."""
    from mtlzoo.analysis.covariance import spectral_factor

    for energy, rank in ((0.5, 2), (0.75, 3), (1.0, 4), (0.26, 2)):
        f, eig = spectral_factor(np.eye(4), energy)
        assert f.shape == (4, rank) and len(eig) == rank, energy


def _token_model(time=4, mask_zero=False):
    import keras

    inp = keras.Input((time,), dtype="int32", name="tokens")
    emb = keras.layers.Embedding(8, 3, mask_zero=mask_zero, name="embedding")(inp)
    return keras.Model({"tokens": inp}, keras.layers.GlobalAveragePooling1D()(emb))


def test_task_embeddings_reject_bad_task_ids_missing_inputs_and_4d_outputs():
    import keras

    model = _token_model()
    tokens = np.array([[3, 4, 0, 0], [5, 0, 0, 0], [1, 2, 6, 7]], np.int32)
    feed = {"tokens": tokens}
    with pytest.raises(ValueError, match="task_ids is empty"):
        task_embeddings(model, feed, [], "embedding")
    with pytest.raises(ValueError, match="non-negative integers"):
        task_embeddings(model, feed, [0, -1, 1], "embedding")
    with pytest.raises(ValueError, match="non-negative integers"):
        task_embeddings(model, feed, np.array([0.0, 1.0, 1.0]), "embedding")
    with pytest.raises(ValueError, match="holds id 2 but num_tasks=2"):
        task_embeddings(model, feed, [0, 1, 2], "embedding", num_tasks=2)
    with pytest.raises(ValueError, match=r"features lack the model inputs \['tokens'\]"):
        task_embeddings(model, {"other": tokens}, [0, 1, 1], "embedding")
    inp = keras.Input((12,), name="x")
    r = keras.layers.Reshape((2, 2, 3), name="r")(inp)
    images = keras.Model({"x": inp}, keras.layers.Flatten()(r))
    with pytest.raises(ValueError, match=r"layer 'r' outputs shape \(3, 2, 2, 3\); expected"):
        task_embeddings(images, {"x": np.ones((3, 12), np.float32)}, [0, 1, 1], "r")


def test_task_embeddings_padding_from_the_padding_mask_feature_else_all_positions():
    """Without a Keras mask the ``padding_mask`` feature wins over token ids; with neither (or
    a token input of another length) every position is a row. References: numpy indexing."""
    import keras

    tokens = np.array([[3, 4, 0, 0], [5, 0, 0, 0], [1, 2, 6, 7], [2, 1, 0, 0]], np.int32)
    task_ids = np.array([0, 1, 0, 1])
    padding_mask = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]], np.int32)
    tok_in = keras.Input((4,), dtype="int32", name="tokens")
    pm_in = keras.Input((4,), dtype="int32", name="padding_mask")
    emb = keras.layers.Embedding(8, 3, name="embedding")(tok_in)
    pooled = keras.layers.GlobalAveragePooling1D()(emb)
    model = keras.Model([tok_in, pm_in], keras.layers.Add()([pooled, keras.ops.cast(pm_in[:, :3], "float32")]))
    table = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    xs = task_embeddings(model, {"tokens": tokens, "padding_mask": padding_mask}, task_ids, "embedding")
    for i in range(2):
        own, keep = tokens[task_ids == i], padding_mask[task_ids == i] != 0
        np.testing.assert_allclose(xs[i], table[own[keep]], rtol=1e-6)
    assert [len(x) for x in xs] == [4, 3]

    x_in = keras.Input((4, 3), name="x")
    dense = keras.layers.Dense(2, use_bias=False, name="proj")(x_in)
    flat = keras.Model({"x": x_in}, keras.layers.GlobalAveragePooling1D()(dense))
    x = np.random.default_rng(0).normal(size=(4, 4, 3)).astype(np.float32)
    kernel = keras.ops.convert_to_numpy(flat.get_layer("proj").kernel)
    for feats in ({"x": x}, {"x": x, "tokens": np.ones((4, 5), np.int32)}):  # tokens of another length: ignored
        xs = task_embeddings(flat, feats, task_ids, "proj")
        for i in range(2):
            np.testing.assert_allclose(xs[i], (x[task_ids == i] @ kernel).reshape(-1, 2), rtol=1e-5, atol=1e-6)


def _alignment_model(seed):
    """A 3-d input routed by ``task_id`` through a 2-task CovarianceAlignment with random R,
    6 random rows and their task ids: ``(model, R, x, task_ids)``."""
    import keras

    from mtlzoo.layers import CovarianceAlignment

    x_in = keras.Input((3,), name="features")
    t_in = keras.Input((), dtype="int32", name="task_id")
    aligned = CovarianceAlignment(2, name="alignment")([x_in, t_in])
    model = keras.Model({"features": x_in, "task_id": t_in}, keras.layers.Dense(1)(aligned))
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(2, 3, 3)).astype(np.float32)
    model.get_layer("alignment").set_weights([R])
    x = rng.normal(size=(6, 3)).astype(np.float32)
    return model, R, x, np.array([1, 0, 0, 1, 1, 0])


def test_task_embeddings_feed_task_id_to_an_alignment_model():
    model, R, x, task_ids = _alignment_model(1)
    xs = task_embeddings(model, {"features": x}, task_ids, "alignment", batch_size=4)
    for i in range(2):
        np.testing.assert_allclose(xs[i], x[task_ids == i] @ R[i], rtol=1e-5, atol=1e-6)


def test_task_embeddings_refuse_a_layer_called_twice_in_the_model():
    """A layer reused inside the model has two outputs there: refused, naming how often the
    model calls it (2), not how often it was called in all (3, with another model's call)."""
    import keras

    shared = keras.layers.Dense(2, name="shared")
    other_in = keras.Input((3,), name="features")
    keras.Model(other_in, shared(other_in))  # a third call, in another model
    x_in = keras.Input((3,), name="features")
    model = keras.Model(x_in, keras.layers.Add()([shared(x_in), shared(keras.layers.Dense(3)(x_in))]))
    assert len(shared._inbound_nodes) == 3
    with pytest.raises(ValueError, match="layer 'shared' is called 2 times; its output is ambiguous"):
        task_embeddings(model, {"features": np.ones((2, 3), np.float32)}, [0, 1], "shared")


def test_task_embeddings_take_padding_from_the_keras_mask_first():
    """An Embedding with ``mask_zero`` on an input that is neither ``tokens`` nor ``token_ids``:
    only the layer's Keras mask knows the padding (the features offer no fallback). Rows and
    per-example means (an example with one real token, one with none) against numpy indexing."""
    import keras

    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0], [1, 2, 6, 7], [0, 0, 0, 0], [7, 7, 1, 0]], np.int32)
    task_ids = np.array([0, 1, 0, 1, 1])
    inp = keras.Input((4,), dtype="int32", name="ids")
    emb = keras.layers.Embedding(8, 3, mask_zero=True, name="embedding")(inp)
    model = keras.Model({"ids": inp}, keras.layers.GlobalAveragePooling1D()(emb))
    table = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings).astype(np.float64)
    xs = task_embeddings(model, {"ids": ids}, task_ids, "embedding")
    means = task_embeddings(model, {"ids": ids}, task_ids, "embedding", rows="examples")
    for i in range(2):
        own = ids[task_ids == i]
        np.testing.assert_allclose(xs[i], table[own[own != 0]], rtol=1e-6)
        expected = np.array([table[t[t != 0]].mean(axis=0) for t in own if (t != 0).any()])
        np.testing.assert_allclose(means[i], expected, rtol=1e-6)
    assert [len(x) for x in xs] == [6, 4] and [len(m) for m in means] == [2, 2]


def test_task_embeddings_of_a_model_with_one_bare_input():
    """``keras.Model(input, output)`` (one input tensor, neither a list nor a dict): the input is
    found by its name and fed; the rows are the layer's outputs, checked against numpy."""
    import keras

    x_in = keras.Input((3,), name="features")
    model = keras.Model(x_in, keras.layers.Dense(2, use_bias=False, name="proj")(x_in))
    x = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    kernel = keras.ops.convert_to_numpy(model.get_layer("proj").kernel)
    task_ids = np.array([1, 0, 1, 1, 0])
    xs = task_embeddings(model, {"features": x}, task_ids, "proj")
    for i in range(2):
        np.testing.assert_allclose(xs[i], x[task_ids == i] @ kernel, rtol=1e-5, atol=1e-6)


def test_task_embeddings_keep_a_task_id_the_features_bring():
    """``task_id`` is added from ``task_ids`` only when the features lack it: features that
    route every example through R_0 keep doing so, while the rows are still grouped by
    ``task_ids`` (numpy: x @ R_0 for both groups)."""
    model, R, x, task_ids = _alignment_model(3)
    feats = {"features": x, "task_id": np.zeros(6, np.int32)}
    xs = task_embeddings(model, feats, task_ids, "alignment")
    for i in range(2):
        np.testing.assert_allclose(xs[i], x[task_ids == i] @ R[0], rtol=1e-5, atol=1e-6)
