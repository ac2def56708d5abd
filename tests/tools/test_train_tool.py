import os

import pytest

from tests.helpers import run_tool

# The quickstart command itself (its table and files) runs in the README loop:
# tests/tools/test_predict_tool.py::test_readme_commands_run_as_written.


@pytest.mark.parametrize(
    "args,words",
    [
        (["--config.train.learning_rate=-1"], "config field train.learning_rate: must be > 0"),
        (["--config.model.encoder.name=mpl"], "config field model.encoder.name: unknown encoder 'mpl'"),
        (["--config.train.epochs=ten"], "train.epochs"),
        (["--strategy=tpu_pod"], "unknown strategy 'tpu_pod'"),
        (["--config.model.encoder.input_dim=10"], "model.encoder.input_dim: is 10, but the data's 'features' inputs"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, words, tmp_path):
    wd = str(tmp_path / "bad")
    r = run_tool("train", "--config=configs/quickstart.py", f"--workdir={wd}", *args)
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and words in err[0], r.stderr[-2000:]
    assert not os.path.exists(os.path.join(wd, "model.keras"))
    assert not os.path.exists(os.path.join(wd, "config.json"))  # refused before anything is written


def test_missing_flags_and_config_file_exit_2(tmp_path):
    r = run_tool("train", "--config=configs/quickstart.py")
    assert r.returncode == 2 and "workdir" in r.stderr
    r = run_tool("train", "--config=configs/nope.py", f"--workdir={tmp_path}")
    assert r.returncode == 2 and "nope.py" in r.stderr


FULL_DISK = """
import errno, runpy, sys
import mtlzoo.fileio as fileio
write_json = fileio.write_json
def full(obj, path, *a, **k):
    if path.endswith("metrics.json"):
        raise OSError(errno.ENOSPC, "No space left on device", path)
    return write_json(obj, path, *a, **k)
fileio.write_json = full  # before the trainer imports it
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("tools/train.py", run_name="__main__")
"""


def test_full_disk_is_one_line_and_what_was_saved_stays_loadable(tmp_path):
    import subprocess
    import sys

    from tests.helpers import REPO

    wd = str(tmp_path / "full")
    args = ["--config=configs/quickstart.py", f"--workdir={wd}", "--config.train.epochs=2"]
    args.append("--config.train.steps_per_epoch=5")  # two short epochs: what is saved, not how well
    r = subprocess.run([sys.executable, "-c", FULL_DISK, *args], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "No space left on device" in err[0], r.stderr[-2000:]
    assert not os.path.exists(os.path.join(wd, "metrics.json"))
    # the checkpoints written before the failure restore: the same command finishes the run
    r = run_tool("train", *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert os.path.exists(os.path.join(wd, "metrics.json"))
