"""Each task kind's output and loss against a numpy evaluation of the loss equation."""

import numpy as np
import pytest

import mtlzoo
from mtlzoo.tasks import tasks_from_config
from mtlzoo.training import compile_model
from tests.helpers import random_features, random_labels

ALL_KINDS = {
    "b": {"kind": "binary"},
    "m": {"kind": "multiclass", "num_classes": 4},
    "ml": {"kind": "multilabel", "num_classes": 3},
    "r": {"kind": "regression", "num_classes": 2},
    "tag": {"kind": "tagging", "num_classes": 5},
}
EPS = 1e-7


def np_losses(pred, y, w, tokens):
    """Per-task losses, Keras 'sum_over_batch_size' with sample weights: sum_i w_i l_i / N."""
    clip = lambda p: np.clip(p, EPS, 1 - EPS)  # noqa: E731
    out = {}
    p = clip(pred["b"][:, 0])
    out["b"] = -(y["b"][:, 0] * np.log(p) + (1 - y["b"][:, 0]) * np.log(1 - p))
    out["m"] = -np.log(clip(pred["m"][np.arange(len(y["m"])), y["m"]]))
    p = clip(pred["ml"])
    out["ml"] = -(y["ml"] * np.log(p) + (1 - y["ml"]) * np.log(1 - p)).mean(-1)
    out["r"] = ((pred["r"] - y["r"]) ** 2).mean(-1)
    res = {k: float((v * w[k]).sum() / len(v)) for k, v in out.items()}
    # tagging: sum_it w_i m_it l_it / sum_it m_it, m = 1 on real tokens, 0 on padding
    mask = (tokens != 0).astype(np.float64)
    ce = -np.log(clip(np.take_along_axis(pred["tag"], y["tag"][..., None], -1)[..., 0]))
    res["tag"] = float((ce * mask * w["tag"][:, None]).sum() / mask.sum())
    return res


def test_outputs_by_kind_and_losses_match_numpy():
    cfg = {
        "tasks": ALL_KINDS,
        "model": {"encoder": {"name": "tagger", "vocab_size": 50, "embedding_dim": 8, "hidden": 6}},
    }
    model = mtlzoo.build_model(cfg)
    tasks = tasks_from_config(ALL_KINDS)
    compile_model(model, tasks, {"learning_rate": 1e-3, "optimizer": "sgd", "weight_decay": 0.0})
    x = random_features("tagger", batch=8, time=7)
    y = random_labels(ALL_KINDS, batch=8, time=7)
    w = {k: np.random.default_rng(3).random(8).astype(np.float32) for k in ALL_KINDS}
    pred = {k: np.asarray(v, np.float64) for k, v in model.predict(x, verbose=0).items()}

    assert pred["b"].shape == (8, 1) and np.all((pred["b"] > 0) & (pred["b"] < 1))
    np.testing.assert_allclose(pred["m"].sum(-1), 1.0, atol=1e-5)
    assert pred["ml"].shape == (8, 3) and np.all((pred["ml"] > 0) & (pred["ml"] < 1))
    assert pred["r"].shape == (8, 2)
    assert pred["tag"].shape == (8, 7, 5)
    np.testing.assert_allclose(pred["tag"].sum(-1), 1.0, atol=1e-5)

    sw = {**w, "tag": w["tag"][:, None]}  # tagging weights broadcast over tokens: [batch, 1]
    logs = model.evaluate(x, y, sample_weight=sw, batch_size=8, return_dict=True, verbose=0)
    expected = np_losses(pred, y, w, x["tokens"])
    for k, v in expected.items():
        assert logs[f"{k}_loss"] == pytest.approx(v, rel=1e-4, abs=1e-6), k


def test_evaluate_model_excludes_padding_tokens():
    """The trainer's evaluation: tagging loss and accuracy over real tokens only (numpy reference)."""
    import tensorflow as tf

    from mtlzoo.training import evaluate_model

    tasks_cfg = {"tag": {"kind": "tagging", "num_classes": 5}}
    model = mtlzoo.build_model(
        {
            "tasks": tasks_cfg,
            "model": {"encoder": {"name": "tagger", "vocab_size": 50, "embedding_dim": 8, "hidden": 6}},
        }
    )
    x = random_features("tagger", batch=8, time=7)
    y = random_labels(tasks_cfg, batch=8, time=7)
    w = {"tag": np.ones((8, 1), np.float32)}
    ds = tf.data.Dataset.from_tensors((x, y, w))
    got = evaluate_model(model, ds, tasks_from_config(tasks_cfg))["tag"]
    pred = np.asarray(model.predict(x, verbose=0)["tag"], np.float64)
    mask = x["tokens"] != 0
    ce = -np.log(np.clip(np.take_along_axis(pred, y["tag"][..., None], -1)[..., 0], EPS, 1))
    assert got["loss"] == pytest.approx(ce[mask].mean(), rel=1e-4)
    assert got["accuracy"] == pytest.approx((pred.argmax(-1) == y["tag"])[mask].mean(), abs=1e-6)


def test_evaluate_model_loss_is_the_mean_over_the_tasks_own_examples():
    """Heterogeneous batches: another task's examples (weight 0) must not dilute a task's loss."""
    import tensorflow as tf

    from mtlzoo.training import evaluate_model

    tasks_cfg = {"a": {"kind": "binary"}, "r": {"kind": "regression"}}
    model = mtlzoo.build_model(
        {"tasks": tasks_cfg, "model": {"encoder": {"name": "mlp", "input_dim": 5, "units": [4]}}}
    )
    rng = np.random.default_rng(0)
    x = {"features": rng.normal(size=(10, 5)).astype(np.float32)}
    y = {"a": rng.integers(0, 2, size=(10, 1)).astype(np.int32), "r": rng.normal(size=(10, 1)).astype(np.float32)}
    own_a = np.arange(10) < 3  # examples 0-2 are task a's, the rest task r's
    w = {"a": own_a[:, None].astype(np.float32), "r": (~own_a)[:, None].astype(np.float32)}
    ds = tf.data.Dataset.from_tensors((x, y, w))
    got = evaluate_model(model, ds, tasks_from_config(tasks_cfg))
    pred = {k: np.asarray(v, np.float64)[:, 0] for k, v in model.predict(x, verbose=0).items()}
    p = np.clip(pred["a"], EPS, 1 - EPS)
    ya = y["a"][:, 0]
    bce = -(ya * np.log(p) + (1 - ya) * np.log(1 - p))
    mse = (pred["r"] - y["r"][:, 0]) ** 2
    assert got["a"]["loss"] == pytest.approx(bce[own_a].mean(), rel=1e-4)
    assert got["r"]["loss"] == pytest.approx(mse[~own_a].mean(), rel=1e-4)
    assert got["a"]["accuracy"] == pytest.approx(((p > 0.5) == ya)[own_a].mean(), abs=1e-6)
