"""glue_files' config check parses every row (a malformed row is refused at config validation,
before a tool writes anything), and the parse it caches follows changes to the file."""

import os

import pytest

from mtlzoo import ConfigError
from mtlzoo.config import resolve_config
from mtlzoo.data.glue_files import read_glue_tsv
from tests.data.test_glue_files import KINDS, write_glue
from tests.encoders.tiny_bert import write_transformers_bert


def _config(root, ckpt):
    return {
        "tasks": {"rte": KINDS["rte"]},
        "data": {"source": "glue_files", "data_dir": root, "checkpoint": ckpt},
        "model": {"encoder": {"name": "bert", "preset": ckpt}},
    }


def _insert(path, index, line):
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    lines.insert(index, line)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)


def test_a_malformed_row_is_refused_at_config_validation(tmp_path):
    ckpt = str(tmp_path / "bert")
    write_transformers_bert(ckpt)
    root = write_glue(str(tmp_path / "GLUE"), tasks=("rte",), train_copies=2)
    resolve_config(_config(root, ckpt))
    dev = os.path.join(root, "RTE", "dev.tsv")
    _insert(dev, 2, "5\tA cat .\tA dog .\tperhaps\n")  # line 3 of the dev file
    with pytest.raises(
        ConfigError, match=f"data.data_dir: {dev} line 3: label 'perhaps' is not one of entailment, not_entailment"
    ):
        resolve_config(_config(root, ckpt))


def test_the_cached_parse_follows_a_changed_file(tmp_path):
    root = write_glue(str(tmp_path / "GLUE"), tasks=("rte",), train_copies=1)
    path = os.path.join(root, "RTE", "train.tsv")
    a, b, y = read_glue_tsv(path, "rte")
    assert (a, b, y) == (["A dog ran .", "The cat sat ."], ["A dog is .", "It ran ."], [0, 1])
    _insert(path, 3, "9\tHe sat .\tShe sat .\tentailment\n")
    a, b, y = read_glue_tsv(path, "rte")
    assert (a[-1], b[-1], y) == ("He sat .", "She sat .", [0, 1, 0])
