import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.config import resolve_config
from mtlzoo.data import load_data
from mtlzoo.tasks import tasks_from_config

DIGIT_TASKS = {"digit": {"kind": "multiclass", "num_classes": 10}, "parity": {"kind": "binary"}}


def _load(data_cfg, tasks=DIGIT_TASKS, seed=0):
    cfg = resolve_config(
        {"seed": seed, "tasks": tasks, "data": data_cfg, "model": {"encoder": {"name": "mlp", "input_dim": 64}}}
    )
    specs = tasks_from_config(cfg.tasks)
    return load_data(cfg, specs), specs


def test_digits_splits_labels_and_determinism():
    data, _ = _load({"source": "digits"})
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sum(sizes.values()) == 1797
    assert sizes["validation"] == round(0.15 * 1797) and sizes["test"] == round(0.15 * 1797)
    tr = data.splits["train"]
    digit = tr.labels["digit"]
    np.testing.assert_array_equal(tr.labels["parity"][:, 0], digit % 2)
    assert set(np.unique(digit)) == set(range(10))
    assert tr.features["image"].shape[1:] == (8, 8, 1)
    np.testing.assert_array_equal(tr.features["image"].reshape(len(tr), 64), tr.features["features"])
    again, _ = _load({"source": "digits"})
    np.testing.assert_array_equal(again.splits["train"].labels["digit"], digit)
    other, _ = _load({"source": "digits"}, seed=1)
    assert not np.array_equal(other.splits["train"].labels["digit"], digit)


def test_label_fraction_drops_labels_only_in_train():
    data, _ = _load({"source": "digits", "label_fraction": 0.5})
    frac = data.splits["train"].weights["digit"].mean()
    assert 0.4 < frac < 0.6
    assert data.splits["validation"].weights["digit"].min() == 1.0


def test_dataset_batches_have_the_shared_shape():
    data, _ = _load({"source": "digits"})
    feats, labels, weights = next(iter(data.dataset("train", 5, ["features"])))
    assert set(feats) == {"features"} and feats["features"].shape == (5, 64)
    assert labels["digit"].shape == (5,) and labels["parity"].shape == (5, 1)
    assert weights["digit"].shape == (5,)


def test_unknown_source_task_and_kind_mismatch():
    with pytest.raises(ConfigError, match="tasks.colour: data source 'digits' has no task 'colour'"):
        _load({"source": "digits"}, tasks={"colour": {"kind": "binary"}})
    with pytest.raises(ConfigError, match="tasks.parity.kind"):
        _load({"source": "digits"}, tasks={"parity": {"kind": "regression"}})
    with pytest.raises(ConfigError, match="data.label_fraction: must be in"):
        _load({"source": "digits", "label_fraction": 0.0})


def test_synthetic_task_data_does_not_depend_on_the_other_tasks():
    both, _ = _load(
        {"source": "synthetic", "input_dim": 5, "examples_per_task": 40},
        tasks={"a": {"kind": "binary"}, "b": {"kind": "regression"}},
    )
    alone, _ = _load({"source": "synthetic", "input_dim": 5, "examples_per_task": 40}, tasks={"a": {"kind": "binary"}})
    for split in ("train", "validation", "test"):
        s_both, s_alone = both.splits[split], alone.splits[split]
        mine = s_both.weights["a"] > 0
        np.testing.assert_array_equal(
            np.sort(s_both.features["features"][mine], axis=0), np.sort(s_alone.features["features"], axis=0)
        )


def test_synthetic_groups_set_relatedness():
    """Regression tasks of one group have correlated targets on the same inputs; other groups do not."""
    tasks = {"a": {"kind": "regression"}, "b": {"kind": "regression"}, "c": {"kind": "regression"}}
    data, _ = _load(
        {
            "source": "synthetic",
            "input_dim": 30,
            "examples_per_task": 400,
            "relatedness": 0.9,
            "noise": 0.0,
            "groups": {"c": 1},
        },
        tasks=tasks,
    )
    tr = data.splits["train"]
    # recover each task's linear map by least squares on its own examples
    thetas = {}
    for t in "abc":
        m = tr.weights[t] > 0
        thetas[t] = np.linalg.lstsq(tr.features["features"][m], tr.labels[t][m][:, 0], rcond=None)[0]
    cos = lambda u, v: u @ v / np.linalg.norm(u) / np.linalg.norm(v)  # noqa: E731
    assert cos(thetas["a"], thetas["b"]) > 0.7
    assert abs(cos(thetas["a"], thetas["c"])) < 0.4
    with pytest.raises(ConfigError, match="data.groups.a: a group id must be an integer >= 0"):
        _load({"source": "synthetic", "groups": {"a": -1}}, tasks=tasks)
