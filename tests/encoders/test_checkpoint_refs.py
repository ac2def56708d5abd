"""Portable checkpoint references (mtlzoo.encoders.checkpoints.resolve_checkpoint):
``$MTLZOO_BERT_CHECKPOINT`` and ``$MTLZOO_DATA_DIR/<path>`` name a local checkpoint directory
on any machine; an unset variable is one error naming it. Pure Python, no TensorFlow."""

import os

import pytest

from mtlzoo.encoders.checkpoints import check_local_checkpoint, checkpoint_vocab, resolve_checkpoint
from mtlzoo.errors import ConfigError
from tests.encoders.tiny_bert import write_transformers_bert


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("refs")
    write_transformers_bert(str(base / "bert" / "tiny"), lowercase=False)
    return str(base)


def test_variables_resolve_to_the_directory(data_dir, monkeypatch):
    ckpt = os.path.join(data_dir, "bert", "tiny")
    monkeypatch.setenv("MTLZOO_DATA_DIR", data_dir)
    monkeypatch.setenv("MTLZOO_BERT_CHECKPOINT", ckpt)
    assert resolve_checkpoint("$MTLZOO_DATA_DIR/bert/tiny") == ckpt
    assert resolve_checkpoint("${MTLZOO_DATA_DIR}/bert/tiny") == ckpt
    assert resolve_checkpoint("$MTLZOO_BERT_CHECKPOINT") == ckpt
    assert resolve_checkpoint("${MTLZOO_BERT_CHECKPOINT}") == ckpt
    assert resolve_checkpoint("/abs/dir") == "/abs/dir" and resolve_checkpoint("rel/dir") == "rel/dir"
    for ref in ("$MTLZOO_DATA_DIR/bert/tiny", "$MTLZOO_BERT_CHECKPOINT"):
        assert check_local_checkpoint(ref) == "transformers"
        assert checkpoint_vocab(ref) == (os.path.join(ckpt, "vocab.txt"), False)  # its own cased setting


@pytest.mark.parametrize(
    ("ref", "unset", "field"),
    [
        ("$MTLZOO_BERT_CHECKPOINT", "MTLZOO_BERT_CHECKPOINT", "model.encoder.preset"),
        ("$MTLZOO_DATA_DIR/bert/tiny", "MTLZOO_DATA_DIR", "data.checkpoint"),
    ],
)
def test_an_unset_variable_is_one_error_naming_it(ref, unset, field, monkeypatch):
    monkeypatch.delenv(unset, raising=False)
    fn = check_local_checkpoint if field.startswith("model") else checkpoint_vocab
    with pytest.raises(ConfigError) as e:
        fn(ref, field)
    msg = str(e.value)
    assert msg.startswith(f"config field {field}: {ref!r} needs the environment variable {unset}, which is not set")
    assert "\n" not in msg


def test_another_variable_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("HOME", "/root")
    with pytest.raises(ConfigError, match=r"\$HOME is not a checkpoint variable"):
        resolve_checkpoint("$HOME/bert")


def test_a_missing_directory_names_the_reference_and_the_path(data_dir, monkeypatch):
    monkeypatch.setenv("MTLZOO_DATA_DIR", data_dir)
    with pytest.raises(ConfigError) as e:
        check_local_checkpoint("$MTLZOO_DATA_DIR/bert/gone")
    assert (
        f"checkpoint directory {os.path.join(data_dir, 'bert', 'gone')} ($MTLZOO_DATA_DIR/bert/gone) does not exist"
        in str(e.value)
    )
