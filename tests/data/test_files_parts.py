"""Training's parallel CSV reader by parts (:func:`mtlzoo.data.files.arrow_exact`'s part table,
:func:`mtlzoo.data.files.csv_arrow_rows` with ``parts``) against independent readings: the
part table against the line starts found in Python (every cut at a line start, the row index
of each part that line's), the rows read part by part against Python's ``csv`` module, for
parts of many sizes (so the cuts fall at every place, across the scan's blocks); the files that
keep the streaming reader; a file changed after it was counted. Whole streams against the
TensorFlow reader: tests/data/test_files_arrow.py."""

import csv

import numpy as np
import pytest

from mtlzoo.data import files

COLUMNS = ["a", "b", "name", "label"]


def _entry(**extra):
    return {"format": "csv", "field": "data.files[0]", "delimiter": None, "quoting": True, "header": True,
            "compression": None, **extra}  # fmt: skip


def _rows(n, seed=0):
    """Numbers of several spellings (padded, signed, exponent, nan), words, empty label cells."""
    rng = np.random.default_rng(seed)
    spell = ["1.5", " 2.25 ", "-3", "1e3", "+.5", "nan", "7.", "1e-50"]
    return [
        [str(rng.choice(spell)), f"{rng.normal():.6g}", str(rng.choice(["x", "yy", "a b", ""])), ["", "0", "1"][i % 3]]
        for i in range(n)
    ]


def _write(path, rows, line_end="\n", final=True, trailing=""):
    text = line_end.join([",".join(COLUMNS)] + [",".join(r) for r in rows]) + (line_end if final else "") + trailing
    path.write_bytes(text.encode())
    return str(path)


def _line_starts(path):
    """Byte offset of each line's start (Python's reading of the bytes)."""
    data = open(path, "rb").read()
    return [0] + [i + 1 for i, b in enumerate(data) if b == ord("\n")], len(data)


@pytest.mark.parametrize("part", [1, 10, 97, 1 << 20])
def test_part_table_cuts_at_line_starts(tmp_path, monkeypatch, part):
    """LF and CRLF, no final line end, blank lines after the last row; the scan in blocks of 64
    bytes (cuts across blocks): each cut is the start of line ``first row + 1`` (after the
    header), parts of at least ``PART`` bytes, the last entry (file size, rows)."""
    monkeypatch.setattr(files, "PART", part)
    monkeypatch.setattr(files, "SCAN", 64)
    for k, (end, final, trailing) in enumerate([("\n", True, ""), ("\r\n", False, ""), ("\r\n", True, "\r\n\n\r\n")]):
        rows = _rows(50 + k, seed=k)
        path = _write(tmp_path / f"f{k}.csv", rows, end, final, trailing)
        exact, parts = files.arrow_exact(_entry(), path, len(rows), len(rows))
        assert exact and parts is not None and parts.dtype == np.int64
        starts, size = _line_starts(path)
        assert parts[0].tolist() == [starts[1], 0] and parts[-1].tolist() == [size, len(rows)]
        assert (np.diff(parts[:, 0]) > 0).all() and (np.diff(parts[:, 1]) > 0).all()
        for byte, row in parts[:-1].tolist():
            assert byte == starts[row + 1]
        assert (np.diff(parts[:-2, 0]) >= part).all()
        if part == 1:
            assert len(parts) == len(rows) + 1  # a part per row


def test_parts_only_where_every_line_end_ends_a_row(tmp_path):
    """A double quote anywhere (quoting on): streamed (no table); the same file with quoting
    off: parts; a blank line inside: not pyarrow at all."""
    rows = _rows(30)
    rows[20][2] = '"q"'
    path = _write(tmp_path / "q.csv", rows)
    assert files.arrow_exact(_entry(), path, 30, 30) == (True, None)
    exact, parts = files.arrow_exact(_entry(quoting=False), path, 30, 30)
    assert exact and parts is not None
    assert files.arrow_exact(_entry(), path, 31, 30) == (False, None)


def _read(entry, path, parts, size, exact):
    numeric = {"a", "b"}
    reader, parse = files.csv_arrow_rows(
        entry, COLUMNS, numeric, COLUMNS, files.csv_rows(entry, COLUMNS, numeric), parts
    )
    index, numbers, strings, sizes = [], [], [], []
    for i, rec in reader(path, size, exact):
        row = parse(i, rec)[1]
        index.append(i.numpy())
        numbers.append(np.stack([row["a"].numpy(), row["b"].numpy()], 1))
        strings.append(np.stack([row["name"].numpy(), row["label"].numpy()], 1))
        sizes.append(len(i))
    return np.concatenate(index), np.concatenate(numbers), np.concatenate(strings), sizes


def test_parts_read_what_the_csv_module_reads(tmp_path, monkeypatch):
    """Rows read part by part (parts of 64 bytes: many per file) equal Python's csv reading:
    numbers as float32 of Python's ``float`` (NaN too), strings as bytes, indices 0 .. n - 1;
    a hexadecimal cell in a middle part (pyarrow rejects it: that part is parsed by TensorFlow's
    ops, which read 16); chunks of exactly ``size`` rows when asked, else the parts as they come."""
    monkeypatch.setattr(files, "PART", 64)
    rows = _rows(120, seed=3)
    rows[61][0] = "0x10"
    path = _write(tmp_path / "h.csv", rows, "\r\n")
    exact, parts = files.arrow_exact(_entry(), path, 120, 120)
    assert exact and 61 not in parts[:, 1] and len(parts) > 20  # the hex row inside a part
    with open(path, newline="", encoding="utf-8") as f:
        expected = list(csv.reader(f))[1:]
    want_x = np.array(
        [[float.fromhex(c) if c.startswith("0x") else float(c) for c in r[:2]] for r in expected], np.float32
    )
    want_s = np.array([[c.encode() for c in r[2:]] for r in expected], object)
    for size, exact_chunks in ((7, True), (7, False)):
        index, x, s, sizes = _read(_entry(), path, {path: parts}, size, exact_chunks)
        np.testing.assert_array_equal(index, np.arange(120))
        np.testing.assert_array_equal(x, want_x)  # NaN equals NaN
        assert s.tolist() == want_s.tolist()
        if exact_chunks:
            assert sizes == [7] * 17 + [1]
        else:
            assert sizes == np.diff(parts[:, 1]).tolist()
    assert x[61, 0] == 16.0


def test_a_file_changed_after_counting_is_named(tmp_path, monkeypatch):
    """One row one byte longer (the parts after it no longer start at line ends), or a row
    added at the end: the read stops with the file's name."""
    import tensorflow as tf

    monkeypatch.setattr(files, "PART", 200)
    rows = _rows(60, seed=4)
    path = _write(tmp_path / "c.csv", rows)
    _, parts = files.arrow_exact(_entry(), path, 60, 60)
    for change in ("longer", "appended"):
        changed = [list(r) for r in rows]
        if change == "longer":
            changed[30][2] += "z"
        else:
            changed.append(changed[0])
        _write(tmp_path / "c.csv", changed)
        with pytest.raises(tf.errors.OpError, match=r"c\.csv: the file changed after it was counted"):
            _read(_entry(), path, {path: parts}, 16, False)
