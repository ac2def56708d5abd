"""The zoo over a temporary saved_models directory; loading workdirs; the fine-tuning plan."""

import json
import os

import numpy as np
import pytest

from mtlzoo import zoo
from mtlzoo.errors import ConfigError
from tests.export.common import FOUR_KINDS, build
from tests.helpers import REPO, model_config, random_features


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from mtlzoo.config import write_config
    from mtlzoo.models import save_model

    root = tmp_path_factory.mktemp("saved_models")
    model = build("mlp", FOUR_KINDS)
    entry = root / "alpha"
    save_model(model, str(entry / "model.keras"))
    write_config(model_config("mlp", FOUR_KINDS), str(entry))
    (entry / "metrics.json").write_text(json.dumps({"split": "test", "topic": {"accuracy": 0.5}}))
    (entry / "README.md").write_text("# alpha\nTrained with: python tools/train.py ...\n")
    os.makedirs(root / "beta")  # no model.keras: not an entry
    return {"root": str(root), "model": model}


def test_list_info_load(root):
    assert zoo.list(root["root"]) == ["alpha"]
    info = zoo.info("alpha", root["root"])
    assert info["metrics"]["topic"]["accuracy"] == 0.5 and info["card"].startswith("# alpha")
    assert sorted(info["config"]["tasks"]) == sorted(FOUR_KINDS)
    x = random_features("mlp")
    got, want = zoo.load("alpha", root["root"]).predict(x, verbose=0), root["model"].predict(x, verbose=0)
    for t in FOUR_KINDS:
        np.testing.assert_allclose(got[t], want[t], rtol=1e-6)


def test_root_comes_from_the_environment(root, monkeypatch):
    monkeypatch.setenv("MTLZOO_ZOO_DIR", root["root"])
    assert zoo.list() == ["alpha"]
    monkeypatch.delenv("MTLZOO_ZOO_DIR")
    assert zoo.root_dir() == os.path.join(REPO, "saved_models")
    assert zoo.list(os.path.join(root["root"], "nowhere")) == []


def test_unknown_entries_are_named_with_the_choices(root):
    with pytest.raises(ConfigError, match="no zoo entry 'gamma' in .*; entries: alpha"):
        zoo.load("gamma", root["root"])
    with pytest.raises(ConfigError, match="no zoo entry 'beta'"):
        zoo.info("beta", root["root"])


def test_export_uses_the_entry_name(root, tmp_path):
    path = zoo.export("alpha", str(tmp_path), root=root["root"])
    assert path == os.path.join(str(tmp_path), "alpha", "1")
    with open(os.path.join(path, "assets.extra", "mtlzoo_export.json")) as f:
        meta = json.load(f)
    assert meta["tasks"]["tags"] == {"kind": "multilabel", "num_classes": 3}


def test_load_workdir_checkpoints(root, tmp_path):
    import shutil

    wd = tmp_path / "run"
    shutil.copytree(os.path.join(root["root"], "alpha"), wd)
    other = build("mlp", FOUR_KINDS)
    os.makedirs(wd / "checkpoints")
    other.save_weights(str(wd / "checkpoints" / "epoch_002.weights.h5"))
    x = random_features("mlp")
    model, config, source = zoo.load_workdir(str(wd), checkpoint="2")
    assert source.endswith("epoch_002.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0)["topic"], other.predict(x, verbose=0)["topic"], rtol=1e-6)
    with pytest.raises(ConfigError, match=r"epoch_005.weights.h5 does not exist; .* has epoch_002.weights.h5"):
        zoo.load_workdir(str(wd), checkpoint=5)
    os.remove(wd / "model.keras")  # no final model: the last checkpoint
    assert zoo.load_workdir(str(wd))[2].endswith("epoch_002.weights.h5")
    (wd / "checkpoints" / "epoch_002.weights.h5").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="could not be loaded into the workdir's model"):
        zoo.load_workdir(str(wd))
    with pytest.raises(ConfigError, match="does not exist"):
        zoo.load_workdir(str(tmp_path / "missing"))


def test_resolve_pretrained(root, tmp_path):
    entry = os.path.join(root["root"], "alpha")
    assert zoo.resolve_pretrained("alpha", root["root"]) == (os.path.join(entry, "model.keras"), entry)
    assert zoo.resolve_pretrained(entry) == (os.path.join(entry, "model.keras"), entry)
    assert zoo.resolve_pretrained(os.path.join(entry, "model.keras"))[1] == entry
    with pytest.raises(ConfigError, match="has no model.keras"):
        zoo.resolve_pretrained(str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        zoo.resolve_pretrained(str(tmp_path / "x.keras"))


PRE = {"a": {"kind": "binary"}, "b": {"kind": "multiclass", "num_classes": 4}}


def _plan(new_tasks, options, encoder=None):
    import mtlzoo
    from mtlzoo.tasks import tasks_from_config

    pre = mtlzoo.build_model(model_config("mlp", PRE))
    cfg = model_config("mlp", new_tasks)
    if encoder:
        cfg["model"]["encoder"].update(encoder)
    new = mtlzoo.build_model(cfg)
    opts = {"freeze": "none", "freeze_layers": [], "alignment": "none", **options}
    return zoo.plan_finetune(pre, new, tasks_from_config(new_tasks), opts, tasks_from_config(PRE))


def test_plan_transfers_by_name_and_freezes_what_is_asked():
    new_tasks = {"a": {"kind": "binary"}, "c": {"kind": "regression", "num_classes": 2}}
    plan = _plan(new_tasks, {"freeze": "encoder"})
    assert plan["transferred"] == ["mlp_dense_0", "a__tower_0", "a"]
    assert sorted(plan["new"]) == ["c", "c__tower_0"]
    assert plan["frozen"] == ["mlp_dense_0"]
    assert plan["dropped_tasks"] == ["b"] and plan["new_tasks"] == ["c"]
    assert _plan(new_tasks, {"freeze": "pretrained"})["frozen"] == ["a", "a__tower_0", "mlp_dense_0"]
    assert _plan(new_tasks, {"freeze_layers": ["c__*"]})["frozen"] == ["c__tower_0"]


def test_plan_errors():
    with pytest.raises(ConfigError, match="pattern 'enc\\*' matches no layer"):
        _plan(PRE, {"freeze_layers": ["enc*"]})
    with pytest.raises(ConfigError, match="layer 'mlp_dense_0': the pretrained weights have shapes"):
        _plan(PRE, {}, encoder={"units": [7]})
    with pytest.raises(ConfigError, match="has 'a' as a binary task"):
        _plan({"a": {"kind": "regression"}}, {})
