"""Transfer report: arithmetic against hand computations, files, resume, bad input."""

import json
import os

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from mtlzoo.studies import transfer as tr
from mtlzoo.studies import transfer_tables as tables


def tiny_config(tasks=None, source="synthetic", epochs=1):
    if source == "digits":
        data = {"source": "digits", "batch_size": 64}
        encoder = {"name": "mlp", "input_dim": 64, "units": [4]}
    else:
        data = {
            "source": "synthetic",
            "batch_size": 8,
            "examples_per_task": 24,
            "input_dim": 4,
            "validation_fraction": 0.25,
            "test_fraction": 0.0,
        }
        encoder = {"name": "mlp", "input_dim": 4, "units": [4]}
    return {
        "seed": 0,
        "tasks": tasks
        or {"a": {"kind": "binary"}, "b": {"kind": "regression"}, "c": {"kind": "multiclass", "num_classes": 3}},
        "data": data,
        "model": {"encoder": encoder, "tower": {"units": [4]}},
        "train": {"epochs": epochs, "learning_rate": 0.01, "verbose": 0},
    }


def write_run(workdir, seed, kind, names, metrics, similarity=None):
    d = tr.run_dir_of(str(workdir), seed, kind, names)
    os.makedirs(d)
    with open(os.path.join(d, "metrics.json"), "w") as f:
        json.dump({"split": "validation", **metrics}, f)
    if similarity is not None:
        with open(os.path.join(d, "similarity.json"), "w") as f:
            json.dump(similarity, f)


def no_training(config, workdir):
    raise AssertionError(f"finished sub-run {workdir} was trained again")


# Hand-chosen scores. a: binary (accuracy), b: regression (score = -loss), c: multiclass (accuracy).
STL = {0: {"a": 0.80, "b": 0.50, "c": 0.60}, 1: {"a": 0.70, "b": 0.30, "c": 0.40}}
# MTL[alignment][seed][(x, y)] = (metric of x, metric of y) in the model of {x, y}: accuracy or loss
MTL = {
    "none": {
        0: {("a", "b"): (0.85, 0.40), ("a", "c"): (0.75, 0.70), ("b", "c"): (0.55, 0.50)},
        1: {("a", "b"): (0.65, 0.20), ("a", "c"): (0.70, 0.40), ("b", "c"): (0.20, 0.60)},
    },
    "joint": {
        0: {("a", "b"): (0.90, 0.45), ("a", "c"): (0.80, 0.65), ("b", "c"): (0.45, 0.60)},
        1: {("a", "b"): (0.80, 0.25), ("a", "c"): (0.75, 0.50), ("b", "c"): (0.25, 0.50)},
    },
}
SIM = {
    "none": {("a", "b"): 0.9, ("a", "c"): 0.8, ("b", "c"): 0.7},
    "joint": {("a", "b"): 0.5, ("a", "c"): 0.4, ("b", "c"): 0.3},
}


def metric(task, value):
    return {"loss": value, "mse": value} if task == "b" else {"loss": 1.0, "accuracy": value}


def fabricate(workdir):
    for seed in (0, 1):
        for t, v in STL[seed].items():
            write_run(workdir, seed, "stl", (t,), {t: metric(t, v)})
        for a in ("none", "joint"):
            for (x, y), (vx, vy) in MTL[a][seed].items():
                sim = {"before": SIM["none"][(x, y)] + 0.01 * seed, "after": None}
                if a == "joint":  # raw Eq. 5 scores: hand-chosen, below the normalized ones
                    after = SIM["joint"][(x, y)] + 0.01 * seed
                    sim = {"before": 0.0, "after": after, "before_raw": 0.2 - 0.1 * seed, "after_raw": after / 2}
                elif seed == 1:  # seed 0's plain runs lack the raw score (files of an older report)
                    sim["before_raw"], sim["after_raw"] = sim["before"] / 4, None
                write_run(workdir, seed, a, (x, y), {x: metric(x, vx), y: metric(y, vy)}, sim)


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory):
    """``(folder, report, progress lines)``: the report over :func:`fabricate`'s hand-chosen sub-run
    files (2 seeds, both alignments, nothing trained), made once for the tests that read it."""
    path = tmp_path_factory.mktemp("fabricated")
    fabricate(path)
    lines = []
    report = tr.transfer_report(tiny_config(), str(path), "both", [0, 1], lines.append, train_fn=no_training)
    return path, report, lines


def test_transfer_arithmetic_against_hand_computation(fabricated):
    tmp_path, report, lines = fabricated
    assert report.tasks == ["a", "b", "c"] and report.heterogeneous
    assert report.score_names == {"a": "accuracy", "b": "-loss (mse)", "c": "accuracy"}
    # transfer(target, source) per seed, by hand: accuracy differences; for b: -(mtl loss) - (-(stl loss))
    none_s0 = {
        ("a", "b"): 0.05,
        ("b", "a"): 0.10,
        ("a", "c"): -0.05,
        ("c", "a"): 0.10,
        ("b", "c"): -0.05,
        ("c", "b"): -0.10,
    }
    none_s1 = {
        ("a", "b"): -0.05,
        ("b", "a"): 0.10,
        ("a", "c"): 0.00,
        ("c", "a"): 0.00,
        ("b", "c"): 0.10,
        ("c", "b"): 0.20,
    }
    joint_s0 = {
        ("a", "b"): 0.10,
        ("b", "a"): 0.05,
        ("a", "c"): 0.00,
        ("c", "a"): 0.05,
        ("b", "c"): 0.05,
        ("c", "b"): 0.00,
    }
    joint_s1 = {
        ("a", "b"): 0.10,
        ("b", "a"): 0.05,
        ("a", "c"): 0.05,
        ("c", "a"): 0.10,
        ("b", "c"): 0.05,
        ("c", "b"): 0.10,
    }
    idx = {"a": 0, "b": 1, "c": 2}
    for a, (s0, s1) in {"none": (none_s0, none_s1), "joint": (joint_s0, joint_s1)}.items():
        for (t, s), v0 in s0.items():
            v1 = s1[(t, s)]
            assert report.transfer[a][idx[t], idx[s]] == pytest.approx((v0 + v1) / 2, abs=1e-12)
            assert report.transfer_std[a][idx[t], idx[s]] == pytest.approx(abs(v0 - v1) / np.sqrt(2), abs=1e-12)
        assert np.all(np.isnan(np.diag(report.transfer[a])))
    # similarity: mean over the two seeds (+0.00, +0.01), symmetric, diagonal 1
    before, after = report.similarity["before"], report.similarity["after"]
    assert before[0, 1] == before[1, 0] == pytest.approx(0.905)
    assert before[1, 2] == pytest.approx(0.705) and after[0, 2] == pytest.approx(0.405)
    assert np.allclose(np.diag(before), 1) and np.allclose(np.diag(after), 1)
    # one progress line per sub-run, all skipped: 2 seeds x (3 STL + 2 x 3 pairs)
    assert len(lines) == 18 and all("skipped" in line for line in lines)
    assert lines[0].startswith("[ 1/18] seed=0 stl a")
    # files
    for name in ("transfer.md", "transfer.csv", "transfer.json", "transfer_heatmap.png"):
        assert os.path.getsize(tmp_path / name) > 0, name
    with open(tmp_path / "transfer_heatmap.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "transfer.json").read_text())
    assert data["transfer"]["none"][2][1] == pytest.approx(0.05)  # c <- b: (-0.10 + 0.20) / 2
    assert data["transfer"]["none"][0][0] is None
    rows = (tmp_path / "transfer.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 6 and rows[0].startswith("alignment,target,source")
    md = (tmp_path / "transfer.md").read_text()
    assert "| b | +0.1000 ± 0.0000 | — | +0.0250 ± 0.1061 |" in md
    # groups: pairs with positive transfer in both directions
    # none: min over directions: a+b 0.0, a+c -0.025, b+c +0.025 -> only b+c helps both ways
    assert tables.suggested_groups(report, "none") == [("b", "c", pytest.approx(0.025))]
    assert [g[:2] for g in tables.suggested_groups(report, "joint")] == [("b", "c"), ("a", "b"), ("a", "c")]


def test_score_is_accuracy_or_minus_loss():
    from mtlzoo.tasks import tasks_from_config

    specs = {
        t.name: t
        for t in tasks_from_config({"x": {"kind": "multilabel", "num_classes": 3}, "y": {"kind": "regression"}})
    }
    assert tr.task_score(specs["x"], {"loss": 0.3, "accuracy": 0.9}) == 0.9
    assert tr.task_score(specs["y"], {"loss": 0.3, "mse": 0.3}) == -0.3


def test_real_runs_match_their_metrics_and_resume_skips_finished(tmp_path):
    cfg = tiny_config({"a": {"kind": "binary"}, "b": {"kind": "regression"}})
    report = tr.transfer_report(cfg, str(tmp_path), "both", [0], progress=None)

    def read(kind, names):
        with open(os.path.join(tr.run_dir_of(str(tmp_path), 0, kind, names), "metrics.json")) as f:
            return json.load(f)

    stl_a, stl_b = read("stl", ("a",))["a"]["accuracy"], -read("stl", ("b",))["b"]["loss"]
    for a in ("none", "joint"):
        m = read(a, ("a", "b"))
        assert report.transfer[a][0, 1] == pytest.approx(m["a"]["accuracy"] - stl_a)
        assert report.transfer[a][1, 0] == pytest.approx(-m["b"]["loss"] - stl_b)
    # before alignment the mlp's embedding is the raw features: check against the data directly
    from mtlzoo.analysis.covariance import normalized_covariance_similarity
    from mtlzoo.config import resolve_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    resolved = resolve_config(cfg)
    train = load_data(resolved, tasks_from_config(resolved.tasks)).split("train")
    x, tid = train.features["features"], train.features["task_id"]
    expected = normalized_covariance_similarity(x[tid == 0], x[tid == 1])
    assert report.similarity["before"][0, 1] == pytest.approx(expected, rel=1e-5)
    assert 0 <= report.similarity["after"][0, 1] <= 1
    # the raw Eq. 5 score, by numpy: eigen-pairs of X_i^T X_i holding 99% of the trace, F_i = U_i D_i^(1/2)
    factors = []
    for xi in (np.asarray(x[tid == 0], np.float64), np.asarray(x[tid == 1], np.float64)):
        eig, vec = np.linalg.eigh(xi.T @ xi)
        eig, vec = eig[::-1], vec[:, ::-1]
        r = int(np.argmax(np.cumsum(eig) / eig.sum() >= 0.99 - 1e-12)) + 1
        factors.append(vec[:, :r] * np.sqrt(eig[:r]))
    f1, f2 = factors
    eq5 = np.linalg.norm(f1.T @ f2) / (np.linalg.norm(f1) * np.linalg.norm(f2))
    assert report.similarity["before_raw"][0, 1] == pytest.approx(eq5, rel=1e-5)
    assert 0 <= report.similarity["after_raw"][0, 1] <= report.similarity["after"][0, 1] + 1e-9
    md = (tmp_path / "transfer.md").read_text()
    assert "(before alignment, raw Eq. 5)" in md and f"{eq5:.3f}" in md

    # resume: remove one finished sub-run; only it is trained again
    import shutil

    shutil.rmtree(tr.run_dir_of(str(tmp_path), 0, "stl", ("b",)))
    trained, lines = [], []

    def counting_train(config, workdir):
        from mtlzoo.training import train

        trained.append(workdir)
        return train(config, workdir)

    again = tr.transfer_report(cfg, str(tmp_path), "both", [0], lines.append, train_fn=counting_train)
    assert trained == [tr.run_dir_of(str(tmp_path), 0, "stl", ("b",))]
    assert sum("skipped" in line for line in lines) == 3 and sum("trained" in line for line in lines) == 1
    np.testing.assert_allclose(again.transfer["none"], report.transfer["none"], atol=1e-6)

    # one row per example: its own files beside the per-token ones, from the saved models (no training);
    # the mlp's embedding is one vector per example already, so the scores agree
    token_md = (tmp_path / "transfer.md").read_text()
    ex = tr.transfer_report(cfg, str(tmp_path), "both", [0], None, train_fn=no_training, similarity_rows="examples")
    assert ex.similarity["before"][0, 1] == pytest.approx(report.similarity["before"][0, 1], rel=1e-9)
    assert ex.similarity["after_raw"][0, 1] == pytest.approx(report.similarity["after_raw"][0, 1], rel=1e-9)
    assert os.path.exists(
        os.path.join(tr.run_dir_of(str(tmp_path), 0, "joint", ("a", "b")), "similarity_examples.json")
    )
    assert "one per example" in (tmp_path / "transfer_examples.md").read_text()
    assert (tmp_path / "transfer.md").read_text() == token_md

    # a different config in the same workdir is refused, not silently mixed in
    cfg2 = tiny_config({"a": {"kind": "binary"}, "b": {"kind": "regression"}})
    cfg2["train"]["learning_rate"] = 0.5
    with pytest.raises(ConfigError, match="different config"):
        tr.transfer_report(cfg2, str(tmp_path), "both", [0], progress=None, train_fn=no_training)


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"config": tiny_config({"a": {"kind": "binary"}})}, "at least 2 tasks"),
        ({"alignment": "sometimes"}, "unknown alignment 'sometimes'"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [0, 0]}, "repeat"),
        ({"seeds": [-1]}, "non-negative"),
        ({"similarity_rows": "words"}, "similarity_rows.*unknown value 'words'"),
    ],
)
def test_bad_input_raises_config_error(kwargs, words, tmp_path):
    args = {"config": tiny_config(), "alignment": "both", "seeds": [0], "similarity_rows": "tokens", **kwargs}
    with pytest.raises(ConfigError, match=words):
        tr.transfer_report(
            args["config"],
            str(tmp_path),
            args["alignment"],
            args["seeds"],
            None,
            no_training,
            similarity_rows=args["similarity_rows"],
        )
    assert not os.path.exists(tmp_path / "runs")


def test_shared_input_data_is_named_and_alignment_refused(tmp_path):
    digits = tiny_config({"parity": {"kind": "binary"}, "magnitude": {"kind": "binary"}}, source="digits")
    with pytest.raises(ConfigError, match="alignment cannot separate the tasks"):
        tr.transfer_report(digits, str(tmp_path), "joint", [0], None, no_training)
    from mtlzoo.config import resolve_config
    from mtlzoo.tasks import tasks_from_config

    resolved = resolve_config(digits)
    assert tr.check_data(resolved, tasks_from_config(resolved.tasks)) is False
    resolved = resolve_config(tiny_config())
    assert tr.check_data(resolved, tasks_from_config(resolved.tasks)) is True


def test_source_that_changes_a_task_with_the_task_set_is_refused(monkeypatch, tmp_path):
    from mtlzoo.data.sources import SyntheticSource

    original = SyntheticSource.load

    def load(opts, tasks, seed):  # a task's data depends on how many tasks are configured
        return original(opts, tasks, seed + len(tasks))

    monkeypatch.setattr(SyntheticSource, "load", staticmethod(load))
    with pytest.raises(ConfigError, match="different validation data"):
        tr.transfer_report(tiny_config(), str(tmp_path), "none", [0], None, no_training)


def test_alignment_effect_per_pair_against_hand_computation(fabricated):
    """Pair score = mean of the two tasks' scores (b: -loss); gain paired by seed; similarity of the aligned model."""
    tmp_path, report, _ = fabricated
    rows = {r["pair"]: r for r in tables.alignment_effect(report)}
    # (a, b): none (0.85 - 0.40) / 2 and (0.65 - 0.20) / 2; joint (0.90 - 0.45) / 2 and (0.80 - 0.25) / 2
    assert rows[("a", "b")]["score_none"] == pytest.approx(0.225)
    assert rows[("a", "b")]["score_aligned"] == pytest.approx(0.25)
    assert rows[("a", "c")]["gain"] == pytest.approx((0.0 + 0.075) / 2)
    assert rows[("b", "c")]["gain"] == pytest.approx((0.10 - 0.075) / 2)
    assert rows[("a", "b")]["sim_before"] == pytest.approx(0.0) and rows[("a", "b")]["sim_after"] == pytest.approx(
        0.505
    )
    md = (tmp_path / "transfer.md").read_text()
    assert "raises the pair's mean score on 3 of 3 pairs (largest gain +0.0375, a+c" in md
    assert "(normalized) is higher after the alignment than at E on 3 of 3 pairs" in md
    # raw Eq. 5: at E 0.2 (seed 0) and 0.1 (seed 1), after = half the normalized score
    assert rows[("a", "b")]["sim_before_raw"] == pytest.approx(0.15)
    assert rows[("a", "b")]["sim_after_raw"] == pytest.approx(0.505 / 2)
    assert rows[("b", "c")]["sim_after_raw"] == pytest.approx(0.305 / 2)
    assert "(raw Eq. 5) is higher after the alignment than at E on 3 of 3 pairs" in md  # 0.2525 > 0.15 etc.
    # gain per seed: (0.90 - 0.45 - 0.85 + 0.40) / 2 = 0 and (0.80 - 0.25 - 0.65 + 0.20) / 2 = 0.05
    assert rows[("a", "b")]["gain_std"] == pytest.approx(np.std([0.0, 0.05], ddof=1))
    # the plain runs' raw score: seed 1 only (seed 0's files lack it), so the mean over seeds is NaN
    assert np.isnan(report.similarity["before_raw"][0, 1])
    assert "Covariance similarity of the embeddings (before alignment, raw Eq. 5)" not in md
    assert (tmp_path / "transfer_alignment.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
