"""Saved vocabularies (a workdir's ``vocabularies.json``) replace the ones a files source would
build: ids follow the saved lists, whatever the files now hold; inputs the saved mapping lacks
are still built. Expected encodings are written out from the saved lists."""

import csv

import ml_collections
import numpy as np

from mtlzoo.data import load_data, resolve_data_config
from mtlzoo.tasks import tasks_from_config

TASKS = {"y": {"kind": "binary"}}


def _load(path, vocabularies=None):
    specs = tasks_from_config(TASKS)
    data = {
        "source": "files",
        "files": [{"path": str(path), "format": "csv", "split": "train"}],
        "features": {
            "c": {"kind": "categorical", "column": "color"},
            "t": {"kind": "text", "column": "text", "max_length": 3},
            "m": {"kind": "multi_hot", "column": "tags"},
        },
    }
    resolved = resolve_data_config(data, specs)
    return load_data(ml_collections.ConfigDict({"seed": 0, "data": resolved}), specs, vocabularies=vocabularies)


def test_saved_vocabularies_fix_the_ids(tmp_path):
    rows = [("red", "red car", "a|b", "1"), ("red", "red bus", "a", "0"), ("blue", "zz", "b", "1")]
    with open(tmp_path / "d.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["color", "text", "tags", "y"])
        w.writerows(rows)
    saved = {"c": ["[OOV]", "blue", "green"], "t": ["[PAD]", "[UNK]", "zz", "red"]}
    data = _load(tmp_path / "d.csv", saved)
    vocab = data.info["vocabularies"]
    assert vocab["c"] == saved["c"] and vocab["t"] == saved["t"]
    assert vocab["m"] == ["[OOV]", "a", "b"]  # not saved: built from the file (a, b twice each)
    got = list(data.split("train").make(None))
    for (color, text, _tags, _), (f, _, _) in zip(rows, got, strict=True):
        want_c = np.zeros(3, np.float32)
        want_c[saved["c"].index(color) if color in saved["c"] else 0] = 1
        np.testing.assert_array_equal(f["c"].numpy(), want_c)
        ids = [saved["t"].index(w) if w in saved["t"] else 1 for w in text.split()][:3]
        assert f["t"].numpy().tolist() == ids + [0] * (3 - len(ids))
    built = _load(tmp_path / "d.csv").info["vocabularies"]
    assert built["c"] == ["[OOV]", "red", "blue"] and built["t"][2] == "red"  # what a fresh build gives
