"""Bad config values are one ConfigError naming the field (issue 18.4/18.5), proven by a fuzzer."""

import copy
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtlzoo import ConfigError
from mtlzoo.config import load_config_file, resolve_config
from tests.helpers import REPO

BASE = load_config_file(os.path.join(REPO, "configs", "quickstart.py")).to_dict()


def _with(path, value):
    cfg = copy.deepcopy(BASE)
    *head, last = path.split(".")
    node = cfg
    for k in head:
        node = node[k]
    node[last] = value
    return cfg


@pytest.mark.parametrize(
    "path,value,field,words",
    [
        ("train.learning_rate", float("inf"), "train.learning_rate", "must be a finite number"),
        ("train.learning_rate", float("nan"), "train.learning_rate", "must be a finite number"),
        ("train.clipnorm", float("inf"), "train.clipnorm", "must be a finite number"),
        ("train.weight_decay", 1e30, "train.weight_decay", "must be in [0, 1)"),
        ("model.encoder.name", ["mlp"], "model.encoder.name", "must be a string naming a encoder"),
        ("data.source", {"a": 1}, "data.source", "must be a string naming a data source"),
        ("data.sampler", {"name": ["uniform"]}, "data.sampler.name", "must be a string naming a sampler"),
        ("train.weighting", {"name": {"x": 1}}, "train.weighting.name", "must be a string naming a weighting"),
        ("train.aggregator", {"name": ["sum"]}, "train.aggregator.name", "must be a string naming a aggregator"),
        ("model.architecture", ["mmoe"], "model.architecture", "must be a string"),
        ("tasks.digit.metrics", 5, "tasks.digit.metrics", "must be a list of metric names"),
        ("tasks", {"digit": 1.5}, "tasks.digit", "must be a mapping"),
        ("tasks", {1: {"kind": "binary"}}, "tasks", "task name 1 is not a string"),
        ("data.batch_size", 2**63 - 1, "data.batch_size", "must be an integer of at most"),
        ("data.batch_size", 2**21, "data.batch_size", "must be at most"),
        ("seed", 2**32, "config.seed", "must be an integer of at most 4294967295"),
        ("model.tower.activation", "relux", "model.tower.activation", "unknown activation 'relux'"),
        ("model.encoder.activation", "swishy", "model.encoder.activation", "unknown activation 'swishy'"),
        ("tasks", {"digit\n": {"kind": "multiclass", "num_classes": 10}}, "tasks.digit\n", "not a valid signature key"),
        ("model.encoder.units", [2**40], "model.encoder.units", "must be a list of integers"),
    ],
)
def test_bad_value_is_one_config_error(path, value, field, words):
    with pytest.raises(ConfigError) as e:
        resolve_config(_with(path, value))
    assert e.value.field == field, str(e.value)
    assert words in str(e.value)


# ---- the fuzzer: random overrides of random fields, in-process ------------------------------
def _paths(node, prefix=""):
    out = []
    for k, v in node.items():
        p = f"{prefix}{k}"
        out.append(p)
        if isinstance(v, dict):
            out.extend(_paths(v, p + "."))
    return out


PATHS = _paths(BASE) + [
    "data.mixing",
    "data.sampler.name",
    "data.sampler.alpha",
    "train.aggregator.name",
    "train.aggregator.c",
    "train.weighting.temperature",
    "model.experts.num_experts",
    "tasks.new_task",
    "tasks.digit.unknown",
]
NAMES = ["mlp", "sum", "pcgrad", "cagrad", "ew", "dwa", "svd", "uniform", "digits", "mmoe", "relu", "adam", "joint"]

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(NAMES + ["digit\n", "", "é", "名前", "a" * 70]),
)
values = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(NAMES)), inner, max_size=3),
    ),
    max_leaves=6,
)


def _set(cfg, path, value):
    *head, last = path.split(".")
    node = cfg
    for k in head:
        if not isinstance(node, dict):
            return
        node = node.setdefault(k, {})
    if isinstance(node, dict):
        node[last] = value


@settings(
    max_examples=int(os.environ.get("MTLZOO_FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3))
def test_fuzzed_overrides_resolve_or_raise_config_error(overrides):
    cfg = copy.deepcopy(BASE)
    for path, value in overrides:
        _set(cfg, path, value)
    try:
        resolve_config(cfg)
    except ConfigError:
        pass  # anything else (TypeError, OverflowError, ...) fails the test
