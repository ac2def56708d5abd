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
