"""mtlzoo.models.keras_saving: Keras' saving skipsets kept once per process, and the files
written with them the same as with Keras' own recomputing function."""

import h5py
import numpy as np


def _model():
    import mtlzoo

    return mtlzoo.build_model(
        {
            "tasks": {"a": {"kind": "binary"}, "b": {"kind": "multiclass", "num_classes": 3}},
            "model": {"architecture": "mmoe", "encoder": {"name": "mlp", "input_dim": 4, "units": [8]}},
        }
    )


def _h5(path):
    """Every dataset of an .h5 file: {path inside the file: values}."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _counting_reference_layers(monkeypatch):
    """A list that grows by one per plain ``Layer()`` built (Keras' reference object)."""
    from keras.src.layers.layer import Layer

    built = []
    init = Layer.__init__

    def counting(self, *args, **kwargs):
        if type(self) is Layer:
            built.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(Layer, "__init__", counting)
    return built


def test_a_second_save_builds_no_reference_layer(monkeypatch, tmp_path):
    """Keras 3.15 builds a fresh ``Layer()`` per layer walked, on every save; kept, the second
    save builds none."""
    import keras

    import mtlzoo.models  # noqa: F401  (keeps the skipsets)

    model = _model()
    built = _counting_reference_layers(monkeypatch)
    keras.utils.clear_session()  # whatever earlier tests left in Keras' global state
    model.save_weights(str(tmp_path / "1.weights.h5"))
    first = len(built)
    model.save_weights(str(tmp_path / "2.weights.h5"))
    assert first >= 1 and len(built) == first, (first, len(built))


def test_files_equal_those_of_keras_own_function(monkeypatch, tmp_path):
    """The same datasets, names and values as with Keras' recomputing ``get_attr_skipset``, and
    weights loaded back into a fresh model equal the saved ones (numpy)."""
    import keras
    from keras.src.saving import saving_lib

    import mtlzoo.models  # noqa: F401

    keras.utils.set_random_seed(0)
    model = _model()
    kept = saving_lib.get_attr_skipset
    model.save_weights(str(tmp_path / "kept.weights.h5"))
    model.save(str(tmp_path / "kept.keras"))
    monkeypatch.setattr(saving_lib, "get_attr_skipset", getattr(kept, "original", kept))
    keras.utils.clear_session()  # Keras' own function recomputes every skipset (the kept ones are gone)
    built = _counting_reference_layers(monkeypatch)
    model.save_weights(str(tmp_path / "keras.weights.h5"))
    monkeypatch.undo()
    assert len(built) >= len(model.layers)  # one reference Layer() per layer walked: Keras' own way
    a, b = _h5(tmp_path / "kept.weights.h5"), _h5(tmp_path / "keras.weights.h5")
    assert sorted(a) == sorted(b) and len(a) == len(model.weights)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    keras.utils.set_random_seed(1)
    fresh = _model()
    fresh.load_weights(str(tmp_path / "kept.weights.h5"))
    for x, y in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    loaded = mtlzoo.models.load_model(str(tmp_path / "kept.keras"))
    for x, y in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
