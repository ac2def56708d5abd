"""The Census-Income study runner: resumable run folders, the summary against numpy, the report files.

Training is replaced by a stand-in that writes ``metrics.json`` with known AUCs, so the test
checks the study's bookkeeping, not the models (the real study is in docs/reproductions.md).
"""

import json
import os
import types

import numpy as np

from mtlzoo.config import load_config_module
from tests.helpers import REPO, run_tool

AUC = {  # (architecture, seed) -> (income, marital)
    ("shared_bottom", 0): (0.90, 0.97),
    ("shared_bottom", 1): (0.92, 0.96),
    ("mmoe", 0): (0.95, 0.95),
    ("mmoe", 1): (0.93, 0.99),
}


def _fake_train(calls):
    def train(cfg, run_dir):
        calls.append(run_dir)
        income, marital = AUC[(cfg.model.architecture, cfg.seed)]
        if len(cfg.tasks) == 1:  # a single-task run: 0.01 lower than the shared_bottom model
            income, marital = income - 0.01, marital - 0.01
        metrics = {t: {"auc": v} for t, v in (("income", income), ("marital", marital)) if t in cfg.tasks}
        if cfg.model.architecture == "mmoe":
            metrics["architecture"] = {
                "gates": {"income": {"expert_0": 0.7, "expert_1": 0.3}, "marital": {"expert_0": 0.2, "expert_1": 0.8}}
            }
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "metrics.json"), "w") as f:
            json.dump(metrics, f)
        return types.SimpleNamespace(metrics=metrics, model=None)

    return train


def test_summary_ranking_report_and_resume(tmp_path):
    from mtlzoo.studies.census_mmoe import run_census_study

    get_config = load_config_module(os.path.join(REPO, "configs", "census_mmoe.py")).get_config
    calls = []
    report = run_census_study(
        get_config,
        str(tmp_path),
        ["shared_bottom", "mmoe"],
        [0, 1],
        epochs=1,
        progress=lambda s: None,
        train_fn=_fake_train(calls),
    )
    assert len(calls) == 4
    assert sorted(os.listdir(tmp_path / "mmoe")) == ["seed0", "seed1"]
    for arch in ("shared_bottom", "mmoe"):
        for i, task in enumerate(("income", "marital")):
            v = [AUC[(arch, s)][i] for s in (0, 1)]
            assert np.isclose(report["summary"][arch][task]["mean"], np.mean(v))
            assert np.isclose(report["summary"][arch][task]["std"], np.std(v, ddof=1))
    assert report["ranking"]["income"] == ["mmoe", "shared_bottom"]
    assert report["ranking"]["marital"] == ["mmoe", "shared_bottom"]  # 0.97 vs 0.965
    assert report["epochs"] == {"shared_bottom": 1, "mmoe": 1}
    for ext in ("md", "json", "png"):
        assert (tmp_path / f"census_mmoe.{ext}").stat().st_size > 0
    md = (tmp_path / "census_mmoe.md").read_text()
    assert "| `mmoe` |" in md and "94.00 ± 1.41" in md and "top expert expert_1 (0.80)" in md
    # a rerun reads the finished folders back
    again = run_census_study(
        get_config,
        str(tmp_path),
        ["shared_bottom", "mmoe"],
        [0, 1],
        epochs=1,
        progress=lambda s: None,
        train_fn=_fake_train(calls),
    )
    assert len(calls) == 4 and again["summary"] == report["summary"]


def test_config_sizes_match_the_data():
    mod = load_config_module(os.path.join(REPO, "configs", "census_mmoe.py"))
    from mtlzoo.config import resolve_config

    for arch in mod.EXPERTS:
        cfg = resolve_config(mod.get_config(arch))
        assert cfg.model.architecture == arch and cfg.model.encoder.input_dim == 502


def test_tool_rejects_an_unknown_architecture(tmp_path):
    r = run_tool("census_study", f"--workdir={tmp_path}", "--architectures=mmoe,nope")
    assert r.returncode == 2 and "nope" in r.stderr


def test_single_task_arm(tmp_path):
    from mtlzoo.studies.census_mmoe import run_census_study

    get_config = load_config_module(os.path.join(REPO, "configs", "census_mmoe.py")).get_config
    calls = []
    report = run_census_study(
        get_config, str(tmp_path), ["single_task"], [0, 1], progress=lambda s: None, train_fn=_fake_train(calls)
    )
    assert len(calls) == 4  # two tasks x two seeds, one model each
    assert sorted(os.listdir(tmp_path / "single_task")) == ["income", "marital"]
    rs = report["runs"]["single_task"]
    assert [r["auc"] for r in rs] == [
        {"income": AUC[("shared_bottom", s)][0] - 0.01, "marital": AUC[("shared_bottom", s)][1] - 0.01} for s in (0, 1)
    ]
