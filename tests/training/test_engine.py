"""Every weighting and aggregator trains through the engine; precision and XLA options work."""

import os

import numpy as np
import pytest

from mtlzoo.config import load_config_file
from mtlzoo.training import train
from tests.helpers import REPO, run_tool


def cfg(**train_overrides):
    c = load_config_file(os.path.join(REPO, "tests", "training", "three_tasks_config.py"))
    c.train.epochs = 2
    c.train.optimizer = "adam"
    c.train.learning_rate = 0.01
    for k, v in train_overrides.items():
        c.train[k] = v
    return c


def _first_last(history, task):
    v = history[f"{task}_loss"]
    return v[0], v[-1]


@pytest.mark.parametrize(
    "weighting",
    [
        {"name": "ew"},
        {"name": "static", "weights": {"a": 2.0}},
        {"name": "uncertainty"},
        {"name": "dwa"},
        {"name": "rlw"},
        {"name": "gradnorm"},
    ],
)
def test_each_weighting_trains(weighting, tmp_path):
    r = train(cfg(weighting=weighting, aggregator={"name": "sum"}), str(tmp_path))
    for t in ("a", "b", "c"):
        assert np.isfinite(r.metrics[t]["loss"])
    assert r.history["b_loss"][-1] < r.history["b_loss"][0] * 1.5


def test_the_configured_aggregator_is_the_one_used(tmp_path):
    """Each aggregator's run ends with weights other than the ``sum`` run's (a trainer that
    ignored ``train.aggregator`` would give the same weights every time)."""

    def weights(name):
        c = cfg(aggregator={"name": name}, optimizer="sgd", learning_rate=0.1, epochs=1, steps_per_epoch=4)
        return train(c, str(tmp_path / name)).model.get_weights()

    ref = weights("sum")
    for name in ["pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl"]:
        w = weights(name)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, w, strict=True))
        assert diff > 1e-4, (name, diff)


@pytest.mark.parametrize("aggregator", ["pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl"])
def test_each_aggregator_trains(aggregator, tmp_path):
    r = train(cfg(aggregator={"name": aggregator}, epochs=3), str(tmp_path))
    for t in ("a", "b", "c"):
        assert np.isfinite(r.metrics[t]["loss"])
    assert r.history["b_loss"][-1] < r.history["b_loss"][0]


def test_gradnorm_weights_move_and_stay_normalised(tmp_path):
    r = train(cfg(weighting={"name": "gradnorm", "lr": 0.05}), str(tmp_path))
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(str(tmp_path), "state"))
    key = "weighting/w/.ATTRIBUTES/VARIABLE_VALUE"  # the GradNorm weights, saved with the run
    w = reader.get_tensor(key)
    assert abs(w.sum() - 3) < 1e-4 and not np.allclose(w, 1.0)
    assert r.metrics["a"]["loss"] > 0


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_with_float32_outputs(policy, tmp_path):
    r = train(cfg(mixed_precision=policy, aggregator={"name": "pcgrad"}), str(tmp_path))
    assert r.model.get_layer("mlp_dense_0").compute_dtype == policy.split("_")[1]
    assert r.model.get_layer("a").compute_dtype == "float32"
    assert all(np.isfinite(r.metrics[t]["loss"]) for t in ("a", "b", "c"))
    import keras

    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_jit_compile_matches_the_plain_graph(tmp_path):
    # sgd + mgda: no random draws (XLA's stateless RNG differs from the plain kernels)
    a = train(cfg(aggregator={"name": "mgda"}, optimizer="sgd", learning_rate=0.05), str(tmp_path / "plain"))
    b = train(
        cfg(aggregator={"name": "mgda"}, optimizer="sgd", learning_rate=0.05, jit_compile=True), str(tmp_path / "xla")
    )
    for x, y in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_allclose(x, y, atol=1e-4)


@pytest.mark.slow
def test_the_train_tool_under_mirrored_matches_one_device(tmp_path):
    """``mtlzoo train --strategy=mirrored --cpu_devices=2`` (the tool's flags) ends with the
    one-device weights. One pair, GradNorm with IMTL-G: every weighting and aggregator is run
    under mirrored through the training API by tests/training/test_engine_mirrored.py."""
    weighting, aggregator = "gradnorm", "imtl_g"
    args = [
        "--config=tests/training/three_tasks_config.py",
        f"--config.train.weighting.name={weighting}",
        f"--config.train.aggregator.name={aggregator}",
    ]
    r1 = run_tool("train", *args, f"--workdir={tmp_path / 'one'}")
    r2 = run_tool("train", *args, f"--workdir={tmp_path / 'two'}", "--strategy=mirrored", "--cpu_devices=2")
    assert r1.returncode == 0 and r2.returncode == 0, (r1.stderr[-2000:], r2.stderr[-2000:])
    from mtlzoo import load_model

    w1 = load_model(str(tmp_path / "one" / "model.keras")).get_weights()
    w2 = load_model(str(tmp_path / "two" / "model.keras")).get_weights()
    for x, y in zip(w1, w2, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-4)


def _tagger_loop(mode, seed=0):
    import keras
    import tensorflow as tf

    import mtlzoo
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting
    from tests.helpers import random_features, random_labels

    keras.utils.set_random_seed(seed)
    tasks_cfg = {"pos": {"kind": "tagging", "num_classes": 4}}
    model = mtlzoo.build_model(
        {
            "tasks": tasks_cfg,
            "model": {"encoder": {"name": "tagger", "vocab_size": 50, "embedding_dim": 8, "hidden": 6}},
        }
    )
    tasks = tasks_from_config(tasks_cfg)
    opt = keras.optimizers.SGD(0.5)
    loop = TrainLoop(
        model,
        tasks,
        opt,
        build_weighting({"name": "ew"}, ["pos"]),
        build_aggregator({"name": "mgda"}),
        tf.distribute.get_strategy(),
        6,
        per_task_grads=mode,
    )
    opt.build(loop.shared + loop.own)
    x = random_features("tagger", batch=6, time=7)
    y = random_labels(tasks_cfg, batch=6, time=7)
    w = {"pos": np.ones((6, 1), np.float32)}
    ds = tf.data.Dataset.from_tensors((x, y, w)).repeat()
    loop.run(iter(ds), 3)
    return model.get_weights()


def test_representation_grads_equal_parameter_grads_for_one_task():
    """With one task every aggregator is the identity, so both ways of taking per-task
    gradients must give the same update; the tagging mask must survive the split."""
    for a, b in zip(_tagger_loop("params"), _tagger_loop("representation"), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("aggregator", ["pcgrad", "cagrad"])
def test_representation_mode_trains(aggregator, tmp_path):
    r = train(cfg(aggregator={"name": aggregator}, per_task_grads="representation", epochs=3), str(tmp_path))
    assert r.history["b_loss"][-1] < r.history["b_loss"][0]
