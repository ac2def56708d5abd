"""A workdir on another file system: train, evaluate and export in TensorFlow's ``ram://``
file system, as one would on ``gs://`` (every path goes through ``tf.io.gfile``)."""

import json
import os
import uuid

import numpy as np

from tests.training.fit_door import config


def test_train_evaluate_and_export_in_a_ram_workdir():
    import tensorflow as tf

    from mtlzoo.evaluation import evaluate
    from mtlzoo.export.writer import export_workdir
    from mtlzoo.training import train
    from mtlzoo.workdir import load_workdir

    gfile = tf.io.gfile
    root = f"ram://mtlzoo-{uuid.uuid4().hex[:8]}"
    wd = f"{root}/run"
    cwd_before = set(os.listdir("."))
    result = train(config("ew", "pcgrad", epochs=2), wd)
    for name in ["config.json", "model.keras", "metrics.json", "checkpoints/epoch_002.weights.h5", "state/checkpoint"]:
        assert gfile.exists(f"{wd}/{name}"), name
    assert gfile.glob(f"{wd}/logs/train/events.*")
    assert not [n for n in gfile.listdir(wd) if n.startswith(".")]  # no temporary file left
    with gfile.GFile(f"{wd}/metrics.json") as f:
        metrics = json.load(f)
    assert metrics["a"]["loss"] == result.metrics["a"]["loss"]

    x = {"features": np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)}
    expected = result.model.predict(x, verbose=0)
    for checkpoint in (None, 2):  # model.keras, then the epoch-2 .weights.h5 (the same weights)
        model, _, source = load_workdir(wd, checkpoint)
        assert source.startswith(wd)
        got = model.predict(x, verbose=0)
        for t in expected:
            np.testing.assert_array_equal(got[t], expected[t])

    scores = evaluate(wd, split="validation")
    with gfile.GFile(f"{wd}/eval_validation.json") as f:
        assert json.load(f)["examples"] == scores["examples"] > 0

    target = export_workdir(wd, f"{root}/serving", model_name="m", version=1)
    assert target == f"{root}/serving/m/1"
    assert gfile.exists(f"{target}/saved_model.pb") and gfile.exists(f"{target}/assets.extra/mtlzoo_export.json")
    served = tf.saved_model.load(target).signatures["serving_default"](features=tf.constant(x["features"]))
    for t, key in {"a": "a_probabilities", "b": "b_values", "c": "c_probabilities"}.items():
        np.testing.assert_allclose(
            np.asarray(served[key]).reshape(expected[t].shape), expected[t], rtol=1e-5, atol=1e-6
        )
    assert set(os.listdir(".")) == cwd_before  # nothing written locally under a folder named "ram:"
