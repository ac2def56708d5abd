"""Real-data sources against the real files in $MTLZOO_DATA_DIR (skipped where it is absent).

Expected counts are independent of the loaders: they come from shell commands on the
files, e.g. ``cut -d' ' -f1 sentiment/mpqa.all | sort | uniq -c`` and
``awk 'NF==1' sentiment/custrev.all | wc -l`` (label-only lines, which the loader skips).
"""

import os

import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.config import check_fields, resolve_config
from mtlzoo.data import SOURCES, load_data
from mtlzoo.data.real import SentimentSource, save_vocab
from mtlzoo.tasks import tasks_from_config

DATA_DIR = os.environ.get("MTLZOO_DATA_DIR", "")


def _need(sub):
    path = os.path.join(DATA_DIR, sub)
    if not DATA_DIR or not os.path.isdir(path):
        pytest.skip(f"real data not found: set MTLZOO_DATA_DIR to a directory holding {sub}/ (CI does)")
    return path


# ----------------------------------------------------------------------------- sentiment

SENT_TASKS = {t: {"kind": k, "num_classes": n} for t, (k, n) in SentimentSource.TASKS.items()}


def _sentiment(tasks=None, seed=0, **opts):
    specs = tasks_from_config({t: SENT_TASKS[t] for t in (tasks or SENT_TASKS)})
    opts = check_fields({"data_dir": DATA_DIR, **opts}, SentimentSource.schema, "data")
    SentimentSource.check(opts, specs)
    return SentimentSource.load(opts, specs, seed), specs


def _file_counts(path):
    """Label counts of the lines with a label and at least one token (plain-Python reference)."""
    counts = {}
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            parts = line.split()
            if len(parts) >= 2:
                counts[int(parts[0])] = counts.get(int(parts[0]), 0) + 1
    return counts


def test_sentiment_counts_label_sets_and_split_sizes():
    root = _need("sentiment")
    data, specs = _sentiment()
    names = [s.name for s in specs]
    assert names == sorted(SENT_TASKS)
    per_split = {s: data.splits[s].labelled_counts() for s in ("train", "validation", "test")}
    # hand counts (wc -l minus `awk 'NF==1'` label-only lines)
    totals = {"mr": 10662, "subj": 10000, "cr": 3775 - 4, "mpqa": 10606 - 3}
    for task, n in totals.items():
        got = sum(per_split[s][task] for s in per_split)
        assert got == n, task
        assert per_split["validation"][task] == round(0.1 * n)
        assert per_split["test"][task] == round(0.1 * n)
    assert per_split["train"]["trec"] + per_split["validation"]["trec"] == 5452
    assert per_split["validation"]["trec"] == round(0.1 * 5452)
    assert per_split["test"]["trec"] == 500
    assert (per_split["train"]["sst2"], per_split["validation"]["sst2"], per_split["test"]["sst2"]) == (6920, 872, 1821)
    assert (per_split["train"]["sst5"], per_split["validation"]["sst5"], per_split["test"]["sst5"]) == (
        8544,
        1101,
        2210,
    )
    # label sets and counts per task, against a plain reading of each file
    files = {"mr": "rt-polarity.all", "subj": "subj.all", "cr": "custrev.all", "mpqa": "mpqa.all"}
    for i, task in enumerate(names):
        ys = []
        for s in per_split:
            sp = data.splits[s]
            mine = sp.weights[task] > 0
            np.testing.assert_array_equal(sp.features["task_id"][mine], i)
            np.testing.assert_array_equal(mine, sp.features["task_id"] == i)
            ys.append(np.asarray(sp.labels[task][mine]).reshape(-1))
        y = np.concatenate(ys).astype(int)
        if task in files:
            ref = _file_counts(os.path.join(root, files[task]))
            assert dict(zip(*np.unique(y, return_counts=True), strict=True)) == ref
    sst5_test = data.splits["test"].labels["sst5"][data.splits["test"].features["task_id"] == names.index("sst5")]
    assert dict(zip(*np.unique(sst5_test, return_counts=True), strict=True)) == _file_counts(
        os.path.join(root, "stsa.fine.test")
    )
    trec_test = data.splits["test"]
    trec = trec_test.labels["trec"][trec_test.features["task_id"] == names.index("trec")]
    assert set(np.unique(trec)) == set(range(6))
    assert trec_test.labels["trec"].dtype == np.int32 and data.splits["test"].labels["mr"].shape[1:] == (1,)


def test_sentiment_vocabulary_file_round_trip(tmp_path):
    _need("sentiment")
    data, specs = _sentiment(tasks=["mr", "sst2"], max_vocab=5000, max_length=20)
    vocab = data.info["vocab"]
    assert vocab[:2] == ["[PAD]", "[UNK]"] and len(vocab) == 5000 == data.info["vocab_size"]
    path = save_vocab(vocab, tmp_path / "vocab.txt")
    from mtlzoo.data.real import read_vocab

    lines = read_vocab(str(path), "vocab_file")
    assert lines == vocab
    ids = {w: i for i, w in enumerate(lines)}
    # the exporter's rule: [vocab.get(w, oov) for w in text.lower().split()], cut and padded
    text = "no movement , no yuks , not much of anything ."  # first line of stsa.binary.test
    ref = [ids.get(w, 1) for w in text.lower().split()][:20]
    ref += [0] * (20 - len(ref))
    test = data.splits["test"]
    rows = test.features["tokens"][test.features["task_id"] == [s.name for s in specs].index("sst2")]
    assert any(np.array_equal(r, ref) for r in rows)
    # the vocabulary comes from training splits only: every id < vocab size, and [UNK] occurs
    assert test.features["tokens"].max() < len(vocab) and (test.features["tokens"] == 1).any()
    assert test.features["tokens"].dtype == np.int32 and test.features["tokens"].shape[1] == 20


def test_sentiment_fixed_vocabulary_file_keeps_token_ids(tmp_path):
    """data.vocab_file: another task set reads the same words as the same ids (fine-tuning a zoo entry)."""
    _need("sentiment")
    six, _ = _sentiment(tasks=["mr", "subj"], max_vocab=3000, max_length=12)
    path = str(save_vocab(six.info["vocab"], tmp_path / "vocab.txt"))
    new, specs = _sentiment(tasks=["sst5"], vocab_file=path, max_length=12)
    assert new.info["vocab"] == six.info["vocab"]
    own, _ = _sentiment(tasks=["sst5"], max_length=12, max_vocab=0)
    ids = {w: i for i, w in enumerate(six.info["vocab"])}
    first = own.splits["test"].features["tokens"][0]
    expected = [ids.get(own.info["vocab"][i], 1) if i else 0 for i in first]
    np.testing.assert_array_equal(new.splits["test"].features["tokens"][0], expected)
    (tmp_path / "bad.txt").write_text("the\n[UNK]\nfilm\n")
    with pytest.raises(ConfigError, match=r"data.vocab_file: .*bad.txt must start with '\[PAD\]'"):
        _sentiment(tasks=["sst5"], vocab_file=str(tmp_path / "bad.txt"))
    with pytest.raises(ConfigError, match=r"data.vocab_file: vocabulary file .*missing.txt does not exist"):
        _sentiment(tasks=["sst5"], vocab_file=str(tmp_path / "missing.txt"))


def test_sentiment_split_is_seeded_and_per_task():
    _need("sentiment")
    alone, _ = _sentiment(tasks=["mr"], max_vocab=0)
    both, specs = _sentiment(tasks=["mr", "subj"], max_vocab=0)
    va, vb = alone.info["vocab"], both.info["vocab"]

    def words(data, vocab, split, tid, known=None):
        sp = data.splits[split]
        rows = sp.features["tokens"][sp.features["task_id"] == tid]
        known = set(known or vocab)  # words outside mr's own vocabulary read as [UNK]
        return sorted(" ".join(vocab[i] if vocab[i] in known else "[UNK]" for i in r if i) for r in rows)

    # mr's test split does not depend on which other tasks are configured
    assert words(alone, va, "test", 0) == words(both, vb, "test", 0, known=va)
    other, _ = _sentiment(tasks=["mr"], seed=1, max_vocab=0)
    assert words(other, other.info["vocab"], "test", 0) != words(alone, va, "test", 0)


def test_sentiment_through_the_config_registry():
    _need("sentiment")
    assert SOURCES.get("sentiment") is SentimentSource
    cfg = resolve_config(
        {
            "tasks": {"trec": SENT_TASKS["trec"], "cr": SENT_TASKS["cr"]},
            "data": {"source": "sentiment", "data_dir": DATA_DIR, "max_length": 8, "max_vocab": 300},
            "model": {"encoder": {"name": "lstm", "vocab_size": 300, "max_length": 8}},
        }
    )
    data = load_data(cfg, tasks_from_config(cfg.tasks))
    feats, labels, weights = next(iter(data.dataset("train", 4, ["tokens"])))
    assert feats["tokens"].shape == (4, 8) and labels["cr"].shape == (4, 1) and labels["trec"].shape == (4,)


def test_sentiment_config_errors():
    with pytest.raises(ConfigError, match="tasks.sst3: data source 'sentiment' has no task"):
        _sentiment_specs = tasks_from_config({"sst3": {"kind": "binary"}})
        SentimentSource.check({}, _sentiment_specs)
    with pytest.raises(ConfigError, match="tasks.trec.kind"):
        SentimentSource.check({}, tasks_from_config({"trec": {"kind": "binary"}}))


def _write(tmp_path, name, text):
    d = tmp_path / "sentiment"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return tmp_path


def test_sentiment_missing_and_malformed_files(tmp_path, monkeypatch):
    monkeypatch.delenv("MTLZOO_DATA_DIR", raising=False)
    opts = check_fields({}, SentimentSource.schema, "data")
    specs = tasks_from_config({"mr": {"kind": "binary"}})
    with pytest.raises(ConfigError, match="data.data_dir: not set and the environment variable MTLZOO_DATA_DIR"):
        SentimentSource.load(opts, specs, 0)
    with pytest.raises(ConfigError, match=r"data.data_dir: directory .*nowhere/sentiment does not exist"):
        SentimentSource.load({**opts, "data_dir": str(tmp_path / "nowhere")}, specs, 0)
    root = _write(tmp_path, "subj.all", "0 a b\n")
    with pytest.raises(ConfigError, match=r"rt-polarity.all does not exist"):
        SentimentSource.load({**opts, "data_dir": str(root)}, specs, 0)
    _write(tmp_path, "rt-polarity.all", "0 good film\n1 bad film\nbad film\n")
    with pytest.raises(ConfigError, match=r"rt-polarity.all line 3: expected '<integer label> <sentence>'"):
        SentimentSource.load({**opts, "data_dir": str(root)}, specs, 0)
    _write(tmp_path, "rt-polarity.all", "0 good film\n\n1 bad film\n2 odd film\n")
    with pytest.raises(ConfigError, match=r"rt-polarity.all line 4: label 2 is outside 0..1"):
        SentimentSource.load({**opts, "data_dir": str(root)}, specs, 0)
    monkeypatch.setenv("MTLZOO_DATA_DIR", str(root))
    _write(tmp_path, "rt-polarity.all", "".join(f"{i % 2} w{i} film\n" for i in range(20)) + "1\n")
    data = SentimentSource.load(opts, specs, 0)
    assert sum(len(s) for s in data.splits.values()) == 20  # the label-only line is skipped


# ----------------------------------------------------------------------------- yeast

# positives per label, from a plain csv read of river's yeast.csv.gz (columns Class1..Class14)
YEAST_POSITIVES = [762, 1038, 983, 862, 722, 597, 428, 480, 178, 253, 289, 1816, 1799, 34]


def _yeast(tasks, seed=0, **opts):
    from mtlzoo.data.real import YeastSource

    specs = tasks_from_config(tasks)
    opts = check_fields(opts, YeastSource.schema, "data")
    YeastSource.check(opts, specs)
    return YeastSource.load(opts, specs, seed)


def test_yeast_csv_counts_splits_and_standardisation():
    import csv
    import gzip

    from river.datasets import Yeast

    with gzip.open(Yeast().path, "rt") as f:
        rows = list(csv.reader(f))
    assert len(rows) - 1 == 2417 and len(rows[0]) == 103 + 14
    ref = np.array([[float(v) for v in r[103:]] for r in rows[1:]]).sum(0)
    np.testing.assert_array_equal(ref, YEAST_POSITIVES)

    tasks = {f"label_{i}": {"kind": "binary"} for i in range(14)}
    data = _yeast(tasks)
    n = {s: len(sp) for s, sp in data.splits.items()}
    assert sum(n.values()) == 2417 and n["validation"] == round(0.15 * 2417) == n["test"]
    pos = sum(np.array([sp.labels[f"label_{i}"].sum() for i in range(14)]) for sp in data.splits.values())
    np.testing.assert_array_equal(pos, YEAST_POSITIVES)
    tr = data.splits["train"].features["features"]
    assert tr.shape[1] == 103 and data.info["input_dim"] == 103
    np.testing.assert_allclose(tr.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(tr.std(0), 1, atol=1e-4)
    assert data.info["label_names"][0] == "Class1"

    multi = _yeast({"functions": {"kind": "multilabel", "num_classes": 14}}, labels_as="multilabel")
    for s in ("train", "test"):
        stacked = np.concatenate([data.splits[s].labels[f"label_{i}"] for i in range(14)], axis=1)
        np.testing.assert_array_equal(multi.splits[s].labels["functions"], stacked)
        np.testing.assert_array_equal(multi.splits[s].features["features"], data.splits[s].features["features"])


def test_yeast_label_fraction_and_config_errors():
    data = _yeast({"label_0": {"kind": "binary"}, "label_13": {"kind": "binary"}}, label_fraction=0.5)
    assert 0.4 < data.splits["train"].weights["label_13"].mean() < 0.6
    assert data.splits["test"].weights["label_13"].min() == 1.0
    with pytest.raises(ConfigError, match="tasks.label_14: data source 'yeast' has no task"):
        _yeast({"label_14": {"kind": "binary"}})
    with pytest.raises(ConfigError, match="data.labels_as: 'multilabel' makes one task"):
        _yeast({"label_0": {"kind": "binary"}, "label_1": {"kind": "binary"}}, labels_as="multilabel")
    with pytest.raises(ConfigError, match="tasks.y.kind: yeast with labels_as='multilabel'"):
        _yeast({"y": {"kind": "multilabel", "num_classes": 13}}, labels_as="multilabel")


# ----------------------------------------------------------------------------- glue

GLUE_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "good", "film", ","]
GLUE_VOCAB += list("abcdefghij") + [f"##{c}" for c in "abcdefghij"]


def _glue_vocab(tmp_path):
    return str(save_vocab(GLUE_VOCAB, tmp_path / "vocab.txt"))


def test_bert_inputs_by_hand(tmp_path):
    from mtlzoo.data.real import bert_inputs, bert_tokenizer

    tok = bert_tokenizer(_glue_vocab(tmp_path))
    ids = {w: i for i, w in enumerate(GLUE_VOCAB)}
    single = bert_inputs(tok, ["The good film"], None, sequence_length=6)
    np.testing.assert_array_equal(single["token_ids"][0], [2, ids["the"], ids["good"], ids["film"], 3, 0])
    np.testing.assert_array_equal(single["segment_ids"][0], 0)
    np.testing.assert_array_equal(single["padding_mask"][0], [1, 1, 1, 1, 1, 0])
    pair = bert_inputs(tok, ["good"], ["the film, zz"], sequence_length=10)
    # "zz" is not a word and "z" is no piece: one [UNK]; "," splits off as punctuation
    ref = [2, ids["good"], 3, ids["the"], ids["film"], ids[","], 1, 3, 0, 0]
    np.testing.assert_array_equal(pair["token_ids"][0], ref)
    np.testing.assert_array_equal(pair["segment_ids"][0], [0, 0, 0, 1, 1, 1, 1, 1, 0, 0])
    with pytest.raises(ConfigError, match="data.vocab_file: vocabulary file .* lacks the special token \\[CLS\\]"):
        bert_tokenizer(str(save_vocab(["[PAD]", "[UNK]", "a"], tmp_path / "bad.txt")))


def test_glue_with_mock_tfds_data(tmp_path):
    import tensorflow_datasets as tfds

    from mtlzoo.data.real import GlueSource

    specs = tasks_from_config({t: {"kind": "binary"} for t in GlueSource.TASKS})
    opts = check_fields(
        {"vocab_file": _glue_vocab(tmp_path), "sequence_length": 16, "tfds_data_dir": str(tmp_path / "tfds")},
        GlueSource.schema,
        "data",
    )
    GlueSource.check(opts, specs)
    with tfds.testing.mock_data(num_examples=20):
        data = GlueSource.load(opts, specs, seed=0)
    names = [s.name for s in specs]
    for split, n in (("train", 18), ("validation", 2), ("test", 20)):
        sp = data.splits[split]
        assert sp.labelled_counts() == dict.fromkeys(names, n)
        for i, t in enumerate(names):
            mine = sp.weights[t] > 0
            np.testing.assert_array_equal(mine, sp.features["task_id"] == i)
            assert set(np.unique(sp.labels[t][mine])) <= {0.0, 1.0}
        ids = sp.features["token_ids"]
        assert ids.shape == (5 * n, 16) and ids.dtype == np.int32
        np.testing.assert_array_equal(ids[:, 0], 2)  # [CLS]
        np.testing.assert_array_equal(sp.features["padding_mask"], (ids != 0).astype(np.int32))
        pair_rows = np.isin(sp.features["task_id"], [names.index(t) for t in ("mrpc", "qnli", "rte")])
        assert sp.features["segment_ids"][pair_rows].max() == 1 and sp.features["segment_ids"][~pair_rows].max() == 0
    assert data.info["vocab_size"] == len(GLUE_VOCAB)


def test_glue_without_prepared_data(tmp_path):
    from mtlzoo.data.real import GlueSource

    specs = tasks_from_config({"rte": {"kind": "binary"}})
    opts = check_fields(
        {"vocab_file": _glue_vocab(tmp_path), "tfds_data_dir": str(tmp_path / "empty")}, GlueSource.schema, "data"
    )
    with pytest.raises(
        ConfigError, match=r"data.tfds_data_dir: cannot read glue/rte split 'train'.*tfds build glue/rte"
    ):
        GlueSource.load(opts, specs, seed=0)
    with pytest.raises(ConfigError, match="data.vocab_file: vocabulary file .*nothere.txt does not exist"):
        GlueSource.load({**opts, "vocab_file": str(tmp_path / "nothere.txt")}, specs, seed=0)
