"""Crash safety: SIGKILL mid-run and rerun gives the uninterrupted weights; NaN keeps the last good checkpoint."""

import os
import random

import numpy as np
import pytest

from tests.helpers import REPO, kill_after_a_new_checkpoint, run_tool

# the README's quickstart as it is (dropout 0.1 in the encoder), only shorter
# (a longer campaign: MTLZOO_RESUME_EPOCHS=8 MTLZOO_RESUME_KILLS=6, at most one kill per epoch)
QUICKSTART = ["--config=configs/quickstart.py", f"--config.train.epochs={os.environ.get('MTLZOO_RESUME_EPOCHS', '8')}"]
KILLS_PER_SEED = int(os.environ.get("MTLZOO_RESUME_KILLS", "2"))


def _weights(workdir):
    from mtlzoo import load_model

    return load_model(os.path.join(workdir, "model.keras")).get_weights()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_the_default_quickstart_at_random_moments_then_rerun_equals_uninterrupted(seed, tmp_path):
    """Issue 18.1: with dropout (the quickstart's 0.1), killed runs resume to the exact weights."""
    args = [*QUICKSTART, f"--config.seed={seed}"]
    ref = str(tmp_path / "ref")
    r = run_tool("train", *args, f"--workdir={ref}")
    assert r.returncode == 0, r.stderr[-3000:]

    wd = str(tmp_path / "killed")
    rng = random.Random(seed)
    kills = 0
    for _ in range(KILLS_PER_SEED):
        # a random moment after a new checkpoint; short: on an idle machine an epoch takes under a second
        if not kill_after_a_new_checkpoint(args, wd, delay=rng.uniform(0.0, 0.5)):
            break  # the run finished before this kill
        kills += 1
    print(f"seed {seed}: {kills} kills")
    assert kills >= 1, "every run finished before it could be killed; lengthen it"
    r = run_tool("train", *args, f"--workdir={wd}", "--config.train.verbose=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming from step" in r.stdout
    for a, b in zip(_weights(ref), _weights(wd), strict=True):
        assert np.array_equal(a, b), float(np.max(np.abs(a - b)))


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


def test_nan_guard_checks_the_weights_after_the_update(tmp_path):
    """Issue 18.4: an update that blows the weights up (finite loss before it, overflowing
    outputs after it) is never checkpointed; the last good checkpoint stays the latest."""
    import tensorflow as tf

    from mtlzoo.config import load_config_file
    from mtlzoo.training import TrainingError, train

    cfg = load_config_file(os.path.join(REPO, "tests", "training", "three_tasks_config.py"))
    cfg.train.epochs = 1
    wd = str(tmp_path / "run")
    train(cfg, wd)
    good = tf.train.latest_checkpoint(os.path.join(wd, "state"))
    cfg.train.epochs = 2
    cfg.train.learning_rate = 1e30
    cfg.train.checkpoint_every_steps = 1
    cfg.train.steps_per_loop = 1
    with pytest.raises(TrainingError, match="became NaN or Inf between steps .* last good checkpoint"):
        train(cfg, wd)
    assert tf.train.latest_checkpoint(os.path.join(wd, "state")) == good
