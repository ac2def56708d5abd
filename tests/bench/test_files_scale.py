"""bench/files_scale.py: its generated CSV and TFRecord data read back with the csv module and
``tf.train.Example`` parsing (the TFRecord protos are hand-encoded with numpy), and one tiny
measurement's row structure (no timing assertions)."""

import csv
import json
import os

import numpy as np
import pytest

from bench import files_scale


def _reference(rows):
    x, t0, t1 = (np.concatenate(parts) for parts in zip(*files_scale._chunks(rows), strict=True))
    return x, t0, t1


def test_generated_csv_reads_back(tmp_path, monkeypatch):
    monkeypatch.setattr(files_scale, "CHUNK", 7)  # several chunks
    files_scale.write_csv(str(tmp_path / "d.csv"), 23)
    x, t0, t1 = _reference(23)
    with open(tmp_path / "d.csv", newline="") as f:
        got = list(csv.DictReader(f))
    assert len(got) == 23
    for i, r in enumerate(got):
        np.testing.assert_allclose([float(r[f"x{j}"]) for j in range(files_scale.D)], x[i], atol=6e-5)
        assert r["t0"] == str(t0[i]) and r["t1"] == ("" if t1[i] < 0 else str(t1[i]))
    assert sum(r["t1"] == "" for r in got) == 23 - len(range(0, 23, 3))  # labelled on one row in three


def test_generated_tfrecords_parse_as_examples(tmp_path, monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(files_scale, "CHUNK", 7)
    files_scale.write_tfrecords(str(tmp_path), 19)
    x, t0, t1 = _reference(19)
    shards = sorted(os.listdir(tmp_path))
    assert shards == [f"part-{k:05d}.tfrecord" for k in range(files_scale.SHARDS)]
    for k, name in enumerate(shards):
        for j, raw in enumerate(tf.data.TFRecordDataset(str(tmp_path / name)).as_numpy_iterator()):
            i = k + j * files_scale.SHARDS  # rows are dealt round-robin
            feat = tf.train.Example.FromString(raw).features.feature
            np.testing.assert_array_equal(np.array(feat["x"].float_list.value, np.float32), x[i])
            assert list(feat["t0"].int64_list.value) == [t0[i]]
            assert (list(feat["t1"].int64_list.value) if "t1" in feat else [-1]) == [t1[i]]


@pytest.mark.slow
def test_one_measurement(tmp_path, monkeypatch):
    monkeypatch.setattr(files_scale, "SHARDS", 2)  # not the bench's 8: still several files interleaved
    files_scale.ensure_data(str(tmp_path), 600)
    m = files_scale.measure("tfrecord", str(tmp_path), batch=32, steps=3)
    assert m["rows"] == 600 and m["peak_rss_mb"] > 0
    assert m["headroom"] == pytest.approx(m["input_examples_per_s"] / 32 / m["model_steps_per_s"])
    assert m["headroom_cpu"] == pytest.approx(m["input_batches_per_cpu_s"] / m["model_steps_per_cpu_s"])
    assert m["input_batches_per_cpu_s"] > 0 and m["model_steps_per_cpu_s"] > 0
    assert json.loads(json.dumps(m)) == m


@pytest.mark.slow
def test_compare_readers(tmp_path, monkeypatch):
    """``--readers``: every reader of each format loaded (it asserts they give the same examples
    and that each load used the reading it names), one pair of rates per reader and repeat.
    The TFRecord data in 2 shards, not the bench's 8: still several files interleaved."""
    monkeypatch.setattr(files_scale, "SHARDS", 2)
    files_scale.ensure_data(str(tmp_path), 600)
    out = files_scale.compare_readers(str(tmp_path), batch=32, steps=3, repeats=2)
    assert set(out) == {"frames", "tensorflow"} and all(len(v) == 2 and min(min(v)) > 0 for v in out.values())
    out = files_scale.compare_readers(str(tmp_path), batch=32, steps=3, repeats=1, fmt="csv")
    assert set(out) == {"parts", "stream", "tensorflow"} and all(len(v) == 1 and min(min(v)) > 0 for v in out.values())
