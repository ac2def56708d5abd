"""A text entry (aligned BiLSTM on a fake sentiment directory): vocab.txt and tokenizer.json,
fine-tuning on a new task with the entry's vocabulary and its R_i remapped by task name,
and the raw-string export answered by a fresh process."""

import json
import os

import numpy as np
import pytest

from mtlzoo import zoo
from mtlzoo.zoo import finetuning
from tests.export.common import vocab_reference
from tests.zoo.common import fake_sentiment, keras_outputs, read_lines, serve, write_card

MAX_LEN = 12


def _config(tasks):
    return {
        "seed": 0,
        "tasks": {t: {"kind": "binary"} for t in tasks},
        "data": {"source": "sentiment", "batch_size": 16, "max_length": MAX_LEN},
        "model": {
            "alignment": "joint",
            "encoder": {"name": "lstm", "vocab_size": 64, "max_length": MAX_LEN, "embedding_dim": 8, "hidden": 6},
            "tower": {"units": []},
        },
        "train": {"epochs": 1, "learning_rate": 1e-2, "verbose": 0},
    }


@pytest.fixture(scope="module")
def text_entry(tmp_path_factory):
    from mtlzoo.training import train

    base = tmp_path_factory.mktemp("text_entry")
    mp = pytest.MonkeyPatch()
    mp.setenv("MTLZOO_DATA_DIR", fake_sentiment(base / "data"))
    try:
        train(_config(["mr"]), str(base / "run"))
        root = str(base / "zoo")
        zoo.publish(
            str(base / "run"), "mr_lstm", write_card(base / "card.md", "mr_lstm"), command="c", root=root, log=None
        )
        yield {"root": root, "entry": os.path.join(root, "mr_lstm"), "base": base, "data": str(base / "data")}
    finally:
        mp.undo()


def _file_sentences(data, fname):
    return [line.split()[1:] for line in read_lines(os.path.join(data, "sentiment", fname)) if line]


def test_vocab_and_tokenizer_files(text_entry):
    entry = text_entry["entry"]
    vocab = read_lines(os.path.join(entry, "vocab.txt"))
    mr = _file_sentences(text_entry["data"], "rt-polarity.all")
    assert vocab[:2] == ["[PAD]", "[UNK]"] and len(vocab) == len(set(vocab))
    assert set(vocab[2:]) <= {w for s in mr for w in s}  # built from mr's (training) sentences only
    with open(os.path.join(entry, "tokenizer.json")) as f:
        assert json.load(f) == {"name": "vocab", "vocab_file": "vocab.txt", "lowercase": True}
    assert zoo.info("mr_lstm", text_entry["root"])["vocab"] == os.path.join(entry, "vocab.txt")


def test_finetune_on_a_new_task_keeps_the_entry_vocabulary(text_entry, tmp_path, monkeypatch):
    monkeypatch.setenv("MTLZOO_DATA_DIR", text_entry["data"])
    entry = text_entry["entry"]
    pretrained = zoo.load("mr_lstm", text_entry["root"])
    before = {}
    original = finetuning.apply_plan

    def spy(model, pretrained_model, plan):  # the weights the run starts from, before any step
        out = original(model, pretrained_model, plan)
        before.update({layer.name: [np.array(w) for w in layer.get_weights()] for layer in out.layers})
        return out

    monkeypatch.setattr(finetuning, "apply_plan", spy)
    cfg = {"tasks": {"mr": {"kind": "binary"}, "cr": {"kind": "binary"}}, "finetune": {"freeze": "encoder"}}
    cfg["train"] = {"epochs": 1, "steps_per_epoch": 2, "verbose": 0}
    result = zoo.finetune("mr_lstm", cfg, str(tmp_path / "ft"), root=text_entry["root"])

    vocab_path = os.path.join(entry, "vocab.txt")
    with open(tmp_path / "ft" / "finetune.json") as f:
        plan = json.load(f)
    assert plan["vocab_file"] == vocab_path
    assert plan["remapped"] == {"alignment": {"kept": ["mr"], "new": ["cr"]}}
    assert sorted(plan["transferred"]) == ["bilstm_0", "embedding", "mr"]
    from mtlzoo.config import read_config

    config = read_config(str(tmp_path / "ft"))
    assert config.data.vocab_file == vocab_path
    for name in plan["transferred"]:
        for got, want in zip(before[name], pretrained.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)
    r_old, r_new = pretrained.get_layer("alignment").get_weights()[0], before["alignment"][0]
    np.testing.assert_array_equal(r_new[1], r_old[0])  # mr: index 0 of [mr], 1 of [cr, mr]
    np.testing.assert_array_equal(r_new[0], np.eye(r_old.shape[-1]))  # cr starts at R = I
    for name in ("embedding", "bilstm_0"):  # frozen: still the entry's after training
        for got, want in zip(
            result.model.get_layer(name).get_weights(), pretrained.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(got, want, err_msg=name)

    # the new task's words unknown to the entry are [UNK] (1): ids are the entry's, independently looked up
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    vocab = read_lines(vocab_path)
    data = load_data(config, tasks_from_config(config.tasks))
    ids = {w: i for i, w in enumerate(vocab)}
    cr = {" ".join(s) for s in _file_sentences(text_entry["data"], "custrev.all")}
    s = data.splits["train"]
    rows = s.features["tokens"][s.features["task_id"] == 0]  # cr = task 0 of [cr, mr]
    assert len(rows)
    for row in rows:
        words = [vocab[i] for i in row if i]
        assert 1 not in row or "[UNK]" in words
        matches = [c for c in cr if [ids.get(w, 1) for w in c.split()][:MAX_LEN] == [int(i) for i in row if i]]
        assert matches, words
    assert any(1 in row for row in rows)  # phone / battery / screen are not in mr's vocabulary


def test_a_user_vocabulary_is_kept(text_entry, tmp_path):
    mine = tmp_path / "mine.txt"
    merged = {"data": {"source": "sentiment", "vocab_file": str(mine)}}
    assert finetuning._fixed_vocabulary(merged, {"data": {"vocab_file": str(mine)}}, text_entry["entry"]) is None
    assert merged["data"]["vocab_file"] == str(mine)
    merged = {"data": {"source": "digits"}}  # a source without vocab_file
    assert finetuning._fixed_vocabulary(merged, {}, text_entry["entry"]) is None and "vocab_file" not in merged["data"]
    merged = {"data": {"source": "sentiment"}}
    assert finetuning._fixed_vocabulary(merged, {}, text_entry["entry"]) == os.path.join(
        text_entry["entry"], "vocab.txt"
    )


def test_export_serves_raw_strings_and_token_ids(text_entry, serving, tmp_path):
    path = zoo.export("mr_lstm", str(tmp_path / "serving"), root=text_entry["root"])
    with open(os.path.join(path, "assets.extra", "mtlzoo_export.json")) as f:
        meta = json.load(f)
    assert sorted(meta["signatures"]) == ["mr", "mr_text", "serving_default", "text"]
    texts = ["a good film", "the plot was very dull and BORING", "qqxz battery"]
    got = serve(serving, tmp_path, path, "mr_text", {"text": texts})
    vocab = read_lines(os.path.join(text_entry["entry"], "vocab.txt"))
    tokens = vocab_reference(texts, vocab, oov="[UNK]", fixed=MAX_LEN)
    want = keras_outputs(
        zoo.load("mr_lstm", text_entry["root"]), {"mr": {"kind": "binary"}}, {"tokens": tokens}, ["mr"]
    )
    assert sorted(got) == sorted(want)
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["class_ids"], want["class_ids"])

    ids_only = zoo.export("mr_lstm", str(tmp_path / "ids"), root=text_entry["root"], tokenizer=False)
    with open(os.path.join(ids_only, "assets.extra", "mtlzoo_export.json")) as f:
        assert sorted(json.load(f)["signatures"]) == ["mr", "serving_default"]
    got = serve(serving, tmp_path, ids_only, "serving_default", {"tokens": tokens.tolist()})
    np.testing.assert_allclose(got["mr_probabilities"], want["probabilities"], rtol=1e-5, atol=1e-6)
