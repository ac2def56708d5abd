"""The studies' shared module: the NaN rule of the statistics (against numpy/scipy), run-folder
config records, result CSVs (csv module as the reference), table helpers."""

import csv
import json
import math

import numpy as np
import pytest
from scipy import stats

from mtlzoo.errors import ConfigError
from mtlzoo.studies import common


def test_mean_std_drops_none_and_non_finite_values_like_numpy_on_the_rest():
    values = [1.0, None, 3.0, float("nan"), 7.5, float("inf")]
    m, s = common.mean_std(values)
    kept = np.array([1.0, 3.0, 7.5])
    assert m == pytest.approx(np.mean(kept)) and s == pytest.approx(np.std(kept, ddof=1))
    assert common.mean_std([2.5]) == (2.5, 0.0)  # one value: no spread
    m, s = common.mean_std([])
    assert math.isnan(m) and math.isnan(s)
    m, s = common.mean_std([None, float("nan")])
    assert math.isnan(m) and math.isnan(s)


def test_mean_std_along_an_axis_applies_the_rule_per_column():
    a = np.array([[1.0, 4.0, np.nan], [3.0, np.nan, np.nan], [5.0, 8.0, 2.0]])
    m, s = common.mean_std(a, axis=0)
    np.testing.assert_allclose(m, [3.0, 6.0, 2.0])
    np.testing.assert_allclose(s, [np.std([1, 3, 5], ddof=1), np.std([4, 8], ddof=1), 0.0])
    m, s = common.mean_std(np.full((2, 2), np.nan), axis=1)
    assert np.isnan(m).all() and np.isnan(s).all()


def test_mean_se_and_paired_stats_against_scipy():
    x = [0.5, 1.5, -0.25, 2.0, None]
    kept = np.array([0.5, 1.5, -0.25, 2.0])
    m, se = common.mean_se(x)
    assert m == pytest.approx(kept.mean()) and se == pytest.approx(stats.sem(kept))
    assert common.mean_se([4.0]) == (4.0, 0.0)
    p = common.paired_stats(x + [float("nan")])
    assert p["n"] == 4 and p["mean_diff"] == pytest.approx(kept.mean())
    assert p["median_diff"] == pytest.approx(np.median(kept)) and p["se"] == pytest.approx(stats.sem(kept))
    assert p["t_test_p"] == pytest.approx(stats.ttest_1samp(kept, 0.0).pvalue)
    assert (p["improved"], p["worse"], p["ties"]) == (3, 1, 0)
    one = common.paired_stats([1.0])
    assert one["std"] == 0.0 and math.isnan(one["se"]) and math.isnan(one["t_test_p"])


def test_pm_and_markdown_table():
    assert common.pm(0.8123, 0.0101, scale=100) == "81.23 ± 1.01"
    assert common.pm(0.5, None, digits=1) == "0.5"
    assert common.pm(float("nan"), 0.1) == "–" and common.pm(None, None) == "–"
    assert common.markdown_table(["a", "b"], [[1, "x"]]) == ["| a | b |", "|---|---|", "| 1 | x |"]


def test_config_record_refuses_another_config_and_allows_added_fields(tmp_path):
    run = str(tmp_path / "run")
    common.check_config_record(run, {"seed": 0, "train": {"lr": 0.1}}, write=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == {"seed": 0, "train": {"lr": 0.1}}
    common.check_config_record(run, {"seed": 0, "train": {"lr": 0.1, "new_field": 3}})  # a field added since
    with pytest.raises(ConfigError, match="different config"):
        common.check_config_record(run, {"seed": 1, "train": {"lr": 0.1}})
    # by section: only the listed sections must agree, and the error names the section
    common.check_config_record(run, {"seed": 0, "train": {"lr": 0.1}, "grid": [1]}, sections=("seed", "train"))
    with pytest.raises(ConfigError, match="config field train"):
        common.check_config_record(run, {"seed": 0, "train": {"lr": 0.5}}, sections=("seed", "train"))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json"]  # no temporary file left


def test_result_csv_append_read_and_torn_line(tmp_path):
    path = str(tmp_path / "r.csv")
    cols = ["n", "score", "name"]
    assert common.read_csv_rows(path, cols) == []
    common.append_csv_row(path, {"n": 1, "score": 0.123456789, "name": "a"}, cols)
    common.append_csv_row(path, {"n": 2, "score": float("nan"), "name": "b,c"}, cols)
    with open(path, newline="") as f:
        ref = list(csv.DictReader(f))
    assert ref == [{"n": "1", "score": "0.123457", "name": "a"}, {"n": "2", "score": "nan", "name": "b,c"}]
    with open(path, "a") as f:
        f.write("3,0.5")  # a crash mid-write
    assert common.read_csv_rows(path, cols) == ref
    with open(path) as f:
        assert f.read().endswith('b,c"\n')  # the torn line was cut from the file
    with pytest.raises(ConfigError, match="other columns"):
        common.read_csv_rows(path, ["n", "score"])


def test_train_or_load_reads_a_finished_run_back(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"t": {"accuracy": 0.75}}))

    def never(cfg, workdir):
        raise AssertionError("a finished run must not be retrained")

    from mtlzoo.config import load_config_file
    from tests.helpers import REPO

    cfg = load_config_file(f"{REPO}/configs/quickstart.py")
    metrics, model, status = common.train_or_load(cfg, str(run), never)
    assert metrics == {"t": {"accuracy": 0.75}} and model is None and "skipped" in status
    cfg.seed = 1  # a folder that records another config is refused, not silently reused
    common.check_config_record(str(run), {"seed": 0}, write=True)
    with pytest.raises(ConfigError, match="different config"):
        common.train_or_load(cfg, str(run), never)
