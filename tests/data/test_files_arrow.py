"""The pyarrow CSV reader of training (``data.csv_reader: auto``) against the TensorFlow one
(``csv_reader: tensorflow``, the reader of the validation pass): the same examples in the same
order, epoch by epoch and shard by shard, for every column kind; and the files it must leave to
TensorFlow. The files are written with Python's csv module; the values themselves are checked
against the csv module's reading in test_files.py (which now runs the pyarrow reader)."""

import csv

import numpy as np

from mtlzoo.data import files
from tests.data.files_helpers import assert_same_examples, assert_same_streams, load, read_split

HEADER = ("text", "x1", "x2", "color", "tags", "sentiment", "topic", "pos", "genres", "score")
TASKS = {
    "sentiment": {"kind": "binary"},
    "topic": {"kind": "multiclass", "num_classes": 3},
    "pos": {"kind": "tagging", "num_classes": 4},
    "genres": {"kind": "multilabel", "num_classes": 3},
    "score": {"kind": "regression"},
}
FEATURES = {
    "tokens": {"kind": "text", "column": "text", "max_length": 6, "tokenizer": {"lowercase": False}},
    "features": [
        {"kind": "numeric", "columns": ["x1", "x2"]},
        {"kind": "categorical", "column": "color"},
        {"kind": "multi_hot", "column": "tags", "separator": "|"},
    ],
}
LABELS = {
    "sentiment": {"classes": ["neg", "pos"]},
    "pos": {"classes": ["D", "N", "V"]},
    "genres": {"classes": ["a", "b", "c"]},
}
WORDS = ["the", "cat", "Dog", "sat", 'say "hi"', "a,b", "x"]
NUMBERS = ["1.5", " 2.25 ", "-3", "1e3", "+.5", "0", "nan", "-inf", "7.", "1e-50", "3.4028236e38", "0.1"]


def _rows(rng, n, start=0):
    """``n`` rows of every column kind: quoted cells (a delimiter, a quote), padded and odd
    numbers, empty label cells (missing labels) on some rows."""
    out = []
    for i in range(start, start + n):
        words = [str(rng.choice(WORDS)) for _ in range(int(rng.integers(1, 5)))]
        text = " ".join(words)
        tags = " ".join(str(rng.choice(["D", "N", "V"])) for _ in text.split())
        out.append(
            (
                text,
                str(rng.choice(NUMBERS)),
                f"{rng.normal():.6g}",
                str(rng.choice(["red", "blue", "green, dark", ""])),
                "|".join(rng.choice(["a", "b", "c"], size=int(rng.integers(0, 3)))),
                ["neg", "pos", ""][i % 3],
                ["0", "1", "2", ""][i % 4],
                tags if i % 5 else "",
                "|".join(rng.choice(["a", "b", "c"], size=int(rng.integers(1, 3)))) if i % 2 else "",
                f"{rng.normal():.4f}" if i % 3 else "",
            )
        )
    return out


def _write(path, rows, delimiter=",", line_end="\n"):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator=line_end)
        w.writerow(HEADER)
        w.writerows(rows)
    return str(path)


def _both(data_cfg, tasks=TASKS, seed=0):
    auto = load(tasks, {**data_cfg, "csv_reader": "auto"}, seed=seed)
    tf_ = load(tasks, {**data_cfg, "csv_reader": "tensorflow"}, seed=seed)
    return auto, tf_


def _cfg(entries, **extra):
    return {"files": entries, "features": FEATURES, "labels": LABELS, "shuffle_buffer": 64, **extra}


def test_pyarrow_reads_what_tensorflow_reads(tmp_path, monkeypatch):
    """Every column kind, quoting, missing labels, CRLF; a glob of three shards with a seeded
    split, an entry with its own split, an unquoted TSV, and files with a hexadecimal cell deep
    inside (TensorFlow reads it, pyarrow does not: the rows before it come from pyarrow, the
    rest from TensorFlow); stored order, two epochs, both kinds of sharding, a resumed stream.
    Both pyarrow readings: files with quotes streamed (blocks of 2 KB), files without (a shard
    with CRLF line ends and a hexadecimal cell, a file ending in blank lines, the TSV with
    ``quoting: false``, whose cells hold quotes) cut into parts of ~300 bytes and parsed on the
    thread pool; the parts were what was read. One load per reader (each load and pipeline
    costs seconds of tracing)."""
    monkeypatch.setattr(files, "ARROW_BLOCK", 2048)  # several blocks a file, so the hex error comes late
    monkeypatch.setattr(files, "PART", 300)  # many parts a file
    cut = []
    line_parts = files.line_parts
    monkeypatch.setattr(files, "line_parts", lambda path, size: (cut.append(path), line_parts(path, size))[1])
    rng = np.random.default_rng(0)

    def plain(rows):  # no cell holds a quote or a delimiter, so the writer quotes nothing
        return [tuple(c.replace('"', "'").replace(",", ";") for c in r) for r in rows]

    d = tmp_path / "shards"
    d.mkdir()
    for k, n in enumerate((150, 97, 203)):
        rows = _rows(rng, n, 1000 * k)
        if k == 1:
            rows = plain(rows)
            rows[80] = (rows[80][0], "0x10", *rows[80][2:])
        _write(d / f"part-{k}.csv", rows, line_end="\r\n" if k == 1 else "\n")
    extra = _write(tmp_path / "extra.csv", plain(_rows(rng, 60)))
    with open(extra, "a") as f:
        f.write("\n\n\n")
    tsv = _write(tmp_path / "a.tsv", _rows(rng, 80), delimiter="\t")  # the writer quotes cells holding a quote
    rows = _rows(rng, 300)
    rows[250] = (rows[250][0], "0x10", *rows[250][2:])
    hexed = _write(tmp_path / "h.csv", rows)
    cfg = _cfg(
        [
            {"path": str(d / "part-*.csv"), "format": "csv"},
            {"path": extra, "format": "csv", "split": "train", "tasks": ["sentiment", "score"]},
            {"path": tsv, "format": "tsv", "split": "validation", "quoting": False},
            {"path": hexed, "format": "csv", "split": "test"},
        ],
        validation_fraction=0.2,
        test_fraction=0.1,
    )
    auto, tf_ = _both(cfg, seed=5)
    assert list(auto.info["csv_readers"].values()) == [
        "pyarrow parts + stream",
        "pyarrow parts",
        "pyarrow parts",
        "pyarrow",
    ]
    assert set(tf_.info["csv_readers"].values()) == {"tensorflow"}
    stored = assert_same_streams(auto, tf_, (None, 1), 40)
    assert {str(d / "part-1.csv"), extra, tsv} <= set(cut) and not {str(d / "part-0.csv"), hexed} & set(cut)
    hex_rows = [f for s in ("train", "validation", "test") for f in stored[s][0] if f["features"][0] == 16.0]
    assert len(hex_rows) == 2  # one in the parts of shard 1, one in the streamed h.csv


def test_line_parts_are_the_lines_after_the_header(tmp_path):
    """:func:`files.line_parts` against Python's own line reading: every part ends after a line
    end (the last: at the end of the file), parts of blank lines only are skipped, and joined
    they hold the file's lines after its header; a line longer than the part size is one part."""
    path = tmp_path / "f.csv"
    lines = ["h1,h2\n"] + [f"{i},{'x' * (i % 37)}\r\n" if i % 4 else f"{i},y\n" for i in range(300)]
    lines += ["\n", "\n", "9,last-without-line-end"]
    path.write_bytes("".join(lines).encode())

    def nonblank(b):
        return [line for line in b.splitlines(keepends=True) if line.strip()]

    for size in (1, 50, 333, 1 << 20):
        parts = [bytes(p) for p in files.line_parts(str(path), size)]
        assert nonblank(b"".join(parts)) == nonblank("".join(lines[1:]).encode())
        assert all(p.endswith(b"\n") for p in parts[:-1]) and all(p.strip() for p in parts)
    with open(path, "rb") as f:
        f.readline()
        assert [bytes(p) for p in files.line_parts(str(path), 1)] == [line for line in f if line.strip()]


def test_files_pyarrow_cannot_read_exactly_stay_with_tensorflow(tmp_path):
    """A blank line inside (TensorFlow's line indices skip it), a whitespace-only line at the end
    (pyarrow: a short row), a lone carriage return (TensorFlow drops it, pyarrow ends a row),
    no header line, a gzip file: each entry is read by TensorFlow, with the same examples.
    The choice depends on a file's bytes and its entry's options, not on the columns read:
    the text, the numbers and two labels are read here (every column kind, read by both
    readers: :func:`test_pyarrow_reads_what_tensorflow_reads`)."""
    import gzip

    rng = np.random.default_rng(3)
    entries = []
    for case in ("blank line", "whitespace line at the end", "lone carriage return", "no header", "gzip"):
        path = _write(tmp_path / f"{case}.csv", _rows(rng, 40))
        entry = {"path": path, "format": "csv", "split": "train"}
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        lines = text.split("\n")
        if case == "blank line":
            text = "\n".join(lines[:10] + ["  "] + lines[10:])
        elif case == "whitespace line at the end":
            text += " \t\n"
        elif case == "lone carriage return":
            text = "\n".join(lines[:7] + [lines[7].replace(",", "\r,", 1)] + lines[8:])
        elif case == "no header":
            text = "\n".join(lines[1:])
            entry.update(header=False, column_names=list(HEADER))
        if case == "gzip":
            with gzip.open(path + ".gz", "wt", encoding="utf-8", newline="") as f:
                f.write(text)
            entry.update(path=path + ".gz", compression="GZIP")
        else:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        entries.append(entry)
    tasks = {t: TASKS[t] for t in ("sentiment", "score")}
    features = {"tokens": FEATURES["tokens"], "features": FEATURES["features"][:1]}
    auto, tf_ = _both(_cfg(entries, features=features, labels={"sentiment": LABELS["sentiment"]}), tasks)
    assert set(auto.info["csv_readers"].values()) == {"tensorflow"} and len(auto.info["csv_readers"]) == 5
    assert_same_examples(read_split(auto, "train", 0), read_split(tf_, "train", 0))
