"""The ``census`` source against an independent reading of the file (Python's gzip + csv).

Expected counts: the data README (99,762 rows, 6,186 with income > 50K, 43,143 never
married), recomputed here with the csv module. Skipped where ``$MTLZOO_DATA_DIR/census``
is absent (CI sets it).
"""

import csv
import functools
import gzip
import os

import numpy as np
import pytest

from mtlzoo.config import resolve_config
from mtlzoo.data import SOURCES, load_data
from mtlzoo.errors import ConfigError
from mtlzoo.tasks import tasks_from_config

DATA_DIR = os.environ.get("MTLZOO_DATA_DIR", "")
TASKS = {"income": {"kind": "binary"}, "marital": {"kind": "binary"}}


def _path():
    path = os.path.join(DATA_DIR, "census", "census-income.test.gz")
    if not DATA_DIR or not os.path.isfile(path):
        pytest.skip("census data not found: set MTLZOO_DATA_DIR to a directory holding census/ (CI does)")
    return path


@functools.lru_cache(maxsize=1)
def _rows():
    """The file's rows as lists of str (read once per module; the tests only read them)."""
    with gzip.open(_path(), "rt", encoding="latin-1", newline="") as f:
        return [r for r in csv.reader(f, skipinitialspace=True) if r]


def _load(seed=0, **data):
    _path()  # skips without the data
    cfg = {
        "seed": seed,
        "tasks": TASKS,
        "data": {"source": "census", **data},
        "model": {"encoder": {"name": "mlp", "input_dim": 502}},
    }
    cfg = resolve_config(cfg)
    return load_data(cfg, tasks_from_config(cfg.tasks))


def test_counts_against_csv_reading():
    rows = _rows()
    assert len(rows) == 99762
    assert {len(r) for r in rows} == {42}
    income = sum(r[41] == "50000+." for r in rows)
    never = sum(r[7] == "Never married" for r in rows)
    assert (income, never) == (6186, 43143)  # the data README's counts
    data = _load()
    assert data.info["positives"] == {"income": income, "marital": never}
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sizes["validation"] == sizes["test"] == round(99762 / 6)
    assert sum(sizes.values()) == 99762
    for task, total in (("income", income), ("marital", never)):
        assert sum(int(s.labels[task].sum()) for s in data.splits.values()) == total


def test_features_match_the_file_and_carry_no_label():
    rows = _rows()
    data = _load()
    names = data.info["feature_names"]
    assert len(names) == data.info["input_dim"] == data.splits["train"].features["features"].shape[1]
    # neither label nor the survey weight is a feature (by name)
    assert not any(n.startswith(("marital stat", "income", "instance weight")) for n in names)
    # one-hot part: every nominal column of the file except marital stat gives one block
    nominal = {n.split("=")[0] for n in names if "=" in n}
    assert len(nominal) == 32 and len(names) - sum("=" in n for n in names) == 7
    n_cats = sum(len({r[i] for r in rows}) for i in range(41) if i not in (0, 5, 7, 16, 17, 18, 24, 30, 39))
    assert sum("=" in n for n in names) == n_cats
    x = np.concatenate([s.features["features"] for s in data.splits.values()])
    np.testing.assert_array_equal(x[:, 7:].sum(1), 32.0)  # exactly one category per nominal column
    # continuous columns: standardised on train; the multiset of raw ages matches the file
    tr = data.splits["train"].features["features"][:, :7].astype(np.float64)
    np.testing.assert_allclose(tr.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(tr.std(0), 1, atol=1e-3)
    # undo the standardisation of age without the split: the smallest age is 0, levels are whole years
    levels = np.unique(x[:, 0])
    raw_age = np.round((x[:, 0] - levels[0]) / (levels[1] - levels[0])).astype(int)
    file_age = np.array([int(r[0]) for r in rows])
    assert file_age.min() == 0 and sorted(set(file_age))[1] == 1
    np.testing.assert_array_equal(np.sort(raw_age), np.sort(file_age))
    # each label stays with its own row: positives per age equal the file's
    for task, col, pos in (("income", 41, "50000+."), ("marital", 7, "Never married")):
        y = np.concatenate([s.labels[task][:, 0] for s in data.splits.values()])
        mine = np.bincount(raw_age, weights=y, minlength=100)
        ref = np.bincount(file_age, weights=np.array([r[col] == pos for r in rows], float), minlength=100)
        np.testing.assert_array_equal(mine, ref)
        # no single feature column reproduces the label (leakage check on the whole file)
        for j in range(x.shape[1]):
            assert not np.array_equal(x[:, j] > x[:, j].mean(), y > 0.5), (task, names[j])


def test_seeded_split():
    a, b, c = _load(0), _load(0), _load(1)
    np.testing.assert_array_equal(a.splits["test"].features["features"], b.splits["test"].features["features"])
    assert not np.array_equal(a.splits["test"].labels["income"], c.splits["test"].labels["income"])
    assert a.info["input_dim"] == c.info["input_dim"]  # categories are the file's, not the split's


def test_bad_config():
    _path()
    assert SOURCES.get("census").name == "census"
    with pytest.raises(ConfigError, match="tasks.age"):
        resolve_config(
            {
                "tasks": {"age": {"kind": "binary"}},
                "data": {"source": "census"},
                "model": {"encoder": {"name": "mlp", "input_dim": 502}},
            }
        )
    with pytest.raises(ConfigError, match="data.data_dir"):
        _load(data_dir="/nonexistent/census")


def test_max_rows_keeps_a_seeded_subset_of_the_files_rows():
    rows = _rows()
    full, sub, again, other = _load(0), _load(0, max_rows=3000), _load(0, max_rows=3000), _load(1, max_rows=3000)
    assert sum(len(s) for s in sub.splits.values()) == sub.info["rows"] == 3000
    assert sub.info["input_dim"] == full.info["input_dim"]  # the file's categories, not the subset's
    np.testing.assert_array_equal(sub.splits["test"].labels["income"], again.splits["test"].labels["income"])
    assert not np.array_equal(sub.splits["train"].features["features"], other.splits["train"].features["features"])
    # the one-hot part of each kept row is one of the file's rows: every row's nominal codes occur
    # in the full data (a set of full one-hot rows, compared as bytes)
    full_x = np.concatenate([s.features["features"][:, 7:] for s in full.splits.values()])
    seen = {r.tobytes() for r in full_x}
    sub_x = np.concatenate([s.features["features"][:, 7:] for s in sub.splits.values()])
    assert all(r.tobytes() in seen for r in sub_x)
    # label rates of a 3,000-row uniform subset: within 4 binomial standard deviations of the file's
    for task, col, pos in (("income", 41, "50000+."), ("marital", 7, "Never married")):
        p = np.mean([r[col] == pos for r in rows])
        k = sum(int(s.labels[task].sum()) for s in sub.splits.values())
        assert abs(k - 3000 * p) < 4 * np.sqrt(3000 * p * (1 - p)), task


@pytest.mark.parametrize("mode", ["flip", "random"])
def test_corrupt_labels_touch_only_that_tasks_training_labels(mode):
    clean = _load(2, max_rows=3000)
    noisy = _load(2, max_rows=3000, corrupt_labels={"marital": 0.2}, corrupt_mode=mode)
    m = len(clean.splits["train"])
    count = round(0.2 * m)
    assert noisy.info["corrupted"] == {"marital": count}
    a, b = clean.splits["train"].labels["marital"][:, 0], noisy.splits["train"].labels["marital"][:, 0]
    changed = int((a != b).sum())
    if mode == "flip":
        assert changed == count
    else:  # fair-coin labels on the chosen rows: about half change
        assert abs(changed - count / 2) < 4 * np.sqrt(count / 4)
    np.testing.assert_array_equal(clean.splits["train"].labels["income"], noisy.splits["train"].labels["income"])
    for split in ("validation", "test"):
        for task in TASKS:
            np.testing.assert_array_equal(clean.splits[split].labels[task], noisy.splits[split].labels[task])
    with pytest.raises(ConfigError, match="data.corrupt_labels.age"):
        _load(corrupt_labels={"age": 0.2})
