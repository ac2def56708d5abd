"""Per-worker sharding of a files source (MultiWorkerMirroredStrategy: one input pipeline per
worker), driven with ``tf.distribute.InputContext`` directly: with at least as many files as
pipelines each reads its own files, else every n-th record; both deterministic for resume.
The expected rows come from the csv module."""

import csv

import pytest

from tests.data.files_helpers import load

TASKS = {"y": {"kind": "binary"}}
FEATURES = {"f": {"kind": "numeric", "columns": ["x"]}}


def _write(path, xs):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y"])
        for x in xs:
            w.writerow([x, x % 2])


def _read(path):
    with open(path, newline="") as f:
        return [float(r["x"]) for r in csv.DictReader(f)]


def _ctx(p, pipelines=2, replicas=2):
    import tensorflow as tf

    return tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=p, num_replicas_in_sync=replicas)


def _values(ds):
    return [b[0]["f"].numpy()[:, 0].tolist() for b in ds]


def _shards(tmp_path, n_files, rows=3):
    d = tmp_path / "shards"
    d.mkdir(parents=True)
    for i in range(n_files):
        _write(d / f"part-{i}.csv", [100 * i + j for j in range(rows + i)])  # uneven files
    cfg = {"files": [{"path": str(d / "part-*.csv"), "format": "csv", "split": "train"}], "features": FEATURES}
    return [d / f"part-{i}.csv" for i in range(n_files)], load(TASKS, cfg, seed=3)


def test_each_worker_reads_its_own_files(tmp_path):
    paths, data = _shards(tmp_path, 5)
    split = data.split("train")
    for p in range(2):
        mine = sorted(x for path in paths[p::2] for x in _read(path))  # files p, p + 2, ...
        part = split.shard(p, 2)
        assert part.num_examples == len(mine)
        for epoch in (0, 1):
            assert sorted(float(f["f"][0]) for f, _, _ in part.make(epoch)) == mine
        # train_dataset: one batch of 4 / 2 replicas = 2 examples per step, only from its files
        steps = _values(data.train_dataset(["f"], 4, 0, 6, _ctx(p)))
        assert len(steps) == 6 and all(len(s) == 2 for s in steps)
        assert {x for s in steps for x in s} <= set(mine)


def test_fewer_files_than_workers_every_nth_record(tmp_path):
    _write(tmp_path / "one.csv", list(range(11)))
    cfg = {"files": [{"path": str(tmp_path / "one.csv"), "format": "csv", "split": "train"}], "features": FEATURES}
    data = load(TASKS, cfg)
    rows = _read(tmp_path / "one.csv")
    seen = []
    for p in range(2):
        part = data.split("train").shard(p, 2)
        assert part.num_examples == len(rows[p::2])
        assert [float(f["f"][0]) for f, _, _ in part.make(None)] == rows[p::2]
        epoch0 = sorted(float(f["f"][0]) for f, _, _ in part.make(0))
        assert epoch0 == sorted(rows[p::2])
        seen += epoch0
    assert sorted(seen) == rows  # the workers' parts partition the file


@pytest.mark.parametrize("n_files, rows", [(1, 15), (3, 5)])
def test_a_resumed_worker_sees_the_same_batches(tmp_path, n_files, rows):
    """Steps 4..8 of a worker resumed at step 4 (2 examples a step) are those of its run from
    step 0, and a reload of the same files (a fresh process) gives the run from step 0 again.
    One file of 15 rows, every 2nd record (8 and 7 rows a worker): worker 0 resumes at the start
    of its epoch 1, worker 1 one row into its epoch 1; three files of 5, 6 and 7 rows, by files
    (files 0 and 2: 12 rows; file 1: 6): worker 0 resumes 8 rows into epoch 0, worker 1 two
    rows into epoch 1. Every run reads 2 or 3 epochs (each epoch one pipeline)."""
    _, data = _shards(tmp_path, n_files, rows)
    _, again = _shards(tmp_path / "again", n_files, rows)  # a fresh process: same files, same seed
    for p in range(2):
        whole = _values(data.train_dataset(["f"], 4, 0, 9, _ctx(p)))
        assert _values(data.train_dataset(["f"], 4, 4, 9, _ctx(p))) == whole[4:]
        assert _values(again.train_dataset(["f"], 4, 0, 9, _ctx(p))) == whole


def test_two_replicas_per_worker(tmp_path):
    paths, data = _shards(tmp_path, 4)
    mine = {x for path in paths[1::2] for x in _read(path)}
    steps = _values(data.train_dataset(["f"], 8, 0, 3, _ctx(1, pipelines=2, replicas=4)))
    assert len(steps) == 6 and all(len(s) == 2 for s in steps)  # 3 steps x 2 local replicas, 8 / 4 each
    assert {x for s in steps for x in s} <= mine
