"""Pretrained word vectors in the text encoders, against a hand-made vectors file.

The expected rows are the literal numbers written into the file; OOV statistics are
recomputed with numpy from the file's own rows.
"""

import numpy as np
import pytest

import mtlzoo
from mtlzoo.encoders.text import pretrained_embedding_stats
from mtlzoo.errors import ConfigError
from mtlzoo.models import build_model

VOCAB = ["[PAD]", "[UNK]", "the", "Good", "movie", "zzz"]
ROWS = {
    "the": [0.5, -1.0, 2.0, 0.25],
    "good": [1.5, 0.0, -0.5, 3.0],
    "movie": [-2.0, 1.0, 0.75, -0.125],
    "unused": [9.0, 9.0, 9.0, 9.0],
}


def _files(tmp_path, header=False, rows=ROWS):
    vec = tmp_path / "vectors.txt"
    lines = [f"{len(rows)} 4"] if header else []
    lines += [w + " " + " ".join(repr(x) for x in v) for w, v in rows.items()]
    vec.write_text("\n".join(lines) + "\n")
    voc = tmp_path / "vocab.txt"
    voc.write_text("\n".join(VOCAB) + "\n")
    return str(vec), str(voc)


def _config(vec, voc, encoder="text_mlp", trainable=True, seed=0, vocab_size=8):
    enc = {
        "name": encoder,
        "vocab_size": vocab_size,
        "embedding_dim": 4,
        "embedding_pretrained": vec,
        "embedding_vocab_file": voc,
        "embedding_trainable": trainable,
        "embedding_oov_seed": seed,
    }
    enc.update({"text_mlp": {"units": [3]}, "text_cnn": {"num_filters": 2}, "lstm": {"hidden": 3}}[encoder])
    return {"tasks": {"a": {"kind": "binary"}}, "model": {"encoder": enc, "tower": {"units": []}}}


def _table(model):
    return np.asarray(model.get_layer("embedding").embeddings)


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("encoder", ["text_mlp", "text_cnn", "lstm"])
def test_rows_land_on_their_token_ids(tmp_path, header, encoder):
    vec, voc = _files(tmp_path, header=header)
    model = build_model(_config(vec, voc, encoder))
    table = _table(model)
    assert table.shape == (8, 4)
    np.testing.assert_array_equal(table[0], 0.0)  # padding
    np.testing.assert_array_equal(table[2], ROWS["the"])
    np.testing.assert_array_equal(table[3], ROWS["good"])  # "Good" found lower-cased
    np.testing.assert_array_equal(table[4], ROWS["movie"])
    stats = pretrained_embedding_stats(model)
    assert (stats["hits"], stats["lowercase_hits"], stats["oov"], stats["unused_rows"]) == (3, 1, 2, 2)
    assert stats["oov_examples"] == ["[UNK]", "zzz"] and stats["vocabulary_tokens"] == 5
    assert not any(np.array_equal(table[i], ROWS["unused"]) for i in range(8))


def test_oov_rows_seeded_and_scaled_like_found_rows(tmp_path):
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(300)]
    mean, std = np.array([1.0, -2.0, 0.0, 5.0]), np.array([0.5, 3.0, 1.0, 0.1])
    rows = {w: (mean + std * rng.standard_normal(4)).round(4).tolist() for w in words}
    vec = tmp_path / "big.txt"
    vec.write_text("".join(w + " " + " ".join(map(str, v)) + "\n" for w, v in rows.items()))
    voc = tmp_path / "vocab.txt"
    vocab = ["[PAD]", "[UNK]", *words, *[f"oov{i}" for i in range(3000)]]
    voc.write_text("\n".join(vocab) + "\n")
    model = build_model(_config(str(vec), str(voc), vocab_size=len(vocab)))
    table = _table(model)
    found = np.array(list(rows.values()))
    np.testing.assert_allclose(table[2:302], found, rtol=1e-6)
    oov = table[302:]
    ref_mean, ref_std = found.mean(0), found.std(0)  # numpy on the file's rows
    assert np.all(np.abs(oov.mean(0) - ref_mean) < 4 * ref_std / np.sqrt(len(oov)))
    np.testing.assert_allclose(oov.std(0), ref_std, rtol=0.06)
    assert pretrained_embedding_stats(model)["oov"] == 3001
    again = _table(build_model(_config(str(vec), str(voc), vocab_size=len(vocab))))
    other = _table(build_model(_config(str(vec), str(voc), vocab_size=len(vocab), seed=1)))
    np.testing.assert_array_equal(table, again)
    assert not np.allclose(table[302:], other[302:])
    np.testing.assert_array_equal(table[2:302], other[2:302])  # found rows do not depend on the seed


def _fit_once(model):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, size=(32, 5)).astype(np.int32)
    y = rng.integers(0, 2, size=(32, 1)).astype(np.float32)
    model.compile(optimizer="adam", loss={"a": "binary_crossentropy"})
    model.fit({"tokens": x}, {"a": y}, epochs=2, batch_size=8, verbose=0)


@pytest.mark.parametrize("trainable", [False, True])
def test_frozen_stays_frozen_after_a_fit_step(tmp_path, trainable):
    import keras

    # seeded, and 16 units: with 3 unseeded ReLU units, an initialisation drawn after other tests
    # could leave every unit dead on this batch, so the dense kernel did not move (a flaky failure)
    keras.utils.set_random_seed(0)
    vec, voc = _files(tmp_path)
    cfg = _config(vec, voc, trainable=trainable)
    cfg["model"]["encoder"]["units"] = [16]
    model = build_model(cfg)
    before = _table(model).copy()
    dense_before = np.asarray(model.get_layer("text_mlp_dense_0").kernel).copy()
    _fit_once(model)
    assert not np.allclose(np.asarray(model.get_layer("text_mlp_dense_0").kernel), dense_before)
    if trainable:
        assert not np.allclose(_table(model), before)
    else:
        np.testing.assert_array_equal(_table(model), before)
        assert all("embedding" not in v.path for v in model.trainable_variables)


def test_keras_round_trip_keeps_rows_and_frozen_state(tmp_path):
    vec, voc = _files(tmp_path)
    model = build_model(_config(vec, voc, trainable=False))
    path = str(tmp_path / "m.keras")
    mtlzoo.save_model(model, path)
    (tmp_path / "vectors.txt").unlink()  # the saved model needs no vectors file
    loaded = mtlzoo.load_model(path)
    np.testing.assert_array_equal(_table(loaded), _table(model))
    assert loaded.get_layer("embedding").trainable is False
    x = {"tokens": np.array([[2, 3, 4, 5, 0]], np.int32)}
    np.testing.assert_allclose(loaded.predict(x, verbose=0)["a"], model.predict(x, verbose=0)["a"], rtol=1e-6)
    _fit_once(loaded)
    np.testing.assert_array_equal(_table(loaded), _table(model))


def test_bad_options_name_the_field(tmp_path):
    vec, voc = _files(tmp_path)
    cfg = _config(vec, voc)
    del cfg["model"]["encoder"]["embedding_vocab_file"]
    with pytest.raises(ConfigError, match="embedding_vocab_file"):
        build_model(cfg)
    with pytest.raises(ConfigError, match="embedding_pretrained.*does not exist"):
        build_model(_config(str(tmp_path / "missing.txt"), voc))
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2 3 4\ngood 1 2 3\n")
    with pytest.raises(ConfigError, match="line 2: 3 numbers"):
        build_model(_config(str(bad), voc))
    with pytest.raises(ConfigError, match="vocab_size"):
        build_model(_config(vec, voc, vocab_size=4))
    hdr = tmp_path / "hdr.txt"
    hdr.write_text("2 50\nthe " + " ".join(["1"] * 50) + "\n")
    with pytest.raises(ConfigError, match="line 1: vectors of dimension 50"):
        build_model(_config(str(hdr), voc))
