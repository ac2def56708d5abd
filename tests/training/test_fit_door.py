"""The fit door: ``model.fit`` after ``compile_model`` trains every weighting and aggregator with
``train()``'s step, and reaches the same weights as ``train()`` on the same batches (one device
here; under MirroredStrategy on every engine row the fit door takes: tests/training/test_engine_mirrored.py)."""

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from tests.training.fit_door import ATOL, config, fit_door

WEIGHTINGS = [
    ({"name": "static", "weights": {"a": 2.0, "b": 0.5}}, {}),
    ("uncertainty", {}),
    ("dwa", {"epochs": 3}),  # DWA's weights move from the third epoch on
    ("rlw", {}),
    ("gradnorm", {}),
    ({"name": "svd", "rank": 2}, {}),  # recomputed from the training split before each epoch
]
AGGREGATORS = ["pcgrad", "mgda", "cagrad", "imtl_g", "aligned_mtl"]


@pytest.fixture(scope="module")
def plain_sum():
    """Weights after plain summed-loss training: every method below must move away from them."""
    model, _ = fit_door(config("ew", "sum"))
    return model.get_weights()


def _train_door(cfg, tmp_path):
    from mtlzoo.training import train

    return train(cfg, str(tmp_path / "run")).model.get_weights()


def _check(cfg, tmp_path, plain_sum):
    a = _train_door(cfg, tmp_path)
    model, history = fit_door(cfg)
    b = model.get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=ATOL)
    moved = max(float(np.max(np.abs(x - y))) for x, y in zip(b, plain_sum, strict=True))
    assert moved > 1e-4, "the method left the weights of plain summed-loss training: it did not run"
    assert set(history.history) == {"loss", "a_loss", "b_loss", "c_loss"}


@pytest.mark.parametrize("weighting,extra", WEIGHTINGS, ids=["static", "uncertainty", "dwa", "rlw", "gradnorm", "svd"])
def test_every_weighting_under_fit_matches_train(weighting, extra, tmp_path, plain_sum):
    cfg = config(weighting, "sum", **extra)
    if extra.get("epochs") == 3:  # compare with plain summed training of as many epochs
        plain_sum = fit_door(config("ew", "sum", epochs=3))[0].get_weights()
    if isinstance(weighting, dict) and weighting["name"] == "svd":  # its model holds the task weights
        plain = config("ew", "sum")
        plain.model.task_weights = True
        plain_sum = fit_door(plain)[0].get_weights()
    _check(cfg, tmp_path, plain_sum)


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_every_aggregator_under_fit_matches_train(aggregator, tmp_path, plain_sum):
    _check(config("ew", aggregator), tmp_path, plain_sum)


def test_representation_gradients_under_fit_match_train(tmp_path, plain_sum):
    _check(config("uncertainty", "pcgrad", per_task_grads="representation"), tmp_path, plain_sum)


def test_fit_with_numpy_arrays_and_missing_labels():
    """Keras' own batching (a short last batch, no sample weights) runs the step too."""
    import keras

    from mtlzoo.config import resolve_config
    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import compile_model

    c = resolve_config(config("uncertainty", "pcgrad"))
    tasks = tasks_from_config(c.tasks)
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(c), tasks, c.train, seed=0)
    rng = np.random.default_rng(0)
    x = {"features": rng.normal(size=(20, 8)).astype(np.float32)}
    y = {
        "a": rng.integers(0, 2, (20, 1)).astype(np.float32),
        "b": rng.normal(size=(20, 1)).astype(np.float32),
        "c": rng.integers(0, 3, 20).astype(np.int32),
    }
    before = model.get_weights()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # batches of 8, 8, 4
    assert len(history.history["loss"]) == 2
    assert all(np.isfinite(history.history["loss"]))
    assert any(np.max(np.abs(p - q)) > 0 for p, q in zip(before, model.get_weights(), strict=True))


def test_compile_model_rejects_unknown_keys():
    from mtlzoo.config import resolve_config
    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import compile_model

    c = resolve_config(config())
    tasks = tasks_from_config(c.tasks)
    with pytest.raises(ConfigError, match=r"train\.aggregtor: unknown field"):
        compile_model(build_model(c), tasks, {"learning_rate": 0.1, "optimizer": "sgd", "aggregtor": {}})


def test_fit_door_refuses_what_only_train_does():
    from mtlzoo.config import resolve_config
    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import compile_model

    c = resolve_config(config("dwa"))
    tasks = tasks_from_config(c.tasks)
    with pytest.raises(ConfigError, match="train.steps_per_epoch"):
        compile_model(build_model(c), tasks, c.train)
    c = resolve_config(config("svd"))  # the training split it recomputes from must be handed over
    with pytest.raises(ConfigError, match=r"svd_split=data\.split\('train'\)"):
        compile_model(build_model(c), tasks, c.train, steps_per_epoch=4)
