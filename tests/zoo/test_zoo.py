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
    monkeypatch.delenv("MTLZOO_ZOO_DIR", raising=False)
    monkeypatch.setenv("MTLZOO_HOME", root["root"])
    assert zoo.list() == ["alpha"] and zoo.root_dir() == root["root"]
    monkeypatch.delenv("MTLZOO_HOME")
    monkeypatch.setenv("MTLZOO_ZOO_DIR", root["root"])  # the older name still works
    assert zoo.list() == ["alpha"]
    monkeypatch.delenv("MTLZOO_ZOO_DIR")
    assert zoo.root_dir() == os.path.join(REPO, "saved_models")  # a checkout's default
    with pytest.raises(ConfigError, match=r"zoo root .*nowhere \(root=\) is not a directory; set MTLZOO_HOME"):
        zoo.list(os.path.join(root["root"], "nowhere"))


def test_a_copied_entry_under_mtlzoo_home(tmp_path, monkeypatch):
    """One shipped entry copied to a fresh root: listed, described and loaded from there, by
    ``root=`` and by ``$MTLZOO_HOME``; its recipe (entry.json, card.md) travels with it."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(os.path.join(REPO, "saved_models", "yeast_mlp_svd"), home / "yeast_mlp_svd")
    with open(os.path.join(REPO, "saved_models", "yeast_mlp_svd", "entry.json")) as f:
        recipe = json.load(f)
    monkeypatch.delenv("MTLZOO_ZOO_DIR", raising=False)
    monkeypatch.delenv("MTLZOO_HOME", raising=False)
    assert zoo.list(str(home)) == ["yeast_mlp_svd"]
    monkeypatch.setenv("MTLZOO_HOME", str(home))
    assert zoo.list() == ["yeast_mlp_svd"] and zoo.root_dir() == str(home)
    facts = zoo.info("yeast_mlp_svd")
    assert facts["path"] == str(home / "yeast_mlp_svd")
    assert facts["known"]["config"] == recipe["config"] == "yeast_mlp_svd"
    assert facts["known"]["card"] == str(home / "yeast_mlp_svd" / "card.md")
    assert len(zoo.load("yeast_mlp_svd").output) == 14
    assert [e["name"] for e in zoo.catalog()] == ["yeast_mlp_svd"]


def test_without_a_root_list_says_to_set_mtlzoo_home(monkeypatch):
    from mtlzoo.zoo import catalogue

    monkeypatch.delenv("MTLZOO_ZOO_DIR", raising=False)
    monkeypatch.delenv("MTLZOO_HOME", raising=False)
    monkeypatch.setattr(catalogue, "checkout_root", lambda: None)  # as under a wheel install
    with pytest.raises(ConfigError) as e:
        zoo.list()
    assert str(e.value) == (
        "no zoo root found: set MTLZOO_HOME to a folder of zoo entries (such as a checkout's saved_models/) "
        "or pass root="
    )


def test_an_installed_copy_has_no_root_until_mtlzoo_home_is_set(tmp_path):
    """The package copied out of the checkout (as a wheel installs it): ``zoo.list()`` names
    MTLZOO_HOME in one sentence; with MTLZOO_HOME set it lists the checkout's entries."""
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site"
    shutil.copytree(os.path.join(REPO, "mtlzoo"), site / "mtlzoo", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "from mtlzoo import zoo\ntry:\n    print(zoo.list())\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MTLZOO_HOME", "MTLZOO_ZOO_DIR")}
    env["PYTHONPATH"] = str(site)
    r = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == (
        "ConfigError no zoo root found: set MTLZOO_HOME to a folder of zoo entries (such as a checkout's "
        "saved_models/) or pass root="
    )
    env["MTLZOO_HOME"] = os.path.join(REPO, "saved_models")
    r = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert r.stdout.strip() == str(
        sorted(
            d
            for d in os.listdir(env["MTLZOO_HOME"])
            if os.path.isfile(os.path.join(env["MTLZOO_HOME"], d, "model.keras"))
        )
    )


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
    tags = meta["tasks"]["tags"]
    assert (tags["kind"], tags["num_classes"]) == ("multilabel", 3)
    assert tags.get("label_names") is None  # multilabel exports return no label names


def test_load_workdir_is_the_workdir_loader(root):
    from mtlzoo.workdir import load_workdir

    assert zoo.load_workdir is load_workdir  # tests/test_workdir.py tests it
    model, config, source = zoo.load_workdir(zoo.path("alpha", root["root"]))
    assert source == os.path.join(root["root"], "alpha", "model.keras") and sorted(model.output) == sorted(FOUR_KINDS)


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
