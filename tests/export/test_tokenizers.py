"""In-graph tokenizers against pure-Python references, and their errors."""

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from tests.export.common import TEXT_TASKS, build, vocab_reference, wordpiece_reference, write_vocab

TEXTS = ["The cat sat on the MAT", "a  dog\tran", "zebra cat", "", "good film was very very very not bad film"]


def _tokenize(tok, texts):
    import tensorflow as tf

    tok.build()
    return {k: v.numpy() for k, v in tok(tf.constant(texts)).items()}


def test_vocab_tokenizer_equals_python_lookup(tmp_path):
    from mtlzoo.export import make_tokenizer
    from mtlzoo.export.signatures import model_input_specs

    vocab = write_vocab(tmp_path / "vocab.txt")
    model = build("text_cnn", TEXT_TASKS)
    tok = make_tokenizer({"name": "vocab", "vocab_file": str(tmp_path / "vocab.txt"), "max_length": 6})
    tok.check_model(model_input_specs(model), model)
    got = _tokenize(tok, TEXTS)["tokens"]
    np.testing.assert_array_equal(got, vocab_reference(TEXTS, vocab, max_len=6))
    assert got.dtype == np.int32


def test_vocab_tokenizer_pads_to_a_fixed_model_length(tmp_path):
    from mtlzoo.export import make_tokenizer
    from mtlzoo.export.signatures import model_input_specs
    from tests.helpers import SMALL_ENCODERS

    vocab = write_vocab(tmp_path / "vocab.txt")
    import mtlzoo

    enc = {**SMALL_ENCODERS["lstm"], "max_length": 4}
    model = mtlzoo.build_model({"tasks": TEXT_TASKS, "model": {"encoder": enc, "tower": {"units": [4]}}})
    tok = make_tokenizer({"vocab_file": str(tmp_path / "vocab.txt"), "lowercase": False})
    tok.check_model(model_input_specs(model), model)
    got = _tokenize(tok, TEXTS)["tokens"]
    np.testing.assert_array_equal(got, vocab_reference(TEXTS, vocab, lowercase=False, fixed=4))


def test_wordpiece_tokenizer_equals_python_wordpiece(tmp_path):
    from mtlzoo.export import make_tokenizer
    from mtlzoo.export.signatures import model_input_specs

    words = ["the", "cat", "##s", "sat", "on", "mat", "run", "##ning", "un", "##want", "##ed", ",", "."]
    vocab = write_vocab(tmp_path / "wp.txt", words, specials=("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
    model = build("bert", TEXT_TASKS)
    tok = make_tokenizer({"name": "wordpiece", "vocab_file": str(tmp_path / "wp.txt"), "max_length": 8})
    tok.check_model(model_input_specs(model), model)
    texts = ["The cats sat, on the mat.", "unwanted running", "xyz cats", "the the the the the the the the"]
    got = _tokenize(tok, texts)
    want = wordpiece_reference(texts, vocab, max_len=8)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


@pytest.mark.parametrize(
    "lines,cfg,words",
    [
        (["<pad>", "<unk>", "cat", "cat"], {}, "line 4: token 'cat' repeats line 3"),
        (["<pad>", "cat", "dog"], {}, "no out-of-vocabulary token"),
        (["<pad>", "<unk>", "cat"], {"oov_token": "[OOV]"}, "'[OOV]' is not in"),
        (["<pad>", "<unk>", "cat"], {"name": "sentencepiece"}, "unknown tokenizer 'sentencepiece'"),
    ],
)
def test_bad_vocabularies_are_named(tmp_path, lines, cfg, words):
    from mtlzoo.export import make_tokenizer

    (tmp_path / "v.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        make_tokenizer({"vocab_file": str(tmp_path / "v.txt"), **cfg})


def test_tokenizer_must_fit_the_model(tmp_path):
    from mtlzoo.export import ServingModule, make_tokenizer

    write_vocab(tmp_path / "vocab.txt")
    tok = make_tokenizer({"vocab_file": str(tmp_path / "vocab.txt")})
    with pytest.raises(ConfigError, match="produces tokens, but the model takes features"):
        ServingModule(build("mlp", TEXT_TASKS), tokenizer=tok)
    write_vocab(tmp_path / "big.txt", [f"w{i}" for i in range(60)])  # 62 > the model's 50 embedding rows
    big = make_tokenizer({"vocab_file": str(tmp_path / "big.txt")})
    with pytest.raises(ConfigError, match="62 tokens but the model's embedding has 50 rows"):
        ServingModule(build("text_cnn", TEXT_TASKS), tokenizer=big)
    with pytest.raises(ConfigError, match="does not exist"):
        make_tokenizer({"vocab_file": str(tmp_path / "missing.txt")})
