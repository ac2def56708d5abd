"""Atomic writes: JSON round trip with NaN handling; a directory swapped into place."""

import json
import math

from mtlzoo.fileio import swap_into_place, write_json


def test_write_json_round_trip_and_nan(tmp_path):
    obj = {"b": [1.0, float("nan")], "a": {"x": float("inf"), "y": 2}}
    p = write_json(obj, str(tmp_path / "m.json"))
    assert math.isnan(json.loads((tmp_path / "m.json").read_text())["b"][1])
    write_json(obj, p, nan_to_null=True)
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": {"x": None, "y": 2}, "b": [1.0, None]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]  # no temporary file left


def test_swap_into_place_replaces_an_existing_directory(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "f").write_text("new")
    swap_into_place(str(tmp_path / "new"), str(tmp_path / "entry"))
    assert (tmp_path / "entry" / "f").read_text() == "new"
    (tmp_path / "newer").mkdir()
    (tmp_path / "newer" / "g").write_text("newer")
    swap_into_place(str(tmp_path / "newer"), str(tmp_path / "entry"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]
    assert [p.name for p in (tmp_path / "entry").iterdir()] == ["g"]


def test_atomic_open_keeps_the_old_file_on_an_error_and_leaves_no_temporary(tmp_path):
    import pytest

    from mtlzoo.fileio import atomic_open, atomic_path, write_text

    p = str(tmp_path / "t.md")
    write_text("old\n", p)
    with pytest.raises(RuntimeError):
        with atomic_open(p, fsync=True) as f:
            f.write("half")
            raise RuntimeError("crash")
    assert (tmp_path / "t.md").read_text() == "old\n"
    with atomic_open(p, "wb", fsync=True) as f:
        f.write(b"new\n")
    assert (tmp_path / "t.md").read_text() == "new\n"
    with atomic_path(str(tmp_path / "fig.png"), suffix=".png") as tmp:
        assert tmp.endswith(".png") and tmp != str(tmp_path / "fig.png")
        open(tmp, "wb").write(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "t.md"]
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(p, "a"):
            pass


def test_remote_paths_go_through_gfile_and_writes_stay_atomic():
    """ram:// (TensorFlow's in-memory file system) stands in for gs://, s3://, hdfs://."""
    import uuid

    import pytest
    import tensorflow as tf

    from mtlzoo import fileio

    gfile = tf.io.gfile
    root = f"ram://fileio-{uuid.uuid4().hex[:8]}"
    assert fileio.is_remote(root) and not fileio.is_remote("/tmp/x")
    fileio.makedirs(f"{root}/a/b")
    assert fileio.isdir(f"{root}/a/b") and not fileio.isfile(f"{root}/a/b")
    write_json({"x": [1, 2]}, f"{root}/a/m.json")
    with gfile.GFile(f"{root}/a/m.json") as f:
        assert json.load(f) == {"x": [1, 2]}
    assert sorted(fileio.listdir(f"{root}/a")) == ["b", "m.json"]
    # a writer that fails leaves the old content and no temporary file
    with pytest.raises(RuntimeError):
        with fileio.atomic_open(f"{root}/a/m.json") as f:
            f.write("half")
            raise RuntimeError("crash")
    with fileio.open_file(f"{root}/a/m.json") as f:
        assert json.load(f) == {"x": [1, 2]}
    assert not [n for n in gfile.listdir(f"{root}/a") if n.startswith(".")]
    # a library that writes only local files (here: numpy) writes a remote path through atomic_path
    import numpy as np

    with fileio.atomic_path(f"{root}/a/w.npy", suffix=".npy") as tmp:
        assert not fileio.is_remote(tmp)
        np.save(tmp, np.arange(3))
    with fileio.local_copy(f"{root}/a/w.npy") as local:
        np.testing.assert_array_equal(np.load(local), np.arange(3))
    # a directory built aside replaces the old one, every file included
    fileio.makedirs(f"{root}/new/sub")
    fileio.write_text("new", f"{root}/new/sub/f.txt")
    fileio.makedirs(f"{root}/target")
    fileio.write_text("old", f"{root}/target/old.txt")
    fileio.swap_into_place(f"{root}/new", f"{root}/target")
    assert sorted(p.rsplit("/", 1)[1] for p in gfile.glob(f"{root}/*")) == ["a", "target"]
    assert not gfile.exists(f"{root}/target/old.txt")
    with gfile.GFile(f"{root}/target/sub/f.txt") as f:
        assert f.read() == "new"
