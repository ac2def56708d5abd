"""The bert encoder: rebuilt graph equals the keras-hub backbone; local presets load offline."""

import keras
import numpy as np

import mtlzoo
from mtlzoo.encoders.bert import BertEncoder
from tests.helpers import SMALL_ENCODERS, model_config, random_features


def _pooled_model(encoder):
    inputs = encoder.inputs()
    rep = encoder.encode(encoder.embed(inputs), inputs)
    return keras.Model(inputs, rep["pooled"])


def test_rebuilt_graph_equals_plain_backbone():
    opts = BertEncoder.resolve({k: v for k, v in SMALL_ENCODERS["bert"].items() if k != "name"}, "model.encoder")
    enc = BertEncoder(opts)
    rebuilt = _pooled_model(enc)
    x = random_features("bert", batch=4, time=9)
    expected = enc._bb(x)["pooled_output"]  # the same layers, called through keras-hub's own graph
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), np.asarray(expected), atol=1e-5)


def test_local_preset_directory_loads_with_its_weights(tmp_path):
    import keras_hub

    bb = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64, max_sequence_length=16
    )
    preset = str(tmp_path / "tiny_bert")
    bb.save_to_preset(preset)
    cfg = model_config("bert")
    cfg["model"]["encoder"] = {"name": "bert", "preset": preset}
    model = mtlzoo.build_model(cfg)
    x = random_features("bert", batch=2, time=5)
    emb = model.get_layer("token_embedding").embeddings
    np.testing.assert_array_equal(np.asarray(emb), np.asarray(bb.token_embedding.embeddings))
    assert model.predict(x, verbose=0)["topic"].shape == (2, 4)


def test_missing_preset_is_a_config_error():
    import pytest

    cfg = model_config("bert")
    cfg["model"]["encoder"] = {"name": "bert", "preset": "/nonexistent/preset_dir"}
    with pytest.raises(
        mtlzoo.ConfigError, match="model.encoder.preset: checkpoint directory /nonexistent/preset_dir does not exist"
    ):
        mtlzoo.build_model(cfg)
