"""tools/simulate.py and tools/fit_formula.py end to end (fresh processes)."""

import csv
import json
import os

import numpy as np
import pytest

from tests.helpers import run_tool

TINY_GRID = [
    "--config=configs/simulator_grid.py",
    "--config.grid.n_tasks=(1,2)",
    "--config.grid.n_tokens_per_task=(200,)",
    "--config.grid.mutual_info=(0.3,0.9)",
    "--config.grid.repeats=1",
    "--config.simulator.pool_tokens=5000",
    "--config.simulator.test_tokens=400",
    "--config.model.embedding_dim=8",
    "--config.model.hidden=8",
    "--config.train.min_steps=3",
    "--config.train.epochs=1",
    "--progress=false",
]


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_simulate_runs_a_grid_and_resumes(tmp_path):
    wd = str(tmp_path / "grid")
    r = run_tool("simulate", *TINY_GRID, f"--workdir={wd}", "--max_cells=3")
    assert r.returncode == 0, r.stderr[-3000:]
    first = read_rows(os.path.join(wd, "results.csv"))
    assert len(first) == 3
    r = run_tool("simulate", *TINY_GRID, f"--workdir={wd}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "3 cells finished before, 1 to run" in r.stdout
    rows = read_rows(os.path.join(wd, "results.csv"))
    assert len(rows) == 4 and rows[:3] == first  # the finished rows (with their timings) were not redone
    assert {(r["n_tasks"], r["mutual_info"]) for r in rows} == {("1", "0.3"), ("1", "0.9"), ("2", "0.3"), ("2", "0.9")}
    for row in rows:
        assert 0.0 <= float(row["fscore"]) <= 1.0 and 0.0 <= float(row["accuracy"]) <= 1.0
        assert int(row["n_tokens_total"]) == int(row["n_tasks"]) * 200
    assert os.path.exists(os.path.join(wd, "config.json")) and os.path.exists(os.path.join(wd, "alphas.json"))


@pytest.mark.parametrize(
    "args,words",
    [
        (["--config.grid.n_tasks=(0,2)"], "config field grid.n_tasks"),
        (["--config.train.learning_rate=-1"], "config field train.learning_rate: must be > 0"),
        (["--config.simulator.source=conll1999"], "config field simulator.source"),
    ],
)
def test_simulate_bad_input_exits_2_with_one_line(args, words, tmp_path):
    r = run_tool("simulate", *TINY_GRID, f"--workdir={tmp_path}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and words in err[0], r.stderr[-2000:]
    assert not os.path.exists(os.path.join(tmp_path, "results.csv"))


def planted_csv(path, rows=300, seed=0):
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(100), np.log(40_000), rows)).round()
    T = rng.integers(1, 16, rows)
    y = 0.9 - 1 / np.sqrt(n) - 0.5 / np.sqrt(T) + rng.normal(0, 0.01, rows)
    with open(path, "w") as f:
        f.write("n_tokens_per_task,n_tasks,fscore\n")
        for a, b, c in zip(n, T, y, strict=True):
            f.write(f"{a:.0f},{b},{c:.6f}\n")
    return str(path)


def test_fit_formula_parametric_forms_end_to_end(tmp_path):
    path = planted_csv(tmp_path / "planted.csv")
    wd = str(tmp_path / "out")
    r = run_tool(
        "fit_formula",
        f"--csv={path}",
        "--target=fscore",
        "--features=n_tokens_per_task,n_tasks",
        f"--workdir={wd}",
        "--symbolic=false",
        "--form=inv_nT=a + b/sqrt(n_tokens_per_task*n_tasks)",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| maurer |" in r.stdout
    data = json.load(open(os.path.join(wd, "formulas.json")))
    fits = {f["method"]: f for f in data["fits"]}
    assert set(fits) == {"maurer", "sqrt_sum", "log", "inv_nT"}
    m = fits["maurer"]
    assert m["r2_test"] >= 0.95
    for k, want in {"a": 0.9, "b": -1.0, "c": -0.5}.items():
        assert m["coefficients"][k] == pytest.approx(want, rel=0.10)
    for method in fits:
        assert os.path.exists(os.path.join(wd, f"pred_vs_measured_{method}.png"))
    assert os.path.exists(os.path.join(wd, "formulas.md"))


def test_fit_formula_symbolic_runs(tmp_path):
    path = planted_csv(tmp_path / "planted.csv", rows=120)
    wd = str(tmp_path / "out")
    r = run_tool(
        "fit_formula",
        f"--csv={path}",
        "--target=fscore",
        "--features=n_tokens_per_task,n_tasks",
        f"--workdir={wd}",
        "--forms=maurer",
        "--seeds=0",
        "--population_size=100",
        "--generations=2",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.load(open(os.path.join(wd, "formulas.json")))
    sym = data["fits"][0]
    assert sym["method"] == "symbolic" and sym["details"]["runs"][0]["seed"] == 0
    assert os.path.exists(os.path.join(wd, "pred_vs_measured_symbolic.png"))


@pytest.mark.parametrize(
    "args,words",
    [
        (["--features=n_tokens_per_task,size"], "--features: column 'size' is not in"),
        (["--target=f1"], "--target: column 'f1'"),
        (["--form=bad=n_tasks*2+"], "--form: cannot parse"),
        (["--forms=cubic"], "--forms: unknown form 'cubic'"),
        (["--seeds=a"], "--seeds"),
        (["--form=x=__import__('os').system('touch /tmp/mtlzoo_pwned')"], "--form: a call of an attribute"),
        (["--form=x=a*n_tasks.real"], "--form: attribute access"),
        (["--const_range=1"], "--const_range"),
        (["--stability_seeds=x"], "--stability_seeds"),
        (["--parsimony=nan"], "--parsimony: must be a finite number"),
    ],
)
def test_fit_formula_bad_input_exits_2(args, words, tmp_path):
    path = planted_csv(tmp_path / "p.csv", rows=20)
    base = [f"--csv={path}", "--target=fscore", "--features=n_tokens_per_task,n_tasks", f"--workdir={tmp_path}/o"]
    overrides = {a.split("=", 1)[0] for a in args}
    r = run_tool("fit_formula", *[a for a in base if a.split("=", 1)[0] not in overrides], *args, "--symbolic=false")
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and words in err[0], r.stderr[-2000:]
