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
