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
