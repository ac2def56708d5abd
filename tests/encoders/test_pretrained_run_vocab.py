"""``embedding_pretrained`` without ``embedding_vocab_file``: the rows follow the run's own vocabulary.

A hand-made vectors file over the words of a fake sentiment directory; the expected rows are
parsed from the file with plain Python, the hits / OOV counts recomputed with sets over the
vocabulary the run saved (``vocab.txt``) and cross-checked against the words of the data files.
"""

import os

import numpy as np
import pytest

from mtlzoo.encoders.text import pretrained_embedding_stats
from mtlzoo.errors import ConfigError
from mtlzoo.models import build_model
from tests.zoo.common import FILLER, NEGATIVE, POSITIVE, fake_sentiment

# vectors for some of the fake data's words ("phone" only in cr), plus rows no vocabulary has
KNOWN = ["the", "film", "good", "bad", "great", "awful", "story", "phone"]
DIM = 4


def _vectors(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "vectors.txt"
    lines = [f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=DIM)) for w in [*KNOWN, "unused", "zebra"]]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _parse(path):
    rows = {}
    with open(path) as f:
        for line in f:
            word, *nums = line.split()
            rows[word] = np.array([float(x) for x in nums], np.float32)
    return rows


def _config(root, vec, trainable=False):
    return {
        "seed": 0,
        "tasks": {"mr": {"kind": "binary"}, "cr": {"kind": "binary"}},
        "data": {"source": "sentiment", "data_dir": root, "batch_size": 16, "max_vocab": 100, "max_length": 12},
        "model": {
            "encoder": {
                "name": "text_mlp",
                "vocab_size": 100,
                "max_length": 12,
                "embedding_dim": DIM,
                "units": [3],
                "embedding_pretrained": vec,
                "embedding_trainable": trainable,
            },
            "tower": {"units": []},
        },
        "train": {"epochs": 1, "verbose": 0},
    }


def test_build_model_takes_the_vocabulary_instead_of_a_file(tmp_path):
    vec = _vectors(tmp_path)
    rows = _parse(vec)
    vocab = ["[PAD]", "[UNK]", "the", "Good", "zzz", "phone"]
    cfg = _config(str(tmp_path), vec)
    model = build_model(cfg, vocab=vocab)
    table = np.asarray(model.get_layer("embedding").embeddings)
    assert table.shape == (100, DIM)
    np.testing.assert_array_equal(table[0], 0.0)
    for i, w in ((2, "the"), (3, "good"), (5, "phone")):
        np.testing.assert_array_equal(table[i], rows[w])
    stats = pretrained_embedding_stats(model)
    assert (stats["hits"], stats["lowercase_hits"], stats["oov"], stats["unused_rows"]) == (3, 1, 2, 94)
    # the same file given explicitly gives the same table
    voc = tmp_path / "vocab.txt"
    voc.write_text("\n".join(vocab) + "\n")
    cfg["model"]["encoder"]["embedding_vocab_file"] = str(voc)
    np.testing.assert_array_equal(np.asarray(build_model(cfg).get_layer("embedding").embeddings), table)
    # neither a file nor a vocabulary: one error naming the field
    del cfg["model"]["encoder"]["embedding_vocab_file"]
    with pytest.raises(ConfigError, match="embedding_vocab_file.*run's vocabulary"):
        build_model(cfg)


def test_train_fills_the_rows_of_its_own_vocabulary(tmp_path, capsys):
    from mtlzoo.training import train
    from mtlzoo.workdir import load_workdir

    root = fake_sentiment(tmp_path / "data", n=60)
    vec = _vectors(tmp_path)
    rows = _parse(vec)
    workdir = str(tmp_path / "run")
    result = train(_config(root, vec), workdir)
    printed = capsys.readouterr().out

    with open(os.path.join(workdir, "vocab.txt")) as f:
        vocab = [line.rstrip("\n") for line in f]
    assert vocab[:2] == ["[PAD]", "[UNK]"]
    words_in_data = set(POSITIVE + NEGATIVE + FILLER + ["phone", "battery", "screen"])
    assert set(vocab[2:]) <= words_in_data and len(vocab) > 10
    table = np.asarray(result.model.get_layer("embedding").embeddings)  # frozen: still the initial rows
    hits = [w for w in vocab[1:] if w in rows]
    for w in hits:
        np.testing.assert_array_equal(table[vocab.index(w)], rows[w])
    oov = len(vocab) - 1 - len(hits)  # [UNK] included
    assert f"{len(hits)} of {len(vocab) - 1} vocabulary tokens found" in printed
    assert f"{oov} out of vocabulary" in printed
    stats = pretrained_embedding_stats(result.model)
    assert (stats["hits"], stats["oov"]) == (len(hits), oov)
    assert "phone" in hits  # a cr-only word: the vocabulary is the run's (both tasks' training splits)

    # a checkpoint is loaded into build_model(config, vocab=<workdir>/vocab.txt): no vocab file needed
    model, _, source = load_workdir(workdir, checkpoint=1)
    assert source.endswith("epoch_001.weights.h5")
    np.testing.assert_array_equal(np.asarray(model.get_layer("embedding").embeddings), table)

    # the run folder no longer needs the word-vector file (copied elsewhere, or the file moved):
    # evaluation and both loads give what they gave with it, and never read it
    from mtlzoo.evaluation import evaluate
    from mtlzoo.workdir import read_config

    with_file = evaluate(workdir, split="test", write=False)
    os.rename(vec, vec + ".moved")
    assert read_config(workdir).model.encoder.embedding_pretrained is None
    assert read_config(workdir, validate=False).model.encoder.embedding_pretrained == vec  # the record is kept
    for checkpoint in (None, 1):
        model, _, _ = load_workdir(workdir, checkpoint=checkpoint)
        np.testing.assert_array_equal(np.asarray(model.get_layer("embedding").embeddings), table)
    assert evaluate(workdir, split="test", write=False) == with_file
    assert "pretrained embedding" not in capsys.readouterr().out


def test_sentiment_glove_config(monkeypatch, tmp_path):
    from mtlzoo.config import load_config_module, resolve_config
    from tests.helpers import REPO

    module = load_config_module(f"{REPO}/configs/sentiment.py")
    glove = tmp_path / "glove"
    glove.mkdir()
    (glove / "glove.6B.50d.pruned.txt").write_text("the " + " ".join(["0.5"] * 50) + "\n")
    monkeypatch.setenv("MTLZOO_DATA_DIR", str(tmp_path))
    c = module.get_config("text_cnn,mr,cr,align,glove")
    assert sorted(c.tasks) == ["cr", "mr"] and c.model.alignment == "joint"
    enc = c.model.encoder
    assert enc.embedding_dim == 50 and enc.embedding_pretrained == str(glove / "glove.6B.50d.pruned.txt")
    assert enc.embedding_trainable is module.GLOVE_TRAINABLE and not enc.get("embedding_vocab_file")
    resolve_config(c)  # valid without a vocabulary file
    plain = module.get_config("text_cnn,mr,cr")
    assert plain.model.encoder.embedding_dim == module.EMBEDDING_DIM and not plain.model.encoder.get(
        "embedding_pretrained"
    )
    monkeypatch.setenv("MTLZOO_DATA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(ConfigError, match="embedding_pretrained.*glove.6B.50d.pruned.txt, which does not exist"):
        module.get_config("text_mlp,glove")
    monkeypatch.delenv("MTLZOO_DATA_DIR")
    with pytest.raises(ConfigError, match="MTLZOO_DATA_DIR is not set"):
        module.get_config("text_mlp,glove")
