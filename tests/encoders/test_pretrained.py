"""Pretrained BERT checkpoints from local directories: transformers and keras-hub layouts, offline.

The reference for the loaded weights is a numpy BERT forward pass over the weights the test
wrote (tests/encoders/tiny_bert.py), not mtlzoo's or keras-hub's own output.
"""

import json
import os

import keras
import numpy as np
import pytest

import mtlzoo
from mtlzoo import ConfigError
from mtlzoo.config import resolve_config
from mtlzoo.encoders.bert import BertEncoder
from mtlzoo.encoders.checkpoints import check_local_checkpoint, checkpoint_format, checkpoint_vocab
from tests.encoders.tiny_bert import VOCAB, numpy_bert, write_transformers_bert

MINILM = os.path.join(os.environ.get("MTLZOO_DATA_DIR", ""), "bert", "all-MiniLM-L6-v2")
TWO_TASKS = {"rte": {"kind": "binary"}, "stsb": {"kind": "regression"}}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(weights, transformers dir, keras-hub preset dir of the same model)."""
    import keras_hub

    root = tmp_path_factory.mktemp("ckpt")
    hf = str(root / "hf")
    w = write_transformers_bert(hf)
    kh = str(root / "kh")
    keras_hub.models.BertBackbone.from_preset(hf).save_to_preset(kh)
    keras_hub.tokenizers.BertTokenizer.from_preset(hf).save_to_preset(kh)
    return w, hf, kh


def _inputs():
    rng = np.random.default_rng(3)
    ids = rng.integers(5, len(VOCAB), size=(3, 9)).astype(np.int32)
    ids[:, 0] = 2  # [CLS]
    seg = np.zeros_like(ids)
    seg[:, 5:] = 1
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    seg[mask == 0] = 0
    return {"token_ids": ids, "segment_ids": seg, "padding_mask": mask}


def _encoder_model(preset, pooling):
    opts = BertEncoder.resolve({"preset": preset, "pooling": pooling}, "model.encoder")
    enc = BertEncoder(opts)
    inputs = enc.inputs()
    return keras.Model(inputs, enc.encode(enc.embed(inputs), inputs)["pooled"])


@pytest.mark.parametrize("layout", ["transformers", "keras_hub"])
def test_both_layouts_load_the_written_weights(checkpoints, layout):
    w, hf, kh = checkpoints
    preset = hf if layout == "transformers" else kh
    assert checkpoint_format(preset) == layout
    x = _inputs()
    seq, pooled = numpy_bert(w, x["token_ids"], x["segment_ids"], x["padding_mask"])
    got = _encoder_model(preset, "cls").predict(x, verbose=0)
    np.testing.assert_allclose(got, pooled, atol=2e-5)
    m = x["padding_mask"][..., None].astype(np.float64)
    mean = (seq * m).sum(1) / m.sum(1)  # mean over real tokens
    np.testing.assert_allclose(_encoder_model(preset, "mean").predict(x, verbose=0), mean, atol=2e-5)


def test_vocabulary_and_lowercase_come_from_the_checkpoint(checkpoints, tmp_path):
    _, hf, kh = checkpoints
    assert checkpoint_vocab(hf) == (os.path.join(hf, "vocab.txt"), True)
    vocab, lower = checkpoint_vocab(kh)
    assert vocab == os.path.join(kh, "assets", "tokenizer", "vocabulary.txt") and lower is True
    with open(vocab) as f:
        assert [line.rstrip("\n") for line in f] == VOCAB
    cased = str(tmp_path / "cased")
    write_transformers_bert(cased, lowercase=False)
    assert checkpoint_vocab(cased) == (os.path.join(cased, "vocab.txt"), False)


def test_a_config_with_the_directory_builds_and_trains_a_two_task_model(checkpoints):
    _, hf, _ = checkpoints
    cfg = {
        "tasks": TWO_TASKS,
        "data": {"source": "synthetic"},
        "model": {"encoder": {"name": "bert", "preset": hf}, "tower": {"units": []}},
    }
    model = mtlzoo.build_model(resolve_config(cfg))
    out = model.predict(_inputs(), verbose=0)
    assert out["rte"].shape == (3, 1) and out["stsb"].shape == (3, 1)


@pytest.mark.parametrize(
    "name", ["bert_base_en_uncased", "hf://sentence-transformers/all-MiniLM-L6-v2", "kaggle://keras/bert/keras/x/2"]
)
def test_a_preset_name_fails_at_validation_saying_it_needs_the_network(name):
    cfg = {"tasks": TWO_TASKS, "data": {"source": "synthetic"}, "model": {"encoder": {"name": "bert", "preset": name}}}
    with pytest.raises(ConfigError, match=r"model.encoder.preset: .* needs the network .*set preset to that directory"):
        resolve_config(cfg)


def test_a_directory_without_weights_or_vocabulary_is_one_line(tmp_path):
    no_weights = str(tmp_path / "no_weights")
    write_transformers_bert(no_weights, weights=False)
    with pytest.raises(ConfigError, match=f"{no_weights} has no weights file \\(model.safetensors or "):
        check_local_checkpoint(no_weights)
    no_vocab = str(tmp_path / "no_vocab")
    write_transformers_bert(no_vocab, vocab=False)
    assert check_local_checkpoint(no_vocab) == "transformers"  # the encoder needs weights only
    with pytest.raises(
        ConfigError, match=f"data.checkpoint: checkpoint directory {no_vocab} has no vocabulary file vocab.txt"
    ):
        checkpoint_vocab(no_vocab)
    empty = str(tmp_path / "empty")
    os.makedirs(empty)
    with pytest.raises(ConfigError, match=f"{empty} has no config.json"):
        check_local_checkpoint(empty)
    with pytest.raises(ConfigError, match="checkpoint directory /nonexistent/bert does not exist"):
        check_local_checkpoint("/nonexistent/bert")


# ----------------------------------------------------------------------------- the real MiniLM checkpoint


def _need_minilm():
    if not os.path.isfile(os.path.join(MINILM, "model.safetensors")):
        pytest.skip("MiniLM checkpoint not found: set MTLZOO_DATA_DIR to a directory holding bert/all-MiniLM-L6-v2")


def test_minilm_builds_a_two_task_model_whose_embeddings_know_paraphrases():
    _need_minilm()
    from mtlzoo.data.glue_files import encode_texts, wordpiece_tokenizer

    cfg = {
        "tasks": TWO_TASKS,
        "data": {"source": "synthetic"},
        "model": {"encoder": {"name": "bert", "preset": MINILM, "pooling": "mean"}, "tower": {"units": []}},
    }
    model = mtlzoo.build_model(resolve_config(cfg))
    assert set(model.output) == {"rte", "stsb"}
    vocab, lower = checkpoint_vocab(MINILM)
    assert lower is True and os.path.basename(vocab) == "vocab.txt"
    sentences = [
        "A man is playing a guitar.",
        "A man plays the guitar.",
        "The stock market fell sharply on Monday.",
    ]
    feats, _ = encode_texts(wordpiece_tokenizer(vocab, lower), sentences, None, 32)
    pooled = keras.Model(model.input, model.get_layer("bert_mean_pool").output).predict(feats, verbose=0)
    e = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    paraphrase, unrelated = float(e[0] @ e[1]), float(e[0] @ e[2])
    assert paraphrase > unrelated + 0.2, (paraphrase, unrelated)


@pytest.mark.parametrize("layout", ["transformers", "keras_hub"])
def test_self_contained_options_build_the_same_model_without_the_directory(checkpoints, layout, tmp_path):
    # what a zoo entry keeps: the architecture instead of the directory (mtlzoo.zoo.publish)
    import shutil

    w, hf, kh = checkpoints
    src = hf if layout == "transformers" else kh
    preset = str(tmp_path / "ckpt")
    shutil.copytree(src, preset)
    opts = BertEncoder.resolve({"preset": preset, "pooling": "cls"}, "model.encoder")
    portable = BertEncoder.self_contained(opts)
    with open(os.path.join(hf, "config.json")) as f:
        hf_config = json.load(f)  # the reference: the transformers config the test wrote
    assert portable["preset"] is None and portable["pooling"] == "cls"
    assert (portable["vocab_size"], portable["num_layers"], portable["num_heads"]) == (
        hf_config["vocab_size"],
        hf_config["num_hidden_layers"],
        hf_config["num_attention_heads"],
    )
    assert (portable["hidden_dim"], portable["intermediate_dim"], portable["max_sequence_length"]) == (
        hf_config["hidden_size"],
        hf_config["intermediate_size"],
        hf_config["max_position_embeddings"],
    )
    with_dir = _encoder_model(preset, "cls")
    shutil.rmtree(preset)
    enc = BertEncoder(BertEncoder.resolve(portable, "model.encoder"))
    inputs = enc.inputs()
    fresh = keras.Model(inputs, enc.encode(enc.embed(inputs), inputs)["pooled"])
    assert [(v.path, tuple(v.shape)) for v in fresh.weights] == [(v.path, tuple(v.shape)) for v in with_dir.weights]
    fresh.set_weights(with_dir.get_weights())
    x = _inputs()
    np.testing.assert_allclose(fresh.predict(x, verbose=0), numpy_bert(w, **x)[1], atol=2e-5)
