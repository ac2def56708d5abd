"""``train.early_stopping`` across a kill: the resumed run stops at the uninterrupted run's epoch.

The run of tests/training/test_select_best_resume.py (validation loss lowest early: a high
learning rate on few examples) with early stopping on the mean validation loss, patience 2.
Uninterrupted, it stops two epochs after its best. Killed after its best epoch and rerun, Keras'
``EarlyStopping`` alone would start counting again (and train on); the run's checkpoint keeps
its counters, so the resumed run must end at the same epoch with the same weights. The epoch it
stops at is read independently from the run's TensorBoard log (one ``val_<task>_loss`` per epoch).
"""

import os
import signal
import time

import numpy as np

from tests.helpers import run_tool, start_tool
from tests.training.test_select_best_resume import ARGS as SELECT_ARGS
from tests.training.test_select_best_resume import _checkpoint_step, _val_mean_loss_by_epoch, _weights

ARGS = [a for a in SELECT_ARGS if a != "--config.train.select=best"] + [
    "--config.train.early_stopping.monitor=val_mean_loss",
    "--config.train.early_stopping.patience=2",
    "--config.model.encoder.dropout=0.1",  # dropout on, as a user's model has it
]


def test_early_stopping_counts_across_a_sigkill(tmp_path):
    ref = str(tmp_path / "ref")
    r = run_tool("train", *ARGS, f"--workdir={ref}")
    assert r.returncode == 0, r.stderr[-3000:]
    curve = _val_mean_loss_by_epoch(ref)
    values = list(curve.values())
    best = int(np.argmin(values)) + 1  # 1-based
    stopped = len(curve)
    # independent reading of Keras' rule: stops `patience` epochs after the best (none better since)
    assert stopped == best + 2 < 10, f"the reference run must stop early: {curve}"
    per_epoch = list(curve)[0]

    wd = str(tmp_path / "run")
    proc = start_tool("train", *ARGS, f"--workdir={wd}")  # a process of its own (a fork-server child)
    deadline = time.time() + 300
    while _checkpoint_step(wd) < (best + 1) * per_epoch and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _checkpoint_step(wd) // per_epoch
    assert not os.path.exists(os.path.join(wd, "model.keras")), "the run finished before the kill"
    assert best < killed_at <= stopped, (best, killed_at, stopped)

    r = run_tool("train", *ARGS, f"--workdir={wd}", "--config.train.verbose=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming from step" in r.stdout
    resumed = _val_mean_loss_by_epoch(wd)
    assert list(resumed) == list(curve), (curve, resumed)  # the same epochs, no more
    for a, b in zip(_weights(os.path.join(ref, "model.keras")), _weights(os.path.join(wd, "model.keras")), strict=True):
        assert np.array_equal(a, b)
