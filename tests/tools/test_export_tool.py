"""tools/export.py on a 1-epoch quickstart workdir: layout, saved_model_cli, refusal, overwrite, bad input."""

import json
import os
import shutil

import pytest

from tests.export.common import saved_model_cli, trained_quickstart
from tests.helpers import run_tool


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return trained_quickstart(tmp_path_factory)


def _errors(r):
    return [line for line in r.stderr.splitlines() if line.startswith("error:")]


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, ds, fs in os.walk(root) for n in ds + fs)


def test_export_then_saved_model_cli(workdir, tmp_path):
    out = tmp_path / "serving"
    r = run_tool("export", f"--workdir={workdir}", f"--export_dir={out}", "--model_name=quickstart")
    assert r.returncode == 0, r.stderr[-2000:]
    version = out / "quickstart" / "1"
    assert f"exported to {version}" in r.stdout
    for part in ("saved_model.pb", "variables", "assets", "assets.extra/tf_serving_warmup_requests"):
        assert (version / part).exists(), part
    cli = saved_model_cli("show", "--all", "--dir", str(version))
    assert cli.returncode == 0, cli.stderr[-2000:]
    text = cli.stdout
    assert "MetaGraphDef with tag-set: 'serve'" in text
    for sig in ("serving_default", "digit", "parity", "magnitude"):
        block = text.split(f"signature_def['{sig}']:", 1)[1].split("signature_def[", 1)[0]
        assert "Method name is: tensorflow/serving/predict" in block, sig
        assert "inputs['features'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 64)" in block, sig
    default = text.split("signature_def['serving_default']:", 1)[1].split("signature_def[", 1)[0]
    for task in ("digit", "parity", "magnitude"):
        assert f"outputs['{task}_probabilities'] tensor_info:\n        dtype: DT_FLOAT" in default
        assert f"outputs['{task}_class_ids'] tensor_info:\n        dtype: DT_INT64" in default
    digit = text.split("signature_def['digit']:", 1)[1].split("signature_def[", 1)[0]
    assert "outputs['probabilities']" in digit and "parity" not in digit


@pytest.mark.slow
def test_existing_version_is_refused_then_overwritten(workdir, tmp_path):
    out = tmp_path / "serving"
    assert run_tool("export", f"--workdir={workdir}", f"--export_dir={out}", "--version=3").returncode == 0
    name = os.path.basename(workdir)
    before = _tree(out)
    stamp = os.path.getmtime(out / name / "3" / "saved_model.pb")
    r = run_tool("export", f"--workdir={workdir}", f"--export_dir={out}", "--version=3")
    assert r.returncode == 2 and len(_errors(r)) == 1
    assert "3 already exists; pass --overwrite" in _errors(r)[0]
    assert _tree(out) == before and os.path.getmtime(out / name / "3" / "saved_model.pb") == stamp
    r = run_tool("export", f"--workdir={workdir}", f"--export_dir={out}", "--version=3", "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert os.path.getmtime(out / name / "3" / "saved_model.pb") > stamp
    assert sorted(os.listdir(out / name)) == ["3"]  # no hidden temporary or old directories left


@pytest.mark.parametrize(
    "case,words",
    [
        ("missing", "--workdir: "),
        ("corrupt", "not a valid .keras file"),
        ("version", "--version: must be a positive integer, got 0"),
        ("vocab", "--tokenizer and --vocab_file go together"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(workdir, tmp_path, case, words):
    wd = str(tmp_path / "qs")
    args = []
    if case != "missing":
        shutil.copytree(workdir, wd)
    if case == "corrupt":
        with open(os.path.join(wd, "model.keras"), "wb") as f:
            f.write(b"not a zip archive")
    if case == "version":
        args = ["--version=0"]
    if case == "vocab":
        args = ["--vocab_file=vocab.txt"]
    out = tmp_path / "serving"
    r = run_tool("export", f"--workdir={wd}", f"--export_dir={out}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    assert len(_errors(r)) == 1 and words in _errors(r)[0], r.stderr[-2000:]
    assert not out.exists() or _tree(out) in ([], ["qs"])


def test_help_explains_every_flag():
    r = run_tool("export", "--helpfull")
    flags = ("workdir", "export_dir", "version", "model_name", "[no]overwrite", "tokenizer", "vocab_file", "checkpoint")
    for flag in flags:
        assert f"  --{flag}:" in r.stdout, flag
    assert "Default: the highest existing" in r.stdout and "Replace an existing version" in r.stdout


def test_text_workdir_exports_raw_string_signatures(tmp_path):
    """A workdir of a tokens model with tokenizer.json gets text signatures and ships the vocabulary."""
    from mtlzoo.config import write_config
    from mtlzoo.models import save_model
    from tests.export.common import TEXT_TASKS, build, write_vocab
    from tests.helpers import model_config

    wd = tmp_path / "textrun"
    save_model(build("text_cnn", TEXT_TASKS), str(wd / "model.keras"))
    write_config(model_config("text_cnn", TEXT_TASKS), str(wd))
    write_vocab(wd / "vocab.txt")
    (wd / "tokenizer.json").write_text(json.dumps({"name": "vocab", "vocab_file": "vocab.txt"}))
    r = run_tool("export", f"--workdir={wd}", f"--export_dir={tmp_path / 'serving'}")
    assert r.returncode == 0, r.stderr[-2000:]
    for sig in ("text", "topic_text", "sentiment_text"):
        assert f"signature {sig}: inputs text ->" in r.stdout
    assert os.listdir(tmp_path / "serving" / "textrun" / "1" / "assets") == ["vocab.txt"]


def test_a_glue_bert_run_exports_raw_pairs_without_tokenizer_flags(tmp_path_factory, tmp_path):
    from tests.glue_run import trained_glue_run

    glue_workdir, _, _ = trained_glue_run(tmp_path_factory)
    out = tmp_path / "serving"
    r = run_tool("export", f"--workdir={glue_workdir}", f"--export_dir={out}", "--model_name=glue")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "signature rte_text_pair: inputs text_a, text_b -> outputs probabilities, class_ids, label" in r.stdout
    assert "signature cola_text: inputs text -> outputs probabilities, class_ids, label" in r.stdout
    request = tmp_path / "pair.json"
    request.write_text(json.dumps({"instances": [{"text_a": "A dog ran .", "text_b": "A dog is ."}]}))
    r = run_tool("predict", f"--model={out / 'glue'}", f"--input={request}", "--task=rte")
    assert r.returncode == 0, r.stderr[-2000:]
    rte = json.loads(r.stdout)["predictions"][0]["rte"]
    assert rte["label"] == ["entailment", "not_entailment"][rte["class_ids"]]
    request.write_text(json.dumps({"instances": [{"text_a": "A dog ran ."}]}))
    r = run_tool("predict", f"--model={out / 'glue'}", f"--input={request}", "--task=rte")
    assert r.returncode == 2 and _errors(r) == [
        "error: instances[0]: signature 'rte_text_pair' takes a sentence pair (text_a and text_b); "
        "the request has no 'text_b'"
    ], r.stderr[-2000:]
