"""tools/transfer_report.py: writes the report from finished sub-runs, progress lines, bad input exits 2."""

import json
import os

import pytest

from tests.helpers import run_tool
from tests.studies.test_transfer import fabricate

CONFIG = """
def get_config():
    import ml_collections
    from mtlzoo.config import with_defaults

    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {TASKS}
    c.data = {{"source": "synthetic", "batch_size": 8, "examples_per_task": 24, "input_dim": 4,
               "validation_fraction": 0.25, "test_fraction": 0.0}}
    c.model = {{"encoder": {{"name": "mlp", "input_dim": 4, "units": (4,)}}, "tower": {{"units": (4,)}}}}
    c.train = {{"epochs": 1, "learning_rate": 0.01}}
    return with_defaults(c)
"""
THREE = '{"a": {"kind": "binary"}, "b": {"kind": "regression"}, "c": {"kind": "multiclass", "num_classes": 3}}'


def config_file(tmp_path, tasks=THREE):
    path = tmp_path / "cfg.py"
    path.write_text(CONFIG.format(TASKS=tasks))
    return str(path)


def test_report_from_finished_subruns(tmp_path):
    wd = tmp_path / "report"
    fabricate(wd)  # every sub-run finished: the tool only reads them and writes the report
    r = run_tool("transfer_report", f"--config={config_file(tmp_path)}", f"--workdir={wd}", "--seeds=0,1")
    assert r.returncode == 0, r.stderr[-2000:]
    progress = [line for line in r.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == 18 and all("skipped (metrics.json exists)" in line for line in progress)
    assert "| b | +0.1000 ± 0.0000 | — | +0.0250 ± 0.1061 |" in r.stdout
    for name in ("transfer.md", "transfer.csv", "transfer.json", "transfer_heatmap.png"):
        assert os.path.getsize(wd / name) > 0, name
    assert json.loads((wd / "transfer.json").read_text())["seeds"] == [0, 1]


@pytest.mark.parametrize(
    "args,words",
    [
        (["--alignment=sometimes"], "flag --alignment=sometimes: value should be one of"),
        (["--seeds=0,x"], "--seeds must be comma-separated non-negative integers"),
        (["--seeds=-1"], "--seeds must be comma-separated non-negative integers"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, words, tmp_path):
    wd = tmp_path / "bad"
    r = run_tool("transfer_report", f"--config={config_file(tmp_path)}", f"--workdir={wd}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and words in err[0], r.stderr[-2000:]
    assert not (wd / "runs").exists()


def test_one_task_exits_2(tmp_path):
    wd = tmp_path / "one"
    one = config_file(tmp_path, '{"a": {"kind": "binary"}}')
    r = run_tool("transfer_report", f"--config={one}", f"--workdir={wd}")
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "config field tasks: a transfer report needs at least 2 tasks, the config has 1" in err[0]
    assert not (wd / "runs").exists()
