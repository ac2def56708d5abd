"""Training's TFRecord reader by frames (:func:`mtlzoo.data.files.tfrecord_framed_rows`) against
an independent reading (the records built in Python, read back with ``tf.train.Example``) and
against ``TFRecordDataset`` (``tfrecord_reader: tensorflow``, the reader of the counting
and validation passes): the same examples in the same order, epoch by epoch, shard by shard and
in a resumed stream; int, float and bytes features; optional labels absent, present and empty."""

import numpy as np
import pytest

from tests.data.files_helpers import assert_same_examples, assert_same_streams, load, read_split

TASKS = {
    "flag": {"kind": "binary"},
    "topic": {"kind": "multiclass", "num_classes": 3},
    "score": {"kind": "regression"},
}
SCHEMA = {
    "vec": {"type": "float", "shape": [3]},
    "n": {"type": "int"},
    "color": {"type": "string"},
    "text": {"type": "string"},
    "flag": {"type": "int"},
    "topic": {"type": "string"},
    "score": {"type": "float"},
}
FEATURES = {
    "features": [
        {"kind": "numeric", "columns": ["vec", "n"]},
        {"kind": "categorical", "column": "color"},
    ],
    "tokens": {"kind": "text", "column": "text", "max_length": 4},
}
LABELS = {"topic": {"classes": ["a", "b", "c"]}}
WORDS = ["the", "cat", "sat", "on", "a", "mat", "é"]


def _records(rng, n, start=0):
    """``n`` records as dicts column -> list of values; labels absent, present, or present and
    empty on some rows (an empty list is a missing label too), records of varying length."""
    out = []
    for i in range(start, start + n):
        r = {
            "vec": [float(np.float32(v)) for v in rng.normal(size=3)],
            "n": [int(rng.integers(-5, 1000))],
            "color": [str(rng.choice(["red", "blue", "green", "a much longer colour name"]))],
            "text": [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 7))))],
        }
        if i % 3 == 0:
            r["flag"] = [int(rng.integers(0, 2))]
        elif i % 7 == 1:
            r["flag"] = []  # present, no value: missing
        if i % 4:
            r["topic"] = [str(rng.choice(["a", "b", "c"]))]
        if i % 5 == 2:
            r["score"] = [float(np.float32(rng.normal()))]
        out.append(r)
    return out


def _example(r):
    import tensorflow as tf

    feats = {}
    for k, v in r.items():
        kind = SCHEMA[k]["type"]
        if kind == "float":
            feats[k] = tf.train.Feature(float_list=tf.train.FloatList(value=v))
        elif kind == "int":
            feats[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=v))
        else:
            feats[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[s.encode() for s in v]))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def _write(path, records, compression=None):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path), options=compression) as w:
        for r in records:
            w.write(_example(r))
    return str(path)


def _entry(path, **extra):
    return {"path": path, "format": "tfrecord", "schema": SCHEMA, **extra}


def _cfg(entries, **extra):
    return {"files": entries, "features": FEATURES, "labels": LABELS, "shuffle_buffer": 64, **extra}


def _load(cfg, framed, seed=0):
    return load(TASKS, {**cfg, "tfrecord_reader": "auto" if framed else "tensorflow"}, seed=seed)


def test_framed_reader_against_python_reading(tmp_path):
    """Three shards (chunks of 16 records, so several chunks a file), stored order: every value
    and label mask as the records built in Python give them, read back by ``tf.train.Example``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    paths = [_write(tmp_path / f"part-{k}.tfrecord", _records(rng, n, 100 * k)) for k, n in enumerate((70, 41, 90))]
    data = _load(_cfg([_entry(str(tmp_path / "part-*.tfrecord"), split="train")]), True)
    assert data.info["tfrecord_readers"] == {"data.files[0]": "frames"}
    parsed = [tf.train.Example.FromString(r.numpy()) for p in paths for r in tf.data.TFRecordDataset(p)]
    colors = data.info["vocabularies"]["features[1]"]
    feats, labels, weights = read_split(data, "train")
    assert len(feats) == len(parsed) == 201
    for f, y, w, ex in zip(feats, labels, weights, parsed, strict=True):
        fm = ex.features.feature
        color = fm["color"].bytes_list.value[0].decode()
        one_hot = np.eye(len(colors), dtype=np.float32)[colors.index(color) if color in colors else 0]
        want = np.concatenate([list(fm["vec"].float_list.value), list(fm["n"].int64_list.value), one_hot])
        np.testing.assert_array_equal(f["features"], want.astype(np.float32))
        flag = list(fm["flag"].int64_list.value) if "flag" in fm else []
        assert w["flag"] == float(len(flag) == 1)
        assert y["flag"].tolist() == [float(flag[0]) if flag else 0.0]
        topic = [v.decode() for v in fm["topic"].bytes_list.value] if "topic" in fm else []
        assert w["topic"] == float(len(topic) == 1)
        assert int(y["topic"]) == (["a", "b", "c"].index(topic[0]) if topic else 0)
        score = list(fm["score"].float_list.value) if "score" in fm else []
        assert w["score"] == float(len(score) == 1)
        np.testing.assert_array_equal(y["score"], np.float32(score or [0.0]))
    assert {w["flag"].item() for w in weights} == {0.0, 1.0}


def test_framed_reader_reads_what_tfrecord_dataset_reads(tmp_path):
    """A glob of three shards with a seeded split, a second training entry with its own tasks:
    stored order of every split, a shuffled epoch (1), sharding by files and by records, a
    stream resumed in epoch 1 that runs into epoch 2; both readers give the same examples in
    the same order."""
    rng = np.random.default_rng(1)
    d = tmp_path / "shards"
    d.mkdir()
    for k, n in enumerate((150, 97, 203)):
        _write(d / f"part-{k}.tfrecord", _records(rng, n, 1000 * k))
    extra = _write(tmp_path / "extra.tfrecord", _records(rng, 60))
    cfg = _cfg(
        [_entry(str(d / "part-*.tfrecord")), _entry(extra, split="train", tasks=["flag", "score"])],
        validation_fraction=0.2,
        test_fraction=0.1,
    )
    framed, tf_ = _load(cfg, True, seed=5), _load(cfg, False, seed=5)
    assert set(framed.info["tfrecord_readers"].values()) == {"frames"}
    assert set(tf_.info["tfrecord_readers"].values()) == {"tensorflow"}
    assert_same_streams(framed, tf_, (None, 1), 60)


def test_framed_reader_only_local_uncompressed_and_a_changed_file_named(tmp_path):
    """A GZIP entry stays with TFRecordDataset (same examples as an uncompressed copy); a file
    rewritten after loading (other record lengths) stops training's read with its name."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    records = _records(rng, 40)
    plain = _write(tmp_path / "plain.tfrecord", records)
    gz = _write(tmp_path / "z.tfrecord.gz", records, tf.io.TFRecordOptions(compression_type="GZIP"))
    a = _load(_cfg([_entry(plain, split="train")]), True)
    b = _load(_cfg([_entry(gz, split="train", compression="GZIP")]), True)
    assert a.info["tfrecord_readers"] == {"data.files[0]": "frames"}
    assert b.info["tfrecord_readers"] == {"data.files[0]": "tensorflow"}
    assert_same_examples(read_split(a, "train", 0), read_split(b, "train", 0))
    for r in records:
        r["color"] = ["x" + r["color"][0]]  # every record one byte longer
    _write(tmp_path / "plain.tfrecord", records)
    with pytest.raises(tf.errors.OpError, match=r"plain\.tfrecord: the file changed after it was counted"):
        read_split(a, "train", 0)
