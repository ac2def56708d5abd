"""Keras callbacks under both doors; config early stopping and ``select: best``."""

import csv
import os

import h5py
import keras
import numpy as np
import pytest

from mtlzoo.training.callbacks import SelectBest, TaskAverage, monitor_mode
from tests.training.fit_door import config, fit_door

TASKS = ["a", "b", "c"]


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.logs, self.models, self.began, self.ended = [], [], [], 0, 0

    def on_train_begin(self, logs=None):
        self.began += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)
        self.logs.append(dict(logs))
        self.models.append(self.model)

    def on_train_end(self, logs=None):
        self.ended += 1


def test_keras_callbacks_under_fit(tmp_path):
    rec = Recorder()
    csv_path = str(tmp_path / "log.csv")
    ckpt = str(tmp_path / "ckpt" / "epoch_{epoch:02d}.weights.h5")
    os.makedirs(tmp_path / "ckpt")
    callbacks = [
        keras.callbacks.CSVLogger(csv_path),
        keras.callbacks.ModelCheckpoint(ckpt, save_weights_only=True),
        keras.callbacks.TensorBoard(str(tmp_path / "tb")),
        keras.callbacks.TerminateOnNaN(),
        rec,
    ]
    model, history = fit_door(config("uncertainty", "pcgrad", epochs=3), callbacks=callbacks, validation=True)
    # the user's callback: the real model and every epoch's training and validation logs
    assert rec.epochs == [0, 1, 2] and rec.began == rec.ended == 1
    assert all(m is model for m in rec.models)
    for logs in rec.logs:
        assert {"a_loss", "b_loss", "c_loss", "loss", "val_a_accuracy", "val_b_mae", "val_c_loss"} <= set(logs)
    # CSVLogger: a readable CSV, one row per epoch, the numbers of the logs
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for row, logs in zip(rows, rec.logs, strict=True):
        assert float(row["val_a_accuracy"]) == pytest.approx(logs["val_a_accuracy"], rel=1e-6)
        assert float(row["b_loss"]) == pytest.approx(logs["b_loss"], rel=1e-6)
    # ModelCheckpoint: one weights file per epoch; the last one holds the final weights
    assert sorted(os.listdir(tmp_path / "ckpt")) == [f"epoch_0{i}.weights.h5" for i in (1, 2, 3)]
    from mtlzoo.config import resolve_config
    from mtlzoo.models import build_model

    fresh = build_model(resolve_config(config()))
    fresh.load_weights(str(tmp_path / "ckpt" / "epoch_03.weights.h5"))
    for x, y in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    with h5py.File(tmp_path / "ckpt" / "epoch_01.weights.h5") as f:  # an HDF5 file with the kernels
        kernels = []
        f.visititems(lambda name, obj: kernels.append(obj.shape) if isinstance(obj, h5py.Dataset) else None)
    assert (8, 16) in kernels
    # TensorBoard: event files for training and validation
    assert any(n.startswith("events.") for n in os.listdir(tmp_path / "tb" / "train"))
    assert any(n.startswith("events.") for n in os.listdir(tmp_path / "tb" / "validation"))
    assert len(history.history["loss"]) == 3


def test_terminate_on_nan_and_early_stopping_under_fit():
    from mtlzoo.config import resolve_config
    from mtlzoo.models import build_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import compile_model

    c = resolve_config(config("ew", "pcgrad"))
    model = compile_model(build_model(c), tasks_from_config(c.tasks), c.train)
    rng = np.random.default_rng(1)
    x = {"features": rng.normal(size=(32, 8)).astype(np.float32)}
    y = {"a": np.ones((32, 1), np.float32), "b": np.full((32, 1), np.nan, np.float32), "c": np.zeros(32, np.int32)}

    class Batches(keras.callbacks.Callback):
        n = 0

        def on_train_batch_end(self, batch, logs=None):
            Batches.n += 1

    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN(), Batches()])
    assert Batches.n == 1  # stopped after the first NaN batch (12 batches were planned)

    # EarlyStopping: nothing improves by 10, so after the first epoch (the best) and `patience` more
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=10.0)
    _, history = fit_door(config("ew", "pcgrad", epochs=6), callbacks=[stop], validation=True)
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 2


def test_train_runs_keras_callbacks_and_config_early_stopping(tmp_path, capsys):
    from mtlzoo.training import train

    rec = Recorder()
    csv_path = str(tmp_path / "log.csv")
    cfg = config("ew", "pcgrad", epochs=6)
    cfg.train.verbose = 2  # as when stdout is not a terminal: one line per epoch
    cfg.train.early_stopping = {"monitor": "val_mean_loss", "patience": 1, "min_delta": 10.0}
    result = train(cfg, str(tmp_path / "run"), callbacks=[keras.callbacks.CSVLogger(csv_path), rec])
    assert rec.epochs == [0, 1] and rec.began == rec.ended == 1  # patience 1: stops after the second epoch
    assert all(m is result.model for m in rec.models)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for row, logs in zip(rows, rec.logs, strict=True):
        mean = np.mean([logs[f"val_{t}_loss"] for t in TASKS])
        assert float(row["val_mean_loss"]) == pytest.approx(mean, rel=1e-6)
    assert os.path.exists(tmp_path / "run" / "model.keras")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.split(" (")[0] for line in lines] == ["epoch 1/6", "epoch 2/6"]
    for line, logs in zip(lines, rec.logs, strict=True):
        cells = dict(zip(line.split(": ", 1)[1].split()[::2], line.split(": ", 1)[1].split()[1::2], strict=True))
        assert float(cells["a_loss"]) == pytest.approx(logs["a_loss"], rel=1e-3)
        assert float(cells["val_c_accuracy"]) == pytest.approx(logs["val_c_accuracy"], rel=1e-3)


def test_select_best_in_train_keeps_the_best_epoch(tmp_path):
    """model.keras holds the weights saved after the epoch whose mean validation loss is lowest."""
    from mtlzoo import load_model
    from mtlzoo.training import train

    cfg = config("ew", "sum", epochs=5, learning_rate=1.5)  # a large step: the validation loss oscillates
    cfg.train.select = "best"
    wd = tmp_path / "run"
    result = train(cfg, str(wd))
    mean = np.mean([result.history[f"val_{t}_loss"] for t in TASKS], axis=0)
    best = int(np.argmin(mean))
    assert best != len(mean) - 1  # measured: epoch 2 of 5 is the best, so "best" is not "last" here
    saved = load_model(str(wd / "model.keras"))
    ref = load_model(str(wd / "model.keras"))
    ref.load_weights(str(wd / "checkpoints" / f"epoch_{best + 1:03d}.weights.h5"))
    for x, y in zip(saved.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    import json

    with open(wd / "metrics.json") as f:
        metrics = json.load(f)
    assert np.mean([metrics[t]["loss"] for t in TASKS]) == pytest.approx(mean[best], rel=1e-5)


def test_select_best_under_fit_restores_the_chosen_epoch():
    sel = SelectBest("val_a_loss", mode="max")  # the worst epoch: not the last one
    model, history = fit_door(config("ew", "pcgrad", epochs=4), callbacks=[sel], validation=True)
    values = history.history["val_a_loss"]
    assert sel.best_epoch == int(np.argmax(values)) and sel.best == pytest.approx(max(values))
    assert sel.best_epoch < len(values) - 1  # training lowers the loss: the worst epoch is an early one
    # evaluating the restored model gives back that epoch's validation loss
    from mtlzoo.config import resolve_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    c = resolve_config(config("ew", "pcgrad"))
    data = load_data(c, tasks_from_config(c.tasks))
    logs = model.evaluate(data.dataset("validation", 8, ["features"]), return_dict=True, verbose=0)
    assert logs["a_loss"] == pytest.approx(max(values), rel=1e-5)


def test_task_average_and_monitor_modes():
    logs = {"val_a_loss": 1.0, "val_b_loss": 3.0, "val_a_accuracy": 0.5, "a_loss": 2.0, "b_loss": 4.0}
    TaskAverage(["a", "b"]).on_epoch_end(0, logs)
    assert logs["val_mean_loss"] == 2.0 and logs["val_mean_accuracy"] == 0.5 and logs["mean_loss"] == 3.0
    assert monitor_mode("val_mean_loss") == "min" and monitor_mode("val_a_rmse") == "min"
    assert monitor_mode("val_a_accuracy") == "max" and monitor_mode("val_a_auc") == "max"
    assert monitor_mode("val_a_auc", "min") == "min"


def test_bad_early_stopping_config_names_the_field():
    from mtlzoo.config import resolve_config
    from mtlzoo.errors import ConfigError

    cfg = config()
    cfg.train.early_stopping = {"patience": 2, "monitr": "val_loss"}
    with pytest.raises(ConfigError, match=r"train\.early_stopping\.monitr"):
        resolve_config(cfg)
