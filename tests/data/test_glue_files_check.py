"""glue_files' config check parses each file's header and first rows (a malformed row there is
refused at config validation, before a tool writes anything); a malformed row deeper down is
refused by the load, file and line named; the parse the load caches follows changes to the file."""

import os

import pytest

from mtlzoo import ConfigError
from mtlzoo.config import resolve_config
from mtlzoo.data.glue_files import CHECK_ROWS, GlueFilesSource, read_glue_tsv
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


def test_a_malformed_row_deep_in_a_file_passes_the_check_and_fails_the_load_with_its_line(tmp_path):
    from mtlzoo.tasks import tasks_from_config

    ckpt = str(tmp_path / "bert")
    write_transformers_bert(ckpt)
    root = write_glue(str(tmp_path / "GLUE"), tasks=("rte",), train_copies=100)  # 200 rows
    train = os.path.join(root, "RTE", "train.tsv")
    deep = 3 * CHECK_ROWS  # 0-based index among the lines (the header is index 0)
    assert deep < 200
    _insert(train, deep, "7\tA dog ran .\tentailment\n")  # three fields, RTE has four
    config = resolve_config(_config(root, ckpt))  # the check reads only the first CHECK_ROWS rows
    tasks = tasks_from_config(config.tasks)
    with pytest.raises(ConfigError) as e:
        GlueFilesSource.load(dict(config.data), tasks, 0)
    assert str(e.value) == (
        f"config field data.data_dir: {train} line {deep + 1}: expected 4 tab-separated fields, got 3"
    )
