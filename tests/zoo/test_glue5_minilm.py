"""The ``glue5_minilm`` zoo entry (issue 15, Build 5): it loads, scores like its card, exports, answers a raw pair.

The entry is the best multi-task arm of seed 0 of the GLUE study (docs/reproductions.md),
published by ``mtlzoo glue_study --publish=glue5_minilm`` with float16 weight storage. It is
self-contained (its checkpoint's WordPiece vocabulary is in the entry), so scoring needs only
GLUE's dev files under ``$MTLZOO_DATA_DIR/glue``; the tests skip, saying so, when they are absent.

Reference: every GLUE metric is recomputed here from the model's predictions with
scikit-learn (Matthews correlation, accuracy, F1) and scipy (Pearson, Spearman) on GLUE's own
dev files read by Python's ``csv`` module, and compared with the float16 column of the card.
"""

import csv
import os
import re

import numpy as np
import pytest

from tests.helpers import REPO

NAME = "glue5_minilm"
ROOT = os.path.join(REPO, "saved_models")
ENTRY = os.path.join(ROOT, NAME)
POINTS = 0.5  # x100
# GLUE dev files: (folder, first-text column, second-text column or None, label column)
DEV = {
    "cola": ("CoLA", 3, None, 1),  # headerless: source, label, original label, sentence
    "sst2": ("SST-2", "sentence", None, "label"),
    "mrpc": ("MRPC", "#1 String", "#2 String", "Quality"),
    "stsb": ("STS-B", "sentence1", "sentence2", "score"),
    "rte": ("RTE", "sentence1", "sentence2", "label"),
}


def _glue_dir():
    d = os.environ.get("MTLZOO_DATA_DIR")
    if not d or not os.path.isdir(os.path.join(d, "glue")):
        pytest.skip("glue5_minilm is scored on $MTLZOO_DATA_DIR/glue, absent")
    return os.path.join(d, "glue")


def _read_dev(task):
    """``(first, second or None, labels)`` of GLUE's dev file, read with Python's csv module."""
    folder, a, b, y = DEV[task]
    with open(os.path.join(_glue_dir(), folder, "dev.tsv"), encoding="utf-8-sig", newline="") as f:  # MRPC: a BOM
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if task != "cola":
        head, rows = rows[0], rows[1:]
        a, y = head.index(a), head.index(y)
        b = None if b is None else head.index(b)
    first = [r[a] for r in rows]
    second = None if b is None else [r[b] for r in rows]
    if task == "stsb":
        labels = np.array([float(r[y]) for r in rows])
    elif task == "rte":
        labels = np.array([{"entailment": 0, "not_entailment": 1}[r[y]] for r in rows])
    else:
        labels = np.array([int(r[y]) for r in rows])
    return first, second, labels


@pytest.fixture(scope="module")
def entry():
    _glue_dir()
    assert os.path.isfile(os.path.join(ENTRY, "model.keras")), (
        "saved_models/glue5_minilm is missing; build it with mtlzoo glue_study --publish (docs/reproductions.md)"
    )
    from mtlzoo import zoo

    return zoo.load(NAME, ROOT), zoo.info(NAME, ROOT)


def _card_glue():
    """``{(task, metric): float16 value}`` from the card's GLUE table (x100)."""
    out = {}
    with open(os.path.join(ENTRY, "README.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*(cola|sst2|mrpc|stsb|rte)\s*\|\s*(\w+)\s*\|\s*([-\d.]+)\s*\|\s*([-\d.]+)\s*\|", line)
            if m:
                out[(m.group(1), m.group(2))] = float(m.group(4))
    return out


def _predict(model, facts, task, first, second):
    """The entry's ``task`` output on raw texts (:func:`mtlzoo.data.glue_files.predict_texts`)."""
    from mtlzoo.data.glue_files import predict_texts, wordpiece_tokenizer

    config = facts["config"]
    tok = wordpiece_tokenizer(facts["vocab"], True)
    index = sorted(config["tasks"]).index(task)
    return predict_texts(model, tok, task, first, second, config["data"]["max_length"], task_index=index)


def test_entry_is_small_self_contained_and_loads_as_float32(entry):
    model, facts = entry
    assert sorted(facts["tasks"]) == ["cola", "mrpc", "rte", "sst2", "stsb"]
    assert facts["size_bytes"] < 60e6  # float16 storage of 22.7 M parameters + heads and R_i
    assert {str(v.dtype) for v in model.weights} == {"float32"}
    assert facts["config"]["data"]["checkpoint"] is None and facts["config"]["model"]["encoder"]["preset"] is None
    assert os.path.dirname(os.path.abspath(facts["vocab"])) == os.path.abspath(ENTRY)


def test_every_glue_metric_within_half_a_point_of_the_card(entry):
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    model, facts = entry
    card = _card_glue()
    assert len(card) == 7, card  # cola mcc, sst2 acc, mrpc f1/acc, stsb pearson/spearman, rte acc
    got = {}
    for task in DEV:
        first, second, labels = _read_dev(task)
        p = _predict(model, facts, task, first, second)
        if task == "stsb":
            got[(task, "pearson")] = pearsonr(labels, p)[0]
            got[(task, "spearman")] = spearmanr(labels, p)[0]
            continue
        pred = (p >= 0.5).astype(int)
        got[(task, "accuracy")] = accuracy_score(labels, pred)
        if task == "cola":
            got[(task, "mcc")] = matthews_corrcoef(labels, pred)
        if task == "mrpc":
            got[(task, "f1")] = f1_score(labels, pred)
    for key, want in card.items():
        assert 100 * got[key] == pytest.approx(want, abs=POINTS), key


@pytest.mark.slow  # the SavedModel export of a 23 M-parameter model
def test_exports_and_answers_a_raw_sentence_pair_with_label_names(entry, tmp_path):
    import tensorflow as tf

    from mtlzoo import zoo

    model, facts = entry
    path = zoo.export(NAME, str(tmp_path / "serving"), root=ROOT)
    loaded = tf.saved_model.load(path)
    a, b = ["A man is playing a guitar.", "The cat sat on the mat."], ["A person plays music.", "Stocks fell sharply."]
    out = loaded.signatures["rte_text_pair"](text_a=tf.constant(a), text_b=tf.constant(b))
    probs = out["probabilities"].numpy().reshape(-1)
    assert [s.decode() for s in out["label"].numpy()] == ["not_entailment" if p >= 0.5 else "entailment" for p in probs]
    np.testing.assert_allclose(probs, _predict(model, facts, "rte", a, b), atol=1e-4)
    stsb = loaded.signatures["stsb_text_pair"](text_a=tf.constant(a), text_b=tf.constant(b))
    np.testing.assert_allclose(stsb["values"].numpy().reshape(-1), _predict(model, facts, "stsb", a, b), atol=1e-3)
    with pytest.raises(TypeError):  # a pair signature called with one text
        loaded.signatures["rte_text_pair"](text_a=tf.constant(a))
