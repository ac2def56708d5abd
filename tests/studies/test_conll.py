"""The CoNLL-2000 MTL-vs-STL study: report arithmetic against numpy, scores against hand counts,
and one tiny end-to-end run on a fake corpus (resumed on a second call)."""

import json
import os

import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.studies import conll as cs

TAGS = ["[PAD]", "[UNK]", "B-NP", "I-NP", "O", "B-VP"]


def _onehot(ids, n):
    return np.eye(n)[np.asarray(ids)]


def _fake_runs(rng, seeds_by_arm):
    runs = {}
    for arm, seeds in seeds_by_arm.items():
        runs[arm] = []
        for s in seeds:
            test = {}
            for task in cs.ARMS[arm]:
                test[task] = {"token_accuracy": float(rng.uniform(0.8, 1.0))}
                if task == "chunk":
                    test[task]["f1"] = float(rng.uniform(0.7, 1.0))
            runs[arm].append({"seed": s, "split": "test", "test": test})
    return runs


def test_summarize_against_numpy():
    rng = np.random.default_rng(3)
    runs = _fake_runs(rng, {"stl_pos": [0, 1, 2], "stl_chunk": [1, 2, 5], "mtl": [0, 1, 2, 3]})
    summary = cs.summarize(runs)
    for arm, results in runs.items():
        for task, metric in cs.METRICS:
            key = f"{task}/{metric}"
            if task not in cs.ARMS[arm]:
                assert key not in summary["arms"][arm]
                continue
            vals = np.array([r["test"][task][metric] for r in results])
            got = summary["arms"][arm][key]
            assert got["mean"] == pytest.approx(vals.mean())
            assert got["std"] == pytest.approx(vals.std(ddof=1))
            assert got["n"] == len(vals)
    mtl = {r["seed"]: r["test"] for r in runs["mtl"]}
    for task, metric in cs.METRICS:
        stl = {r["seed"]: r["test"] for r in runs[f"stl_{task}"]}
        common = sorted(set(mtl) & set(stl))
        diffs = np.array([mtl[s][task][metric] - stl[s][task][metric] for s in common])
        p = summary["paired"][f"{task}/{metric}"]
        assert p["seeds"] == common
        np.testing.assert_allclose(p["diffs"], diffs)
        assert p["mean"] == pytest.approx(diffs.mean()) and p["std"] == pytest.approx(diffs.std(ddof=1))
        assert p["wins"] == int((diffs > 0).sum())
    # the pairing of chunk uses the seeds both arms have: 1 and 2
    assert summary["paired"]["chunk/f1"]["seeds"] == [1, 2]


def test_one_seed_has_zero_std_and_report_formats_x100():
    runs = {
        "stl_chunk": [{"seed": 0, "split": "test", "test": {"chunk": {"token_accuracy": 0.9, "f1": 0.8, "tokens": 7}}}],
        "mtl": [
            {
                "seed": 0,
                "split": "test",
                "examples": 2,
                "test": {
                    "pos": {"token_accuracy": 0.95},
                    "chunk": {"token_accuracy": 0.925, "f1": 0.8125, "tokens": 7},
                },
            }
        ],
    }
    study = {"seeds": [0], "runs": runs, "summary": cs.summarize(runs)}
    assert study["summary"]["arms"]["mtl"]["chunk/f1"]["std"] == 0.0
    md = cs.markdown_report(study)
    assert "| MTL pos+chunk | 95.00 ± 0.00 | 92.50 ± 0.00 | 81.25 ± 0.00 |" in md
    assert "| chunk F1 (conlleval) | 1.25 ± 0.00 | 1 of 1 seeds |" in md
    assert "Test split (7 tokens), x100" in md
    assert "POS token accuracy" not in md.split("MTL − STL")[1]  # no STL pos arm: no pos pair


def _base_config(root, pos_classes, chunk_classes):
    from mtlzoo.config import with_defaults

    return with_defaults(
        {
            "seed": 0,
            "tasks": {
                "pos": {"kind": "tagging", "num_classes": pos_classes},
                "chunk": {"kind": "tagging", "num_classes": chunk_classes},
            },
            "data": {"source": "conll2000", "nltk_data": str(root), "batch_size": 4, "max_length": 8},
            "model": {
                "encoder": {"name": "tagger", "vocab_size": 40, "max_length": 8, "embedding_dim": 4, "hidden": 4},
                "tower": {"units": []},
            },
            "train": {"epochs": 2, "verbose": 0},
        }
    )


def test_arm_config_keeps_hyperparameters_and_rejects_unknown_arms(tmp_path):
    base = _base_config(tmp_path, 5, 5)
    cfg = cs.arm_config(base, "stl_chunk", 7)
    assert list(cfg.tasks) == ["chunk"] and cfg.seed == 7
    assert cfg.model.to_dict() == base.model.to_dict() and cfg.train.to_dict() == base.train.to_dict()
    assert sorted(base.tasks) == ["chunk", "pos"]  # the base is not modified
    with pytest.raises(ConfigError, match="unknown arm 'stl_ner'"):
        cs.arm_config(base, "stl_ner", 0)


def _fake_corpus(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the", "dog", "runs", "a", "cat", "sat", "on", "mat", "big", "red"]
    pos = {"the": "DT", "a": "DT", "dog": "NN", "cat": "NN", "mat": "NN", "runs": "VBZ", "sat": "VBD"}
    pos.update({"on": "IN", "big": "JJ", "red": "JJ"})

    def sentence():
        out, prev = [], None
        for _ in range(rng.integers(2, 7)):
            w = words[rng.integers(len(words))]
            p = pos[w]
            np_ = p in ("DT", "NN", "JJ")
            chunk = ("I-NP" if prev == "NP" else "B-NP") if np_ else ("B-VP" if p.startswith("V") else "B-PP")
            prev = "NP" if np_ else None
            out.append(f"{w} {p} {chunk}")
        return "\n".join(out) + "\n"

    d = tmp_path / "nltk_data" / "corpora" / "conll2000"
    d.mkdir(parents=True)
    (d / "train.txt").write_text("\n".join(sentence() for _ in range(40)))
    (d / "test.txt").write_text("\n".join(sentence() for _ in range(10)))
    pos_tags = {line.split()[1] for line in (d / "train.txt").read_text().splitlines() if line}
    chunk_tags = {line.split()[2] for line in (d / "train.txt").read_text().splitlines() if line}
    return tmp_path / "nltk_data", len(pos_tags) + 2, len(chunk_tags) + 2


@pytest.mark.slow
def test_end_to_end_on_a_fake_corpus_and_resume(tmp_path, monkeypatch):
    import keras

    from mtlzoo.models import load_model

    root, n_pos, n_chunk = _fake_corpus(tmp_path)
    base = _base_config(root, n_pos, n_chunk)
    work = str(tmp_path / "study")
    study = cs.run_conll_study(base, work, seeds=(0,), progress=None)
    assert set(study["runs"]) == set(cs.ARMS)
    assert list(study["runs"]["stl_pos"][0]["test"]) == ["pos"]
    mtl = study["runs"]["mtl"][0]
    assert [r["epoch"] for r in mtl["curve"]] == [1, 2] and "val_chunk_accuracy" in mtl["curve"][0]
    # the stored test accuracy is what the saved model gives (numpy over real tokens of the test file)
    run_dir = os.path.join(work, "mtl", "seed0")
    model = load_model(os.path.join(run_dir, "model.keras"))
    from mtlzoo.config import read_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    cfg = read_config(run_dir)
    data = load_data(cfg, tasks_from_config(cfg.tasks))
    test = data.split("test")
    out = model.predict({"tokens": test.features["tokens"]}, verbose=0)
    real = test.features["tokens"] != 0
    for task in ("pos", "chunk"):
        acc = (np.argmax(out[task], -1) == test.labels[task])[real].mean()
        assert mtl["test"][task]["token_accuracy"] == pytest.approx(acc, abs=1e-6)
    assert mtl["test"]["chunk"]["tokens"] == real.sum()
    md, png = cs.write_outputs(study, work)
    assert os.path.getsize(png) > 0 and "MTL pos+chunk" in open(md).read()
    with open(os.path.join(work, "conll_study.json")) as f:
        assert json.load(f)["summary"]["arms"]["mtl"]["chunk/f1"]["n"] == 1

    # a second call reads the finished runs back instead of training
    def no_training(*a, **k):
        raise AssertionError("a finished run was retrained")

    monkeypatch.setattr(cs, "run_one", no_training)
    keras.utils.clear_session()
    again = cs.run_conll_study(base, work, seeds=(0,), progress=None)
    assert again["summary"] == json.loads(json.dumps(study["summary"]))
    # a finished folder of another config is refused, not read back as if it were this one
    with base.unlocked():
        base.train.learning_rate = float(base.train.learning_rate) * 2
    with pytest.raises(ConfigError, match="different config"):
        cs.run_conll_study(base, work, seeds=(0,), progress=None)
