"""Progress lines of the studies and tools (mtlzoo.studies.common.Progress): format, time left,
one line per unit read back, flushing; the starting line of the long tools; the per-cell lines
of the simulator grid in a log; the formula search's per-restart lines."""

import types

import numpy as np
import pytest

from mtlzoo.studies.common import Progress, format_duration, print_flush


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    "seconds,text",
    [(0, "0s"), (44.6, "45s"), (59.4, "59s"), (72, "1m12s"), (3599, "59m59s"), (3600, "1h00m"), (7500, "2h05m")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [float("nan"), -1.0, None, float("inf")])
def test_format_duration_of_nothing_known(bad):
    assert format_duration(bad) == "?"


def test_lines_elapsed_and_time_left_by_hand():
    clock, lines = Clock(), []
    p = Progress(4, lines.append, clock=clock)
    clock.now += 5
    p.done(1, "a", "skipped (metrics.json exists)")  # read back: one line, no estimate yet
    clock.now += 5
    p.start(2, "b")  # elapsed 10 s, nothing worked yet: no estimate
    clock.now += 60
    p.done(2, "b", "trained in 60.0 s")
    p.start(3, "c")  # 60 s per worked unit x 2 units not done = 120 s
    assert lines == [
        "[1/4] a: skipped (metrics.json exists)",
        "[2/4] b: training ... (elapsed 10s)",
        "[2/4] b: trained in 60.0 s",
        "[3/4] c: training ... (elapsed 1m10s, ~2m00s left)",
    ]
    clock.now += 30
    p.done(3, "c", "ok")  # (60 + 30) / 2 worked = 45 s x 1 left
    assert p.times() == "elapsed 1m40s, ~45s left"


def test_width_action_and_quiet_start_lines():
    clock, lines = Clock(), []
    p = Progress(12, lines.append, clock=clock, action="solving", start_lines=False)
    p.start(3, "x")
    clock.now += 2
    p.done(3, "x", "done")
    assert lines == ["[ 3/12] x: done"]  # start noted the time only
    assert p.times() == "elapsed 2s, ~22s left"  # 2 s x 11 units not done
    q = Progress(2, lines.append, clock=clock, action="solving")
    q.start(1, "y")
    assert lines[-1] == "[1/2] y: solving ... (elapsed 0s)"


def test_silent_progress_still_counts():
    clock = Clock()
    p = Progress(3, None, clock=clock)
    p.start(1, "a")
    clock.now += 6
    p.done(1, "a", "ok")
    assert p.times() == "elapsed 6s, ~12s left"


def test_print_becomes_a_flushing_print(capsys):
    p = Progress(1)
    assert p.say is print_flush
    p.note("hello")
    assert capsys.readouterr().out == "hello\n"


def test_starting_line_only_for_long_tools_and_not_for_help(capsys):
    from mtlzoo.cli._common import starting_line

    long_tool, short_tool = types.SimpleNamespace(PROGRESS_NAME="sentiment study"), types.SimpleNamespace()
    starting_line(long_tool, ["--workdir=/tmp/x"])
    starting_line(short_tool, ["--workdir=/tmp/x"])
    starting_line(long_tool, ["--help"])
    starting_line(long_tool, ["--helpfull"])
    assert capsys.readouterr().out == "sentiment study: starting (loading TensorFlow) ...\n"


def test_simulator_grid_logs_one_line_per_cell_when_stderr_is_not_a_terminal(tmp_path):
    from mtlzoo.studies import simulator_grid as grid
    from tests.studies.test_simulator_grid import TINY, FakeCell

    lines = []
    grid.run_grid(TINY, str(tmp_path), cell_fn=FakeCell(), progress=True, max_cells=3, log=lines.append)
    cells = [line for line in lines if line.startswith("[")]
    assert [c.split("]")[0] + "]" for c in cells] == ["[1/3]", "[2/3]", "[3/3]"], lines
    assert all(" cell T=" in c and ": F1 " in c and "elapsed" in c for c in cells), cells


def test_formula_search_reports_each_restart():
    from mtlzoo.analysis.formula_search import fit_symbolic

    rng = np.random.default_rng(0)
    X = rng.uniform(1, 4, size=(40, 2))
    y = np.sqrt(X[:, 0]) + 0.5 * X[:, 1]
    idx = np.arange(40)
    events = []
    fit_symbolic(
        X,
        y,
        ["a", "b"],
        idx[:30],
        idx[30:],
        seeds=(0, 1),
        population_size=30,
        generations=2,
        progress=lambda *e: events.append(e),
    )
    assert [(e[0], e[1].split(" (")[0]) for e in events] == [
        ("start", "gplearn restart seed 0"),
        ("done", "gplearn restart seed 0"),
        ("start", "gplearn restart seed 1"),
        ("done", "gplearn restart seed 1"),
    ]
    assert events[1][2].startswith("validation R^2 ")
