import pytest

from mtlzoo import ConfigError, TaskSpec
from mtlzoo.tasks import tasks_from_config


@pytest.mark.parametrize(
    "kind,n,units,activation,label_shape",
    [
        ("binary", None, 1, "sigmoid", (1,)),
        ("multiclass", 7, 7, "softmax", ()),
        ("multilabel", 14, 14, "sigmoid", (14,)),
        ("regression", None, 1, "linear", (1,)),
        ("regression", 3, 3, "linear", (3,)),
        ("tagging", 9, 9, "softmax", (None,)),
    ],
)
def test_kinds_define_output_and_label(kind, n, units, activation, label_shape):
    spec = TaskSpec("t", kind, n)
    assert spec.output_units == units
    assert spec.output_activation == activation
    assert spec.label_shape() == label_shape
    assert spec.is_sequence == (kind == "tagging")


def test_default_losses_per_kind():
    assert TaskSpec("a", "binary").loss == "binary_crossentropy"
    assert TaskSpec("a", "multiclass", 3).loss == "sparse_categorical_crossentropy"
    assert TaskSpec("a", "regression").loss == "mse"


@pytest.mark.parametrize(
    "kwargs,field,words",
    [
        ({"name": "a", "kind": "ranking"}, "t.kind", "unknown task kind 'ranking'"),
        ({"name": "a", "kind": "multiclass", "num_classes": 1}, "t.num_classes", ">= 2"),
        ({"name": "a", "kind": "multiclass"}, "t.num_classes", ">= 2"),
        ({"name": "a", "kind": "tagging", "num_classes": 0}, "t.num_classes", ">= 2"),
        ({"name": "a", "kind": "binary", "num_classes": 3}, "t.num_classes", "2 classes"),
        ({"name": "a", "kind": "multiclass", "num_classes": 2.5}, "t.num_classes", "integer"),
        ({"name": "my task", "kind": "binary"}, "t", "not a valid signature key"),
        ({"name": "1st", "kind": "binary"}, "t", "not a valid signature key"),
        ({"name": "task_id", "kind": "binary"}, "t", "reserved"),
        ({"name": "a__b", "kind": "binary"}, "t", "contains '__'"),
        ({"name": "a", "kind": "binary", "loss": "mse"}, "t.loss", "does not fit a binary task"),
        ({"name": "a", "kind": "regression", "metrics": ("auc",)}, "t.metrics", "does not fit"),
    ],
)
def test_invalid_specs_name_the_field(kwargs, field, words):
    with pytest.raises(ConfigError) as e:
        TaskSpec(field="t", **kwargs)
    assert e.value.field == field
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_duplicate_task_names():
    with pytest.raises(ConfigError, match="duplicate task name 'a'"):
        tasks_from_config([{"name": "a", "kind": "binary"}, {"name": "a", "kind": "regression"}])


def test_mapping_is_ordered_by_name_and_list_keeps_order():
    specs = tasks_from_config({"b": {"kind": "binary"}, "a": {"kind": "binary"}})
    assert [s.name for s in specs] == ["a", "b"]
    specs = tasks_from_config([{"name": "b", "kind": "binary"}, {"name": "a", "kind": "binary"}])
    assert [s.name for s in specs] == ["b", "a"]


def test_missing_kind_and_unknown_field():
    with pytest.raises(ConfigError) as e:
        tasks_from_config({"a": {"num_classes": 3}})
    assert e.value.field == "tasks.a.kind" and "missing required field" in str(e.value)
    with pytest.raises(ConfigError) as e:
        tasks_from_config({"a": {"kind": "binary", "clases": 3}})
    assert e.value.field == "tasks.a.clases"


def test_no_tasks():
    with pytest.raises(ConfigError, match="at least one task"):
        tasks_from_config({})
