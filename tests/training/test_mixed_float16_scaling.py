"""mixed_float16 loss scaling does its job: the update equals float32's (issue 22: it was checked
by dtypes only, so a step that forgets to scale, or to unscale, the loss passed)."""

import os

import numpy as np
import pytest

from mtlzoo.config import load_config_file
from mtlzoo.training import train
from tests.helpers import REPO


def _run(tmp_path, name, start=None, **train_overrides):
    c = load_config_file(os.path.join(REPO, "tests", "training", "three_tasks_config.py"))
    c.train.epochs, c.train.steps_per_epoch, c.train.steps_per_loop = 1, 4, 4
    c.train.optimizer, c.train.learning_rate = "sgd", 0.05
    for k, v in train_overrides.items():
        c.train[k] = v
    from mtlzoo.models import build_model

    def model_fn(config):  # records the initial weights
        model = build_model(config)
        if start is not None:
            start.extend(np.array(w, np.float32) for w in model.get_weights())
        return model

    return train(c, str(tmp_path / name), model_fn=model_fn).model


@pytest.mark.parametrize(
    "overrides",
    [
        {"aggregator": {"name": "sum"}},  # one backward pass of the scaled total loss
        {"aggregator": {"name": "mgda"}},  # jacobian of the scaled weighted losses, then the aggregator
        {"aggregator": {"name": "mgda"}, "per_task_grads": "representation"},
        # GradNorm's per-task gradient norms come from the scaled jacobian: unscaled before its update
        {"aggregator": {"name": "sum"}, "weighting": {"name": "gradnorm", "lr": 0.05}},
    ],
    ids=["sum", "mgda-params", "mgda-representation", "gradnorm"],
)
def test_mixed_float16_updates_equal_float32_updates(overrides, tmp_path):
    """SGD (update = lr * gradient, so a gradient off by the loss scale 2**15 shows at once):
    the weights' change after 4 steps under mixed_float16 is float32's within float16 round-off."""
    start, start16 = [], []
    f32 = _run(tmp_path, "f32", start, **overrides)
    f16 = _run(tmp_path, "f16", start16, mixed_precision="mixed_float16", **overrides)
    for w0, w0_16 in zip(start, start16, strict=True):  # the same seed: the same initial weights
        np.testing.assert_array_equal(w0, w0_16)
    moved = 0.0
    for w0, a, b in zip(start, f32.get_weights(), f16.get_weights(), strict=True):
        d32, d16 = a - w0, np.asarray(b, np.float32) - w0
        # float16 compute: a few per cent of the change, never a factor (the loss scale is 2**15)
        assert np.linalg.norm(d16 - d32) <= 0.05 * np.linalg.norm(d32) + 1e-7, (w0.shape, np.linalg.norm(d32))
        moved = max(moved, float(np.abs(d32).max()))
    assert moved > 1e-3  # the runs did train
