"""``model.tower.dropout`` reaches the output layer also when the tower has no layers.

A linear head on the shared representation (``tower.units: []``, the GLUE configs' BERT-style
head) with ``dropout: 0.5``: in inference the task's output is the closed form
sigmoid(h W + b) of the shared vector h; in training about half of h's units are zeroed and the
rest scaled by 2 before W, which the test recomputes from the dropout mask it recovers.
Before the fix the setting was silently ignored (no dropout anywhere in the head).
"""

import keras
import numpy as np

from mtlzoo.models import build_model


def _config(units, dropout):
    return {
        "seed": 0,
        "tasks": {"a": {"kind": "binary"}},
        "data": {"source": "synthetic"},
        "model": {
            "encoder": {"name": "mlp", "input_dim": 6, "units": [64]},
            "tower": {"units": units, "dropout": dropout},
        },
    }


def test_a_linear_head_gets_its_dropout():
    keras.utils.set_random_seed(0)
    model = build_model(_config([], 0.5))
    names = [layer.name for layer in model.layers]
    assert "a__head_dropout" in names
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    shared = keras.Model(model.inputs, model.get_layer("a__head_dropout").input)
    inputs = {"features": x}
    h = np.asarray(shared(inputs, training=False))
    w, b = (np.asarray(v) for v in model.get_layer("a").weights)
    out = np.asarray(model(inputs, training=False)["a"])
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(h @ w + b))), rtol=1e-5, atol=1e-6)
    dropped = np.asarray(keras.Model(model.inputs, model.get_layer("a").input)(inputs, training=True))
    kept = dropped != 0
    live = h != 0
    assert 0.3 < kept[live].mean() < 0.7  # about half of the live units dropped
    np.testing.assert_allclose(dropped[kept], 2 * h[kept], rtol=1e-5)


def test_no_dropout_layer_when_dropout_is_zero_and_tower_layers_keep_theirs():
    assert not any("dropout" in layer.name for layer in build_model(_config([], 0.0)).layers)
    names = [layer.name for layer in build_model(_config([8], 0.5)).layers]
    assert "a__tower_dropout_0" in names and "a__head_dropout" not in names


def test_the_output_initializer_option_draws_the_kernel_as_named():
    """``bert_truncated_normal``: sd 0.02 cut at 2 sd (checked against the closed form of a
    normal truncated at +-2 sd: sd x 0.8796); the default keeps Keras' Glorot uniform bound
    sqrt(6 / (fan_in + fan_out))."""
    cfg = _config([], 0.0)
    cfg["model"]["encoder"]["units"] = [2048]
    cfg["tasks"] = {"a": {"kind": "multiclass", "num_classes": 8}}
    keras.utils.set_random_seed(0)
    glorot = np.asarray(build_model(cfg).get_layer("a").kernel)
    bound = np.sqrt(6 / (2048 + 8))
    assert np.abs(glorot).max() <= bound and np.abs(glorot).max() > 0.95 * bound
    cfg["model"]["tower"]["output_initializer"] = "bert_truncated_normal"
    keras.utils.set_random_seed(0)
    bert = np.asarray(build_model(cfg).get_layer("a").kernel)
    assert np.abs(bert).max() <= 0.04 + 1e-7
    assert abs(bert.std() - 0.02 * 0.8796) < 0.0005  # 16,384 draws: sd of the estimate ~1e-4
    assert abs(bert.mean()) < 0.0005
