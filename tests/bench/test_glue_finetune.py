"""bench/glue_finetune.py: its small path end to end on a tiny random one-layer BERT and tiny GLUE files
(row structure, both systems trained side by side, no timing assertions), its dev metric
against scikit-learn, and its flag checks."""

import math

import numpy as np
import pytest

from bench import glue_finetune
from tests.data.test_glue_files import write_glue
from tests.encoders.tiny_bert import write_transformers_bert


def test_dev_score_is_accuracy_or_matthews_as_scikit_learn():
    from sklearn.metrics import accuracy_score, matthews_corrcoef

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    assert glue_finetune.dev_score("rte", y, p) == pytest.approx(accuracy_score(y, p))
    assert glue_finetune.dev_score("cola", y, p) == pytest.approx(matthews_corrcoef(y, p))
    assert glue_finetune.dev_score("cola", y, np.ones(50, int)) == 0.0  # a constant prediction: 0, as sklearn


def test_override_sets_fields_as_the_tools_config_flags(tmp_path):
    ckpt = str(tmp_path / "bert")
    write_transformers_bert(ckpt)
    args = glue_finetune.parse_args(
        [
            f"--checkpoint={ckpt}",
            "--override=data.bucket_by_length=false",
            "--override=train.learning_rate=3e-5",
            "--override=model.tower.units=(8,)",
            "--override", "train.lr_schedule=constant",
        ]
    )  # fmt: skip
    cfg = glue_finetune.mtlzoo_config(args, seed=7)
    assert cfg.data.bucket_by_length is False and cfg.train.learning_rate == 3e-5
    assert tuple(cfg.model.tower.units) == (8,) and cfg.train.lr_schedule == "constant" and cfg.seed == 7
    assert glue_finetune.mtlzoo_config(glue_finetune.parse_args([f"--checkpoint={ckpt}"])).data.bucket_by_length


def test_dev_stats_are_mean_and_sample_sd():
    mean, sd = glue_finetune.dev_stats([0.70, 0.74, 0.75])
    assert mean == pytest.approx(np.mean([0.70, 0.74, 0.75])) and sd == pytest.approx(
        np.std([0.70, 0.74, 0.75], ddof=1)
    )
    assert glue_finetune.dev_stats([0.7]) == (0.7, None) and glue_finetune.dev_stats([None]) == (None, None)


def test_one_system_alone_gives_its_rates_and_dev_without_ratios():
    args = glue_finetune.parse_args(["--systems=mtlzoo", "--rounds=3", "--seed=5", "--examples=32", "--batch=16"])
    run = {"epoch_s": [9.0, 2.0, 4.0], "steps_s": [8.0, 1.0, 2.0], "wall_s": 20.0, "pieces": {"evaluate": [1, 2, 3]}}
    runs = [{"mtlzoo": {**run, "dev": d}} for d in (0.70, 0.76, 0.73)]
    row = glue_finetune.summarize(args, runs)
    assert row["seeds"] == [5, 6, 7] and row["systems"] == ["mtlzoo"]
    assert row["mtlzoo_epoch_examples_per_s"] == pytest.approx(np.median([32 / 2.0, 32 / 4.0]))
    assert row["mtlzoo_dev_rounds"] == [0.70, 0.76, 0.73] and row["mtlzoo_dev"] == pytest.approx(0.73)
    assert row["mtlzoo_dev_sd"] == pytest.approx(0.03)
    assert not any(k.startswith(("keras_hub", "ratio", "dev_difference")) for k in row)


def test_loop_calls_are_summed_per_epoch():
    # 25 steps per epoch, 10 per call: 3 calls per epoch (10, 10, 5)
    assert glue_finetune._group([1, 1, 0.5, 2, 2, 1], 25, 10) == [2.5, 5]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--examples=30", "--batch=16"], "must be a positive multiple of --batch=16"),
        (["--epochs=1"], "at least 2"),
        (["--rounds=0"], "must be at least 1"),
        (["--systems=mtlzoo,torch"], "name each of mtlzoo, keras_hub at most once"),
        (["--override=data.bucket_by_length"], "expected KEY=VALUE"),
        (["--override=data.no_such_field=1"], "the config has no field 'data.no_such_field'"),
        (["--override=data.bucket_by_length=3"], "cannot be casted"),
        (["--override=train.learning_rate=-1"], "train.learning_rate: must be > 0"),
    ],
)
def test_bad_flags_exit_2(args, words, capsys, tmp_path):
    ckpt = str(tmp_path / "bert")
    write_transformers_bert(ckpt)  # an override is checked against a config whose checkpoint exists
    with pytest.raises(SystemExit) as e:
        glue_finetune.parse_args([*args, f"--checkpoint={ckpt}"])
    assert e.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.slow
def test_small_path_trains_both_systems_side_by_side(tmp_path):
    ckpt = str(tmp_path / "bert")
    write_transformers_bert(ckpt, layers=1)  # the harness is checked, not BERT's depth
    root = write_glue(str(tmp_path / "GLUE"), tasks=("sst2",), train_copies=6)  # 18 training sentences
    out = str(tmp_path / "row.json")
    row = glue_finetune.main(
        [
            "--task=sst2",
            "--examples=8",
            "--validation=2",
            "--batch=4",
            "--epochs=2",
            "--rounds=2",
            "--seed=3",
            "--override=train.lr_schedule=constant",
            f"--checkpoint={ckpt}",
            f"--data_dir={root}",
            f"--out={out}",
            "--hub_sequence_length=32",  # the tiny BERT has 64 positions
        ]
    )
    assert row["steps_per_epoch"] == 2 and row["keras_hub_sequence_length"] == 32
    assert row["seeds"] == [3, 4] and row["mtlzoo_overrides"] == ["train.lr_schedule=constant"]
    for name in ("mtlzoo", "keras_hub"):
        for key in ("epoch", "steps"):
            assert len(row[f"{name}_{key}_rounds"]) == 2  # one rate per round
            assert row[f"{name}_{key}_examples_per_s"] > 0 and math.isfinite(row[f"{name}_{key}_examples_per_s"])
        devs = row[f"{name}_dev_rounds"]
        assert len(devs) == 2 and all(0.0 <= d <= 1.0 for d in devs)  # accuracy on the 3 dev sentences, per round
        assert row[f"{name}_dev"] == pytest.approx(np.mean(devs))
        assert row[f"{name}_dev_sd"] == pytest.approx(np.std(devs, ddof=1))
    assert row["dev_difference"] == pytest.approx(row["mtlzoo_dev"] - row["keras_hub_dev"])
    assert row["ratio_epoch"] == pytest.approx(
        row["mtlzoo_epoch_examples_per_s"] / row["keras_hub_epoch_examples_per_s"]
    )
    assert {"tf_checkpoint", "evaluate"} <= set(row["mtlzoo_per_epoch_pieces_s"])
    assert row["mtlzoo_step_traces"] == 1  # one graph for every bucket width
    import json

    with open(out) as f:
        assert json.load(f)["task"] == "sst2"
