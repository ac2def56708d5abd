"""tools/evaluate.py on a 1-epoch quickstart workdir: table, eval_<split>.json, bad input."""

import json
import os
import shutil

import numpy as np
import pytest

from tests.export.common import trained_quickstart
from tests.helpers import REPO, run_tool


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return trained_quickstart(tmp_path_factory)


def _errors(r):
    return [line for line in r.stderr.splitlines() if line.startswith("error:")]


def test_evaluate_prints_a_table_and_writes_json(workdir, tmp_path):
    from mtlzoo.config import read_config
    from mtlzoo.data import load_data
    from mtlzoo.models import load_model
    from mtlzoo.tasks import tasks_from_config

    wd = str(tmp_path / "qs")
    shutil.copytree(workdir, wd)
    r = run_tool("evaluate", f"--workdir={wd}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "evaluation (test split" in r.stdout
    for row in ("digit", "parity", "magnitude", "average"):
        assert any(line.startswith(row) for line in r.stdout.splitlines()), row
    with open(os.path.join(wd, "eval_test.json")) as f:
        result = json.load(f)
    assert result["split"] == "test" and result["checkpoint"].endswith("model.keras")
    # independent check: accuracies recomputed with numpy from the model's predictions on the test split
    config = read_config(wd)
    split = load_data(config, tasks_from_config(config.tasks)).splits["test"]
    pred = load_model(os.path.join(wd, "model.keras")).predict({"features": split.features["features"]}, verbose=0)
    digit = np.mean(np.argmax(pred["digit"], axis=1) == split.labels["digit"])
    parity = np.mean((pred["parity"][:, 0] >= 0.5) == (split.labels["parity"][:, 0] == 1))
    assert result["tasks"]["digit"]["accuracy"] == pytest.approx(digit)
    assert result["tasks"]["parity"]["accuracy"] == pytest.approx(parity)
    assert result["average"]["accuracy"] == pytest.approx(
        np.mean([result["tasks"][t]["accuracy"] for t in ("digit", "parity", "magnitude")])
    )
    assert result["examples"] == len(split) == result["tasks"]["digit"]["examples"]
    assert not [f for f in os.listdir(wd) if f.endswith(".tmp")]


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A quickstart run of 2 short epochs: checkpoint 1 is not the final model."""
    from mtlzoo.config import load_config_file
    from mtlzoo.training import train

    wd = tmp_path_factory.mktemp("two_epochs") / "qs"
    cfg = load_config_file(os.path.join(REPO, "configs", "quickstart.py"))
    cfg.train.epochs, cfg.train.steps_per_epoch, cfg.train.verbose = 2, 10, 0
    train(cfg, str(wd))
    return str(wd)


def test_checkpoint_and_split_flags(two_epochs, tmp_path):
    """``--checkpoint=1`` evaluates epoch 1's weights (numpy accuracies from them), not model.keras."""
    from mtlzoo.config import read_config
    from mtlzoo.data import load_data
    from mtlzoo.models import build_model, load_model
    from mtlzoo.tasks import tasks_from_config

    wd = str(tmp_path / "qs")
    shutil.copytree(two_epochs, wd)
    r = run_tool("evaluate", f"--workdir={wd}", "--checkpoint=1", "--split=validation")
    assert r.returncode == 0, r.stderr[-2000:]
    with open(os.path.join(wd, "eval_validation.json")) as f:
        result = json.load(f)
    assert result["checkpoint"].endswith("checkpoints/epoch_001.weights.h5")
    config = read_config(wd)
    split = load_data(config, tasks_from_config(config.tasks)).splits["validation"]
    inputs = {"features": split.features["features"]}
    epoch1 = build_model(config)
    epoch1.load_weights(os.path.join(wd, "checkpoints", "epoch_001.weights.h5"))
    pred = epoch1.predict(inputs, verbose=0)
    final = load_model(os.path.join(wd, "model.keras")).predict(inputs, verbose=0)
    assert np.abs(pred["digit"] - final["digit"]).max() > 1e-3  # the two epochs are told apart
    digit = np.mean(np.argmax(pred["digit"], axis=1) == split.labels["digit"])
    parity = np.mean((pred["parity"][:, 0] >= 0.5) == (split.labels["parity"][:, 0] == 1))
    assert result["tasks"]["digit"]["accuracy"] == pytest.approx(digit)
    assert result["tasks"]["parity"]["accuracy"] == pytest.approx(parity)


@pytest.mark.parametrize(
    "args,words",
    [
        (["--split=dev"], "split 'dev' is not in the data; it has train, validation, test"),
        (["--checkpoint=9"], "epoch_009.weights.h5 does not exist"),
        (["--corrupt"], "not a valid .keras file"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(workdir, tmp_path, args, words):
    wd = str(tmp_path / "qs")
    shutil.copytree(workdir, wd)
    if args == ["--corrupt"]:
        with open(os.path.join(wd, "model.keras"), "wb") as f:
            f.write(b"PK\x03\x04 truncated")
        args = []
    before = sorted(os.listdir(wd))
    r = run_tool("evaluate", f"--workdir={wd}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    assert len(_errors(r)) == 1 and words in _errors(r)[0], r.stderr[-2000:]
    assert sorted(os.listdir(wd)) == before


def test_missing_workdir_and_help(tmp_path):
    r = run_tool("evaluate", f"--workdir={tmp_path / 'nope'}")
    assert r.returncode == 2 and _errors(r) == [f"error: --workdir: {tmp_path / 'nope'} does not exist"]
    r = run_tool("evaluate")
    assert r.returncode == 2 and "workdir" in r.stderr
    r = run_tool("evaluate", "--helpfull")
    for flag in ("--workdir", "--checkpoint", "--split"):
        assert flag in r.stdout
    assert "epoch number" in r.stdout and "Data split" in r.stdout
