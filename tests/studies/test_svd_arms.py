"""The SVD variants study (mtlzoo.studies.svd_arms): pair parsing, sub-configs, statistics against numpy,
and a tiny real run with resume."""

import json
import os

import numpy as np
import pytest
from scipy import stats

from mtlzoo import ConfigError
from mtlzoo.config import load_config_module, resolve_config
from mtlzoo.studies import svd_arms as sa
from tests.helpers import REPO


def _config():
    return load_config_module(os.path.join(REPO, "configs", "svd_yeast.py")).get_config()


def test_parse_pairs():
    assert sa.parse_pairs("label_8:label_2, label_0:label_11") == [("label_8", "label_2"), ("label_0", "label_11")]
    for bad in ("label_8", "a:a", "a:b:c", ":b"):
        with pytest.raises(ConfigError, match="clean:noisy"):
            sa.parse_pairs(bad)


def test_arm_configs_set_only_their_weighting_options_and_the_noise():
    resolved = resolve_config(_config())
    base = resolve_config(sa.arms_config(resolved, "svd", "label_3", "label_7", 0.2, "random", 4)).to_dict()
    assert list(base["tasks"]) == ["label_3", "label_7"]
    assert base["data"]["corrupt_labels"] == {"label_7": 0.2} and base["data"]["corrupt_mode"] == "random"
    assert base["seed"] == 4 and base["train"]["weighting"]["rank"] == 1
    for arm, opts in sa.ARM_OPTIONS.items():
        cfg = resolve_config(sa.arms_config(resolved, arm, "label_3", "label_7", 0.2, "random", 4)).to_dict()
        if opts is None:
            assert cfg["train"]["weighting"] == {"name": "ew"} and cfg["model"]["task_weights"] is False
            continue
        w, b = cfg["train"]["weighting"], base["train"]["weighting"]
        assert {k for k in w if w[k] != b[k]} <= set(opts), arm
        assert all(w[k] == v for k, v in opts.items()), arm
        cfg["train"]["weighting"], other = b, dict(base)
        assert json.dumps(cfg, sort_keys=True) == json.dumps(other, sort_keys=True), arm
    with pytest.raises(ConfigError, match="not one of"):
        sa.arms_config(resolved, "svd_rank7", "label_3", "label_7", 0.2, "random", 0)


def _scores(val, test, alpha=None):
    return {"tasks": ["c", "n"], "validation": val, "test": test, "alpha": alpha}


def test_summary_against_numpy():
    rng = np.random.default_rng(0)
    units = [("c", "n", s) for s in range(4)]
    runs = {}
    for u in units:
        runs[u] = {}
        for arm in ("ew", "svd"):
            val = {t: rng.uniform(0.5, 0.9, 5).tolist() for t in ("c", "n")}
            test = {t: rng.uniform(0.5, 0.9, 5).tolist() for t in ("c", "n")}
            alpha = None if arm == "ew" else rng.uniform(0.2, 1.8, (5, 2)).tolist()
            runs[u][arm] = _scores(val, test, alpha)
    out = sa.summarise(runs, ["ew", "svd"])

    def at_best(sc, t):
        return 100 * sc["test"][t][int(np.argmax(sc["validation"][t]))]

    for role, t in (("clean", "c"), ("noisy", "n")):
        d = np.array([at_best(runs[u]["svd"], t) - at_best(runs[u]["ew"], t) for u in units])
        s = out["arms"]["svd"]["summary"][role]
        assert s["mean_diff"] == pytest.approx(d.mean())
        assert s["se"] == pytest.approx(d.std(ddof=1) / 2)
        assert s["t_test_p"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
        last = np.array([100 * (runs[u]["svd"]["test"][t][-1] - runs[u]["ew"]["test"][t][-1]) for u in units])
        assert out["arms"]["svd"]["summary"][f"{role}_last"]["mean_diff"] == pytest.approx(last.mean())
    both = [
        (
            at_best(runs[u]["svd"], "c")
            + at_best(runs[u]["svd"], "n")
            - at_best(runs[u]["ew"], "c")
            - at_best(runs[u]["ew"], "n")
        )
        / 2
        for u in units
    ]
    assert out["arms"]["svd"]["summary"]["both"]["mean_diff"] == pytest.approx(np.mean(both))
    less = sum(runs[u]["svd"]["alpha"][-1][1] < runs[u]["svd"]["alpha"][-1][0] for u in units)
    assert out["arms"]["svd"]["summary"]["noisy_weighted_less"] == less


def test_tiny_study_end_to_end_and_resume(tmp_path):
    cfg = _config()
    cfg.tasks = {n: {"kind": "binary"} for n in ("label_0", "label_3")}
    cfg.train.epochs = 3
    cfg.model.encoder.units = (8,)
    cfg.model.tower.units = (4,)
    arms = ["ew", "svd", "svd_once"]
    report = sa.svd_arms_study(cfg, str(tmp_path), [("label_0", "label_3")], arms=arms, seeds=[1], progress=None)
    run = tmp_path / "label_0__noisy_label_3" / "seed_1"
    once = json.load(open(run / "svd_once" / "scores.json"))
    every = json.load(open(run / "svd" / "scores.json"))
    # computed once before the first step and held; the every-epoch arm moves
    assert once["alpha"][0] == once["alpha"][-1]
    assert every["alpha"][0] != every["alpha"][-1]
    run_cfg = json.load(open(run / "svd_once" / "config.json"))
    assert run_cfg["data"]["corrupt_mode"] == "random" and run_cfg["seed"] == 1
    assert run_cfg["train"]["weighting"]["every_steps"] == 10**9
    row = report["results"]["arms"]["svd"]["rows"][0]
    best = int(np.argmax(every["validation"]["label_0"]))
    assert row["clean_auc"] == pytest.approx(100 * every["test"]["label_0"][best])
    for name in sa.FILES:
        assert (tmp_path / name).exists()

    def no_training(*_):
        raise AssertionError("a finished sub-run was retrained")

    again = sa.svd_arms_study(
        cfg, str(tmp_path), [("label_0", "label_3")], arms=arms, seeds=[1], progress=None, train_fn=no_training
    )
    assert again["results"]["arms"]["svd"]["summary"] == report["results"]["arms"]["svd"]["summary"]
    with pytest.raises(ConfigError, match="include ew"):
        sa.svd_arms_study(cfg, str(tmp_path), [("label_0", "label_3")], arms=["svd"], progress=None)


def test_cli_bad_arms_and_pairs_exit_2_with_one_sentence(tmp_path):
    from tests.cli.test_cli import mtlzoo_cmd

    base = ["svd_study", "--config=configs/svd_yeast.py", f"--workdir={tmp_path}"]
    r = mtlzoo_cmd(*base, "--arms=svd,svd_rank2")
    assert r.returncode == 2 and "--arms: include ew" in r.stderr, r.stderr
    r = mtlzoo_cmd(*base, "--arms=ew,svd", "--pair_list=label_8")
    assert r.returncode == 2 and "pair_list entry 'label_8' must be clean:noisy" in r.stderr, r.stderr
