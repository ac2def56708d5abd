"""Crash safety: SIGKILL mid-run and rerun gives the uninterrupted weights; NaN keeps the last good checkpoint."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import REPO, run_tool

ARGS = [
    "--config=tests/training/three_tasks_config.py",
    "--config.train.epochs=8",
    "--config.train.optimizer=adam",
    "--config.train.learning_rate=0.01",
    "--config.train.checkpoint_every_steps=6",
    "--config.train.steps_per_loop=2",
]


def _weights(workdir):
    from mtlzoo import load_model

    return load_model(os.path.join(workdir, "model.keras")).get_weights()


@pytest.mark.slow
def test_sigkill_at_a_random_step_then_rerun_equals_uninterrupted(tmp_path):
    ref = str(tmp_path / "ref")
    r = run_tool("train", *ARGS, f"--workdir={ref}")
    assert r.returncode == 0, r.stderr[-3000:]

    wd = str(tmp_path / "killed")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, os.path.join(REPO, "tools", "train.py"), *ARGS, f"--workdir={wd}"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = os.path.join(wd, "state", "checkpoint")
    deadline = time.time() + 120
    while not os.path.exists(state) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 0.8))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if os.path.exists(os.path.join(wd, "model.keras")):
        pytest.fail("the run finished before it could be killed; lengthen it")
    r = run_tool("train", *ARGS, f"--workdir={wd}", "--config.train.verbose=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming from step" in r.stdout
    for a, b in zip(_weights(ref), _weights(wd), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    import tensorflow as tf

    from mtlzoo.config import load_config_file
    from mtlzoo.training import TrainingError, train

    cfg = load_config_file(os.path.join(REPO, "tests", "training", "three_tasks_config.py"))
    cfg.train.epochs = 1
    wd = str(tmp_path / "run")
    train(cfg, wd)
    good = tf.train.latest_checkpoint(os.path.join(wd, "state"))
    cfg.train.epochs = 3
    cfg.train.learning_rate = 1e12
    with pytest.raises(TrainingError, match="became NaN or Inf between steps .* last good checkpoint"):
        train(cfg, wd)
    assert tf.train.latest_checkpoint(os.path.join(wd, "state")) == good
    reader = tf.train.load_checkpoint(good)
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), name


def test_nan_exits_3_from_the_tool(tmp_path):
    r = run_tool(
        "train",
        "--config=tests/training/three_tasks_config.py",
        f"--workdir={tmp_path}",
        "--config.train.learning_rate=1e12",
    )
    assert r.returncode == 3, r.stderr[-2000:]
    assert "became NaN or Inf" in r.stderr
