"""The Fig. 3 study: its sign-pattern check, a small run, its outputs and its tool."""

import os

import pytest

from mtlzoo.studies import fig3 as fig3_study
from tests.helpers import run_tool


def _summary(deltas):
    """A summary from {(source, n): (mtl, aligned)} deltas."""
    return [
        {"source": s, "n_source": n, "mtl_delta": m, "aligned_delta": a, "aligned_fixed_b_delta": a}
        for (s, n), (m, a) in deltas.items()
    ]


def test_sign_pattern_checks_can_fail():
    good = {(2, 10): (-0.1, -0.05), (2, 100): (-0.2, -0.1)}
    good.update({(s, 10): (0.05, 0.0) for s in (3, 4)})
    good.update({(s, 100): (0.3, -0.02) for s in (3, 4)})
    assert fig3_study.sign_pattern(_summary(good), small=1) == {
        "source2_positive": True,
        "sources34_worse_at_small_sizes": True,
        "alignment_reduces_harm": True,
        "harmful_settings": 4,
    }
    bad = dict(good)
    bad[(2, 100)] = (0.01, 0.0)
    assert not fig3_study.sign_pattern(_summary(bad), small=1)["source2_positive"]
    bad = dict(good)
    bad[(3, 10)] = (-0.2, -0.1)  # source 3 transfers better than source 2 at the small size
    assert not fig3_study.sign_pattern(_summary(bad), small=1)["sources34_worse_at_small_sizes"]
    bad = dict(good)
    bad[(4, 100)] = (0.3, 0.4)
    assert not fig3_study.sign_pattern(_summary(bad), small=1)["alignment_reduces_harm"]


@pytest.mark.slow
def test_small_study_reproduces_the_sign_pattern(tmp_path):
    result = fig3_study.run_fig3_study(seeds=(0, 1, 2), source_sizes=(10, 160, 1280))
    assert len(result["rows"]) == 3 * 3 * 3
    for row in result["rows"]:
        for m in fig3_study.METHODS:
            assert row[f"{m}_delta"] == pytest.approx(row[f"{m}_mse"] - row["stl_mse"])
    checks = fig3_study.sign_pattern(result["summary"], small=1)
    assert checks["source2_positive"] and checks["sources34_worse_at_small_sizes"]
    assert checks["alignment_reduces_harm"] and checks["harmful_settings"] >= 3
    sim = {r["source"]: r["eq5_normalized"] for r in result["similarity"] if r["seed"] == 0}
    assert sim[2] > sim[3] and sim[2] > sim[4]  # the same-covariance source is the most similar
    paths = fig3_study.write_fig3_outputs(result, str(tmp_path))
    assert os.path.getsize(paths["plot"]) > 10000
    table = open(paths["table"]).read()
    assert "| task 4 | 1280 |" in table and "alignment_reduces_harm = True" in table


def test_tool_writes_outputs(tmp_path):
    r = run_tool("covariance_study", f"--workdir={tmp_path}", "--seeds=0", "--source_sizes=10,40", "--d=8")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| task 3 | 40 |" in r.stdout
    for name in ("fig3_table.md", "fig3_covariance.png", "fig3_results.json"):
        assert os.path.exists(tmp_path / name), name


@pytest.mark.parametrize(
    "args,words",
    [
        (["--seeds=a,b"], "--seeds: must be comma-separated integers"),
        (["--source_sizes=0,10"], "--source_sizes: every entry must be >= 1"),
        (["--rank=30"], "--rank: must be <= d=20"),
        (["--penalty=-1"], "--penalty: must be > 0"),
    ],
)
def test_tool_bad_input_exits_2_with_one_line(args, words, tmp_path):
    r = run_tool("covariance_study", f"--workdir={tmp_path}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and words in err[0], r.stderr
    assert not os.path.exists(tmp_path / "fig3_table.md")
