"""The ``mtlzoo`` command (``python -m mtlzoo``), config names, and the wheel's contents."""

import glob
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from mtlzoo.config import load_config_file, load_config_module
from mtlzoo.configs import config_path
from mtlzoo.errors import ConfigError
from tests.helpers import REPO

SUBCOMMANDS = [
    "train",
    "evaluate",
    "export",
    "predict",
    "finetune",
    "publish",
    "zoo",
    "transfer_report",
    "affinity",
    "census_study",
    "glue_study",
    "svd_study",
    "conll_study",
    "covariance_study",
    "sentiment_study",
    "compare_architectures",
    "simulate",
    "fit_formula",
]


def mtlzoo_cmd(*args, cwd=REPO, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": REPO}
    return subprocess.run(
        [sys.executable, "-m", "mtlzoo", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )


def test_help_lists_every_subcommand_with_a_description():
    r = mtlzoo_cmd("--help")
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines():
        if line.startswith("  ") and line.split():
            name, _, text = line.strip().partition(" ")
            rows[name] = text.strip()
    assert sorted(rows) == sorted(SUBCOMMANDS)
    assert all(rows.values()), rows
    assert rows["train"] == "Train a multi-task model from a config file."
    # every tool of the checkout is a subcommand (the shims in tools/ plus `zoo`)
    tools = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "tools", "*.py"))}
    assert tools | {"zoo"} == set(SUBCOMMANDS)


def test_help_into_a_pipe_closed_early_ends_quietly():
    """``mtlzoo --help | head -1``: the reader closes the pipe; no BrokenPipeError traceback."""
    env = {**os.environ, "PYTHONPATH": REPO}
    p = subprocess.Popen(
        [sys.executable, "-m", "mtlzoo", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    p.stdout.close()  # before the command writes: its first write meets a closed pipe
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_unknown_or_missing_subcommand_is_one_line_and_exit_2():
    r = mtlzoo_cmd("trian", "--config=quickstart")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "unknown subcommand 'trian'" in r.stderr and r.stdout == ""
    assert mtlzoo_cmd().returncode == 2


def test_subcommand_help_shows_its_absl_flags():
    r = mtlzoo_cmd("train", "--help")
    assert r.returncode == 1, r.stderr  # absl's --help exits 1, as `python tools/train.py --help` always has
    for flag in ("--config", "--workdir", "--strategy", "--cpu_devices"):
        assert flag in r.stdout
    assert r.stdout.startswith("Train a multi-task model from a config file.")


def test_zoo_subcommand_lists_and_describes_entries(tmp_path):
    from mtlzoo import zoo

    root = os.path.join(REPO, "saved_models")
    r = mtlzoo_cmd("zoo", "list", f"--root={root}")
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()] == zoo.list(root)
    name = zoo.list(root)[0]
    r = mtlzoo_cmd("zoo", "info", name, f"--root={root}")
    assert r.returncode == 0 and r.stdout.startswith(name + "\n"), r.stderr
    r = mtlzoo_cmd("zoo", "info", "no_such_entry", f"--root={root}")
    assert r.returncode == 2 and "no_such_entry" in r.stderr
    r = mtlzoo_cmd("zoo", "remove", f"--root={root}")
    assert r.returncode == 2 and "expected 'list' or 'info NAME'" in r.stderr
    r = mtlzoo_cmd("zoo", "list", f"--root={tmp_path}")
    assert r.returncode == 0 and "no entries" in r.stdout


def test_config_names_and_paths_resolve_to_the_same_config():
    packaged = os.path.join(REPO, "mtlzoo", "configs", "quickstart.py")
    assert os.path.samefile(config_path("quickstart"), packaged)
    assert os.path.samefile(config_path("quickstart.py"), packaged)
    by_name = load_config_file(config_path("quickstart")).to_dict()
    assert by_name == load_config_file(os.path.join(REPO, "configs", "quickstart.py")).to_dict()
    # the argument after ':' is kept; an existing path is returned as given
    assert config_path("sentiment:lstm,align") == os.path.join(REPO, "mtlzoo", "configs", "sentiment.py:lstm,align")
    assert config_path(packaged) == packaged
    with pytest.raises(ConfigError, match="'quikstart' is neither a file nor a packaged config"):
        config_path("quikstart")


def test_checkout_paths_resolve_outside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: a checkout path falls back to the packaged file
    assert os.path.samefile(
        config_path("configs/quickstart.py"), os.path.join(REPO, "mtlzoo", "configs", "quickstart.py")
    )


def test_derived_configs_import_their_base_by_package_name(tmp_path):
    """A derived config copied away from the package still loads (no path relative to its file),
    and equals its base with the documented changes."""
    copy = tmp_path / "yeast_mlp_svd.py"
    shutil.copy(os.path.join(REPO, "mtlzoo", "configs", "yeast_mlp_svd.py"), copy)
    derived = load_config_file(str(copy)).to_dict()
    base = load_config_file(config_path("svd_yeast")).to_dict()
    assert derived["train"]["epochs"] == 12
    base["train"]["epochs"] = 12
    assert derived == base

    lstm = load_config_module(config_path("sentiment_lstm")).get_config().to_dict()
    base = load_config_module(config_path("sentiment")).get_config("lstm").to_dict()
    assert lstm["tasks"] == base["tasks"] and lstm["data"]["source"] == base["data"]["source"]
    assert (lstm["model"]["encoder"]["hidden"], lstm["data"]["max_vocab"]) == (100, 20000)

    yeast = load_config_module(config_path("compare_architectures_yeast")).get_config("mmoe").to_dict()
    digits = load_config_module(config_path("compare_architectures")).get_config("mmoe").to_dict()
    assert yeast["model"]["architecture"] == digits["model"]["architecture"]
    assert sorted(yeast["tasks"]) == sorted(f"label_{i}" for i in range(14))


@pytest.mark.slow
def test_train_by_config_name_from_outside_the_checkout(tmp_path):
    wd = tmp_path / "run"
    args = ["--config=quickstart", f"--workdir={wd}", "--config.train.epochs=1", "--config.train.steps_per_epoch=5"]
    r = mtlzoo_cmd("train", *args, cwd=tmp_path)  # 5 steps: the name resolves, the run completes
    assert r.returncode == 0, r.stderr[-2000:]
    assert "final metrics (validation split)" in r.stdout
    assert (wd / "model.keras").is_file() and (wd / "metrics.json").is_file()
    import json

    recorded = json.loads((wd / "config.json").read_text())
    assert recorded["train"]["epochs"] == 1
    raw = load_config_file(config_path("quickstart")).to_dict()["tasks"]  # config.json holds the resolved config
    assert {t: s["kind"] for t, s in recorded["tasks"].items()} == {t: s["kind"] for t, s in raw.items()}


def test_bad_config_name_exits_2_with_one_line(tmp_path):
    r = mtlzoo_cmd("train", "--config=quikstart", f"--workdir={tmp_path}")
    assert r.returncode == 2
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "'quikstart' is neither a file nor a packaged config" in err[0], r.stderr


@pytest.mark.slow
def test_wheel_ships_the_command_the_configs_and_the_entry_point(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves no build/ or egg-info in the checkout
    # Left out too: CI's .venv (TensorFlow, gigabytes) and the caches, which tests in another
    # xdist worker may be rewriting while this copy runs (a file gone mid-copy fails copytree).
    shutil.copytree(
        REPO,
        src,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git",
            "saved_models",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "bench",
            "docs",
            ".venv",
            "venv",
            ".hypothesis",
            ".pytest_cache",
            ".ruff_cache",
            "runs",
        ),
    )
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = glob.glob(str(tmp_path / "mtlzoo-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = zf.read(entry_points).decode()
    for name in ("mtlzoo/__main__.py", "mtlzoo/cli/__init__.py", "mtlzoo/cli/train.py", "mtlzoo/cli/zoo.py"):
        assert name in names
    packaged = {os.path.basename(p) for p in glob.glob(os.path.join(REPO, "mtlzoo", "configs", "*.py"))}
    assert {n[len("mtlzoo/configs/") :] for n in names if n.startswith("mtlzoo/configs/")} == packaged
    assert "mtlzoo/configs/quickstart.py" in names
    assert not any(n.startswith(("tools/", "configs/", "tests/")) for n in names)
    assert "[console_scripts]\nmtlzoo = mtlzoo.cli:main" in entry_points
