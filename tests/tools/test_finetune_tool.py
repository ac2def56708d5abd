"""tools/finetune.py: a new task head on a pretrained model, frozen layers, zoo names, bad input."""

import json
import os
import shutil

import numpy as np
import pytest

from tests.helpers import REPO, run_tool

CONFIG = """
import importlib.util


def get_config():
    spec = importlib.util.spec_from_file_location("quickstart", {quickstart!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    c.train.epochs = 1
    c.train.verbose = 0
    c.finetune = {finetune!r}
    return c
"""


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A 1-epoch quickstart model of two tasks (digit, parity): magnitude will be new."""
    from mtlzoo.config import load_config_file
    from mtlzoo.training import train

    wd = tmp_path_factory.mktemp("pretrained") / "two_tasks"
    cfg = load_config_file(os.path.join(REPO, "configs", "quickstart.py"))
    cfg.tasks = {"digit": cfg.tasks.digit.to_dict(), "parity": cfg.tasks.parity.to_dict()}
    cfg.train.epochs = 1
    cfg.train.verbose = 0
    train(cfg, str(wd))
    return str(wd)


def _config(tmp_path, finetune):
    path = tmp_path / "finetune_config.py"
    path.write_text(CONFIG.format(quickstart=os.path.join(REPO, "configs", "quickstart.py"), finetune=finetune))
    return str(path)


def _errors(r):
    return [line for line in r.stderr.splitlines() if line.startswith("error:")]


def _weights(model, name):
    return model.get_layer(name).get_weights()


def test_new_task_head_with_frozen_layers(pretrained, tmp_path):
    from mtlzoo.models import load_model

    wd = tmp_path / "ft"
    cfg = _config(tmp_path, {"freeze_layers": ["mlp_dense_0", "digit*"]})
    r = run_tool("finetune", f"--pretrained={pretrained}", f"--config={cfg}", f"--workdir={wd}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "new tasks: magnitude" in r.stdout and "final metrics" in r.stdout
    with open(wd / "finetune.json") as f:
        plan = json.load(f)
    assert plan["new_tasks"] == ["magnitude"] and sorted(plan["new"]) == ["magnitude", "magnitude__tower_0"]
    assert plan["frozen"] == ["digit", "digit__tower_0", "mlp_dense_0"]
    old = load_model(os.path.join(pretrained, "model.keras"))
    new = load_model(str(wd / "model.keras"))
    assert sorted(new.output) == ["digit", "magnitude", "parity"]
    for name in plan["frozen"]:  # frozen: still the pretrained weights after training
        for a, b in zip(_weights(new, name), _weights(old, name), strict=True):
            np.testing.assert_array_equal(a, b)
    for name in ("mlp_dense_1", "parity"):  # transferred and trained: moved away from the pretrained weights
        assert not np.allclose(_weights(new, name)[0], _weights(old, name)[0])
    with open(wd / "config.json") as f:
        assert sorted(json.load(f)["tasks"]) == ["digit", "magnitude", "parity"]


@pytest.mark.slow
def test_zoo_name_without_config_continues_training(pretrained, tmp_path):
    zoo_root = tmp_path / "zoo"
    shutil.copytree(pretrained, zoo_root / "two_tasks", ignore=shutil.ignore_patterns("state", "logs", "checkpoints"))
    wd = tmp_path / "ft"
    r = run_tool("finetune", "--pretrained=two_tasks", f"--zoo_dir={zoo_root}", f"--workdir={wd}", env={})
    assert r.returncode == 0, r.stderr[-2000:]
    with open(wd / "finetune.json") as f:
        plan = json.load(f)
    assert plan["new"] == [] and plan["frozen"] == [] and plan["pretrained"].startswith(str(zoo_root))


@pytest.mark.parametrize(
    "args,finetune,words",
    [
        (["--pretrained=no_such_model", "--zoo_dir={zoo}"], {}, "no zoo entry 'no_such_model' in"),
        ([], {"alignment": "covariance"}, "unknown fine-tuning alignment 'covariance'; choose one of joint, none"),
        ([], {"freeze_layers": ["encoder_*"]}, "pattern 'encoder_*' matches no layer with weights"),
        ([], {"freeze": "everything"}, "config field finetune.freeze: 'everything' is not one of"),
        (["--config.model.encoder.units=(32,)"], {}, "layer 'mlp_dense_0': the pretrained weights have shapes"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(pretrained, tmp_path, args, finetune, words):
    wd = tmp_path / "ft"
    args = [a.format(zoo=tmp_path) for a in args]
    if not any(a.startswith("--pretrained") for a in args):
        args.append(f"--pretrained={pretrained}")
    r = run_tool("finetune", f"--config={_config(tmp_path, finetune)}", f"--workdir={wd}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    assert len(_errors(r)) == 1 and words in _errors(r)[0], r.stderr[-2000:]
    assert not wd.exists()


def test_help_explains_every_flag():
    r = run_tool("finetune", "--helpfull")
    for flag in ("--pretrained", "--config", "--workdir", "--zoo_dir"):
        assert f"  {flag}:" in r.stdout, flag
    assert "Zoo entry name" in r.stdout


SYNTHETIC = {
    "seed": 0,
    "tasks": {"a": {"kind": "binary"}, "b": {"kind": "regression", "num_classes": 1}},
    "data": {"source": "synthetic", "batch_size": 16, "examples_per_task": 48, "input_dim": 6, "test_fraction": 0.0},
    "model": {"encoder": {"name": "mlp", "input_dim": 6, "units": [8]}, "tower": {"units": [4]}},
    "train": {"epochs": 1, "verbose": 0},
}


@pytest.fixture(scope="module")
def pretrained_synthetic(tmp_path_factory):
    """Two tasks with their own examples (task_id 0 and 1): heterogeneous data, unlike the digits."""
    from mtlzoo.training import train

    wd = tmp_path_factory.mktemp("pretrained_synthetic") / "ab"
    train(json.loads(json.dumps(SYNTHETIC)), str(wd))
    return str(wd)


def test_new_task_with_alignment_and_frozen_encoder(pretrained_synthetic, tmp_path):
    """Transfer with Algorithm 1's second stage on heterogeneous data (tasks a, b and a new c, each
    with its own examples): B stays fixed, every task's R_i (identity at start) trains on its own
    task's examples, and each example is routed through its task's R_i (numpy: x R_i)."""
    import keras

    from mtlzoo import zoo
    from mtlzoo.config import read_config
    from mtlzoo.data import load_data
    from mtlzoo.models import load_model
    from mtlzoo.tasks import tasks_from_config

    cfg = json.loads(json.dumps(SYNTHETIC))
    cfg["tasks"]["c"] = {"kind": "binary"}
    cfg["finetune"] = {"freeze": "encoder", "alignment": "joint"}
    result = zoo.finetune(pretrained_synthetic, cfg, str(tmp_path / "ft_align"))
    old = load_model(os.path.join(pretrained_synthetic, "model.keras"))
    for a, b in zip(_weights(result.model, "mlp_dense_0"), _weights(old, "mlp_dense_0"), strict=True):
        np.testing.assert_array_equal(a, b)
    R = _weights(result.model, "alignment")[0]
    assert R.shape == (3, 6, 6)
    for i in range(3):  # every task has examples: every R_i moved
        assert np.abs(R[i] - np.eye(6)).max() > 1e-4, i
    config = read_config(str(tmp_path / "ft_align"))
    split = load_data(config, tasks_from_config(config.tasks)).splits["validation"]
    task_id = split.features["task_id"]
    assert sorted(set(task_id.tolist())) == [0, 1, 2]
    probe = keras.Model(result.model.input, result.model.get_layer("alignment").output)
    feed = {"features": split.features["features"], "task_id": task_id}
    aligned = probe.predict(feed, verbose=0)
    expected = np.einsum("bd,bde->be", split.features["features"], R[task_id])
    np.testing.assert_allclose(aligned, expected, rtol=1e-5, atol=1e-6)


def test_freeze_encoder_trains_only_the_heads(pretrained, tmp_path):
    from mtlzoo import zoo
    from mtlzoo.config import load_config_file
    from mtlzoo.models import load_model

    cfg = load_config_file(os.path.join(REPO, "configs", "quickstart.py")).to_dict()
    cfg["train"].update(epochs=1, verbose=0)
    cfg["finetune"] = {"freeze": "encoder"}
    result = zoo.finetune(pretrained, cfg, str(tmp_path / "ft"))
    old = load_model(os.path.join(pretrained, "model.keras"))
    for name in ("mlp_dense_0", "mlp_dense_1"):
        for a, b in zip(_weights(result.model, name), _weights(old, name), strict=True):
            np.testing.assert_array_equal(a, b)


def test_data_that_fails_to_load_leaves_no_plan_behind(pretrained, tmp_path, monkeypatch):
    """The plan (finetune.json) is written once the trainer has loaded the data, not before."""
    import mtlzoo.workdir
    from mtlzoo.config import load_config_file
    from mtlzoo.errors import ConfigError
    from mtlzoo.zoo.finetuning import finetune

    def broken(*args, **kwargs):
        raise ConfigError("data", "the data could not be read (planted)")

    monkeypatch.setattr(mtlzoo.workdir, "load_run_data", broken)
    wd = tmp_path / "ft"
    with pytest.raises(ConfigError, match="planted"):
        finetune(pretrained, load_config_file(_config(tmp_path, {})), str(wd))
    assert not wd.exists() or os.listdir(wd) == []
