"""The ``glue_files`` source: every GLUE file layout, BERT pair packing, bucketing, bad input.

Fixture files are written by the test as plain ``"\\t".join`` lines, so the expected texts
and labels are the Python values the test wrote (and, for the quoting quirk, what Python's
``csv`` module reads with no quote character); the row counts of the real files are the
official ones of ``../shared/data/README.md``.
"""

import csv
import os

import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.config import resolve_config
from mtlzoo.data import load_data
from mtlzoo.data.glue_files import LAYOUTS, GlueFilesSource, encode_texts, pack, read_glue_tsv, wordpiece_tokenizer
from mtlzoo.tasks import tasks_from_config
from tests.encoders.tiny_bert import VOCAB, write_transformers_bert

KINDS = {
    t: ({"kind": k} if k != "multiclass" else {"kind": k, "num_classes": n})
    for t, (k, n) in GlueFilesSource.TASKS.items()
}

# (first text, second text or None, label as written, label id / score)
ROWS = {
    "cola": [("The cat sat .", None, "1", 1), ("Cat the sat on .", None, "0", 0), ("A dog ran !", None, "1", 1)],
    "sst2": [("a good movie ", None, "1", 1), ("not very good , ", None, "0", 0), ("bad", None, "0", 0)],
    "mrpc": [
        ('He said " the cat sat .', '" The cat sat , he said .', "1", 1),  # unbalanced quotes (MRPC)
        ('" It was bad , " she said .', "It was good .", "0", 0),
        ("A dog ran .", "a dog ran", "1", 1),
    ],
    "stsb": [("A cat sat .", "The cat sat .", "4.750", 4.75), ("A dog .", "Bad movie .", "0.000", 0.0)],
    "rte": [("A dog ran .", "A dog is .", "entailment", 0), ("The cat sat .", "It ran .", "not_entailment", 1)],
    "qnli": [("Is it good ?", "It is good .", "entailment", 0), ("Was he bad ?", "She said .", "not_entailment", 1)],
    "qqp": [("Is it good ?", "Was it good ?", "1", 1), ("Is a dog bad ?", "Is the mat good ?", "0", 0)],
    "mnli": [
        ("A dog ran .", "A dog is .", "entailment", 0),
        ("The cat sat .", "It was good .", "neutral", 1),
        ("He sat .", "He ran .", "contradiction", 2),
    ],
    "wnli": [("He said it .", "She said it .", "0", 0), ("The cat sat .", "It sat .", "1", 1)],
}


def _line(task, i, a, b, label, split):
    """One data line of ``task`` in GLUE's layout (the file's own columns, in order)."""
    if task == "cola":
        return ["gj04", label, "*" if label == "0" else "", a]
    if task == "sst2":
        return [a, label]
    if task == "mrpc":
        return [label, str(100 + i), str(200 + i), a, b]
    if task == "stsb":
        return [str(i), "main-captions", "MSRvid", "2012test", f"{i:04d}", "none", "none", a, b, label]
    if task in ("rte", "wnli"):
        return [str(i), a, b, label]
    if task == "qnli":
        return [str(i), a, b, label]
    if task == "qqp":
        return [str(i), str(2 * i), str(2 * i + 1), a, b, label]
    if task == "mnli":
        votes = [label] * (5 if split == "test" else 1)
        return [str(i), "31193", f"{i}n", "fiction", "(x)", "(y)", "(X)", "(Y)", a, b, *votes, label]
    raise AssertionError(task)


HEADERS = {
    "sst2": ["sentence", "label"],
    "mrpc": ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
    "stsb": [
        "index",
        "genre",
        "filename",
        "year",
        "old_index",
        "source1",
        "source2",
        "sentence1",
        "sentence2",
        "score",
    ],
    "rte": ["index", "sentence1", "sentence2", "label"],
    "wnli": ["index", "sentence1", "sentence2", "label"],
    "qnli": ["index", "question", "sentence", "label"],
    "qqp": ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
}
MNLI_BASE = [
    "index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
    "sentence1_parse", "sentence2_parse", "sentence1", "sentence2",
]  # fmt: skip


def write_glue(root, tasks=tuple(ROWS), train_copies=10):
    """Writes every task's train file (its rows repeated ``train_copies`` times) and dev file."""
    for task in tasks:
        lay = LAYOUTS[task]
        os.makedirs(os.path.join(root, lay.folder), exist_ok=True)
        for split, name in zip(("train", "test"), lay.files, strict=True):
            if task == "mnli":
                header = MNLI_BASE + (
                    ["label1", "label2", "label3", "label4", "label5"] if split == "test" else ["label1"]
                )
                header = [*header, "gold_label"]
            else:
                header = HEADERS.get(task)
            rows = ROWS[task] * (train_copies if split == "train" else 1)
            lines = [_line(task, i, a, b, lab, split) for i, (a, b, lab, _) in enumerate(rows)]
            bom = "\ufeff" if task == "mrpc" and split == "test" else ""  # MRPC's dev.tsv starts with one
            with open(os.path.join(root, lay.folder, name), "w", encoding="utf-8", newline="") as f:
                f.write(bom + "".join("\t".join(r) + "\n" for r in ([header] if header else []) + lines))
    return root


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue")
    ckpt = str(root / "bert")
    write_transformers_bert(ckpt, layers=1)  # the source and the training recipe are checked, not BERT's depth
    return write_glue(str(root / "GLUE")), ckpt


@pytest.mark.parametrize("task", list(ROWS))
def test_every_layout_reads_the_texts_and_labels_written(glue, task):
    root, _ = glue
    lay = LAYOUTS[task]
    first, second, labels = read_glue_tsv(os.path.join(root, lay.folder, lay.files[1]), task)
    assert first == [r[0] for r in ROWS[task]]
    assert second == (None if ROWS[task][0][1] is None else [r[1] for r in ROWS[task]])
    assert labels == [r[3] for r in ROWS[task]]
    path = os.path.join(root, lay.folder, lay.files[0])
    assert len(read_glue_tsv(path, task)[2]) == 10 * len(ROWS[task])
    # Python's csv module with no quote character reads the same rows (the header aside)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    text_col = {"cola": 3, "sst2": 0, "mrpc": 3}.get(task)
    if text_col is not None:
        body = rows if task == "cola" else rows[1:]
        assert read_glue_tsv(path, task)[0] == [r[text_col] for r in body]


def test_mrpc_quotes_would_merge_rows_under_default_csv_quoting(glue):
    root, _ = glue
    path = os.path.join(root, "MRPC", "dev.tsv")
    with open(path, encoding="utf-8-sig", newline="") as f:
        quoted = list(csv.reader(f, delimiter="\t"))  # the default: '"' quotes
    # a field opening with an unbalanced '"' swallows what follows: why the reader uses no quote character
    assert [r[3:5] for r in quoted[1:]] != [list(r[:2]) for r in ROWS["mrpc"]]
    first, second, _ = read_glue_tsv(path, "mrpc")
    assert list(zip(first, second, strict=True)) == [r[:2] for r in ROWS["mrpc"]]


def test_pair_packing_against_a_hand_built_example():
    ids = {w: i for i, w in enumerate(VOCAB)}
    tok = lambda s: [ids[w] for w in s.split()]  # noqa: E731
    token_ids, segments = pack(tok("the cat sat"), tok("on the mat ##s"), 16, cls_id=2, sep_id=3)
    # [CLS] the cat sat [SEP] on the mat ##s [SEP]
    assert token_ids == [2, 5, 6, 7, 3, 8, 5, 9, 10, 3]
    assert segments == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    # max_length 8 leaves 5 tokens: a (5) -> 4 -> 3, then a tie drops from b: 3 + 2
    token_ids, segments = pack([11, 12, 13, 14, 15], [16, 17, 18], 8, cls_id=2, sep_id=3)
    assert token_ids == [2, 11, 12, 13, 3, 16, 17, 3]
    assert segments == [0, 0, 0, 0, 0, 1, 1, 1]
    assert pack([11, 12, 13, 14, 15], None, 5, cls_id=2, sep_id=3) == ([2, 11, 12, 13, 3], [0, 0, 0, 0, 0])


def test_wordpiece_and_padding_from_the_checkpoint_vocabulary(glue):
    _, ckpt = glue
    tok = wordpiece_tokenizer(os.path.join(ckpt, "vocab.txt"), lowercase=True)
    feats, lengths = encode_texts(tok, ["The cat SAT", "a dog"], ["on the mats", ""], 16)
    # "on the mats" -> on the mat ##s ; "" -> nothing
    np.testing.assert_array_equal(feats["token_ids"][0], [2, 5, 6, 7, 3, 8, 5, 9, 10, 3])
    np.testing.assert_array_equal(feats["token_ids"][1], [2, 11, 12, 3, 3, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(feats["segment_ids"][1], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(lengths, [10, 5])
    np.testing.assert_array_equal(feats["padding_mask"].sum(1), lengths)


def _config(root, ckpt, tasks, **data):
    return {
        "seed": 0,
        "tasks": {t: KINDS[t] for t in tasks},
        "data": {"source": "glue_files", "data_dir": root, "checkpoint": ckpt, "max_length": 24, **data},
        "model": {"encoder": {"name": "bert", "preset": ckpt}, "tower": {"units": []}},
    }


def test_source_stacks_tasks_in_the_one_batch_shape(glue):
    root, ckpt = glue
    tasks = ["cola", "stsb", "mnli", "mrpc"]
    cfg = resolve_config(_config(root, ckpt, tasks, max_train_examples={"mrpc": 20}))
    specs = tasks_from_config(cfg.tasks)
    data = load_data(cfg, specs)
    train, test = data.split("train"), data.split("test")
    n_train = {"cola": 30, "stsb": 20, "mnli": 30, "mrpc": 20}
    n_val = {t: int(round(0.1 * n)) for t, n in n_train.items()}
    assert data.split("validation").labelled_counts() == n_val
    assert train.labelled_counts() == {t: n - n_val[t] for t, n in n_train.items()}
    assert test.labelled_counts() == {t: len(ROWS[t]) for t in tasks}
    # the dev split keeps the file's order: task by task (task_id = index in the task list), labels as written
    for i, t in enumerate(s.name for s in specs):
        rows = np.flatnonzero(test.features["task_id"] == i)
        assert np.all(test.weights[t][rows] == 1) and np.all(np.delete(test.weights[t], rows) == 0)
        got = test.labels[t][rows].reshape(-1)
        np.testing.assert_allclose(got, [r[3] for r in ROWS[t]])
    assert test.labels["mnli"].dtype == np.int32 and test.labels["stsb"].shape == (len(test), 1)
    f = test.features
    np.testing.assert_array_equal(f["length"], f["padding_mask"].sum(1))
    assert f["token_ids"].shape[1] == f["length"].max() <= 24
    assert set(data.info["label_names"]["mnli"]) == {"entailment", "neutral", "contradiction"}
    assert data.info["label_names"]["stsb"] is None and data.info["text_fields"]["cola"] == ("sentence", None)
    # a task's examples depend on (seed, task) only: the same cola rows alone or with others
    alone = load_data(resolve_config(_config(root, ckpt, ["cola"])), tasks_from_config({"cola": KINDS["cola"]}))
    np.testing.assert_array_equal(
        alone.split("train").features["length"],
        train.features["length"][train.features["task_id"] == [s.name for s in specs].index("cola")],
    )


def test_a_binary_task_may_take_a_two_way_softmax_head(glue):
    """``tasks.rte: {kind: multiclass, num_classes: 2}`` (BERT's classifier head): the labels are
    the class ids of the file (by name for RTE), int32 [n]; three classes stay refused."""
    root, ckpt = glue
    cfg = _config(root, ckpt, ["rte"])
    cfg["tasks"] = {"rte": {"kind": "multiclass", "num_classes": 2}}
    test = load_data(resolve_config(cfg), tasks_from_config(cfg["tasks"])).split("test")
    assert test.labels["rte"].dtype == np.int32 and test.labels["rte"].shape == (len(ROWS["rte"]),)
    np.testing.assert_array_equal(test.labels["rte"], [r[3] for r in ROWS["rte"]])
    cfg["tasks"] = {"rte": {"kind": "multiclass", "num_classes": 3}}
    with pytest.raises(ConfigError, match="gives 'rte' as kind 'binary'"):
        load_data(resolve_config(cfg), tasks_from_config(cfg["tasks"]))


def test_length_bucketed_batches_are_padded_to_their_longest_example(glue):
    import tensorflow as tf

    from mtlzoo.data.mixing import BatchPlan, train_dataset
    from mtlzoo.data.samplers import SAMPLERS

    root, ckpt = glue
    tasks = ["sst2", "mrpc"]
    cfg = resolve_config(_config(root, ckpt, tasks))
    data = load_data(cfg, tasks_from_config(cfg.tasks))
    split = data.split("train")
    names = ["token_ids", "segment_ids", "padding_mask"]

    def batches(start=0):
        plan = BatchPlan(split, tasks, 4, "interleaved", SAMPLERS.get("proportional")({}), seed=1, total_steps=12)
        return plan, list(train_dataset(split, plan, names, start))

    plan, got = batches()
    for s, (f, _, _) in enumerate(got):
        rows, _ = plan.step(s)
        longest = split.features["length"][rows].max()
        assert f["token_ids"].shape[1] == min(split.features["token_ids"].shape[1], -(-longest // 8) * 8)
        np.testing.assert_array_equal(f["token_ids"], split.features["token_ids"][rows][:, : f["token_ids"].shape[1]])
        assert "length" not in f
    _, again = batches(start=5)  # a resumed pipeline sees the same batches
    for (f, _, _), (g, _, _) in zip(got[5:], again, strict=True):
        np.testing.assert_array_equal(f["token_ids"], g["token_ids"])
    lengths = split.features["length"]
    pools = plan.pools
    for p, pool in enumerate(pools):  # each window of the epoch is sorted by length, longest first
        perm = plan._permutation(p, 0)
        assert sorted(perm.tolist()) == list(range(len(pool)))
        assert np.all(np.diff(lengths[pool[perm]]) <= 0)
    ev = list(data.dataset("test", 4, names))
    for f, _, _ in ev:
        assert f["token_ids"].shape[1] % 8 == 0 or f["token_ids"].shape[1] == split.features["token_ids"].shape[1]
    assert sum(int(tf.shape(f["token_ids"])[0]) for f, _, _ in ev) == len(data.split("test"))


def test_trains_end_to_end_with_the_transformer_recipe(glue, tmp_path):
    import mtlzoo

    root, ckpt = glue
    cfg = _config(root, ckpt, ["rte", "stsb"], bucket_by_length=True)
    cfg["data"].update(batch_size=4, mixing="interleaved")
    cfg["train"] = {
        "epochs": 1,
        "optimizer": "adamw",
        "learning_rate": 1e-3,
        "weight_decay": 0.01,
        "clipnorm": 1.0,
        "lr_schedule": "linear",
        "warmup_fraction": 0.1,
        "verbose": 0,
    }
    result = mtlzoo.train(cfg, str(tmp_path / "run"))
    assert np.isfinite(result.metrics["rte"]["loss"]) and np.isfinite(result.metrics["stsb"]["loss"])


# ----------------------------------------------------------------------------- bad input


def test_a_missing_task_file_is_one_config_error(glue, tmp_path):
    _, ckpt = glue
    root = write_glue(str(tmp_path / "GLUE"), tasks=("rte", "cola"))
    os.remove(os.path.join(root, "CoLA", "dev.tsv"))
    with pytest.raises(ConfigError, match=f"data.data_dir: GLUE directory {root} has no CoLA/dev.tsv \\(task cola\\)"):
        resolve_config(_config(root, ckpt, ["rte", "cola"]))
    with pytest.raises(ConfigError, match="has no MNLI/train.tsv"):
        resolve_config(_config(root, ckpt, ["mnli"]))
    with pytest.raises(ConfigError, match="data.data_dir: GLUE directory /nonexistent/glue does not exist"):
        resolve_config(_config("/nonexistent/glue", ckpt, ["rte"]))


def test_a_checkpoint_without_vocabulary_is_one_config_error(glue, tmp_path):
    root, _ = glue
    no_vocab = str(tmp_path / "bert")
    write_transformers_bert(no_vocab, vocab=False)
    with pytest.raises(ConfigError, match=f"data.checkpoint: checkpoint directory {no_vocab} has no vocabulary file"):
        resolve_config(_config(root, no_vocab, ["rte"]))


@pytest.mark.parametrize(
    ("task", "bad", "message"),
    [
        ("rte", "3\tA dog .\tentailment\n", "expected 4 tab-separated fields, got 3"),
        ("rte", "3\tA dog .\tA cat .\tmaybe\n", "label 'maybe' is not one of entailment, not_entailment"),
        ("cola", "gj04\t2\t\tA dog .\n", "label '2' is not one of 0..1"),
        ("stsb", "9\tg\tf\ty\t0009\tnone\tnone\ta\tb\t7.5\n", r"score '7.5' is not a number in \[0, 5\]"),
        ("mrpc", '1\t1\t2\tHe said " hi\n', "expected 5 tab-separated fields, got 4"),
    ],
)
def test_a_malformed_row_names_the_file_and_line(tmp_path, task, bad, message):
    root = write_glue(str(tmp_path / "GLUE"), tasks=(task,), train_copies=1)
    path = os.path.join(root, LAYOUTS[task].folder, "train.tsv")
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    lines.insert(2, bad)  # the third line of the file
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    with pytest.raises(ConfigError, match=f"data.data_dir: {path} line 3: {message}"):
        read_glue_tsv(path, task)


def test_max_train_examples_must_name_configured_tasks(glue):
    root, ckpt = glue
    with pytest.raises(ConfigError, match="data.max_train_examples.sst2: no configured task named 'sst2'"):
        resolve_config(_config(root, ckpt, ["rte"], max_train_examples={"sst2": 10}))
    with pytest.raises(ConfigError, match="data.max_train_examples: must be a positive integer"):
        resolve_config(_config(root, ckpt, ["rte"], max_train_examples=0))
    resolve_config(_config(root, ckpt, ["rte"], max_train_examples={"rte": None}))  # None: this task uncapped


# ----------------------------------------------------------------------------- the real files

OFFICIAL = {"cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "stsb": (5749, 1500), "rte": (2490, 277)}


@pytest.mark.parametrize("task", list(OFFICIAL))
def test_real_files_have_the_official_row_counts(task):
    root = os.path.join(os.environ.get("MTLZOO_DATA_DIR", ""), "glue")
    if not os.environ.get("MTLZOO_DATA_DIR") or not os.path.isdir(os.path.join(root, LAYOUTS[task].folder)):
        pytest.skip("GLUE files not found: set MTLZOO_DATA_DIR to a directory holding glue/ (CI does)")
    lay = LAYOUTS[task]
    counts = tuple(len(read_glue_tsv(os.path.join(root, lay.folder, f), task)[2]) for f in lay.files)
    assert counts == OFFICIAL[task]


def test_packing_equals_keras_hub_round_robin_packer():
    """The export packs in the graph with keras-hub's MultiSegmentPacker: the same ids for every length pair."""
    import keras_hub

    packer = keras_hub.layers.MultiSegmentPacker(
        sequence_length=9, start_value=2, end_value=3, pad_value=0, truncate="round_robin"
    )
    for la in range(0, 9):
        for lb in range(0, 9):
            a, b = list(range(100, 100 + la)), list(range(200, 200 + lb))
            ids, seg = pack(a, b, 9, cls_id=2, sep_id=3)
            kh_ids, kh_seg = packer(([a], [b]))
            n = len(ids)
            assert np.asarray(kh_ids)[0].tolist() == ids + [0] * (9 - n), (la, lb)
            assert np.asarray(kh_seg)[0].tolist()[:n] == seg, (la, lb)
