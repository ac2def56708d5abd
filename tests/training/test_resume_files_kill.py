"""Resume exactness for a ``files`` source (issue 16.3): a training run on CSV files, with
dropout on, SIGKILLed mid-epoch right after a checkpoint and rerun, ends with exactly the
weights of the uninterrupted run (numpy ``array_equal``).

The data: two CSV files labelling different tasks (the second with sparse labels: an empty
cell is a missing label), mixed by the source; n = 53 training rows, batch 4, so an epoch is
14 steps and the checkpoints every 5 steps fall mid-epoch (the resumed stream skips into an
epoch's window-shuffled order). Each checkpoint rebuilds the input pipeline (the trainer's
weight check), so checkpoints are kept few."""

import csv
import os
import re

import numpy as np
import pytest

from tests.helpers import kill_after_a_new_checkpoint, run_tool

STEPS_PER_EPOCH = 14  # ceil(53 / 4)

CONFIG = """
import ml_collections

from mtlzoo.config import with_defaults


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {{"a": {{"kind": "binary"}}, "b": {{"kind": "regression"}}}}
    c.data = {{
        "source": "files",
        "batch_size": 4,
        "files": [
            {{"path": "{d}/a.csv", "format": "csv", "split": "train", "tasks": ["a"]}},
            {{"path": "{d}/b.csv", "format": "csv", "split": "train", "tasks": ["b"]}},
            {{"path": "{d}/a.csv", "format": "csv", "split": "validation", "tasks": ["a"]}},
        ],
        "features": {{"features": {{"kind": "numeric", "columns": ["x1", "x2", "x3"]}}}},
        "shuffle_buffer": 16,
    }}
    c.model = {{
        "encoder": {{"name": "mlp", "input_dim": 3, "units": (16, 8), "dropout": 0.1}},
        "tower": {{"units": (4,)}},
    }}
    c.train = {{
        "epochs": 2, "learning_rate": 0.01, "optimizer": "adam",
        "checkpoint_every_steps": 5, "steps_per_loop": 1,
    }}
    return with_defaults(c)
"""


def _write(d):
    rng = np.random.default_rng(0)
    for name, n in (("a", 30), ("b", 23)):
        with open(os.path.join(d, f"{name}.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["x1", "x2", "x3", name])
            for i in range(n):
                x = rng.normal(size=3)
                y = int(x[0] > 0) if name == "a" else ("" if i % 4 == 3 else round(float(x.sum()), 4))
                w.writerow([*np.round(x, 4), y])
    path = os.path.join(d, "files_config.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(CONFIG.format(d=d))
    return path


def _weights(workdir):
    from mtlzoo import load_model

    return load_model(os.path.join(workdir, "model.keras")).get_weights()


@pytest.mark.slow
def test_sigkill_a_files_run_mid_epoch_then_rerun_equals_uninterrupted(tmp_path):
    config = _write(str(tmp_path))
    ref = str(tmp_path / "ref")
    r = run_tool("train", f"--config={config}", f"--workdir={ref}")
    assert r.returncode == 0, r.stderr[-3000:]

    wd = str(tmp_path / "killed")
    # SIGKILLed as soon as it has written a new checkpoint: mid-epoch (every 5 steps of a 14-step epoch)
    assert kill_after_a_new_checkpoint([f"--config={config}"], wd), "the run finished before it could be killed"
    assert os.path.exists(os.path.join(wd, "state", "checkpoint")), "killed before its first checkpoint"
    r = run_tool("train", f"--config={config}", f"--workdir={wd}", "--config.train.verbose=2")
    assert r.returncode == 0, r.stderr[-3000:]
    step = int(re.search(r"resuming from step (\d+)", r.stdout).group(1))
    assert step % STEPS_PER_EPOCH, f"resumed at step {step}, an epoch boundary: not the mid-epoch case"
    for a, b in zip(_weights(ref), _weights(wd), strict=True):
        assert np.array_equal(a, b), float(np.max(np.abs(a - b)))
