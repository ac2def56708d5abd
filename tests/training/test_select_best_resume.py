"""``train.select: best`` across a kill: the best epoch seen before a SIGKILL is remembered.

A small run with dropout 0.1 (as the README's quickstart) whose validation loss is lowest
early (a high learning rate on few examples) is killed after a later epoch's checkpoint and rerun. The resumed run's
``model.keras`` must equal the uninterrupted run's, and both must hold the weights of the
epoch with the lowest mean validation loss, read independently from the run's TensorBoard
log (``logs/train``, the per-task ``val_<task>_loss`` scalars) and its per-epoch weights files.
"""

import glob
import os
import signal
import time

import numpy as np

from tests.helpers import run_tool, start_tool

TASKS = ("a", "b", "c")
ARGS = [
    "--config=tests/training/three_tasks_config.py",
    "--config.data.examples_per_task=24",
    "--config.train.epochs=10",
    "--config.train.learning_rate=0.3",
    "--config.train.aggregator.name=sum",
    "--config.train.select=best",
    "--config.model.encoder.dropout=0.1",  # the user's path: dropout on, as in the quickstart
]


def _val_mean_loss_by_epoch(workdir):
    """{step: mean over tasks of val_<task>_loss} from every event file (a rerun step: the last value)."""
    import tensorflow as tf

    per_step = {}
    for path in sorted(glob.glob(os.path.join(workdir, "logs", "train", "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.tag in {f"val_{t}_loss" for t in TASKS}:
                    per_step.setdefault(event.step, {})[v.tag] = float(tf.make_ndarray(v.tensor))
    return {s: float(np.mean(list(d.values()))) for s, d in sorted(per_step.items()) if len(d) == len(TASKS)}


def _checkpoint_step(workdir):
    path = os.path.join(workdir, "state", "checkpoint")
    try:
        with open(path) as f:
            first = f.readline()
    except OSError:
        return 0
    return int(first.rsplit("-", 1)[-1].strip().strip('"')) if "ckpt-" in first else 0


def _weights(path):
    from mtlzoo import load_model

    return load_model(path).get_weights()


def _epoch_weights(workdir, epoch, like):
    model = like
    model.load_weights(os.path.join(workdir, "checkpoints", f"epoch_{epoch:03d}.weights.h5"))
    return model.get_weights()


def test_select_best_remembers_the_best_epoch_across_a_sigkill(tmp_path):
    from mtlzoo import load_model

    ref = str(tmp_path / "ref")
    r = run_tool("train", *ARGS, f"--workdir={ref}")
    assert r.returncode == 0, r.stderr[-3000:]
    curve = _val_mean_loss_by_epoch(ref)
    assert len(curve) == 10
    steps = list(curve)
    per_epoch = steps[0]
    assert steps == [per_epoch * (e + 1) for e in range(10)]
    best = int(np.argmin(list(curve.values()))) + 1  # 1-based epoch of the lowest mean validation loss
    kill_epoch = best + 1
    assert kill_epoch < 10, f"the best epoch ({best}) must come early for the kill to matter: {curve}"

    # the killed run: SIGKILL once a checkpoint after the best epoch is on disk
    wd = str(tmp_path / "run")
    proc = start_tool("train", *ARGS, f"--workdir={wd}")  # a process of its own (a fork-server child)
    deadline = time.time() + 300
    while _checkpoint_step(wd) < kill_epoch * per_epoch and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _checkpoint_step(wd) // per_epoch
    assert not os.path.exists(os.path.join(wd, "model.keras")), "the run finished before the kill"
    assert best < killed_at < 10

    r = run_tool("train", *ARGS, f"--workdir={wd}", "--config.train.verbose=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming from step" in r.stdout

    # the resumed run keeps what the uninterrupted run keeps ...
    got = _weights(os.path.join(wd, "model.keras"))
    for a, b in zip(_weights(os.path.join(ref, "model.keras")), got, strict=True):
        assert np.array_equal(a, b)
    # ... and that is the best epoch by the log of the killed-and-resumed run itself
    resumed_curve = _val_mean_loss_by_epoch(wd)
    assert list(resumed_curve) == steps
    assert int(np.argmin(list(resumed_curve.values()))) + 1 == best
    model = load_model(os.path.join(wd, "model.keras"))
    for a, b in zip(_epoch_weights(wd, best, model), got, strict=True):
        assert np.array_equal(a, b)
    last = _epoch_weights(wd, 10, model)
    assert any(not np.array_equal(a, b) for a, b in zip(last, got, strict=True))  # not simply the last epoch
