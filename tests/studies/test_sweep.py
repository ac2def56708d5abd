"""Sweeps: resumable runs, STL-vs-MTL and capacity summaries against hand-computed numbers."""

import json
import os

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from mtlzoo.studies import sweep

CFG = {
    "tasks": {"a": {"kind": "binary"}, "b": {"kind": "binary"}},
    "data": {"source": "synthetic", "examples_per_task": 20, "input_dim": 4},
    "model": {"encoder": {"name": "mlp", "input_dim": 4, "units": [3]}},
}


class FakeTrain:
    """Writes metrics.json with accuracy = f(config) instead of training; counts calls."""

    def __init__(self, score):
        self.score, self.calls = score, []

    def __call__(self, cfg, run_dir):
        os.makedirs(run_dir, exist_ok=True)
        self.calls.append(run_dir)
        metrics = {t: {"accuracy": self.score(cfg, t)} for t in cfg.tasks}
        with open(os.path.join(run_dir, "metrics.json"), "w") as f:
            json.dump(metrics, f)

        class Result:
            pass

        r = Result()
        r.metrics, r.model = metrics, None
        return r


def test_run_sweep_trains_each_run_once_and_resumes(tmp_path):
    fake = FakeTrain(lambda cfg, t: 0.5 + 0.1 * cfg.seed)
    variants = {"x/one": CFG, "y": {**CFG, "tasks": {"a": {"kind": "binary"}}}}
    runs = sweep.run_sweep(variants, str(tmp_path), seeds=(0, 2), progress=None, train_fn=fake)
    assert sorted(fake.calls) == sorted(str(tmp_path / n / f"seed_{s}") for n in ("x/one", "y") for s in (0, 2))
    assert [m["a"]["accuracy"] for m in runs["x/one"]] == pytest.approx([0.5, 0.7])
    again = sweep.run_sweep(variants, str(tmp_path), seeds=(0, 2), progress=None, train_fn=fake)
    assert len(fake.calls) == 4 and again == runs  # nothing retrained


def test_run_sweep_rejects_bad_names_seeds_and_configs(tmp_path):
    fake = FakeTrain(lambda cfg, t: 0.5)
    with pytest.raises(ConfigError, match="not a relative folder"):
        sweep.run_sweep({"../up": CFG}, str(tmp_path), train_fn=fake)
    with pytest.raises(ConfigError, match="seeds"):
        sweep.run_sweep({"x": CFG}, str(tmp_path), seeds=(), train_fn=fake)
    with pytest.raises(ConfigError, match="model.encoder"):
        sweep.run_sweep({"x": {**CFG, "model": {"encoder": {"name": "nope"}}}}, str(tmp_path), train_fn=fake)
    assert fake.calls == []


def test_stl_vs_mtl_against_hand_numbers():
    acc = lambda **kw: {t: {"accuracy": v} for t, v in kw.items()}  # noqa: E731
    stl = {"a": [acc(a=0.70), acc(a=0.74)], "b": [acc(b=0.80), acc(b=0.90)]}
    mtl = [acc(a=0.75, b=0.78), acc(a=0.77, b=0.86)]
    r = sweep.stl_vs_mtl(stl, mtl, ["a", "b"])
    gains = np.array([[0.05, -0.02], [0.03, -0.04]])
    np.testing.assert_allclose(r["gain"], gains.mean(0))
    np.testing.assert_allclose(r["gain_std"], gains.std(0, ddof=1))
    np.testing.assert_allclose(r["stl"], [0.72, 0.85])
    assert r["mean"]["gain"] == pytest.approx(gains.mean())
    assert r["mean"]["gain_std"] == pytest.approx(gains.mean(1).std(ddof=1))
    table = sweep.stl_vs_mtl_markdown({"enc": r})
    assert "| a | 72.0 ± 2.8 | 76.0 ± 1.4 | 4.0 ± 1.4 |" in table
    with pytest.raises(ConfigError, match="task 'b' has 1 single-task runs"):
        sweep.stl_vs_mtl({"a": stl["a"], "b": stl["b"][:1]}, mtl, ["a", "b"])
    with pytest.raises(ConfigError, match="no 'auc' for task 'a'"):
        sweep.stl_vs_mtl(stl, mtl, ["a", "b"], metric="auc")


def test_capacity_curve_mean_and_best(tmp_path):
    acc = lambda a, b: {"a": {"accuracy": a}, "b": {"accuracy": b}}  # noqa: E731
    runs = {5: [acc(0.6, 0.7)], 50: [acc(0.8, 0.9)], 500: [acc(0.75, 0.85)]}
    c = sweep.capacity_curve(runs, ["a", "b"])
    assert c["capacities"] == [5, 50, 500] and c["best"] == 50
    np.testing.assert_allclose(c["mean"], [0.65, 0.85, 0.8])
    assert "**(best)**" in sweep.capacity_markdown(c).splitlines()[3]
    path = sweep.plot_capacity(c, str(tmp_path / "c.png"), stl_mean=0.7)
    assert os.path.getsize(path) > 1000


def test_cross_task_overlap_counts_shared_inputs():
    from mtlzoo.analysis.overlap import cross_task_overlap
    from mtlzoo.data.base import Split, TaskData

    tok = lambda *rows: np.asarray(rows, np.int32)  # noqa: E731
    train = Split(
        {"tokens": tok([1, 2], [3, 4], [5, 6], [1, 2]), "task_id": np.asarray([0, 0, 1, 1], np.int32)}, {}, {}
    )
    test = Split({"tokens": tok([1, 2], [5, 6], [7, 8], [3, 4]), "task_id": np.asarray([0, 0, 1, 1], np.int32)}, {}, {})
    m, counts = cross_task_overlap(TaskData({"train": train, "test": test}), ["a", "b"])
    # a's test rows [1 2], [5 6]: [1 2] in a's train and in b's train, [5 6] in b's; b's [7 8] nowhere, [3 4] in a's
    np.testing.assert_array_equal(m, [[1, 2], [1, 0]])
    np.testing.assert_array_equal(counts, [2, 2])
