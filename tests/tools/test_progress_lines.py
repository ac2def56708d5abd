"""Progress a person can follow (issue 17.3): a study tool piped to a file says it is starting
within seconds and then one line per unit of work as it goes; ``mtlzoo train`` piped to a file
writes one line per epoch, each as the epoch ends."""

import os
import re
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers import REPO


class LiveOutput:
    """Starts a command with stdout piped; records each line with its arrival time (seconds
    after the process was started) and whether the process was still running then."""

    def __init__(self, cmd, stderr_path, env_extra=None):
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user runs it
        env.update(env_extra or {})
        self.lines = []
        self._err = open(stderr_path, "w")  # noqa: SIM115  (closed in stop)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self._err, text=True, bufsize=1
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic() - self.t0, self.proc.poll() is None, line.rstrip("\n")))

    def wait_for(self, predicate, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate([text for _, _, text in self.lines]):
                return True
            if self.proc.poll() is not None and not self._reader.is_alive():
                return predicate([text for _, _, text in self.lines])
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()  # only the process this test started
        self.proc.wait()
        self._reader.join(timeout=10)
        self._err.close()


TF_MARK = "<<tensorflow import begins>>"

# Loaded by the child's interpreter at start-up (PYTHONPATH): prints TF_MARK on stdout, the stream
# the progress lines use, the moment anything first imports tensorflow, so that "the starting line
# comes before TensorFlow loads" is checked by the order of two lines, not by a clock.
_SITECUSTOMIZE = f"""
import sys

class _Mark:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow":
            sys.meta_path.remove(self)
            print({TF_MARK!r}, flush=True)
        return None

sys.meta_path.insert(0, _Mark())
"""


def _tf_marker_env(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}


def _unit_lines(texts, i, total):
    return [t for t in texts if t.startswith(f"[{i}/{total}] ")]


def test_sentiment_study_piped_shows_progress_at_once_and_a_line_per_unit(tmp_path):
    """docs/reproductions.md's ``sentiment_study --study=stl_mtl`` command, shrunk by its own flags
    (one encoder, one seed, one epoch): 6 single-task runs + 1 multi-task run = 7 units."""
    cmd = [
        sys.executable,
        os.path.join(REPO, "tools", "sentiment_study.py"),
        "--study=stl_mtl",
        f"--workdir={tmp_path / 'study'}",
        "--encoders=text_mlp",
        "--seeds=0",
        "--epochs=1",
    ]
    out = LiveOutput(cmd, tmp_path / "stderr.txt", env_extra=_tf_marker_env(tmp_path))
    try:
        # the first unit trained and the second one started: enough to see the pattern
        ok = out.wait_for(lambda texts: len(_unit_lines(texts, 2, 7)) >= 1)
        assert ok, (out.lines, (tmp_path / "stderr.txt").read_text()[-3000:])
    finally:
        out.stop()
    first_at, _, first = out.lines[0]
    print(f"first line after {first_at:.1f} s: {first!r}")
    unit1 = next(at for at, _, text in out.lines if text.startswith("[1/7] "))
    print(f"first unit line after {unit1:.1f} s")
    assert first == "sentiment study: starting (loading TensorFlow) ..."
    # said before TensorFlow loads: the starting line precedes the import marker (no clock involved)
    texts = [text for _, _, text in out.lines]
    assert TF_MARK in texts and texts.index(first) < texts.index(TF_MARK), texts[:3]
    texts = [t for t in texts if t != TF_MARK]
    one, two = _unit_lines(texts, 1, 7), _unit_lines(texts, 2, 7)
    # unit 1: a start line and an end line; unit 2: its start line, with the time left
    assert len(one) == 2 and len(two) == 1, texts
    assert re.fullmatch(r"\[1/7\] text_mlp/stl/\w+ seed=0: training \.\.\. \(elapsed \d+s\)", one[0]), one
    assert re.fullmatch(r"\[1/7\] text_mlp/stl/\w+ seed=0: trained in [\d.]+ s", one[1]), one
    assert re.fullmatch(
        r"\[2/7\] text_mlp/stl/\w+ seed=0: training \.\.\. \(elapsed (\d+m)?\d+s, ~(\d+m)?\d+s left\)", two[0]
    ), two
    # nothing but the starting line and the units' lines: no per-step bar, no sub-run chatter
    assert texts == [first, *one, *two], texts
    assert all(running for _, running, _ in out.lines)  # each line arrived while the study ran


@pytest.mark.parametrize("epochs", [3])
def test_train_quickstart_piped_writes_one_line_per_epoch_as_it_goes(tmp_path, epochs):
    cmd = [
        sys.executable,
        "-m",
        "mtlzoo",
        "train",
        "--config=quickstart",
        f"--workdir={tmp_path / 'run'}",
        f"--config.train.epochs={epochs}",
    ]
    out = LiveOutput(cmd, tmp_path / "stderr.txt")
    try:
        out.proc.wait(timeout=600)
        out._reader.join(timeout=10)
    finally:
        out.stop()
    assert out.proc.returncode == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
    epoch_lines = [(running, text) for _, running, text in out.lines if text.startswith("epoch ")]
    assert [t.split(" (")[0] for _, t in epoch_lines] == [f"epoch {e}/{epochs}" for e in range(1, epochs + 1)]
    for _, text in epoch_lines:  # training and validation metrics of the three tasks
        assert all(f"{k} " in text for k in ("digit_loss", "val_digit_accuracy", "val_parity_auc", "val_mean_loss"))
    assert epoch_lines[0][0], "the first epoch's line arrived only after the run ended"
    assert not any("\r" in text or "━" in text for _, _, text in out.lines)  # no progress bar in a file
