import os
import subprocess
import sys

import pytest

from mtlzoo import ConfigError
from mtlzoo.config import load_config_file, resolve_config
from tests.helpers import REPO


def quickstart():
    return load_config_file(os.path.join(REPO, "configs", "quickstart.py"))


def test_quickstart_resolves_with_defaults():
    c = resolve_config(quickstart())
    assert c.model.encoder.activation == "relu"  # default filled in
    assert c.train.optimizer == "adam"
    assert list(c.tasks.keys()) == ["digit", "magnitude", "parity"]


def _set(cfg, path, value):
    *head, last = path.split(".")
    node = cfg
    for k in head:
        node = node[k]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    "path,value,field,words",
    [
        ("model.encoder.name", "mpl", "model.encoder.name", "unknown encoder 'mpl'"),
        ("tasks.digit.kind", "categorical", "tasks.digit.kind", "unknown task kind"),
        ("train.learning_rate", -0.1, "train.learning_rate", "must be > 0"),
        ("train.epochs", 0, "train.epochs", "must be > 0"),
        ("train.epochs", "ten", "train.epochs", "must be an integer"),
        ("model.encoder.dropout", 1.5, "model.encoder.dropout", "must be in [0, 1)"),
        ("model.encoder.units", [64, -1], "model.encoder.units", "every entry must be > 0"),
        ("data.batch_size", 0, "data.batch_size", "must be > 0"),
        ("model.encoder.input_dim", _DELETE, "model.encoder.input_dim", "missing required field"),
        ("data.source", _DELETE, "data.source", "missing required field"),
        ("data.source", "mnist", "data.source", "unknown data source 'mnist'"),
        ("model.encoder.depth", 3, "model.encoder.depth", "unknown field"),
        ("train.optimizer", "adagrad", "train.optimizer", "is not one of"),
        ("model.architecture", "mmoe_x", "model.architecture", "unknown architecture"),
        ("tasks.digit.num_classes", 9, "tasks.digit.kind", "source 'digits' gives 'digit'"),
    ],
)
def test_invalid_config_names_the_field(path, value, field, words):
    cfg = quickstart().to_dict()
    _set(cfg, path, value)
    with pytest.raises(ConfigError) as e:
        resolve_config(cfg)
    assert e.value.field == field, str(e.value)
    assert words in str(e.value)
    assert str(e.value).startswith(f"config field {field}:")


def test_missing_top_level_section():
    cfg = quickstart().to_dict()
    del cfg["model"]
    with pytest.raises(ConfigError, match="config field config.model: missing required field"):
        resolve_config(cfg)


def test_tagging_task_needs_a_sequence_encoder():
    cfg = {
        "tasks": {"pos": {"kind": "tagging", "num_classes": 5}},
        "model": {"encoder": {"name": "lstm", "vocab_size": 9}},
    }
    from mtlzoo.config import resolve_model_config

    with pytest.raises(ConfigError, match="tasks.pos.kind: a tagging task needs an encoder"):
        resolve_model_config(cfg)


def test_import_mtlzoo_is_light():
    code = (
        "import sys, mtlzoo; mtlzoo.TaskSpec('a', 'binary'); "
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_hub', 'sklearn', 'tensorflow_datasets', 'tensorflow_text') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
