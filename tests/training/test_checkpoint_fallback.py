"""A corrupt newest checkpoint falls back to the one before it (issue 18.3), and the run
still ends with the weights of an uninterrupted one."""

import glob
import os

import numpy as np
import pytest

from mtlzoo.config import load_config_file
from mtlzoo.training import train
from tests.helpers import REPO


def small(epochs):
    c = load_config_file(os.path.join(REPO, "tests", "training", "three_tasks_config.py"))
    c.train.epochs = epochs
    return c


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return train(small(3), str(tmp_path_factory.mktemp("ref"))).model.get_weights()


def _newest(wd, suffix):
    files = glob.glob(os.path.join(wd, "state", f"ckpt-*{suffix}"))
    return max(files, key=lambda p: int(os.path.basename(p).split("-")[1].split(".")[0]))


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(max(1, os.path.getsize(path) // 2))


def _flip(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for i in range(0, len(data), 7):
            data[i] ^= 0xFF
        f.seek(0)
        f.write(bytes(data))


def _garble_index(path):
    with open(path, "w") as f:
        f.write("model_checkpoint_path: {{{ not a text proto\n")


DAMAGES = [
    lambda wd: _truncate(_newest(wd, ".index")),
    lambda wd: _flip(_newest(wd, ".data-00000-of-00001")),
    lambda wd: _truncate(_newest(wd, ".data-00000-of-00001")),
    lambda wd: _garble_index(os.path.join(wd, "state", "checkpoint")),
]


@pytest.mark.parametrize(
    "damage",
    DAMAGES,
    ids=["truncated-index", "flipped-data", "truncated-data", "garbled-checkpoint-file"],
)
def test_corrupt_newest_checkpoint_falls_back_and_ends_like_an_uninterrupted_run(damage, reference, tmp_path, capsys):
    wd = str(tmp_path / "run")
    train(small(2), wd)
    os.remove(os.path.join(wd, "model.keras"))  # as if killed after the epoch-2 checkpoint
    damage(wd)
    capsys.readouterr()
    r = train(small(3), wd)
    for a, b in zip(reference, r.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    err = capsys.readouterr().err
    if damage is not DAMAGES[-1]:  # a garbled `checkpoint` text file: the .index files are listed directly
        assert "warning: checkpoint" in err and "trying an older one" in err


def test_a_write_killed_mid_epoch_file_leaves_no_torn_weights_file(tmp_path, monkeypatch):
    """checkpoints/epoch_NNN.weights.h5 is written aside and renamed: a failure mid-write
    (here: half a file, then an error) leaves no file of that name and no temporary behind."""
    import keras

    def torn(self, path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n half a file")
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(keras.Model, "save_weights", torn)
    wd = str(tmp_path / "torn")
    with pytest.raises(OSError, match="No space left"):
        train(small(1), wd)
    assert os.listdir(os.path.join(wd, "checkpoints")) == []
