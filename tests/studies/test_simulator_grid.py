"""The simulator grid study: config errors, resumable CSV after a crash, row values, the tagger."""

import csv
import os

import pytest

from mtlzoo.data import simulator as sim
from mtlzoo.errors import ConfigError
from mtlzoo.studies import simulator_grid as grid


@pytest.fixture(scope="module")
def corpus():
    return sim.hmm_corpus(pool_tokens=60_000, test_tokens=3_000, seed=3)


# ------------------------------------------------------------------------------ grid


TINY = {
    "seed": 0,
    "simulator": {"pool_tokens": 20_000, "test_tokens": 500},
    "grid": {"n_tasks": [1, 2], "n_tokens_per_task": [100, 200], "mutual_info": [0.2, 0.8], "repeats": 2},
}


@pytest.mark.parametrize(
    "patch,field",
    [
        ({"grid": {"n_tasks": [0, 2]}}, "grid.n_tasks"),
        ({"grid": {"mutual_info": [0.5, 1.5]}}, "grid.mutual_info"),
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"model": {"hiden": 3}}, "model.hiden"),
        ({"simulator": {"source": "conll2003"}}, "simulator.source"),
        ({"simulator": {"pool_tokens": 300}}, "simulator.pool_tokens"),
    ],
)
def test_grid_config_errors_name_the_field(patch, field):
    cfg = {**TINY, **{k: {**TINY.get(k, {}), **v} for k, v in patch.items()}}
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        grid.resolve_grid_config(cfg)


class FakeCell:
    """Stands in for the tagger: records calls, can crash after k calls."""

    def __init__(self, crash_after=None):
        self.calls = []
        self.crash_after = crash_after

    def __call__(self, data, n_tasks, seed):
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise KeyboardInterrupt("simulated crash")
        rows = int((data.split("train").features["tokens"] != 0).sum())
        self.calls.append((n_tasks, rows, seed))
        return {"fscore": rows / 1e4, "accuracy": 0.5, "train_steps": 1, "epochs": 1.0, "train_seconds": 0.0}


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_grid_resumes_after_a_crash(tmp_path):
    wd = str(tmp_path)
    crashing = FakeCell(crash_after=5)
    with pytest.raises(KeyboardInterrupt):
        grid.run_grid(TINY, wd, cell_fn=crashing, progress=False, log=lambda *_: None)
    first = read_rows(os.path.join(wd, "results.csv"))
    assert len(first) >= 5
    # a torn last line (crash during a write) is dropped on resume
    with open(os.path.join(wd, "results.csv"), "a") as f:
        f.write("2,200,400,0.8,0.9")
    rest = FakeCell()
    grid.run_grid(TINY, wd, cell_fn=rest, progress=False, log=lambda *_: None)
    rows = read_rows(os.path.join(wd, "results.csv"))
    total = 2 * 2 * 2 * 2
    assert len(rows) == total
    keys = {(r["n_tasks"], r["n_tokens_per_task"], r["mutual_info"], r["repeat"]) for r in rows}
    assert len(keys) == total
    assert rows[: len(first)] == first  # finished rows untouched
    # finished cells were not rerun: T = 1 is trained once per (n, repeat), T = 2 once per cell
    trained_before = len(crashing.calls)
    assert trained_before + len(rest.calls) == 2 * 2 * (1 + 2)
    grid.run_grid(TINY, wd, cell_fn=FakeCell(crash_after=0), progress=False, log=lambda *_: None)  # all done
    assert read_rows(os.path.join(wd, "results.csv")) == rows


def test_grid_rows_columns_and_values(tmp_path):
    path = grid.run_grid(TINY, str(tmp_path), cell_fn=FakeCell(), progress=False, log=lambda *_: None)
    rows = read_rows(path)
    assert list(rows[0])[:6] == ["n_tasks", "n_tokens_per_task", "n_tokens_total", "mutual_info", "alpha", "fscore"]
    for r in rows:
        T, n = int(r["n_tasks"]), int(r["n_tokens_per_task"])
        assert int(r["n_tokens_total"]) == T * n
        assert float(r["fscore"]) == pytest.approx(T * n / 1e4)  # the fake saw exactly T * n real tokens
        if T == 1:
            assert r["mutual_info_measured"] == "nan"
        else:
            assert abs(float(r["mutual_info_measured"]) - float(r["mutual_info"])) < 0.3
    alphas = {r["mutual_info"]: float(r["alpha"]) for r in rows}
    assert alphas["0.2"] < alphas["0.8"]


def test_grid_refuses_a_changed_config_in_the_same_workdir(tmp_path):
    grid.run_grid(TINY, str(tmp_path), cell_fn=FakeCell(), progress=False, log=lambda *_: None)
    changed = {**TINY, "train": {"learning_rate": 0.5}}
    with pytest.raises(ConfigError, match="train"):
        grid.run_grid(changed, str(tmp_path), cell_fn=FakeCell(), progress=False, log=lambda *_: None)


def test_unbalanced_grid_fixes_the_main_task(tmp_path):
    cfg = {**TINY, "grid": {**TINY["grid"], "main_tokens": 300, "repeats": 1}}
    rows = read_rows(grid.run_grid(cfg, str(tmp_path), cell_fn=FakeCell(), progress=False, log=lambda *_: None))
    for r in rows:
        assert int(r["n_main_tokens"]) == 300
        assert int(r["n_tokens_total"]) == 300 + (int(r["n_tasks"]) - 1) * int(r["n_tokens_per_task"])


# ------------------------------------------------------------------------------ model


def test_tagger_config_builds_the_multitask_tagger():
    import mtlzoo

    model = mtlzoo.build_model(
        grid.tagger_config(
            3, 9, 50, 12, {"embedding_dim": 8, "hidden": 6, "num_layers": 1, "dense_layers": 2, "dropout": 0.0}
        )
    )
    assert sorted(model.output) == ["aux_1", "aux_2", "main"]
    assert tuple(model.output["main"].shape) == (None, 12, 9)
    names = [layer.name for layer in model.layers]
    assert "tagger_dense_0" in names and "tagger_dense_1" in names  # shared dense layers


@pytest.mark.slow
def test_reused_model_trains_like_a_fresh_one(corpus):
    """The per-T model cache gives the same result as a newly built model with the same seed."""
    model = {"embedding_dim": 8, "hidden": 8, "num_layers": 1, "dense_layers": 1, "dropout": 0.0}
    train = {
        "batch_size": 32,
        "epochs": 2,
        "min_steps": 5,
        "max_steps": None,
        "learning_rate": 0.02,
        "optimizer": "adam",
    }
    t = sim.simulate_tasks(corpus, 2, 600, alpha=0.9, seed=0)
    data = sim.to_task_data(corpus, t, 16, 800)
    other = sim.to_task_data(corpus, sim.simulate_tasks(corpus, 2, 300, alpha=0.5, seed=1), 16, 800)
    cached = grid.TaggerTrainer(model, train, corpus.num_labels, corpus.vocab_size, 16)
    cached(other, 2, 5)  # trains the cached model on something else first
    reused = cached(data, 2, 7)
    fresh = grid.TaggerTrainer(model, train, corpus.num_labels, corpus.vocab_size, 16)(data, 2, 7)
    assert reused["fscore"] == pytest.approx(fresh["fscore"], abs=1e-6)
    assert reused["accuracy"] == pytest.approx(fresh["accuracy"], abs=1e-6)
    rows = len(data.split("train"))
    assert reused["train_steps"] == fresh["train_steps"] == max(2 * -(-rows // 32), 5)
