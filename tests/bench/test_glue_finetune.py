"""bench/glue_finetune.py: its small path end to end on a tiny random BERT and tiny GLUE files
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


def test_loop_calls_are_summed_per_epoch():
    # 25 steps per epoch, 10 per call: 3 calls per epoch (10, 10, 5)
    assert glue_finetune._group([1, 1, 0.5, 2, 2, 1], 25, 10) == [2.5, 5]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--examples=30", "--batch=16"], "must be a positive multiple of --batch=16"),
        (["--epochs=1"], "at least 2"),
        (["--rounds=0"], "must be at least 1"),
    ],
)
def test_bad_flags_exit_2(args, words, capsys):
    with pytest.raises(SystemExit) as e:
        glue_finetune.parse_args(args)
    assert e.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.slow
def test_small_path_trains_both_systems_side_by_side(tmp_path):
    ckpt = str(tmp_path / "bert")
    write_transformers_bert(ckpt)
    root = write_glue(str(tmp_path / "GLUE"), tasks=("sst2",), train_copies=6)  # 18 training sentences
    out = str(tmp_path / "row.json")
    row = glue_finetune.main(
        [
            "--task=sst2",
            "--examples=8",
            "--validation=2",
            "--batch=4",
            "--epochs=2",
            "--rounds=1",
            f"--checkpoint={ckpt}",
            f"--data_dir={root}",
            f"--out={out}",
            "--hub_sequence_length=32",  # the tiny BERT has 64 positions
        ]
    )
    assert row["steps_per_epoch"] == 2 and row["keras_hub_sequence_length"] == 32
    for name in ("mtlzoo", "keras_hub"):
        for key in ("epoch", "steps"):
            assert len(row[f"{name}_{key}_rounds"]) == 1  # one rate per round
            assert row[f"{name}_{key}_examples_per_s"] > 0 and math.isfinite(row[f"{name}_{key}_examples_per_s"])
        assert 0.0 <= row[f"{name}_dev"] <= 1.0  # accuracy on the 3 dev sentences
    assert row["ratio_epoch"] == pytest.approx(
        row["mtlzoo_epoch_examples_per_s"] / row["keras_hub_epoch_examples_per_s"]
    )
    assert {"tf_checkpoint", "evaluate"} <= set(row["mtlzoo_per_epoch_pieces_s"])
    assert row["mtlzoo_step_traces"] == 1  # one graph for every bucket width
    import json

    with open(out) as f:
        assert json.load(f)["task"] == "sst2"
