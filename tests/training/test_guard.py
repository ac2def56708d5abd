"""One writer per workdir; a rerun with another config is refused before anything is
written; ``overwrite`` starts afresh (issue 18.2)."""

import json
import os
import subprocess
import sys

import pytest

from mtlzoo import ConfigError
from mtlzoo.config import load_config_file
from mtlzoo.training import train
from mtlzoo.training.guard import RESUMABLE_FIELDS, WorkdirLock, differing_fields
from tests.helpers import REPO, run_tool


def small(epochs=1):
    c = load_config_file(os.path.join(REPO, "tests", "training", "three_tasks_config.py"))
    c.train.epochs = epochs
    return c


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    wd = str(tmp_path / "run")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from mtlzoo.training.guard import WorkdirLock\nwith WorkdirLock({wd!r}):\n    input()",
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        lock = os.path.join(wd, ".lock")
        while not (os.path.exists(lock) and _read(lock)):
            assert holder.poll() is None
        with pytest.raises(ConfigError, match=f"is being written by pid {holder.pid} on "):
            train(small(), wd)
        assert not os.path.exists(os.path.join(wd, "config.json"))
    finally:
        holder.communicate("\n", timeout=60)
    with WorkdirLock(wd):  # released when its holder ends
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    wd = str(tmp_path / "run")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from mtlzoo.training.guard import WorkdirLock\nwith WorkdirLock({wd!r}):\n    input()",
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
    )
    lock = os.path.join(wd, ".lock")
    while not (os.path.exists(lock) and _read(lock)):
        assert holder.poll() is None
    holder.kill()
    holder.wait()
    with WorkdirLock(wd):
        pass


def test_rerun_with_another_config_is_refused_before_anything_is_written(tmp_path):
    wd = str(tmp_path / "run")
    train(small(), wd)
    before = {n: _read(os.path.join(wd, n)) for n in ("config.json", "model.keras", "metrics.json")}
    for change, field in [
        (lambda c: setattr(c.train, "optimizer", "adam"), "train.optimizer"),
        (lambda c: c.tasks.__delitem__("c"), "tasks.c"),
        (lambda c: setattr(c.model.encoder, "units", (32, 16)), "model.encoder.units"),
    ]:
        c = small(2)
        change(c)
        with pytest.raises(ConfigError, match=rf"holds a run with another config \(.*{field}.* differ\)"):
            train(c, wd)
        assert {n: _read(os.path.join(wd, n)) for n in before} == before
    # the fields a resume may change: it resumes
    c = small(2)
    c.train.learning_rate = 0.01
    c.train.verbose = 2
    r = train(c, wd)
    assert len(r.history["a_loss"]) == 1  # epoch 2 only
    # overwrite: afresh, with the new config recorded
    c = small(1)
    c.train.optimizer = "adam"
    r = train(c, wd, overwrite=True)
    assert len(r.history["a_loss"]) == 1
    with open(os.path.join(wd, "config.json")) as f:
        assert json.load(f)["train"]["optimizer"] == "adam"


def test_differing_fields():
    old = {"train": {"epochs": 1, "optimizer": "sgd", "x": [1, 2]}, "tasks": {"a": {"kind": "binary"}}}
    new = {"train": {"epochs": 2, "optimizer": "sgd", "x": (1, 2)}, "tasks": {}}
    assert differing_fields(old, new) == ["tasks", "tasks.a.kind", "train.epochs"]
    assert "train.epochs" in RESUMABLE_FIELDS and "train.optimizer" not in RESUMABLE_FIELDS


def test_the_tool_refuses_in_one_line_and_overwrite_starts_afresh(tmp_path):
    args = ["--config=tests/training/three_tasks_config.py", f"--workdir={tmp_path}", "--config.train.epochs=1"]
    assert run_tool("train", *args).returncode == 0
    r = run_tool("train", *args, "--config.train.optimizer=adam")
    assert r.returncode == 2
    assert [line for line in r.stderr.splitlines() if line.startswith("error:")] == [
        f"error: config field --workdir: {tmp_path} holds a run with another config (train.optimizer differ); rerun "
        "with its config to resume, or use --overwrite to start afresh"
    ]
    assert run_tool("train", *args, "--config.train.optimizer=adam", "--overwrite").returncode == 0


def test_an_optional_memory_missing_from_the_checkpoint_does_not_make_it_unreadable(tmp_path):
    """A checkpoint written without a callback's memory (an older run, or one without that
    callback) restores its core objects; the memory keeps its start value. Without the
    core/optional split the same checkpoint counts as unreadable (and the run would start over)."""
    import tensorflow as tf

    from mtlzoo.training.guard import restore_newest_readable

    state = str(tmp_path / "state")
    old = tf.Variable([1.0, 2.0])
    tf.train.CheckpointManager(tf.train.Checkpoint(model=old), state, max_to_keep=2).save(checkpoint_number=7)

    weights, memory = tf.Variable([0.0, 0.0]), tf.Variable(-1, dtype=tf.int64)
    core, optional = {"model": weights}, {"early_stopping": tf.train.Checkpoint(wait=memory)}
    ckpt = tf.train.Checkpoint(**core, **optional)
    _, path = restore_newest_readable(ckpt, state, 2, warn=lambda m: None, core=core, optional=optional)
    assert path is not None and path.endswith("ckpt-7")
    assert weights.numpy().tolist() == [1.0, 2.0] and int(memory.numpy()) == -1

    warnings = []
    weights.assign([0.0, 0.0])
    _, path = restore_newest_readable(ckpt, state, 2, warn=warnings.append)
    assert path is None and warnings  # the all-or-nothing restore refuses it


def test_a_rerun_that_switches_early_stopping_on_resumes(tmp_path):
    wd = str(tmp_path / "run")
    args = ["--config=tests/training/three_tasks_config.py", "--config.data.examples_per_task=24", f"--workdir={wd}"]
    r = run_tool("train", *args, "--config.train.epochs=2")
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_tool(
        "train",
        *args,
        "--config.train.epochs=4",
        "--config.train.early_stopping.patience=5",
        "--config.train.verbose=2",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming from step" in r.stdout and "cannot be restored" not in r.stderr, (r.stdout, r.stderr[-2000:])


def test_a_run_recorded_before_a_field_existed_resumes_and_other_gaps_are_refused(tmp_path):
    """A config.json written by an earlier version lacks the fields added since: where the
    default is what the run did, the rerun resumes; a missing field the new config sets to
    something else is still a difference."""
    wd = str(tmp_path / "run")
    train(small(), wd)
    path = os.path.join(wd, "config.json")
    with open(path) as f:
        recorded = json.load(f)
    del recorded["train"]["alignment_phase2"]  # added after such a run was recorded
    del recorded["model"]["encoder"]["dropout"]  # the recorded default: 0.0
    with open(path, "w") as f:
        json.dump(recorded, f)
    c = small(2)
    c.model.encoder.dropout = 0.1
    with pytest.raises(ConfigError, match=r"another config \(model\.encoder\.dropout differ\)"):
        train(c, wd)
    r = train(small(2), wd)
    assert len(r.history["a_loss"]) == 1  # resumed: epoch 2 only
