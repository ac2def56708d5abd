import json
import os

import keras
import numpy as np
import pytest

from mtlzoo.config import load_config_file
from mtlzoo.training import train
from tests.helpers import REPO


def quick(epochs=2):
    cfg = load_config_file(os.path.join(REPO, "configs", "quickstart.py"))
    cfg.train.epochs = epochs
    cfg.train.verbose = 0
    return cfg


def test_train_leaves_config_checkpoints_logs_model_and_metrics(tmp_path):
    wd = str(tmp_path / "run")
    result = train(quick(2), wd)
    assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["epoch_001.weights.h5", "epoch_002.weights.h5"]
    assert os.listdir(os.path.join(wd, "logs"))
    with open(os.path.join(wd, "config.json")) as f:
        resolved = json.load(f)
    assert resolved["model"]["encoder"]["activation"] == "relu"  # defaults are recorded
    with open(os.path.join(wd, "metrics.json")) as f:
        metrics = json.load(f)
    assert set(metrics) >= {"digit", "parity", "magnitude", "split"}
    assert metrics["digit"]["accuracy"] > 0.5  # well above chance (0.1) after two epochs
    from mtlzoo import load_model

    loaded = load_model(os.path.join(wd, "model.keras"))
    x = {"features": np.random.default_rng(0).random((3, 64)).astype(np.float32)}
    a, b = result.model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("simulated crash")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def test_rerun_after_a_crash_resumes_from_the_last_epoch(tmp_path):
    wd = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(quick(4), wd, callbacks=[_Crash()])
    assert not os.path.exists(os.path.join(wd, "model.keras"))
    epochs = _Epochs()
    train(quick(4), wd, callbacks=[epochs])
    assert epochs.seen == [2, 3]  # epochs 0 and 1 were done before the crash
    assert os.path.exists(os.path.join(wd, "model.keras"))


def test_gate_statistics_land_in_metrics(tmp_path):
    cfg = quick(1)
    cfg.model.architecture = "mmoe"
    result = train(cfg, str(tmp_path / "mmoe"))
    gates = result.metrics["architecture"]["gates"]
    assert set(gates) == {"digit", "parity", "magnitude"}
    for per_expert in gates.values():
        assert abs(sum(per_expert.values()) - 1) < 1e-4  # mean of softmax rows sums to 1
    with open(os.path.join(str(tmp_path / "mmoe"), "metrics.json")) as f:
        assert "architecture" in json.load(f)
