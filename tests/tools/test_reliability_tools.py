"""Issue 18 items 3-6 at the tool boundary: a corrupt config.json, storage errors, stale temporary
directories, --strategy=tpu without a TPU, and .keras files that safe mode refuses (a Lambda, an
unregistered class) at every entry point that loads one."""

import errno
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from mtlzoo.errors import ConfigError
from tests.export.common import trained_quickstart
from tests.helpers import REPO, run_tool


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    return trained_quickstart(tmp_path_factory)


def _copy(quickstart, dest):
    shutil.copytree(quickstart, dest)
    return str(dest)


def _errors(r):
    return [line for line in r.stderr.splitlines() if line.startswith("error:")]


def _assert_one_line(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    errs = _errors(r)
    assert len(errs) == 1, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    for w in words:
        assert w in errs[0], errs[0]


# -- a corrupt config.json (item 5's last sentence) ---------------------------------------------
def _corruptions(text):
    cfg = json.loads(text)
    wrong = json.loads(text)
    wrong["tasks"] = 5
    units = json.loads(text)
    units["model"]["encoder"]["units"] = "wide"
    return {
        "truncated": (text[: len(text) // 2], "is not valid JSON"),
        "not an object": (json.dumps([cfg]), "must hold a JSON object"),
        "wrong types": (json.dumps(wrong), "tasks"),
        "wrong field type": (json.dumps(units), "model.encoder.units"),
        "NaN": (text.replace('"seed": ', '"seed": NaN, "x": ', 1), "non-finite number NaN"),
        "not UTF-8": (None, "cannot be read"),
    }


def test_corrupt_config_json_is_one_config_error_everywhere(quickstart, tmp_path):
    from mtlzoo.evaluation import evaluate
    from mtlzoo.export import export_workdir, load_predictor
    from mtlzoo.zoo import finetune

    with open(os.path.join(quickstart, "config.json")) as f:
        text = f.read()
    wd = _copy(quickstart, tmp_path / "wd")
    path = os.path.join(wd, "config.json")
    for name, (content, words) in _corruptions(text).items():
        if content is None:
            with open(path, "wb") as f:
                f.write(text.encode()[:20] + b"\xff\xfe" + text.encode()[20:])
        else:
            with open(path, "w") as f:
                f.write(content)
        calls = {
            "evaluate": lambda: evaluate(wd, write=False),
            "export": lambda: export_workdir(wd, str(tmp_path / "serving")),
            "predict": lambda: load_predictor(os.path.join(wd, "model.keras")),
            "finetune": lambda: finetune(wd, {"train": {"epochs": 1}}, str(tmp_path / "ft")),
        }
        for entry, call in calls.items():
            if entry == "predict" and name == "wrong field type":
                continue  # a .keras predictor reads only the tasks of the config beside it
            with pytest.raises(ConfigError) as e:
                call()
            msg = str(e.value)
            assert path in msg and words in msg and "\n" not in msg, (name, entry, msg)
    assert not os.path.exists(tmp_path / "serving" / "wd") and not os.path.exists(tmp_path / "ft")


@pytest.mark.parametrize("tool", ["evaluate", "export", "predict", "finetune"])
def test_truncated_config_json_through_the_tools(quickstart, tmp_path, tool):
    wd = _copy(quickstart, tmp_path / "wd")
    path = os.path.join(wd, "config.json")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text[: len(text) // 3])
    (tmp_path / "req.jsonl").write_text(json.dumps({"features": [0.0] * 64}) + "\n")
    args = {
        "evaluate": [f"--workdir={wd}"],
        "export": [f"--workdir={wd}", f"--export_dir={tmp_path / 'serving'}"],
        "predict": [f"--model={wd}/model.keras", f"--input={tmp_path / 'req.jsonl'}"],
        "finetune": [f"--pretrained={wd}", f"--workdir={tmp_path / 'ft'}"],
    }[tool]
    _assert_one_line(run_tool(tool, *args), path, "is not valid JSON")


# -- storage errors (item 3) --------------------------------------------------------------------
def _leftovers(folder):
    # hidden or temporary files; the writer lock's file (.lock, mtlzoo.training.guard) stays by design
    return sorted(n for n in os.listdir(folder) if (n.startswith(".") and n != ".lock") or n.endswith(".tmp"))


def test_evaluate_full_disk_keeps_the_old_file_and_no_temporary(quickstart, tmp_path, monkeypatch):
    from mtlzoo import fileio
    from mtlzoo.evaluation import evaluate

    wd = _copy(quickstart, tmp_path / "wd")
    out = os.path.join(wd, "eval_test.json")
    with open(out, "w") as f:
        f.write('{"old": true}')

    def full_disk(obj, f, **kw):
        f.write('{"split": "te')  # half a document, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.json, "dump", full_disk)
    with pytest.raises(ConfigError) as e:
        evaluate(wd)
    assert str(e.value) == f"cannot write {out}: No space left on device"
    with open(out) as f:
        assert json.load(f) == {"old": True}
    assert _leftovers(wd) == []


def test_evaluate_unwritable_result_path_is_one_line(quickstart, tmp_path):
    wd = _copy(quickstart, tmp_path / "wd")
    os.makedirs(os.path.join(wd, "eval_test.json"))  # a directory where the result file goes
    r = run_tool("evaluate", f"--workdir={wd}")
    _assert_one_line(r, f"cannot write {wd}/eval_test.json")
    assert _leftovers(wd) == []


_FULL_DISK_EXPORT = """
import errno, os, sys, runpy
import mtlzoo.export.warmup as warmup
def write_warmup(path, *args, **kw):  # the SavedModel is written; the disk fills up on the next file
    open(path, "wb").close()
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
warmup.write_warmup = write_warmup
sys.argv = ["export"] + sys.argv[1:]
runpy.run_path(os.path.join("tools", "export.py"), run_name="__main__")
"""


def test_export_full_disk_and_unwritable_dir_are_one_line_and_leave_nothing(quickstart, tmp_path):
    out = tmp_path / "serving"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_EXPORT, f"--workdir={quickstart}", f"--export_dir={out}", "--model_name=qs"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    _assert_one_line(r, f"cannot write the export under {out}: No space left on device")
    assert os.listdir(out / "qs") == []  # no version, no .tmp-* directory
    (tmp_path / "file").write_text("")
    r = run_tool("export", f"--workdir={quickstart}", f"--export_dir={tmp_path / 'file' / 'serving'}")
    _assert_one_line(r, f"cannot write the export under {tmp_path / 'file' / 'serving'}")


def test_stale_temporary_directories_are_removed_by_the_next_run(quickstart, tmp_path):
    from mtlzoo.export import export_workdir

    base = tmp_path / "serving" / "qs"
    old = time.time() - 3600
    for name in (".tmp-1-deadbeef", ".old-1-cafebabe", ".tmp-1-0f0f0f0f", ".tmp-7-deadbeef"):
        os.makedirs(base / name / "variables")
        (base / name / "saved_model.pb").write_bytes(b"half")
        if name != ".tmp-1-0f0f0f0f":  # a recent one may be a concurrent export's: it is kept
            os.utime(base / name, (old, old))
    export_workdir(quickstart, str(tmp_path / "serving"), model_name="qs")
    assert sorted(os.listdir(base)) == [".tmp-1-0f0f0f0f", ".tmp-7-deadbeef", "1"]


def test_swap_into_place_removes_stale_siblings_of_its_target(tmp_path):
    from mtlzoo.fileio import swap_into_place

    old = time.time() - 3600
    for name in (".tmp-entry-1234abcd", ".old-entry-1234abcd", ".tmp-other-1234abcd", ".tmp-entry-fresh000"):
        os.makedirs(tmp_path / name)
    for name in (".tmp-entry-1234abcd", ".old-entry-1234abcd", ".tmp-other-1234abcd"):
        os.utime(tmp_path / name, (old, old))
    (tmp_path / "entry").mkdir()
    (tmp_path / "entry" / "v").write_text("old")
    os.makedirs(tmp_path / ".tmp-entry-99999999")
    (tmp_path / ".tmp-entry-99999999" / "v").write_text("new")
    swap_into_place(str(tmp_path / ".tmp-entry-99999999"), str(tmp_path / "entry"))
    assert (tmp_path / "entry" / "v").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == [".tmp-entry-fresh000", ".tmp-other-1234abcd", "entry"]


# -- --strategy=tpu without a TPU (item 6) --------------------------------------------------------
def test_tpu_strategy_without_a_tpu_is_a_config_error(tmp_path):
    from mtlzoo.training.strategy import get_strategy

    os.environ.pop("TPU_NAME", None)
    with pytest.raises(ConfigError, match=r"--strategy: tpu: no TPU found"):
        get_strategy("tpu")
    r = run_tool("train", "--config=configs/quickstart.py", f"--workdir={tmp_path / 'wd'}", "--strategy=tpu")
    _assert_one_line(r, "--strategy: tpu: no TPU found")


# -- safe mode at every .keras entry point (README security note) ---------------------------------
def _unsafe_models(folder):
    """A Lambda layer (arbitrary Python bytecode) and an unregistered custom class, saved as .keras."""
    import keras

    marker = os.path.join(folder, "lambda_ran")

    def side_effect(x):
        open(marker, "w").close()  # noqa: SIM115  (proves whether the Lambda's code ran)
        return x

    x = keras.Input((64,), name="features")
    lam = keras.Model({"features": x}, {"digit": keras.layers.Dense(10)(keras.layers.Lambda(side_effect)(x))})

    class Sneaky(keras.layers.Layer):  # not registered with keras.saving
        def call(self, x):
            return x

    sneaky = keras.Model({"features": x}, {"digit": keras.layers.Dense(10)(Sneaky()(x))})
    paths = {}
    for name, model in (("lambda", lam), ("unregistered", sneaky)):
        paths[name] = os.path.join(folder, f"{name}.keras")
        model.save(paths[name])
    if os.path.exists(marker):
        os.remove(marker)
    return paths, marker


@pytest.mark.parametrize("kind", ["lambda", "unregistered"])
def test_unsafe_keras_files_are_refused_at_every_entry_point(quickstart, tmp_path, kind):
    from mtlzoo import zoo
    from mtlzoo.evaluation import evaluate
    from mtlzoo.export import export_workdir, load_predictor

    paths, marker = _unsafe_models(str(tmp_path))
    wd = _copy(quickstart, tmp_path / "zoo" / "entry")
    shutil.copy(paths[kind], os.path.join(wd, "model.keras"))
    words = "Lambda" if kind == "lambda" else "Sneaky"
    calls = {
        "evaluate": lambda: evaluate(wd, write=False),
        "predict": lambda: load_predictor(os.path.join(wd, "model.keras")),
        "finetune": lambda: zoo.finetune(wd, {"train": {"epochs": 1}}, str(tmp_path / "ft")),
        "zoo.load": lambda: zoo.load("entry", root=str(tmp_path / "zoo")),
        "export": lambda: export_workdir(wd, str(tmp_path / "serving")),
    }
    for entry, call in calls.items():
        with pytest.raises(ConfigError) as e:
            call()
        assert words in str(e.value) and "could not be loaded as a model" in str(e.value), (entry, str(e.value))
    assert not os.path.exists(marker), "the Lambda's code ran"
    assert not os.path.exists(tmp_path / "serving" / "entry" / "1")
