"""The alignment sits between E and B: identity at init leaves every encoder's outputs unchanged."""

import numpy as np
import pytest

import mtlzoo
from tests.helpers import SMALL_ENCODERS, assert_keras_round_trip, model_config, random_features


@pytest.mark.parametrize("encoder", sorted(SMALL_ENCODERS))
def test_identity_alignment_changes_nothing(encoder, tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    plain = mtlzoo.build_model(model_config(encoder))
    cfg = model_config(encoder)
    cfg["model"]["alignment"] = "joint"
    aligned = mtlzoo.build_model(cfg)
    assert "task_id" in aligned.input and aligned.get_layer("alignment") is not None
    for layer in plain.layers:
        if layer.weights:
            aligned.get_layer(layer.name).set_weights(layer.get_weights())
    x = random_features(encoder, batch=5)
    xa = {**x, "task_id": np.array([0, 1, 2, 1, 0], np.int32)}
    a, b = plain.predict(x, verbose=0), aligned.predict(xa, verbose=0)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5, err_msg=f"{encoder}/{k}")
    assert_keras_round_trip(aligned, xa, tmp_path, "aligned")


def test_alignment_routes_by_task_id():
    cfg = model_config("mlp")
    cfg["model"]["alignment"] = "joint"
    model = mtlzoo.build_model(cfg)
    layer = model.get_layer("alignment")
    R = layer.get_weights()[0]
    R[1] = 2.0 * np.eye(R.shape[1])  # task 1 doubles its features
    layer.set_weights([R])
    x = random_features("mlp", batch=2)
    same = {"features": np.repeat(x["features"][:1], 2, 0), "task_id": np.array([0, 1], np.int32)}
    doubled = {"features": np.stack([x["features"][0], 2 * x["features"][0]]), "task_id": np.array([0, 0], np.int32)}
    a, b = model.predict(same, verbose=0), model.predict(doubled, verbose=0)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5)
