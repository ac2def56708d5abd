"""Yeast label corruption (``data.corrupt_labels``) and the numpy reader, against river and numpy counts."""

import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.data.real import YeastSource, read_yeast
from mtlzoo.schema import check_fields
from mtlzoo.tasks import tasks_from_config

TASKS = {f"label_{i}": {"kind": "binary"} for i in (0, 3, 7, 13)}


def _yeast(tasks=TASKS, seed=0, **opts):
    specs = tasks_from_config(tasks)
    opts = check_fields(opts, YeastSource.schema, "data")
    YeastSource.check(opts, specs)
    return YeastSource.load(opts, specs, seed)


def test_read_yeast_matches_rivers_own_reader():
    from river.datasets import Yeast

    xs, ys = [], []
    for x, y in Yeast():
        xs.append(list(x.values()))
        ys.append([float(y[k]) for k in y])
    x, y, names = read_yeast()
    np.testing.assert_array_equal(x, np.array(xs))
    np.testing.assert_array_equal(y, np.array(ys, np.float32))
    assert names == [f"Class{i}" for i in range(1, 15)]
    x[0, 0] = 1e9  # callers get copies: the cached table is untouched
    assert read_yeast()[0][0, 0] != 1e9


def test_corruption_flips_exactly_that_fraction_of_training_labels_only():
    clean = _yeast()
    noisy = _yeast(corrupt_labels={"label_3": 0.2, "label_13": 0.5})
    n_train = len(clean.splits["train"])
    expected = {"label_3": round(0.2 * n_train), "label_13": round(0.5 * n_train)}
    for name in TASKS:
        flipped = int(np.sum(clean.splits["train"].labels[name] != noisy.splits["train"].labels[name]))
        assert flipped == expected.get(name, 0), name
        # a flip turns 0 into 1 and 1 into 0: the positives change by (#0->1) - (#1->0)
        a, b = clean.splits["train"].labels[name], noisy.splits["train"].labels[name]
        assert set(np.unique(b)) <= {0.0, 1.0}
        assert b.sum() - a.sum() == np.sum((a == 0) & (b == 1)) - np.sum((a == 1) & (b == 0))
        for split in ("validation", "test"):
            np.testing.assert_array_equal(clean.splits[split].labels[name], noisy.splits[split].labels[name])
    np.testing.assert_array_equal(
        clean.splits["train"].features["features"], noisy.splits["train"].features["features"]
    )
    assert noisy.info["corrupted"] == expected and clean.info["corrupted"] == {}


def test_corruption_is_seeded_and_independent_of_the_other_tasks():
    def flips(data_noisy, data_clean, name="label_3"):
        return np.flatnonzero(data_noisy.splits["train"].labels[name] != data_clean.splits["train"].labels[name])

    base = flips(_yeast(corrupt_labels={"label_3": 0.2}), _yeast())
    again = flips(_yeast(corrupt_labels={"label_3": 0.2}), _yeast())
    np.testing.assert_array_equal(base, again)
    pair = {"label_3": {"kind": "binary"}, "label_7": {"kind": "binary"}}
    np.testing.assert_array_equal(base, flips(_yeast(pair, corrupt_labels={"label_3": 0.2}), _yeast(pair)))
    other = flips(_yeast(seed=1, corrupt_labels={"label_3": 0.2}), _yeast(seed=1))
    assert len(other) == len(base) and not np.array_equal(other, base)


def test_corruption_with_label_fraction_flips_only_labelled_examples():
    clean = _yeast(label_fraction=0.5)
    noisy = _yeast(label_fraction=0.5, corrupt_labels={"label_0": 0.3})
    w = clean.splits["train"].weights["label_0"]
    np.testing.assert_array_equal(w, noisy.splits["train"].weights["label_0"])
    diff = clean.splits["train"].labels["label_0"][:, 0] != noisy.splits["train"].labels["label_0"][:, 0]
    assert diff.sum() == round(0.3 * np.sum(w > 0)) and not np.any(diff & (w == 0))


def test_corruption_of_a_multilabel_column():
    tasks = {"all": {"kind": "multilabel", "num_classes": 14}}
    clean = _yeast(tasks, labels_as="multilabel")
    noisy = _yeast(tasks, labels_as="multilabel", corrupt_labels={"label_7": 0.1})
    diff = clean.splits["train"].labels["all"] != noisy.splits["train"].labels["all"]
    assert diff.sum(0).tolist() == [0] * 7 + [round(0.1 * len(diff))] + [0] * 6
    # the same rows as when label_7 is its own binary task
    single = {"label_7": {"kind": "binary"}}
    one = _yeast(single, corrupt_labels={"label_7": 0.1}).splits["train"].labels["label_7"][:, 0]
    np.testing.assert_array_equal(one, noisy.splits["train"].labels["all"][:, 7])


@pytest.mark.parametrize(
    "bad, field",
    [({"label_5": 0.2}, "data.corrupt_labels.label_5"), ({"label_3": 1.5}, "data.corrupt_labels.label_3")],
)
def test_bad_corruption_names_the_field(bad, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        _yeast(corrupt_labels=bad)


def test_random_mode_gives_fair_coin_labels_on_the_flip_modes_rows():
    """corrupt_mode=random (the paper's "random labels to 20% of the data"): the same chosen rows as
    flip, each given a fair-coin label, so about half of them change; other rows, splits untouched."""
    clean = _yeast(seed=3)
    flip = _yeast(seed=3, corrupt_labels={"label_3": 0.4, "label_13": 0.4})
    rand = _yeast(seed=3, corrupt_labels={"label_3": 0.4, "label_13": 0.4}, corrupt_mode="random")
    n_train = len(clean.splits["train"])
    count = round(0.4 * n_train)
    assert rand.info["corrupted"] == {"label_3": count, "label_13": count}
    for name in ("label_3", "label_13"):
        a = clean.splits["train"].labels[name][:, 0]
        chosen = a != flip.splits["train"].labels[name][:, 0]  # flip changes exactly the chosen rows
        assert chosen.sum() == count
        b = rand.splits["train"].labels[name][:, 0]
        assert set(np.unique(b)) <= {0.0, 1.0}
        np.testing.assert_array_equal(a[~chosen], b[~chosen])  # nothing else moves
        # the new labels are fair coins whatever the clean rate (label_13: 1.4% positives):
        # 4 binomial standard deviations around count / 2
        assert abs(b[chosen].sum() - count / 2) < 4 * np.sqrt(count / 4), name
        changed = int((a != b).sum())
        assert abs(changed - count / 2) < 4 * np.sqrt(count / 4), name
        for split in ("validation", "test"):
            np.testing.assert_array_equal(clean.splits[split].labels[name], rand.splits[split].labels[name])
    for name in ("label_0", "label_7"):
        np.testing.assert_array_equal(clean.splits["train"].labels[name], rand.splits["train"].labels[name])


def test_corrupt_mode_must_be_known():
    with pytest.raises(ConfigError, match="data.corrupt_mode"):
        _yeast(corrupt_labels={"label_3": 0.2}, corrupt_mode="shuffle")
