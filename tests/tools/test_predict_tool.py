"""tools/predict.py on an export and a .keras file; the README's train -> evaluate -> export ->
saved_model_cli -> predict -> finetune commands, run as written."""

import json
import os
import re
import shlex
import shutil

import numpy as np
import pytest

from tests.export.common import saved_model_cli, trained_quickstart
from tests.helpers import REPO, run_python, run_tool


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from mtlzoo.export import export_workdir

    wd = trained_quickstart(tmp_path_factory)
    out = tmp_path_factory.mktemp("serving")
    export_workdir(wd, str(out), model_name="qs")
    return {"workdir": wd, "model_dir": str(out / "qs")}


def _errors(r):
    return [line for line in r.stderr.splitlines() if line.startswith("error:")]


def _want(workdir, x):
    from mtlzoo.models import load_model

    y = load_model(os.path.join(workdir, "model.keras")).predict({"features": x}, verbose=0)
    return y


def test_predict_on_the_export_and_on_the_keras_file(setup, tmp_path):
    x = np.random.default_rng(0).random((3, 64)).astype(np.float32)
    req = tmp_path / "req.jsonl"
    req.write_text("\n".join(json.dumps({"features": row.tolist()}) for row in x) + "\n")
    y = _want(setup["workdir"], x)
    for model in (setup["model_dir"], os.path.join(setup["workdir"], "model.keras")):
        r = run_tool("predict", f"--model={model}", f"--input={req}")
        assert r.returncode == 0, r.stderr[-2000:]
        out = json.loads(r.stdout)
        assert out["signature_name"] == "serving_default" and len(out["predictions"]) == 3
        for i, row in enumerate(out["predictions"]):
            assert sorted(row) == ["digit", "magnitude", "parity"]
            np.testing.assert_allclose(row["digit"]["probabilities"], y["digit"][i], rtol=1e-5, atol=1e-6)
            assert row["digit"]["class_ids"] == int(np.argmax(y["digit"][i]))
            assert row["parity"]["class_ids"] == int(y["parity"][i, 0] >= 0.5)


def test_one_task_from_a_rest_body(setup, tmp_path):
    x = np.random.default_rng(1).random((2, 64)).astype(np.float32)
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"inputs": {"features": x.tolist()}}))
    r = run_tool("predict", f"--model={setup['model_dir']}/1", f"--input={req}", "--task=magnitude")
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["signature_name"] == "magnitude"
    y = _want(setup["workdir"], x)
    for i, row in enumerate(out["predictions"]):
        assert list(row) == ["magnitude"]
        np.testing.assert_allclose(row["magnitude"]["probabilities"], y["magnitude"][i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "body,args,words",
    [
        ({"instances": [{"features": [0.0] * 64}]}, ["--task=colour"], "unknown task 'colour'; the model has digit"),
        ({"signature_name": "colour", "instances": [[0.0] * 64]}, [], "unknown signature or task 'colour'"),
        (
            {"instances": [{"features": ["x"] * 64}]},
            [],
            "instances[0]: input features: must hold numbers (float32), got a string",
        ),
        (
            {"instances": [{"features": [0.0] * 10}]},
            [],
            "instances[0]: input features: expected shape [64] per example, got [10]",
        ),
        ({"instances": []}, [], "empty batch"),
    ],
)
def test_bad_requests_exit_2_with_one_line(setup, tmp_path, body, args, words):
    req = tmp_path / "req.json"
    req.write_text(json.dumps(body))
    r = run_tool("predict", f"--model={setup['model_dir']}", f"--input={req}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    assert len(_errors(r)) == 1 and words in _errors(r)[0], r.stderr[-2000:]
    assert r.stdout == ""


_ROW = json.dumps({"features": [0.0] * 64})


@pytest.mark.parametrize(
    "data,words",
    [
        ((_ROW + "\n" + _ROW.replace("0.0", "NaN", 1) + "\n").encode(), "line 2: input features: holds the non-finite"),
        ((_ROW + "\n" + _ROW.replace("0.0", "1e400", 1) + "\n").encode(), "line 2: input features: holds the non-fin"),
        ((_ROW + "\n\n" + json.dumps({"features": [0.0] * 3})).encode(), "line 3: input features: expected shape [64]"),
        ((_ROW + "\n").encode() + b'{"features": "\xe9"}\n', "line 2 is not UTF-8 text"),
        (b"[" * 100_000, "is not valid JSON"),
        (b"", "is empty"),
    ],
)
def test_bad_request_files_exit_2_naming_the_line(setup, tmp_path, data, words):
    req = tmp_path / "req.jsonl"
    req.write_bytes(data)
    r = run_tool("predict", f"--model={setup['model_dir']}", f"--input={req}")
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    assert len(_errors(r)) == 1 and words in _errors(r)[0], r.stderr[-2000:]
    assert r.stdout == "" and "Traceback" not in r.stderr


def test_bad_paths_exit_2(setup, tmp_path):
    req = tmp_path / "req.json"
    req.write_text('{"instances": [[0.0]]}')
    (tmp_path / "corrupt.keras").write_bytes(b"garbage")
    for args, words in (
        ([f"--model={tmp_path / 'nope'}", f"--input={req}"], "--model: "),
        ([f"--model={setup['model_dir']}", f"--input={tmp_path / 'nope.json'}"], "--input: "),
        ([f"--model={tmp_path / 'corrupt.keras'}", f"--input={req}"], "not a valid .keras file"),
    ):
        r = run_tool("predict", *args)
        assert r.returncode == 2 and len(_errors(r)) == 1 and words in _errors(r)[0], r.stderr[-2000:]
    r = run_tool("predict", "--helpfull")
    for flag in ("--model", "--input", "--task"):
        assert f"  {flag}:" in r.stdout


def readme_commands():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    section = text.split("## Train, evaluate, export, serve", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_lists_the_whole_loop():
    tools = [shlex.split(c)[1] if c.startswith("python") else shlex.split(c)[0] for c in readme_commands()]
    assert tools == [
        "tools/train.py",
        "tools/evaluate.py",
        "tools/export.py",
        "saved_model_cli",
        "tools/predict.py",
        "tools/finetune.py",
    ]


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    """Each README command, with /tmp paths moved under tmp_path and 1 training epoch of 5 steps."""
    outputs = []
    for command in readme_commands():
        command = command.replace("/tmp/", f"{tmp_path}/")
        args = shlex.split(command)
        if args[1] in ("tools/train.py", "tools/finetune.py"):  # short: the loop proves the commands chain
            args += ["--config.train.epochs=1", "--config.train.steps_per_epoch=5"]
        if args[0] == "python":  # a child of the fork server, as run_tool runs a tool
            r = run_python(args[1:], timeout=600)
        else:  # saved_model_cli's console script, a child of the fork server too
            assert args[0] == "saved_model_cli", command
            r = saved_model_cli(*args[1:], timeout=600)
        assert r.returncode == 0, (command, r.stderr[-2000:])
        outputs.append(r.stdout)
    # train: the metrics table and the workdir's files
    assert "final metrics (validation split)" in outputs[0]
    for task in ("digit", "parity", "magnitude"):
        assert task in outputs[0]
    for name in ("config.json", "model.keras", "metrics.json", "checkpoints", "logs"):
        assert (tmp_path / "mtlzoo_quickstart" / name).exists(), name
    assert (tmp_path / "mtlzoo_quickstart" / "eval_test.json").exists()
    assert "Method name is: tensorflow/serving/predict" in outputs[3]
    prediction = json.loads(outputs[4])
    assert len(prediction["predictions"]) == 3 and "digit" in prediction["predictions"][0]
    assert (tmp_path / "mtlzoo_finetune" / "model.keras").exists()
    shutil.rmtree(tmp_path)
