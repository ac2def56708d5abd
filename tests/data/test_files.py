"""The ``files`` source against independent readings: Python's csv and json modules, and
tf.train.Example records written here."""

import collections
import csv
import json

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from tests.data.files_helpers import load, read_split

ROWS = [
    # text, x1, x2, color, tags, sentiment, topic
    ("A good film", "0.5", "1", "red", "a|b", "pos", "2"),
    ("bad film, BAD acting", "-1.25", "2", "blue", "b", "neg", ""),
    ("good good fun", "3", "0", "red", "", "", "0"),
    ("dull", "1e-3", "-4", "green", "c|a", "neg", "1"),
    ("a film", "2", "5", "purple", "a", "pos", "1"),
]


def write_csv(path, rows=ROWS, header=("text", "x1", "x2", "color", "tags", "sentiment", "topic"), delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return str(path)


TASKS = {"sentiment": {"kind": "binary"}, "topic": {"kind": "multiclass", "num_classes": 3}}
FEATURES = {
    "tokens": {"kind": "text", "column": "text", "max_length": 5},
    "features": [
        {"kind": "numeric", "columns": ["x1", "x2"]},
        {"kind": "categorical", "column": "color"},
        {"kind": "multi_hot", "column": "tags", "separator": "|", "vocabulary": ["a", "b", "c"]},
    ],
}
LABELS = {"sentiment": {"classes": ["neg", "pos"]}}


def expected_vocab(texts):
    """[PAD], [UNK], then lower-cased whitespace words by descending count, ties alphabetical."""
    counts = collections.Counter(w for t in texts for w in t.lower().split())
    return ["[PAD]", "[UNK]", *sorted(counts, key=lambda w: (-counts[w], w))]


def test_csv_values_masks_and_tokens(tmp_path):
    path = write_csv(tmp_path / "a.csv")
    data = load(
        TASKS, {"files": [{"path": path, "format": "csv", "split": "train"}], "features": FEATURES, "labels": LABELS}
    )
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    feats, labels, weights = read_split(data, "train")
    assert len(feats) == len(rows) == len(data.split("train"))
    vocab = expected_vocab(r["text"] for r in rows)
    assert data.info["vocab"] == vocab
    colors = collections.Counter(r["color"] for r in rows)
    color_vocab = sorted(colors, key=lambda c: (-colors[c], c))
    for f, y, w, r in zip(feats, labels, weights, rows, strict=True):
        ids = [vocab.index(t) for t in r["text"].lower().split()][:5]
        np.testing.assert_array_equal(f["tokens"], ids + [0] * (5 - len(ids)))
        onehot = np.zeros(len(color_vocab) + 1)
        onehot[1 + color_vocab.index(r["color"])] = 1
        tags = np.zeros(4)
        for t in filter(None, r["tags"].split("|")):
            tags[1 + ["a", "b", "c"].index(t)] = 1
        np.testing.assert_allclose(f["features"], [float(r["x1"]), float(r["x2"]), *onehot, *tags], rtol=1e-6)
        assert f["task_id"] == 0
        assert w["sentiment"] == (1.0 if r["sentiment"] else 0.0)
        assert w["topic"] == (1.0 if r["topic"] else 0.0)
        assert y["sentiment"].tolist() == [{"neg": 0.0, "pos": 1.0}.get(r["sentiment"], 0.0)]
        assert int(y["topic"]) == (int(r["topic"]) if r["topic"] else 0)


def test_tsv_without_header_and_quoting(tmp_path):
    rows = [("x y", "1", "pos"), ('say "hi"', "2", "neg")]
    path = tmp_path / "a.tsv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter="\t").writerows(rows)
    entry = {"path": str(path), "format": "tsv", "split": "train", "header": False, "column_names": ["t", "x", "s"]}
    data = load(
        {"s": {"kind": "binary"}},
        {
            "files": [entry],
            "features": {
                "tokens": {"kind": "text", "column": "t", "max_length": 3},
                "f": {"kind": "numeric", "columns": ["x"]},
            },
            "labels": {"s": {"column": "s", "classes": ["neg", "pos"]}},
        },
    )
    with open(path, newline="", encoding="utf-8") as f:
        back = list(csv.reader(f, delimiter="\t"))
    feats, labels, _ = read_split(data, "train")
    vocab = expected_vocab(r[0] for r in back)
    for f, y, r in zip(feats, labels, back, strict=True):
        assert f["f"].tolist() == [float(r[1])]
        assert f["tokens"].tolist()[: len(r[0].split())] == [vocab.index(w) for w in r[0].lower().split()]
        assert y["s"].tolist() == [float(r[2] == "pos")]


def test_jsonl_sparse_labels_and_lists(tmp_path):
    objs = [
        {"text": "one two", "x": 1.5, "genres": ["a", "c"], "topic": 2},
        {"text": "two", "x": -2, "genres": [], "topic": None, "sentiment": True},
        {"text": "three two one", "x": 0, "genres": ["b"], "sentiment": False},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in objs) + "\n\n", encoding="utf-8")
    tasks = {**TASKS, "genres": {"kind": "multilabel", "num_classes": 3}}
    data = load(
        tasks,
        {
            "files": [{"path": str(path), "format": "jsonl", "split": "train"}],
            "features": {"f": {"kind": "numeric", "columns": ["x"]}},
            "labels": {"genres": {"classes": ["a", "b", "c"]}},
        },
    )
    back = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    feats, labels, weights = read_split(data, "train")
    assert len(feats) == len(back)
    for f, y, w, o in zip(feats, labels, weights, back, strict=True):
        assert f["f"].tolist() == [float(o["x"])]
        has = {t: o.get(t) not in (None, []) for t in ("sentiment", "topic", "genres")}
        for t in has:
            assert w[t] == float(has[t]), (t, o)
        if has["sentiment"]:
            assert y["sentiment"].tolist() == [float(o["sentiment"])]
        if has["topic"]:
            assert int(y["topic"]) == o["topic"]
        if has["genres"]:
            assert y["genres"].tolist() == [float(g in o["genres"]) for g in ("a", "b", "c")]


def _example(**feats):
    import tensorflow as tf

    out = {}
    for k, v in feats.items():
        if isinstance(v[0], float):
            out[k] = tf.train.Feature(float_list=tf.train.FloatList(value=v))
        elif isinstance(v[0], int):
            out[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=v))
        else:
            out[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[s.encode() for s in v]))
    return tf.train.Example(features=tf.train.Features(feature=out)).SerializeToString()


def test_tfrecord_examples(tmp_path):
    import tensorflow as tf

    records = [
        {"vec": [1.0, 2.0, 3.0], "label": [1], "score": [0.5]},
        {"vec": [0.0, -1.0, 4.5], "score": [2.0]},  # no label: a missing label
        {"vec": [7.0, 8.0, 9.0], "label": [0]},
    ]
    path = str(tmp_path / "d.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for r in records:
            w.write(_example(**r))
    tasks = {"flag": {"kind": "binary"}, "score": {"kind": "regression"}}
    data = load(
        tasks,
        {
            "files": [
                {
                    "path": path,
                    "format": "tfrecord",
                    "split": "train",
                    "tasks": {"flag": "label", "score": "score"},
                    "schema": {
                        "vec": {"type": "float", "shape": [3]},
                        "label": {"type": "int"},
                        "score": {"type": "float"},
                    },
                }
            ],
            "features": {"features": {"kind": "numeric", "columns": ["vec"]}},
        },
    )
    parsed = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    feats, labels, weights = read_split(data, "train")
    for f, y, w, ex in zip(feats, labels, weights, parsed, strict=True):
        fm = ex.features.feature
        np.testing.assert_allclose(f["features"], list(fm["vec"].float_list.value))
        assert w["flag"] == float("label" in fm)
        assert w["score"] == float("score" in fm)
        if "label" in fm:
            assert y["flag"].tolist() == [float(fm["label"].int64_list.value[0])]
        if "score" in fm:
            np.testing.assert_allclose(y["score"], list(fm["score"].float_list.value))


def test_tagging_and_regression_columns(tmp_path):
    path = tmp_path / "t.csv"
    rows = [("The cat sat", "D N V", "1.5", "2"), ("Dogs run", "N V", "", ""), ("a", "D", "0", "-1")]
    write_csv(path, rows, header=("sent", "pos", "y1", "y2"))
    tasks = {"pos": {"kind": "tagging", "num_classes": 4}, "score": {"kind": "regression", "num_classes": 2}}
    data = load(
        tasks,
        {
            "files": [{"path": str(path), "format": "csv", "split": "train"}],
            "features": {
                "tokens": {"kind": "text", "column": "sent", "max_length": 4, "tokenizer": {"lowercase": False}}
            },
            "labels": {"pos": {"classes": ["D", "N", "V"]}, "score": {"columns": ["y1", "y2"]}},
        },
    )
    feats, labels, weights = read_split(data, "train")
    for y, w, r in zip(labels, weights, rows, strict=True):
        tags = [["D", "N", "V"].index(t) + 1 for t in r[1].split()]
        assert y["pos"].tolist() == tags + [0] * (4 - len(tags))
        assert w["pos"].tolist() == [1.0]
        assert w["score"] == float(bool(r[2]))
        if r[2]:
            assert y["score"].tolist() == [float(r[2]), float(r[3])]
    vocab = data.info["vocab"]
    assert feats[0]["tokens"].tolist()[:3] == [vocab.index(w) for w in ("The", "cat", "sat")]


def test_seeded_split_sizes_and_disjoint(tmp_path):
    n = 103
    path = write_csv(tmp_path / "s.csv", [(str(i), str(i)) for i in range(n)], header=("x", "label"))
    cfg = {
        "files": [{"path": path, "format": "csv", "tasks": {"y": "label"}}],
        "features": {"f": {"kind": "numeric", "columns": ["x"]}},
        "labels": {"y": {"classes": [str(i) for i in range(n)]}},
        "validation_fraction": 0.2,
        "test_fraction": 0.1,
    }
    tasks = {"y": {"kind": "multiclass", "num_classes": n}}

    def xs(data, split):
        return sorted(int(f["f"][0]) for f in read_split(data, split)[0])

    a = load(tasks, cfg, seed=3)
    parts = {s: xs(a, s) for s in ("train", "validation", "test")}
    assert {s: len(v) for s, v in parts.items()} == {"train": n - 21 - 10, "validation": 21, "test": 10}
    assert sorted(parts["train"] + parts["validation"] + parts["test"]) == list(range(n))
    assert {s: len(a.split(s)) for s in parts} == {s: len(v) for s, v in parts.items()}
    assert xs(load(tasks, cfg, seed=3), "validation") == parts["validation"]
    assert xs(load(tasks, cfg, seed=4), "validation") != parts["validation"]


def test_glob_shards_and_training_order(tmp_path):
    for k in range(3):
        write_csv(tmp_path / f"part-{k}.csv", [(str(10 * k + i), "1") for i in range(4 + k)], header=("x", "y"))
    write_csv(tmp_path / "other.csv", [("99", "1")], header=("x", "y"))
    cfg = {
        "files": [{"path": str(tmp_path / "part-*.csv"), "format": "csv", "split": "train"}],
        "features": {"f": {"kind": "numeric", "columns": ["x"]}},
        "shuffle_buffer": 3,
    }
    data = load({"y": {"kind": "binary"}}, cfg, seed=1)
    expected = [10 * k + i for k in range(3) for i in range(4 + k)]  # sorted files, file order
    stored = [int(f["f"][0]) for f in read_split(data, "train")[0]]
    assert stored == expected
    e0 = [int(f["f"][0]) for f in read_split(data, "train", epoch=0)[0]]
    e1 = [int(f["f"][0]) for f in read_split(data, "train", epoch=1)[0]]
    assert sorted(e0) == sorted(e1) == expected and e0 != e1
    assert e0 == [int(f["f"][0]) for f in read_split(load({"y": {"kind": "binary"}}, cfg, seed=1), "train", epoch=0)[0]]


def test_resumed_stream_is_the_uninterrupted_one(tmp_path):
    write_csv(tmp_path / "r.csv", [(str(i), "1") for i in range(11)], header=("x", "y"))
    cfg = {
        "files": [{"path": str(tmp_path / "r.csv"), "format": "csv", "split": "train"}],
        "features": {"f": {"kind": "numeric", "columns": ["x"]}},
        "shuffle_buffer": 4,
    }
    data = load({"y": {"kind": "binary"}}, cfg)

    def batches(start):
        return [b[0]["f"].numpy()[:, 0].tolist() for b in data.train_dataset(["f"], 4, start, 9)]

    full = batches(0)
    assert len(full) == 9
    assert batches(5) == full[5:]
    assert sorted(x for b in full[:2] for x in b) == sorted(set(x for b in full[:2] for x in b))


# --------------------------------------------------------------------------- bad input


def _bad(tmp_path, content, entry=None, binary=False, tasks=None, labels=LABELS):
    path = tmp_path / "bad.csv"
    if binary:
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load(
            tasks or TASKS,
            {
                "files": [{"path": str(path), "format": "csv", "split": "train", **(entry or {})}],
                "features": {"f": {"kind": "numeric", "columns": ["x1"]}, "tokens": {"kind": "text", "column": "text"}},
                "labels": labels,
            },
        )
    msg = str(e.value)
    assert "\n" not in msg
    return msg, str(path)


HEAD = "text,x1,sentiment,topic\n"


def test_missing_column(tmp_path):
    msg, path = _bad(tmp_path, "text,sentiment,topic\nhi,pos,1\n")
    assert path in msg and "'x1'" in msg and "no feature column" in msg


def test_non_numeric_cell(tmp_path):
    msg, path = _bad(tmp_path, HEAD + "a,1,pos,1\nb,zz,neg,0\n")
    assert f"{path} line 3: column 'x1': 'zz' is not a number" in msg


def test_ragged_row(tmp_path):
    msg, path = _bad(tmp_path, HEAD + "a,1,pos,1\nb,2,neg\n")
    assert f"{path} line 3: 3 fields, the file has 4 columns" in msg


def test_bad_utf8(tmp_path):
    msg, path = _bad(tmp_path, HEAD.encode() + b"a,1,pos,1\n\xff\xfe,2,neg,0\n", binary=True)
    assert f"{path} line 3: column 'text': not valid UTF-8" in msg


def test_unknown_label_value(tmp_path):
    msg, path = _bad(tmp_path, HEAD + "a,1,pos,1\nb,2,neutral,0\n")
    assert f"{path} line 3: column 'sentiment': unknown sentiment label 'neutral'" in msg


def test_empty_file(tmp_path):
    msg, path = _bad(tmp_path, "")
    assert f"{path} line 1: the file is empty" in msg


def test_header_only_file(tmp_path):
    msg, path = _bad(tmp_path, HEAD)
    assert f"{path} line 1: the file has no data rows" in msg


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(ConfigError, match=r"data.files\[0\].path: no file matches '.*nothing-\*.csv'"):
        load(TASKS, {"files": [{"path": str(tmp_path / "nothing-*.csv"), "format": "csv"}], "features": FEATURES})


def test_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext,x1,sentiment,topic\nhi,1.5,pos,2\n".encode())
    data = load(
        TASKS,
        {
            "files": [{"path": str(path), "format": "csv", "split": "train"}],
            "features": {"f": {"kind": "numeric", "columns": ["x1"]}, "tokens": {"kind": "text", "column": "text"}},
            "labels": LABELS,
        },
    )
    feats, labels, _ = read_split(data, "train")
    assert feats[0]["f"].tolist() == [1.5] and int(labels[0]["topic"]) == 2


def test_unknown_fields_are_named(tmp_path):
    path = write_csv(tmp_path / "a.csv")
    with pytest.raises(ConfigError, match=r"data.files\[0\].schema: not an option of the csv format"):
        load(TASKS, {"files": [{"path": path, "format": "csv", "schema": {}}], "features": FEATURES})
    with pytest.raises(ConfigError, match=r"data.features.tokens.colum: unknown field"):
        load(
            TASKS, {"files": [{"path": path, "format": "csv"}], "features": {"tokens": {"kind": "text", "colum": "t"}}}
        )
    with pytest.raises(ConfigError, match=r"data.files\[0\].tasks.nope: no task named 'nope'"):
        load(TASKS, {"files": [{"path": path, "format": "csv", "tasks": ["nope"]}], "features": FEATURES})


def test_jsonl_bad_line_named(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"x": 1, "sentiment": "pos"}\n{"x": 2, "sentiment": \n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load(
            TASKS,
            {
                "files": [{"path": str(path), "format": "jsonl", "split": "train"}],
                "features": {"f": {"kind": "numeric", "columns": ["x"]}},
                "labels": LABELS,
            },
        )
    assert f"{path} line 2: not valid JSON" in str(e.value)


def test_tfrecord_missing_feature_named(tmp_path):
    import tensorflow as tf

    path = str(tmp_path / "d.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        w.write(_example(vec=[1.0, 2.0], label=[1]))
        w.write(_example(label=[0]))  # record 2 lacks the feature column
    with pytest.raises(ConfigError) as e:
        load(
            {"flag": {"kind": "binary"}},
            {
                "files": [
                    {
                        "path": path,
                        "format": "tfrecord",
                        "split": "train",
                        "tasks": {"flag": "label"},
                        "schema": {"vec": {"type": "float", "shape": [2]}, "label": {"type": "int"}},
                    }
                ],
                "features": {"f": {"kind": "numeric", "columns": ["vec"]}},
            },
        )
    assert f"{path} record 2: column 'vec' is missing" in str(e.value)


def test_gzip_csv(tmp_path):
    import gzip

    path = tmp_path / "a.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("x", "y"), ("1.5", "1"), ("2", "0")])
    data = load(
        {"y": {"kind": "binary"}},
        {
            "files": [{"path": str(path), "format": "csv", "split": "train", "compression": "GZIP"}],
            "features": {"f": {"kind": "numeric", "columns": ["x"]}},
        },
    )
    feats, labels, _ = read_split(data, "train")
    assert [f["f"].tolist() for f in feats] == [[1.5], [2.0]]
    assert [y["y"].tolist() for y in labels] == [[1.0], [0.0]]


def test_jsonl_bom_and_crlf(tmp_path):
    path = tmp_path / "w.jsonl"
    path.write_bytes('\ufeff{"x": 1, "y": 1}\r\n{"x": 2, "y": 0}\r\n'.encode())
    data = load(
        {"y": {"kind": "binary"}},
        {
            "files": [{"path": str(path), "format": "jsonl", "split": "train"}],
            "features": {"f": {"kind": "numeric", "columns": ["x"]}},
        },
    )
    feats, labels, _ = read_split(data, "train")
    assert [f["f"].tolist() for f in feats] == [[1.0], [2.0]]
    assert [y["y"].tolist() for y in labels] == [[1.0], [0.0]]


def test_replica_slices_make_the_global_batch(tmp_path):
    import tensorflow as tf

    write_csv(tmp_path / "r.csv", [(str(i), "1") for i in range(11)], header=("x", "y"))
    cfg = {
        "files": [{"path": str(tmp_path / "r.csv"), "format": "csv", "split": "train"}],
        "features": {"f": {"kind": "numeric", "columns": ["x"]}},
    }
    data = load({"y": {"kind": "binary"}}, cfg)
    whole = [b[0]["f"].numpy()[:, 0].tolist() for b in data.train_dataset(["f"], 4, 0, 5)]
    # one pipeline, two replicas (MirroredStrategy): a batch per replica, the halves of each global batch
    ctx = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    halves = [b[0]["f"].numpy()[:, 0].tolist() for b in data.train_dataset(["f"], 4, 0, 5, ctx)]
    assert [halves[i] + halves[i + 1] for i in range(0, len(halves), 2)] == whole
    # (several pipelines read their own parts: tests/data/test_files_shards.py)
    with pytest.raises(ConfigError, match="data.batch_size: the global batch of 4 examples does not split over 3"):
        data.train_dataset(["f"], 4, 0, 5, tf.distribute.InputContext(1, 0, 3))


def test_recorded_paths_are_absolute(tmp_path, monkeypatch):
    from mtlzoo.data import resolve_data_config
    from mtlzoo.tasks import tasks_from_config

    monkeypatch.chdir(tmp_path)
    data = {"source": "files", "files": [{"path": "shards/*.csv", "format": "csv"}], "features": FEATURES}
    resolved = resolve_data_config(data, tasks_from_config(TASKS))
    assert resolved["files"][0]["path"] == str(tmp_path / "shards" / "*.csv")
    assert data["files"][0]["path"] == "shards/*.csv"  # the caller's config is not changed


def test_categorical_out_of_vocabulary_bucket(tmp_path):
    path = write_csv(tmp_path / "a.csv")
    features = {
        "c": {"kind": "categorical", "column": "color", "max_values": 1},
        "i": {"kind": "categorical", "column": "color", "vocabulary": ["green", "red"], "output": "id"},
    }
    data = load(
        TASKS, {"files": [{"path": path, "format": "csv", "split": "train"}], "features": features, "labels": LABELS}
    )
    feats = read_split(data, "train")[0]
    colors = [r[3] for r in ROWS]
    top = collections.Counter(colors).most_common(1)[0][0]  # "red": the one value kept
    for f, c in zip(feats, colors, strict=True):
        assert f["c"].tolist() == ([0.0, 1.0] if c == top else [1.0, 0.0])
        assert int(f["i"]) == {"green": 1, "red": 2}.get(c, 0)


def test_numeric_cells_parsed_by_decode_csv(tmp_path):
    """Columns read only as numbers are parsed by ``tf.io.decode_csv`` as float32 (no string per
    cell): padded, quoted, exponent and signed cells give Python's ``float`` of the stripped
    cell; a column read both as a number and as a regression label keeps working; an empty
    numeric cell is still one line naming the file, the line and the column."""
    cells = [" 1.5", "2.25 ", '"-3"', "1e3", "+.5", "0"]
    path = tmp_path / "n.csv"
    path.write_text("x1,x2,y\n" + "".join(f"{c},{i},{i}\n" for i, c in enumerate(cells)), encoding="utf-8")
    tasks = {"y": {"kind": "regression"}}
    data = load(
        tasks,
        {
            "files": [{"path": str(path), "format": "csv", "split": "train"}],
            "features": {"f": {"kind": "numeric", "columns": ["x1", "x2"]}},
            "labels": {"y": {"column": "x2"}},
        },
    )
    feats, labels, weights = read_split(data, "train")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for f, y, r in zip(feats, labels, rows, strict=True):
        np.testing.assert_allclose(f["f"], [float(r["x1"].strip()), float(r["x2"])], rtol=1e-6)
        np.testing.assert_allclose(y["y"], [float(r["x2"])], rtol=1e-6)
    path.write_text("x1,x2,y\n1,2,3\n,2,3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load(
            tasks,
            {
                "files": [{"path": str(path), "format": "csv", "split": "train"}],
                "features": {"f": {"kind": "numeric", "columns": ["x1", "x2"]}},
            },
        )
    assert f"{path} line 3: column 'x1'" in str(e.value) and "\n" not in str(e.value)
