"""The SVD reweighting study: pair draw, sub-configs, report arithmetic (against numpy) and a tiny real run."""

import json
import math
import os

import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.config import load_config_module, resolve_config
from mtlzoo.studies import svd as st
from tests.helpers import REPO

LABELS = [f"label_{i}" for i in range(14)]


def _config():
    return load_config_module(os.path.join(REPO, "configs", "svd_yeast.py")).get_config()


# --------------------------------------------------------------------------- pair draw


def test_twenty_distinct_seeded_pairs_with_a_random_noisy_member():
    pairs = st.sample_pairs(LABELS, 20, seed=0)
    assert len(pairs) == 20
    assert all(c in LABELS and n in LABELS and c != n for c, n in pairs)
    assert len({frozenset(p) for p in pairs}) == 20  # distinct unordered pairs
    assert st.sample_pairs(LABELS, 20, seed=0) == pairs
    assert st.sample_pairs(LABELS, 20, seed=1) != pairs
    # the coin: both members of a pair get corrupted somewhere in the draw (first/second in label order)
    order = {n: i for i, n in enumerate(LABELS)}
    first_noisy = sum(order[n] < order[c] for c, n in pairs)
    assert 0 < first_noisy < 20
    # all 91 pairs when asked for all of them
    assert len({frozenset(p) for p in st.sample_pairs(LABELS, 91, seed=3)}) == 91


@pytest.mark.parametrize("count", [0, 92, 2.5, True])
def test_bad_pair_count(count):
    with pytest.raises(ConfigError, match="num_pairs"):
        st.sample_pairs(LABELS, count)


def test_natural_label_order():
    assert sorted(["label_10", "label_2", "label_1"], key=st.natural_key) == ["label_1", "label_2", "label_10"]


# --------------------------------------------------------------------------- configs


def test_arm_configs_differ_only_in_the_weighting():
    resolved = resolve_config(_config())
    ew = resolve_config(st.arm_config(resolved, "ew", ["label_3", "label_7"], {"label_7": 0.2}))
    svd = resolve_config(st.arm_config(resolved, "svd", ["label_3", "label_7"], {"label_7": 0.2}))
    assert ew.train.weighting.to_dict() == {"name": "ew"} and not ew.model.task_weights
    assert svd.train.weighting.name == "svd" and svd.model.task_weights
    assert list(ew.tasks) == list(svd.tasks) == ["label_3", "label_7"]
    assert ew.data.corrupt_labels.to_dict() == {"label_7": 0.2}
    a, b = ew.to_dict(), svd.to_dict()
    for d in (a, b):
        d["train"].pop("weighting"), d["model"].pop("task_weights")
    assert a == b
    assert resolve_config(st.arm_config(resolved, "ew", seed=4)).seed == 4
    # the centred arm: the SVD arm with center true, nothing else changed
    cen = resolve_config(st.arm_config(resolved, "svd_centred", ["label_3", "label_7"], {"label_7": 0.2}))
    assert cen.train.weighting.center is True and svd.train.weighting.center is False
    a, b = svd.to_dict(), cen.to_dict()
    a["train"]["weighting"].pop("center"), b["train"]["weighting"].pop("center")
    assert a == b
    with pytest.raises(ValueError, match="arm must be one of"):
        st.arm_config(resolved, "gradnorm")


def test_bad_study_configs():
    cfg = _config()
    cfg.train.weighting = {"name": "ew"}
    with pytest.raises(ConfigError, match="svd"):
        st.svd_study(cfg, "/nonexistent")
    with pytest.raises(ConfigError, match="corrupt_fraction"):
        st.svd_study(_config(), "/nonexistent", corrupt_fraction=0)
    with pytest.raises(ConfigError, match="parts"):
        st.svd_study(_config(), "/nonexistent", parts=("triples",))
    with pytest.raises(ConfigError, match="seeds"):
        st.svd_study(_config(), "/nonexistent", seeds=[0, 0])


# --------------------------------------------------------------------------- report arithmetic


def _arm(test, val=None, alpha=None, epoch=1):
    out = {
        "epoch": epoch,
        "test_auc": test,
        "val_auc": val or test,
        "last_test_auc": {k: v - 0.01 for k, v in test.items()},
    }
    if alpha is not None:
        out["alpha"] = alpha
    return out


def test_select_epoch_best_validation_mean_first_on_ties():
    scores = {"validation": {"a": [0.5, 0.7, 0.6, 0.7], "b": [0.5, 0.5, None, 0.6]}}
    assert st.select_epoch(scores, ["a"]) == 1
    assert st.select_epoch(scores, ["a", "b"]) == 3  # means 0.5, 0.6, 0.6 (a alone), 0.65
    assert st.select_epoch({"validation": {"a": [None, None]}}, ["a"]) == 1


def test_pairs_report_against_numpy():
    rng = np.random.default_rng(0)
    rows, diffs, cdiffs = [], [], []
    for i in range(7):
        ew, svd, cen = rng.uniform(0.5, 0.9, size=3)
        rows.append(
            {
                "clean": f"c{i}",
                "noisy": f"n{i}",
                "ew": _arm({f"c{i}": ew, f"n{i}": 0.5}),
                "svd": _arm({f"c{i}": svd, f"n{i}": 0.5}, alpha={f"c{i}": 1.0 + (i % 2) * 0.2, f"n{i}": 1.1}),
                "svd_centred": _arm({f"c{i}": cen, f"n{i}": 0.5}, alpha={f"c{i}": 1.5 if i < 5 else 0.5, f"n{i}": 1.0}),
                "raw_alpha": {f"c{i}": 1.0, f"n{i}": 0.5 if i < 2 else 1.5},
            }
        )
        diffs.append(100 * (svd - ew))
        cdiffs.append(100 * (cen - ew))
    d, cd = np.array(diffs), np.array(cdiffs)
    c = st.pairs_report(rows)["summary"]["centred"]
    assert c["n"] == 7 and c["mean_diff"] == pytest.approx(cd.mean())
    assert c["se"] == pytest.approx(cd.std(ddof=1) / np.sqrt(7))
    assert c["improved"] == int((cd > 0).sum())
    assert c["noisy_weighted_less"] == 5  # i < 5: alpha clean 1.5 > noisy 1.0
    assert c["mean_diff_noisy_down"] == pytest.approx(cd[:5].mean())
    assert c["mean_diff_noisy_up"] == pytest.approx(cd[5:].mean())
    assert c["vs_svd"]["mean_diff"] == pytest.approx((cd - d).mean())
    assert c["last_epoch"]["mean_diff"] == pytest.approx(cd.mean())
    s = st.pairs_report(rows)["summary"]
    assert s["n"] == 7
    assert s["mean_diff"] == pytest.approx(d.mean()) and s["median_diff"] == pytest.approx(np.median(d))
    assert s["std"] == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / 6))
    assert s["se"] == pytest.approx(s["std"] / np.sqrt(7))
    assert s["improved"] == int((d > 0).sum()) and s["worse"] == int((d < 0).sum())
    t = d.mean() / (d.std(ddof=1) / np.sqrt(7))
    from scipy import stats

    assert s["t_test_p"] == pytest.approx(2 * stats.t.sf(abs(t), df=6))
    assert s["noisy_weighted_less"] == 3  # i = 1, 3, 5: alpha clean 1.2 > noisy 1.1
    assert s["noisy_weighted_less_raw"] == 2
    assert s["mean_diff_noisy_down"] == pytest.approx(d[1::2].mean())
    assert s["mean_diff_noisy_up"] == pytest.approx(d[0::2].mean())
    # the last epoch: both arms 0.01 lower, so the same differences
    assert s["last_epoch"]["mean_diff"] == pytest.approx(d.mean())


def test_all_report_against_numpy():
    rng = np.random.default_rng(1)
    tasks = ["a", "b", "c"]
    ew, svd, cen = rng.uniform(0.5, 0.9, size=(3, 3, 3))  # [seed, task]
    per_seed = {
        s: {
            "ew": _arm(dict(zip(tasks, ew[s], strict=True)), epoch=2),
            "svd": _arm(dict(zip(tasks, svd[s], strict=True)), alpha={"a": 0.5, "b": 1.0, "c": 1.5}, epoch=3),
            "svd_centred": _arm(dict(zip(tasks, cen[s], strict=True)), alpha={"a": 1.0, "b": 1.2, "c": 0.8}, epoch=4),
        }
        for s in range(3)
    }
    r = st.all_report(per_seed, tasks)
    diff = 100 * (svd - ew)
    for j, row in enumerate(r["tasks"]):
        assert row["ew_auc"] == pytest.approx(100 * ew[:, j].mean())
        assert row["diff"] == pytest.approx(diff[:, j].mean())
        assert row["diff_std"] == pytest.approx(diff[:, j].std(ddof=1))
    per = diff.mean(axis=1)
    assert r["summary"]["mean_diff"] == pytest.approx(per.mean())
    assert r["summary"]["se"] == pytest.approx(per.std(ddof=1) / np.sqrt(3))
    assert r["summary"]["tasks_improved"] == int((diff.mean(axis=0) > 0).sum())
    assert r["summary"]["epochs"] == {"ew": [2, 2, 2], "svd": [3, 3, 3], "svd_centred": [4, 4, 4]}
    cdiff = 100 * (cen - ew)
    for j, row in enumerate(r["tasks"]):
        assert row["svd_centred_auc"] == pytest.approx(100 * cen[:, j].mean())
        assert row["diff_centred"] == pytest.approx(cdiff[:, j].mean())
        assert row["diff_centred_std"] == pytest.approx(cdiff[:, j].std(ddof=1))
    assert [row["alpha_centred"] for row in r["tasks"]] == pytest.approx([1.0, 1.2, 0.8])
    c, per = r["summary"]["centred"], cdiff.mean(axis=1)
    assert c["mean_diff"] == pytest.approx(per.mean()) and c["se"] == pytest.approx(per.std(ddof=1) / np.sqrt(3))
    assert c["tasks_improved"] == int((cdiff.mean(axis=0) > 0).sum())
    assert c["mean_svd_centred_auc"] == pytest.approx(100 * cen.mean())


def test_markdown_and_plot_from_a_fake_report(tmp_path):
    rows = [
        {
            "clean": "label_0",
            "noisy": "label_1",
            "ew": _arm({"label_0": 0.6}),
            "svd": _arm({"label_0": 0.65}),
            "svd_centred": _arm({"label_0": 0.61}),
        },
        {
            "clean": "label_2",
            "noisy": "label_3",
            "ew": _arm({"label_2": 0.7}),
            "svd": _arm({"label_2": 0.68}),
            "svd_centred": _arm({"label_2": 0.73}),
        },
    ]
    per_seed = {
        0: {
            "ew": _arm({"label_0": 0.6, "label_1": 0.7}),
            "svd": _arm({"label_0": 0.62, "label_1": 0.7}),
            "svd_centred": _arm({"label_0": 0.6, "label_1": 0.74}),
        }
    }
    settings = {
        "source": "yeast",
        "epochs": 3,
        "learning_rate": 0.002,
        "batch_size": 64,
        "encoder": {},
        "tower": {},
        "svd": {"rank": 1, "every_steps": None, "max_examples": 2048},
        "config_seed": 0,
        "num_pairs": 2,
        "corrupt_fraction": 0.2,
        "pair_seed": 0,
        "seeds": [0],
    }
    report = {
        "settings": settings,
        "pairs": st.pairs_report(rows),
        "all": st.all_report(per_seed, ["label_0", "label_1"]),
    }
    paths = st.write_report(report, str(tmp_path))
    md = open(paths["md"]).read()
    assert "+1.50 ± 3.50" in md  # pairs: diffs +5 and -2 points: mean 1.5, s.e. 7 / sqrt(2) / sqrt(2)
    assert "better on 1 of 2 pairs" in md
    assert "centred SVD - unweighted = +2.00 ± 1.00" in md  # diffs +1 and +3 points
    assert "**+2.00 ± n/a**" in md  # all labels, one seed: centred mean diff (0 + 4) / 2
    assert json.load(open(paths["json"]))["pairs"]["summary"]["mean_diff"] == pytest.approx(1.5)
    assert os.path.getsize(paths["png"]) > 1000


# --------------------------------------------------------------------------- a tiny real run


@pytest.mark.slow
def test_tiny_study_end_to_end_and_resume(tmp_path):
    from sklearn.metrics import roc_auc_score

    from mtlzoo.data import load_data
    from mtlzoo.models import load_model
    from mtlzoo.tasks import tasks_from_config

    cfg = _config()
    cfg.tasks = {n: {"kind": "binary"} for n in ("label_0", "label_2", "label_3")}
    cfg.train.epochs = 2
    cfg.model.encoder.units = (8,)
    cfg.model.tower.units = (4,)
    report = st.svd_study(cfg, str(tmp_path), num_pairs=1, seeds=[0], progress=None)
    (clean, noisy) = st.sample_pairs(["label_0", "label_2", "label_3"], 1, 0)[0]
    row = report["pairs"]["rows"][0]
    assert (row["clean"], row["noisy"]) == (clean, noisy)
    run = tmp_path / "pairs" / f"{clean}__noisy_{noisy}" / "svd"
    run_cfg = json.load(open(run / "config.json"))
    assert run_cfg["data"]["corrupt_labels"] == {noisy: 0.2} and run_cfg["train"]["weighting"]["name"] == "svd"
    assert run_cfg["train"]["weighting"]["center"] is False
    cen_cfg = json.load(open(run.parent / "svd_centred" / "config.json"))
    assert cen_cfg["train"]["weighting"]["center"] is True
    scores = json.load(open(run / "scores.json"))
    # the last epoch's test AUC, recomputed with scikit-learn from the saved final model
    model = load_model(str(run / "model.keras"))
    c = resolve_config(run_cfg)
    test = load_data(c, tasks_from_config(c.tasks)).split("test")
    p = np.asarray(model({"features": test.features["features"]})[clean])
    assert scores["test"][clean][-1] == pytest.approx(roc_auc_score(test.labels[clean][:, 0], p[:, 0]), abs=1e-6)
    assert row["svd_last_auc"] == pytest.approx(100 * scores["test"][clean][-1])
    assert math.isclose(sum(scores["alpha"][-1]), 2.0, rel_tol=1e-5)  # alpha averages 1
    # the centred diagnostic: Algorithm 2 with the representation centred instead of the labels, in numpy
    import keras

    train = load_data(c, tasks_from_config(c.tasks)).split("train")
    rep = keras.Model(model.input, model.get_layer("shared_pooled").output)
    x = np.asarray(rep({"features": train.features["features"]}), np.float64)
    names = sorted(run_cfg["tasks"])
    theta = np.hstack([(x - x.mean(0)).T @ train.labels[t].astype(np.float64) for t in names])
    u = np.linalg.svd(theta)[0][:, :1]
    alpha = np.linalg.norm(u.T @ theta, axis=0)
    np.testing.assert_allclose(scores["alpha_centred"][-1], 2 * alpha / alpha.sum(), rtol=1e-4)
    assert len(report["all"]["tasks"]) == 3
    for name in ("svd_study.md", "svd_study.json", "svd_study.png"):
        assert (tmp_path / name).exists()

    def no_training(*_):
        raise AssertionError("a finished sub-run was retrained")

    again = st.svd_study(cfg, str(tmp_path), num_pairs=1, seeds=[0], progress=None, train_fn=no_training)
    assert again["pairs"]["summary"]["mean_diff"] == pytest.approx(report["pairs"]["summary"]["mean_diff"])
    cfg.train.learning_rate = 0.5
    with pytest.raises(ConfigError, match="different config"):
        st.svd_study(cfg, str(tmp_path), num_pairs=1, seeds=[0], progress=None, train_fn=no_training)


def test_extra_arm_config_sets_only_its_weighting_options():
    resolved = resolve_config(_config())
    svd = resolve_config(st.arm_config(resolved, "svd", ["label_3", "label_7"], {"label_7": 0.2}))
    nrm = resolve_config(st.arm_config(resolved, "svd_normalised", ["label_3", "label_7"], {"label_7": 0.2}))
    assert nrm.train.weighting.center is True and nrm.train.weighting.normalize is True
    assert svd.train.weighting.normalize is False
    a, b = svd.to_dict(), nrm.to_dict()
    for d in (a, b):
        d["train"]["weighting"].pop("center"), d["train"]["weighting"].pop("normalize")
    assert a == b


def test_extra_arm_report_against_numpy():
    from scipy import stats

    from mtlzoo.studies.svd_report import extra_arm_report

    rng = np.random.default_rng(3)
    rows, diffs, vs_c = [], [], []
    for i in range(6):
        ew, cen, nrm = rng.uniform(0.5, 0.9, size=3)
        rows.append(
            {
                "clean": f"c{i}",
                "noisy": f"n{i}",
                "ew": _arm({f"c{i}": ew, f"n{i}": 0.5}),
                "svd_centred": _arm({f"c{i}": cen, f"n{i}": 0.5}),
                "svd_normalised": _arm(
                    {f"c{i}": nrm, f"n{i}": 0.5}, alpha={f"c{i}": 1.2 if i < 4 else 0.8, f"n{i}": 1.0}
                ),
            }
        )
        diffs.append(100 * (nrm - ew))
        vs_c.append(100 * (nrm - cen))
    rep = extra_arm_report(rows, "svd_normalised")
    s = rep["summary"]
    assert s["n"] == 6 and s["mean_diff"] == pytest.approx(np.mean(diffs))
    assert s["se"] == pytest.approx(np.std(diffs, ddof=1) / math.sqrt(6))
    assert s["t_test_p"] == pytest.approx(stats.ttest_1samp(diffs, 0).pvalue)
    assert s["noisy_weighted_less"] == 4
    assert s["vs_centred"]["mean_diff"] == pytest.approx(np.mean(vs_c))
    # the all-labels part: per seed the mean test AUC over the labels
    per_seed = {
        s_: {
            "ew": _arm({"a": 0.6 + s_ / 100, "b": 0.7}),
            "svd_normalised": _arm({"a": 0.62, "b": 0.7 + s_ / 50}),
        }
        for s_ in (0, 1, 2)
    }
    want = [100 * ((0.62 + 0.7 + s_ / 50) / 2 - (0.6 + s_ / 100 + 0.7) / 2) for s_ in (0, 1, 2)]
    got = extra_arm_report(per_seed, "svd_normalised", ["a", "b"])["summary"]
    assert got["mean_diff"] == pytest.approx(np.mean(want))
    from mtlzoo.studies.svd_report import extra_markdown

    text = "\n".join(extra_markdown({"extra": {"pairs": {"svd_normalised": rep}}}))
    assert "Optional arm `svd_normalised` (center: true, normalize: true), pairs" in text
    assert f"{np.mean(diffs):+.2f}" in text and "noisy task weighted less in 4 of 6" in text
