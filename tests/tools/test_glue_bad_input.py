"""Bad input of the GLUE pipeline through the tools (issue #15's "Bad input"): a GLUE directory
missing a task's file, a malformed row (file and line named), a checkpoint directory without
weights or without vocabulary; each is one ``error:`` line, exit 2, and nothing written to the
workdir, for ``mtlzoo train`` and ``mtlzoo finetune``. (The pair signature called with one
text: tests/tools/test_export_tool.py, ``mtlzoo predict``.)"""

import os
import shutil

import pytest

from tests.data.test_glue_files import write_glue
from tests.encoders.tiny_bert import write_transformers_bert
from tests.helpers import run_tool


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny GLUE directory (RTE) and a tiny BERT checkpoint, plus their broken copies."""
    base = tmp_path_factory.mktemp("glue_bad")
    ckpt = str(base / "bert")
    write_transformers_bert(ckpt)
    good = write_glue(str(base / "GLUE"), tasks=("rte",), train_copies=2)
    missing = str(base / "missing")
    shutil.copytree(good, missing)
    os.remove(os.path.join(missing, "RTE", "dev.tsv"))
    malformed = str(base / "malformed")
    shutil.copytree(good, malformed)
    path = os.path.join(malformed, "RTE", "train.tsv")
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    lines.insert(3, "7\tA dog ran .\tentailment\n")  # line 4: three fields, RTE has four
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    deep = str(base / "deep")  # a malformed row past the rows the config check reads
    write_glue(deep, tasks=("rte",), train_copies=100)
    deep_path = os.path.join(deep, "RTE", "train.tsv")
    with open(deep_path, encoding="utf-8") as f:
        lines = f.readlines()
    lines.insert(150, "7\tA dog ran .\tentailment\n")  # line 151
    with open(deep_path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    no_weights, no_vocab = str(base / "no_weights"), str(base / "no_vocab")
    write_transformers_bert(no_weights, weights=False)
    write_transformers_bert(no_vocab, vocab=False)
    return {
        "ckpt": ckpt,
        "good": good,
        "missing": missing,
        "malformed": malformed,
        "malformed_file": path,
        "deep": deep,
        "deep_file": deep_path,
        "no_weights": no_weights,
        "no_vocab": no_vocab,
    }


def _flags(glue, ckpt, preset=None):
    """configs/glue_minilm.py:rte pointed at the tiny files (short sequences, one small epoch)."""
    return [
        "--config=configs/glue_minilm.py:rte",
        f"--config.data.data_dir={glue}",
        f"--config.data.checkpoint={ckpt}",
        f"--config.model.encoder.preset={preset or ckpt}",
        "--config.data.max_length=24",
        "--config.train.epochs=1",
    ]


CASES = {
    "missing_file": lambda f: (
        _flags(f["missing"], f["ckpt"]),
        f"error: config field data.data_dir: GLUE directory {f['missing']} has no RTE/dev.tsv (task rte)",
    ),
    "malformed_row": lambda f: (
        _flags(f["malformed"], f["ckpt"]),
        f"error: config field data.data_dir: {f['malformed_file']} line 4: expected 4 tab-separated fields, got 3",
    ),
    "malformed_deep_row": lambda f: (  # refused by the data load, before the trainer writes
        _flags(f["deep"], f["ckpt"]),
        f"error: config field data.data_dir: {f['deep_file']} line 151: expected 4 tab-separated fields, got 3",
    ),
    "no_weights": lambda f: (
        _flags(f["good"], f["ckpt"], preset=f["no_weights"]),
        f"error: config field model.encoder.preset: checkpoint directory {f['no_weights']} has no weights file "
        "(model.safetensors or model.safetensors.index.json)",
    ),
    "no_vocabulary": lambda f: (
        _flags(f["good"], f["no_vocab"]),
        f"error: config field data.checkpoint: checkpoint directory {f['no_vocab']} has no vocabulary file vocab.txt",
    ),
}


def _check(r, line, workdir):
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert r.returncode == 2, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert errors == [line], r.stderr[-2000:]
    assert not os.path.exists(workdir) or os.listdir(workdir) == [], os.listdir(workdir)  # nothing written


@pytest.mark.parametrize("case", sorted(CASES))
def test_train_refuses_with_one_line_and_writes_nothing(files, case, tmp_path):
    flags, line = CASES[case](files)
    workdir = str(tmp_path / "run")
    _check(run_tool("train", *flags, f"--workdir={workdir}"), line, workdir)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["malformed_row"])
def test_finetune_refuses_with_one_line_and_writes_nothing(files, case, tmp_path_factory, tmp_path):
    # line 4 is among the rows the glue_files config check parses, so finetune refuses it
    # before any heavy work (a deeper row is refused by the data load, before finetune.json)
    from tests.glue_run import trained_glue_run

    pretrained, _, _ = trained_glue_run(tmp_path_factory)  # the session's tiny GLUE run (shared with the export tests)
    flags, line = CASES[case](files)
    workdir = str(tmp_path / "ft")
    _check(run_tool("finetune", f"--pretrained={pretrained}", *flags, f"--workdir={workdir}"), line, workdir)


def test_train_with_an_unset_checkpoint_variable_names_it(files, tmp_path, monkeypatch):
    # a portable reference ($MTLZOO_BERT_CHECKPOINT) on a machine where the variable is not set
    workdir = str(tmp_path / "run")
    flags = _flags(files["good"], files["ckpt"], preset="$MTLZOO_BERT_CHECKPOINT")
    monkeypatch.delenv("MTLZOO_BERT_CHECKPOINT", raising=False)  # the run's environment is this one's
    r = run_tool("train", *flags, f"--workdir={workdir}")
    _check(
        r,
        "error: config field model.encoder.preset: '$MTLZOO_BERT_CHECKPOINT' needs the environment variable "
        "MTLZOO_BERT_CHECKPOINT, which is not set: set MTLZOO_BERT_CHECKPOINT to the checkpoint directory",
        workdir,
    )
