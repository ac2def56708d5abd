"""The ``files`` source reads and checks rows a chunk at a time (``READ`` lines): rows past the
first chunk, read back against Python's csv module, and bad rows past the first chunk named by
their own line (a chunk whose ops fail is read again row by row; a chunk with an unknown label
names its first bad row directly)."""

import csv

import numpy as np
import pytest

from mtlzoo.data.files_source import READ
from mtlzoo.errors import ConfigError
from tests.data.files_helpers import load, read_split

N = 2 * READ + 100  # three chunks in the validation pass
TASKS = {"y": {"kind": "binary"}, "z": {"kind": "multiclass", "num_classes": 3}}
FEATURES = {"f": {"kind": "numeric", "columns": ["x"]}, "c": {"kind": "categorical", "column": "color"}}


def _write(path, bad=None):
    """N rows ``x, color, y, z``; ``bad``: {0-based data row: (column, value)}."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(N):
        row = {
            "x": f"{rng.normal():.4f}",
            "color": ["red", "green", "blue"][i % 3] if i % 7 else "",
            "y": "" if i % 5 == 0 else str(i % 2),
            "z": "" if i % 3 == 0 else str(i % 3),
        }
        if bad and i in bad:
            row[bad[i][0]] = bad[i][1]
        rows.append(row)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["x", "color", "y", "z"])
        w.writeheader()
        w.writerows(rows)
    return str(path)


def _cfg(path):
    return {"files": [{"path": path, "format": "csv", "split": "train"}], "features": FEATURES}


def test_rows_past_the_first_chunk_match_the_csv_module(tmp_path):
    path = _write(tmp_path / "a.csv")
    data = load(TASKS, _cfg(path))
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(data.split("train")) == len(rows) == N
    feats, labels, weights = read_split(data, "train")
    vocab = data.info["vocabularies"]["c"]
    for f, y, w, r in zip(feats, labels, weights, rows, strict=True):
        assert f["f"].tolist() == [np.float32(float(r["x"]))]
        onehot = [0.0] * len(vocab)
        onehot[vocab.index(r["color"]) if r["color"] in vocab else 0] = 1.0
        assert f["c"].tolist() == onehot
        assert w["y"] == float(r["y"] != "") and w["z"] == float(r["z"] != "")
        assert y["y"].tolist() == [float(r["y"] or 0)] and int(y["z"]) == int(r["z"] or 0)


@pytest.mark.parametrize(
    "row, column, value, message",
    [
        (READ + 500, "x", "zz", "column 'x': 'zz' is not a number"),  # the chunk's ops fail, the next one reads
        (READ + 300, "y", "maybe", "column 'y': unknown y label 'maybe'"),  # the chunk's check flags it
        (N, None, None, "5 fields, the file has 4 columns"),  # a ragged last line: the last chunk fails
    ],
)
def test_a_bad_row_past_the_first_chunk_is_named(tmp_path, row, column, value, message):
    path = _write(tmp_path / "bad.csv", {row: (column, value), row + 7: ("x", "also bad")} if column else None)
    if column is None:  # one more line, ragged, written by hand
        with open(path, "a", encoding="utf-8") as f:
            f.write("1,red,1,1,1\n")
    with pytest.raises(ConfigError) as e:
        load(TASKS, _cfg(path))
    assert f"{path} line {row + 2}: {message}" in str(e.value)
