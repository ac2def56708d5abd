"""The affinity study end to end on the synthetic transfer config (tiny), and tools/affinity.py's bad input."""

import json
import os

import numpy as np
import pytest
from scipy.stats import spearmanr

from tests.helpers import REPO, run_tool

REPORT_TASKS = ["sign", "reg_a", "extra", "argmax4", "reg_b"]


def fake_report(path, seed=0):
    """A transfer.json in the report's format, tasks in another order and one task more."""
    rng = np.random.default_rng(seed)
    t = rng.normal(scale=0.05, size=(5, 5))
    rows = [[None if i == j else float(t[i, j]) for j in range(5)] for i in range(5)]
    path.write_text(json.dumps({"tasks": REPORT_TASKS, "seeds": [0], "transfer": {"none": rows}}))
    return t


def tiny_config():
    from configs.transfer_synthetic import get_config

    c = get_config()
    c.train.epochs = 1
    c.data.examples_per_task = 120
    return c


def test_study_end_to_end(tmp_path):
    from mtlzoo.analysis.grouping import selection_value
    from mtlzoo.studies.affinity_study import affinity_study

    t = fake_report(tmp_path / "transfer.json")
    wd = tmp_path / "study"
    affinity_study(
        tiny_config(), str(wd), transfer_report=str(tmp_path / "transfer.json"), every_steps=1, progress=None
    )
    for name in ("affinity.json", "affinity.md", "affinity_heatmap.png", "affinity_vs_transfer.png", "config.json"):
        assert os.path.getsize(wd / name) > 0, name
    out = json.loads((wd / "affinity.json").read_text())
    names = out["tasks"]
    assert sorted(names) == ["argmax4", "reg_a", "reg_b", "sign"]
    k = len(names)
    # the measured matrix is the report's, picked by task name
    idx = [REPORT_TASKS.index(n) for n in names]
    measured = np.array([[np.nan if v is None else v for v in row] for row in out["measured"]], dtype=float)
    off = ~np.eye(k, dtype=bool)
    np.testing.assert_allclose(measured[off], t[np.ix_(idx, idx)][off])
    assert set(out["predictors"]) == {
        "lookahead",
        "gradient_cosine",
        "covariance_E",
        "covariance_E_raw",
        "covariance_rep",
        "covariance_rep_raw",
    }
    # every step measured: 120 examples per task, half for training, batches of 32 per task -> 2 steps
    assert out["measurements"] == out["train_steps"] == 2
    for name, m in out["predictors"].items():
        p = np.array(m, dtype=float)
        assert p.shape == (k, k) and np.all(np.isfinite(p[off])), name
        expected = spearmanr(p[off], measured[off]).statistic
        assert out["validation"][name]["spearman_directed"] == pytest.approx(expected), name
        best_true = [max(measured[i, j] for j in range(k) if j != i) for i in range(k)]
        guess = [max((j for j in range(k) if j != i), key=lambda j, i=i: p[i, j]) for i in range(k)]
        hits = np.mean([measured[i, guess[i]] == best_true[i] for i in range(k)])
        assert out["validation"][name]["top1_precision"] == pytest.approx(hits), name
    # the lookahead grouping's measured value is the objective evaluated on the measured transfer
    g = out["groupings"]["lookahead"]
    groups = [tuple(names.index(n) for n in grp) for grp in g["groups"]]
    assert len(groups) <= 2
    assert g["measured_value"] == pytest.approx(selection_value(measured, groups)[0])
    assert out["groupings"]["measured"]["value"] >= g["measured_value"] - 1e-12
    md = (wd / "affinity.md").read_text()
    assert "| lookahead |" in md and "Against measured transfer" in md


@pytest.mark.parametrize(
    "args,words",
    [
        (["--transfer_report=/nonexistent/transfer.json"], "--transfer_report: no file"),
        (["--budget=0"], "--budget must be a positive integer"),
        (["--transfer_report={bad}"], "has no task 'argmax4' (its tasks: x, y)"),
        (["--seeds=0,1"], "needs --transfer_report"),
        (["--seeds=0,x"], "--seeds must be comma-separated non-negative integers"),
        (["--probes=1.5"], "--probes must be a fraction of the epochs in (0, 1]"),
        (["--config.data.mixing=interleaved"], "data.mixing: the lookahead affinity and gradient cosine compare"),
    ],
)
def test_tool_bad_input_exits_2_with_one_line(args, words, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tasks": ["x", "y"], "transfer": {"none": [[None, 0.1], [0.2, None]]}}))
    args = [a.format(bad=bad) for a in args]
    config = os.path.join(REPO, "configs", "transfer_synthetic.py")
    r = run_tool("affinity", f"--config={config}", f"--workdir={tmp_path / 'wd'}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and words in err[0], r.stderr[-2000:]
    assert not os.path.exists(tmp_path / "wd" / "affinity.json")


def test_summary_over_seeds_is_mean_and_sample_std():
    from mtlzoo.studies.affinity_study import summarize_seeds

    vals = {0: (0.5, 0.2, 0.25), 1: (-0.1, 0.4, 0.5), 2: (0.3, float("nan"), 0.75)}
    results = {
        s: {"validation": {"lookahead": {"spearman_directed": a, "spearman_pair": b, "top1_precision": c}}}
        for s, (a, b, c) in vals.items()
    }
    out = summarize_seeds(results)["lookahead"]
    assert out["spearman_directed"]["mean"] == pytest.approx(np.mean([0.5, -0.1, 0.3]))
    assert out["spearman_directed"]["std"] == pytest.approx(np.std([0.5, -0.1, 0.3], ddof=1))
    assert out["spearman_pair"]["mean"] == pytest.approx(0.3)  # the NaN seed is left out
    assert out["top1_precision"]["values"] == [0.25, 0.5, 0.75]


def test_transfer_noise_against_a_direct_computation(tmp_path):
    from mtlzoo.studies.affinity_study import load_transfer_seeds, transfer_noise

    rng = np.random.default_rng(7)
    s, k = 3, 5
    stl = rng.random((s, k))
    mtl = rng.random((s, k, k))
    for m in mtl:
        np.fill_diagonal(m, np.nan)
    rows = lambda a: [[None if not np.isfinite(v) else float(v) for v in r] for r in a]  # noqa: E731
    report = {
        "tasks": REPORT_TASKS,
        "seeds": [0, 1, 2],
        "transfer": {"none": rows((mtl - stl[:, :, None]).mean(axis=0))},
        "stl": [list(map(float, r)) for r in stl],
        "mtl": {"none": [rows(m) for m in mtl]},
    }
    path = tmp_path / "transfer.json"
    path.write_text(json.dumps(report))
    names = ["reg_b", "sign", "argmax4"]  # another order, a subset
    idx = [REPORT_TASKS.index(n) for n in names]
    per_seed = load_transfer_seeds(str(path), names)
    for a in range(s):
        for i, ti in enumerate(idx):
            for j, tj in enumerate(idx):
                if i != j:
                    assert per_seed[a, i, j] == pytest.approx(mtl[a, ti, tj] - stl[a, ti])
    noise = transfer_noise(per_seed)
    off = ~np.eye(3, dtype=bool)
    vals = [per_seed[a][off] for a in range(s)]  # row by row, as the directed entries
    assert noise["entry_std"] == pytest.approx(np.mean(np.std(np.stack(vals), axis=0, ddof=1)))
    assert noise["mean_spread"] == pytest.approx(np.std(np.mean(vals, axis=0)))
    pair_rhos = [spearmanr(vals[a], vals[b]).statistic for a in range(s) for b in range(s) if a != b]
    assert noise["seed_pair_spearman"] == pytest.approx(np.mean(pair_rhos))
    loo = [spearmanr(vals[a], np.mean([vals[b] for b in range(s) if b != a], axis=0)).statistic for a in range(s)]
    assert noise["leave_one_out_spearman"] == pytest.approx(np.mean(loo))
    assert 0 <= noise["seed_pair_top1"] <= 1


def test_probes_are_the_short_report_and_validated(tmp_path):
    from mtlzoo.studies.affinity_study import affinity_study

    fake_report(tmp_path / "transfer.json")
    c = tiny_config()
    c.train.epochs = 2
    del c.tasks["reg_a"], c.tasks["reg_b"]  # 2 tasks (sign, argmax4): 2 + 1 probe runs
    out = affinity_study(
        c, str(tmp_path / "study"), transfer_report=str(tmp_path / "transfer.json"), probes=0.5, progress=None
    )
    probe_report = json.loads((tmp_path / "study" / "probes" / "transfer.json").read_text())
    assert probe_report["seeds"] == [0]
    cfg = json.loads((tmp_path / "study" / "probes" / "runs" / "seed_0" / "stl" / "sign" / "config.json").read_text())
    assert cfg["train"]["epochs"] == 1  # max(1, round(0.5 * 2))
    names = out["tasks"]
    idx = [probe_report["tasks"].index(n) for n in names]
    expected = np.array([[np.nan if v is None else v for v in r] for r in probe_report["transfer"]["none"]], float)
    np.testing.assert_allclose(out["predictors"]["probes"], expected[np.ix_(idx, idx)])
    assert "probes" in out["validation"] and out["cost"]["probes"]["epochs"] == 1
    assert out["cost"]["probes"]["seconds"] > 0 and out["cost"]["measurement"] == "in_step"
    assert out["cost"]["all_task_run_epoch_fraction"] == pytest.approx(1 / 3)  # 1 run vs 2 + 1
    assert out["cost"]["probes"]["epoch_fraction"] == pytest.approx(0.5)
