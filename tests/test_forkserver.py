"""The suite's fork server (tests/forkserver.py) runs a script as a fresh ``python`` would: the
same exit code, stdout and stderr apart, the request's environment and working directory, a
module by ``-m``, an uncaught exception's traceback and code 1; a run past its timeout is killed
and raises ``TimeoutExpired``; started runs go side by side and a SIGKILLed one reports it. Reference: the same script in a fresh process (``fresh=True``)."""

import ast
import signal
import subprocess
import time

import pytest

from tests.helpers import run_python, start_python

SCRIPT = """
import os, sys
print("out", os.environ.get("FORK_TEST_VALUE"), os.path.basename(os.getcwd()), sys.argv[1:])
print("err line", file=sys.stderr)
if sys.argv[1] == "raise":
    raise ValueError("boom")
sys.exit(int(sys.argv[1]))
"""


@pytest.mark.parametrize("arg", ["0", "3", "raise"])
def test_a_forked_run_equals_a_fresh_process(tmp_path, arg):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    (tmp_path / "here").mkdir()
    kwargs = {"env": {"FORK_TEST_VALUE": "v1"}, "cwd": tmp_path / "here", "timeout": 120}
    forked = run_python([str(script), arg], **kwargs)
    fresh = run_python([str(script), arg], fresh=True, **kwargs)
    assert forked.returncode == fresh.returncode == {"0": 0, "3": 3, "raise": 1}[arg]
    assert forked.stdout == fresh.stdout == f"out v1 here ['{arg}']\n"
    if arg == "raise":
        assert forked.stderr.splitlines()[-1] == fresh.stderr.splitlines()[-1] == "ValueError: boom"
    else:
        assert forked.stderr == fresh.stderr == "err line\n"


def test_a_module_runs_by_dash_m_and_a_timeout_kills_the_child(tmp_path):
    r = run_python(["-m", "json.tool", "--help"], timeout=120)
    assert r.returncode == 0 and "json.tool" in r.stdout
    with pytest.raises(subprocess.TimeoutExpired):
        run_python([str(_sleeper(tmp_path))], timeout=2)
    after = run_python([str(_sleeper(tmp_path, seconds=0))], timeout=60)  # the server still serves
    assert after.returncode == 0, after.stderr


def _sleeper(tmp_path, seconds=3600):  # long: a run paused (SIGSTOP) for minutes still times out
    path = tmp_path / f"sleep_{seconds}.py"
    path.write_text(f"import time\ntime.sleep({seconds})\n")
    return path


def test_the_server_does_not_import_mtlzoo_commands(tmp_path):
    """The tools' absl flags are defined in each child, never in the server: a child sees no
    ``mtlzoo.cli`` command module until it imports one."""
    script = tmp_path / "mods.py"
    script.write_text("import sys\nprint(sorted(m for m in sys.modules if m.startswith('mtlzoo.cli.')))\n")
    r = run_python([str(script)], timeout=120)
    assert r.returncode == 0, r.stderr
    commands = [m for m in ast.literal_eval(r.stdout.strip()) if not m.split(".")[-1].startswith("_")]
    assert commands == [], commands


WAITER = """
import os, sys, time
name = sys.argv[1]
open(name + ".ready", "w").close()
while not os.path.exists(name + ".go"):
    time.sleep(0.01)
print(name)
sys.exit(3)
"""


@pytest.mark.parametrize("fresh", [False, True])
def test_started_children_run_side_by_side_and_a_sigkilled_one_reports_it(tmp_path, fresh):
    """``start_python``: two runs at once (each waits for the other to be up), one SIGKILLed
    mid-run (exit code -9, as ``subprocess`` reports it), the other ending on its own; the
    server then still serves. Reference: the same with fresh processes."""
    script = tmp_path / "waiter.py"
    script.write_text(WAITER)
    a = start_python([str(script), "a"], cwd=tmp_path, fresh=fresh)
    b = start_python([str(script), "b"], cwd=tmp_path, fresh=fresh)
    assert a.pid != b.pid
    deadline = time.monotonic() + 120
    while not ((tmp_path / "a.ready").exists() and (tmp_path / "b.ready").exists()):
        assert time.monotonic() < deadline, "the two runs were never up at the same time"
        assert a.poll() is None and b.poll() is None
        time.sleep(0.01)
    with pytest.raises(subprocess.TimeoutExpired):
        b.wait(0.2)  # still waiting for its go
    a.send_signal(signal.SIGKILL)
    assert a.wait(60) == -signal.SIGKILL
    assert a.stdout == "" and b.poll() is None
    (tmp_path / "b.go").touch()
    assert b.wait(60) == 3
    assert b.stdout == "b\n" and b.stderr == ""
    after = run_python([str(_sleeper(tmp_path, seconds=0))], timeout=60, fresh=fresh)
    assert after.returncode == 0, after.stderr
