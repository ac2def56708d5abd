"""The one CoNLL reader (nltk) and the conll2000 source, against the real corpora in
$MTLZOO_DATA_DIR (skipped where absent). Counts come from shell commands on the files, e.g.
``unzip -p conll2000.zip conll2000/train.txt | awk 'NF==0' | wc -l`` (sentence ends)."""

import os

import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.config import check_fields, resolve_config
from mtlzoo.data import load_data
from mtlzoo.data.conll import find_corpus_dir, read_conll
from mtlzoo.tasks import tasks_from_config

DATA_DIR = os.environ.get("MTLZOO_DATA_DIR", "")


def _need(sub):
    path = os.path.join(DATA_DIR, sub)
    if not DATA_DIR or not os.path.isdir(path):
        pytest.skip(f"real data not found: set MTLZOO_DATA_DIR to a directory holding {sub}/ (CI does)")
    return path


def test_read_conll_gives_word_pos_tag_triples_of_both_corpora():
    _need("nltk_data/corpora")
    nltk_data = os.path.join(DATA_DIR, "nltk_data")
    c2000 = read_conll("conll2000", nltk_data)
    assert (len(c2000["train"]), len(c2000["test"])) == (8936, 2012)
    # first lines of test.txt: "Rockwell NNP B-NP", "International NNP I-NP"
    assert c2000["test"][0][:2] == [("Rockwell", "NNP", "B-NP"), ("International", "NNP", "I-NP")]
    assert sum(len(s) for s in c2000["train"]) == 211_727
    esp = read_conll("conll2002", find_corpus_dir(DATA_DIR, "conll2002", "simulator.data_dir"), "esp")
    tags = {t for s in esp["train"] for _, _, t in s}
    assert tags == {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"}
    assert all(len(row) == 3 for s in esp["test"][:50] for row in s)
    with pytest.raises(ConfigError, match="data.language.*esp, ned"):
        read_conll("conll2002", nltk_data, "fr")
    with pytest.raises(ConfigError, match="data.source"):
        read_conll("conll2003", nltk_data)


# ----------------------------------------------------------------------------- conll2000

CONLL_TASKS = {"pos": {"kind": "tagging", "num_classes": 46}, "chunk": {"kind": "tagging", "num_classes": 24}}


def _conll(opts=None, tasks=CONLL_TASKS, seed=0):
    from mtlzoo.data.conll import Conll2000Source

    specs = tasks_from_config(tasks)
    opts = check_fields({"data_dir": DATA_DIR, **(opts or {})}, Conll2000Source.schema, "data")
    Conll2000Source.check(opts, specs)
    return Conll2000Source.load(opts, specs, seed)


def test_conll2000_counts_tags_and_masking():
    _need("nltk_data/corpora")
    data = _conll()
    n = {s: len(sp) for s, sp in data.splits.items()}
    # sentences / tokens: `unzip -p conll2000.zip conll2000/train.txt | awk ...` (blank-line blocks, non-blank lines)
    assert n["train"] + n["validation"] == 8936 and n["test"] == 2012
    assert n["validation"] == round(0.1 * 8936)
    assert sum((sp.features["tokens"] > 0).sum() for s, sp in data.splits.items() if s != "test") == 211727
    assert (data.splits["test"].features["tokens"] > 0).sum() == 47377
    tags = data.info["tag_vocab"]
    assert tags["pos"][:2] == ["[PAD]", "[UNK]"] and len(tags["pos"]) == 46  # 44 POS tags in train.txt
    assert len(tags["chunk"]) == 24 and {"B-NP", "I-NP", "O", "B-LST"} <= set(tags["chunk"])
    for sp in data.splits.values():
        real = sp.features["tokens"] > 0
        for t in ("pos", "chunk"):
            assert sp.labels[t].dtype == np.int32 and sp.labels[t].shape == sp.features["tokens"].shape
            np.testing.assert_array_equal(sp.labels[t] == 0, ~real)  # label 0 only at padding
        np.testing.assert_array_equal(sp.features["task_id"], 0)
    # test's two I-LST tokens (`awk '$3=="I-LST"' test.txt`) are the only unknown tags
    assert (data.splits["test"].labels["chunk"] == 1).sum() == 2 and (data.splits["test"].labels["pos"] == 1).sum() == 0
    # the first test sentence, decoded, matches its first lines in the file
    sp = data.splits["test"]
    vocab = data.info["vocab"]
    first = [
        (vocab[w], tags["pos"][p], tags["chunk"][c])
        for w, p, c in zip(sp.features["tokens"][0], sp.labels["pos"][0], sp.labels["chunk"][0], strict=True)
        if w
    ]
    # first lines of test.txt: "Rockwell NNP B-NP", "International NNP I-NP", "Corp. NNP I-NP", "'s POS B-NP"
    ref = [
        ("Rockwell", "NNP", "B-NP"),
        ("International", "NNP", "I-NP"),
        ("Corp.", "NNP", "I-NP"),
        ("'s", "POS", "B-NP"),
    ]
    known = set(vocab)
    assert first[:4] == [(w if w in known else "[UNK]", p, c) for w, p, c in ref]


def test_conll2000_through_the_registry_and_tagging_batches():
    _need("nltk_data/corpora")
    cfg = resolve_config(
        {
            "tasks": {"chunk": CONLL_TASKS["chunk"]},
            "data": {"source": "conll2000", "data_dir": DATA_DIR, "max_length": 12, "max_vocab": 500},
            "model": {"encoder": {"name": "tagger", "vocab_size": 500, "max_length": 12}},
        }
    )
    data = load_data(cfg, tasks_from_config(cfg.tasks))
    feats, labels, weights = next(iter(data.dataset("validation", 3, ["tokens"])))
    assert feats["tokens"].shape == (3, 12) and labels["chunk"].shape == (3, 12) and weights["chunk"].shape == (3, 1)
    with pytest.raises(ConfigError, match="tasks.pos.num_classes"):
        _conll(tasks={"pos": {"kind": "tagging", "num_classes": 45}})


def _conll_dir(tmp_path, train, test):
    d = tmp_path / "nltk_data" / "corpora" / "conll2000"
    d.mkdir(parents=True)
    (d / "train.txt").write_text(train)
    (d / "test.txt").write_text(test)
    return tmp_path


def test_conll2000_missing_and_malformed(tmp_path):
    (tmp_path / "empty" / "nltk_data").mkdir(parents=True)
    with pytest.raises(ConfigError, match="conll2000 corpus is not in .*nltk.downloader conll2000"):
        _conll({"data_dir": str(tmp_path / "empty")})
    good = "He PRP B-NP\nruns VBZ B-VP\n\nShe PRP B-NP\nsat VBD B-VP\n"
    root = _conll_dir(tmp_path, good + "\nIt PRP B-NP\nfell VBD\n", good)
    with pytest.raises(ConfigError, match=r"conll2000 train.txt line 8: expected 'word POS chunk', got 'fell VBD'"):
        _conll({"data_dir": str(root)}, tasks={"pos": {"kind": "tagging", "num_classes": 6}})
