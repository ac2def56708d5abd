"""Resume on a streamed (files) source: a run stopped after epoch 1 and continued equals the
uninterrupted run. The data (n = 45, batch 8) make epoch 2 start mid-way through the data's
second pass (step 6 begins at example 48 = pass 1, offset 3), so the skip-to-offset rule is used."""

import csv

import numpy as np


def _config(tmp_path, epochs):
    return {
        "seed": 0,
        "tasks": {"a": {"kind": "binary"}, "b": {"kind": "regression"}},
        "data": {
            "source": "files",
            "batch_size": 8,
            "files": [
                {"path": str(tmp_path / "a.csv"), "format": "csv", "split": "train", "tasks": ["a"]},
                {"path": str(tmp_path / "b.csv"), "format": "csv", "split": "train", "tasks": ["b"]},
                {"path": str(tmp_path / "a.csv"), "format": "csv", "split": "validation", "tasks": ["a"]},
            ],
            "features": {"features": {"kind": "numeric", "columns": ["x1", "x2", "x3"]}},
            "shuffle_buffer": 16,
        },
        "model": {"encoder": {"name": "mlp", "input_dim": 3, "units": [8]}, "tower": {"units": [4]}},
        "train": {"epochs": epochs, "verbose": 0, "learning_rate": 0.01},
    }


def _write(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("a", 25), ("b", 20)):
        with open(tmp_path / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["x1", "x2", "x3", name])
            for _ in range(n):
                x = rng.normal(size=3)
                w.writerow([*np.round(x, 4), int(x[0] > 0) if name == "a" else round(float(x.sum()), 4)])


def test_resumed_files_run_equals_uninterrupted(tmp_path):
    from mtlzoo.training import train

    _write(tmp_path)
    ref = train(_config(tmp_path, 2), str(tmp_path / "ref"))
    train(_config(tmp_path, 1), str(tmp_path / "split"))
    resumed = train(_config(tmp_path, 2), str(tmp_path / "split"))
    for a, b in zip(ref.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
