"""Every encoder builds, trains one step, and survives a .keras round trip unchanged."""

import keras
import numpy as np
import pytest

import mtlzoo
from mtlzoo.tasks import tasks_from_config
from mtlzoo.training import compile_model
from tests.helpers import (
    SMALL_ENCODERS,
    THREE_TASKS,
    assert_keras_round_trip,
    model_config,
    random_features,
    random_labels,
)

TRAIN = {"learning_rate": 1e-2, "optimizer": "sgd", "weight_decay": 0.0}


@pytest.mark.parametrize("encoder", sorted(SMALL_ENCODERS))
def test_encoder_builds_trains_one_step_and_round_trips(encoder, tmp_path):
    cfg = model_config(encoder)
    model = mtlzoo.build_model(cfg)
    assert sorted(model.output) == sorted(THREE_TASKS)
    compile_model(model, tasks_from_config(THREE_TASKS), TRAIN)
    x = random_features(encoder)
    y = random_labels(THREE_TASKS)
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit(x, y, batch_size=6, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)]
    assert sum(changed) > len(changed) // 2, "one training step should move most weights"

    assert_keras_round_trip(model, x, tmp_path)


def test_tagger_gives_one_output_per_token_and_sentence_outputs():
    tasks = {"pos": {"kind": "tagging", "num_classes": 5}, "sent": {"kind": "binary"}}
    model = mtlzoo.build_model(model_config("tagger", tasks))
    out = model.predict(random_features("tagger", batch=3, time=9), verbose=0)
    assert out["pos"].shape == (3, 9, 5) and out["sent"].shape == (3, 1)


def test_padding_does_not_change_pooled_text_outputs():
    """Appending padding tokens leaves text_mlp / text_cnn / lstm / tagger outputs unchanged."""
    for encoder in ("text_mlp", "text_cnn", "lstm", "tagger"):
        model = mtlzoo.build_model(model_config(encoder))
        x = random_features(encoder, batch=4, time=6)
        padded = {"tokens": np.pad(x["tokens"], ((0, 0), (0, 5)))}
        a, b = model.predict(x, verbose=0), model.predict(padded, verbose=0)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], atol=1e-5, err_msg=encoder)


@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
def test_lstm_poolings(pooling):
    cfg = model_config("lstm")
    cfg["model"]["encoder"]["pooling"] = pooling
    model = mtlzoo.build_model(cfg)
    out = model.predict(random_features("lstm"), verbose=0)
    assert out["topic"].shape == (6, 4)


def test_text_mlp_is_a_dense_layer_over_the_mean_of_real_token_embeddings():
    """text_mlp against numpy: relu(W mean_{t: token_t != 0} E[token_t] + b)."""
    cfg = model_config("text_mlp")
    model = mtlzoo.build_model(cfg)
    x = random_features("text_mlp", batch=5, time=9)
    emb = model.get_layer("embedding").get_weights()[0]
    w, b = model.get_layer("text_mlp_dense_0").get_weights()
    tokens = x["tokens"]
    mean = np.stack([emb[row[row != 0]].mean(0) for row in tokens])
    expected = np.maximum(mean @ w + b, 0)
    probe = keras.Model(model.input, model.get_layer("text_mlp_dense_0").output)
    np.testing.assert_allclose(probe.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
