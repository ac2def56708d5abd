"""conlleval-style entity F1, token accuracy and the scores of tagging outputs against hand-worked examples."""

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from mtlzoo.metrics.tagging import (
    entity_f1,
    entity_scores,
    extract_entities,
    is_iob,
    split_tag,
    tagging_scores,
    token_accuracy,
)


def spans(tags):
    """Entities as (first, last, type name) triples."""
    ents, names = extract_entities(tags)
    return sorted((int(a), int(b), names[t]) for a, b, t in ents)


def test_split_tag():
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I-B-X") == ("I", "B-X")
    assert split_tag("O") == ("O", "")
    assert split_tag("PER") == ("I", "PER")  # IO scheme without prefixes


def test_bio_one_of_two_entities_right():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    r = entity_scores(gold, pred)
    # gold {PER 0-1, LOC 3}, predicted {PER 0-1, ORG 3}: 1 correct of 2 and 2
    assert (r["correct"], r["gold"], r["predicted"]) == (1, 2, 2)
    assert r["precision"] == r["recall"] == r["f1"] == 0.5
    assert r["accuracy"] == 3 / 4
    assert r["per_type"]["PER"]["f1"] == 1.0
    assert r["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "correct": 0, "gold": 1, "predicted": 0}
    assert r["per_type"]["ORG"]["predicted"] == 1


def test_wrong_boundary_is_not_a_match():
    r = entity_scores([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-PER", "O"]])
    assert (r["correct"], r["gold"], r["predicted"], r["f1"]) == (0, 1, 1, 0.0)
    assert r["accuracy"] == pytest.approx(2 / 3)


def test_two_sentences_worked_by_hand():
    gold = [["B-ORG", "I-ORG", "O", "B-PER"], ["O", "B-LOC", "I-LOC", "O", "B-MISC"]]
    pred = [["B-ORG", "I-ORG", "O", "B-PER"], ["O", "B-LOC", "O", "O", "B-MISC"]]
    r = entity_scores(gold, pred)
    # 4 gold, 4 predicted entities; LOC 5-6 vs 5-5 is the only miss
    assert (r["correct"], r["gold"], r["predicted"]) == (3, 4, 4)
    assert r["precision"] == r["recall"] == r["f1"] == 0.75
    assert r["accuracy"] == 8 / 9
    assert r["per_type"]["LOC"]["f1"] == 0.0 and r["per_type"]["ORG"]["f1"] == 1.0


def test_io_scheme_and_bare_tags():
    assert spans([["I-PER", "I-PER", "O", "I-LOC"]]) == [(0, 1, "PER"), (3, 3, "LOC")]
    assert spans([["PER", "PER", "O", "LOC", "ORG"]]) == [(0, 1, "PER"), (3, 3, "LOC"), (4, 4, "ORG")]
    # IO merges adjacent entities of one type; BIO keeps them apart
    assert spans([["I-PER", "I-PER"]]) == [(0, 1, "PER")]
    assert spans([["B-PER", "B-PER"]]) == [(0, 0, "PER"), (1, 1, "PER")]
    r = entity_scores([["B-PER", "B-PER"]], [["I-PER", "I-PER"]])
    assert (r["correct"], r["gold"], r["predicted"]) == (0, 2, 1)


def test_conlleval_repairs():
    # I- after O starts an entity; a type change inside a span starts a new one
    assert spans([["O", "I-LOC", "I-LOC"]]) == [(1, 2, "LOC")]
    assert spans([["B-PER", "I-LOC", "I-LOC", "B-LOC"]]) == [(0, 0, "PER"), (1, 2, "LOC"), (3, 3, "LOC")]
    assert entity_f1([["O", "B-LOC", "I-LOC"]], [["O", "I-LOC", "I-LOC"]]) == 1.0


def test_iobes():
    assert spans([["S-PER", "B-LOC", "E-LOC", "O", "B-ORG", "I-ORG", "E-ORG", "S-ORG"]]) == [
        (0, 0, "PER"),
        (1, 2, "LOC"),
        (4, 6, "ORG"),
        (7, 7, "ORG"),
    ]


def test_entities_do_not_cross_sentences():
    assert spans([["B-PER"], ["I-PER"]]) == [(0, 0, "PER"), (1, 1, "PER")]
    assert spans([["B-PER", "I-PER"]]) == [(0, 1, "PER")]
    assert spans([[], ["B-PER"], []]) == [(0, 0, "PER")]


def test_integer_ids_with_label_names():
    names = ["O", "B-PER", "I-PER"]
    gold = [np.array([1, 2, 0, 1])]
    pred = [np.array([1, 2, 0, 0])]
    r = entity_scores(gold, pred, names)
    assert (r["correct"], r["gold"], r["predicted"]) == (1, 2, 1)
    assert r["f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert token_accuracy(gold, pred, names) == 0.75
    with pytest.raises(ConfigError, match="label ids"):
        entity_scores([np.array([3])], [np.array([0])], names)


def test_no_entities_and_bad_shapes():
    r = entity_scores([["O", "O"]], [["O", "O"]])
    assert (r["f1"], r["accuracy"]) == (0.0, 1.0)
    with pytest.raises(ConfigError, match="predicted"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(ConfigError, match="predicted"):
        entity_scores([["O"], ["O"]], [["O", "O"]])


TAGS = ["[PAD]", "[UNK]", "B-NP", "I-NP", "O", "B-VP"]


def _onehot(ids, n):
    return np.eye(n)[np.asarray(ids)]


def test_is_iob():
    assert is_iob(TAGS)
    assert is_iob(["[PAD]", "O", "S-PER", "E-PER"])
    assert not is_iob(["[PAD]", "[UNK]", "NN", "VBZ", "O"])
    assert not is_iob(["[PAD]", "[UNK]"])


def test_tagging_scores_against_hand_counts():
    # sentence 1 gold  B-NP I-NP B-VP O   -> chunks NP[0,1], VP[2]
    #            pred  B-NP I-NP O    O   -> chunk  NP[0,1]           (3 of 4 tokens right)
    # sentence 2 gold  B-NP O             -> chunk  NP[0]
    #            pred  [UNK] O            -> [UNK] reads as O: none   (1 of 2 tokens right)
    # chunks: gold 3, predicted 1, correct 1 -> P = 1, R = 1/3, F1 = 0.5; accuracy 4/6
    gold = np.array([[2, 3, 5, 4, 0], [2, 4, 0, 0, 0]])
    pred = np.array([[2, 3, 4, 4, 5], [1, 4, 2, 3, 5]])  # padding positions hold junk predictions
    mask = gold != 0
    pos_gold = np.array([[2, 3, 2, 3, 0], [3, 3, 0, 0, 0]])
    pos_pred = np.array([[2, 3, 3, 3, 2], [3, 2, 3, 3, 3]])
    out = tagging_scores(
        {"chunk": gold, "pos": pos_gold},
        {"chunk": _onehot(pred, len(TAGS)), "pos": _onehot(pos_pred, 4)},
        mask,
        {"chunk": TAGS, "pos": ["[PAD]", "[UNK]", "NN", "VB"]},
    )
    c = out["chunk"]
    assert (c["gold"], c["predicted"], c["correct"]) == (3, 1, 1)
    assert c["precision"] == pytest.approx(1.0) and c["recall"] == pytest.approx(1 / 3)
    assert c["f1"] == pytest.approx(0.5)
    assert c["token_accuracy"] == pytest.approx(4 / 6) and c["tokens"] == 6
    assert out["pos"]["token_accuracy"] == pytest.approx(4 / 6)  # 3 of 4 and 1 of 2
    assert "f1" not in out["pos"]  # POS tags are not IOB chunks
    with pytest.raises(ConfigError, match="right padding"):
        tagging_scores({"chunk": gold}, {"chunk": _onehot(pred, 6)}, mask[:, ::-1], {"chunk": TAGS})
    with pytest.raises(ConfigError, match="no tag vocabulary"):
        tagging_scores({"chunk": gold}, {"chunk": _onehot(pred, 6)}, mask, {})
