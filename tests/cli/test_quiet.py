"""The tools hide TensorFlow's C++ start-up lines and print one line per epoch into a pipe."""

import os
import subprocess
import sys

from tests.helpers import REPO

NOISE = ("cuInit", "oneDNN", "cudart_stub", "absl::InitializeLog", "cpu_feature_guard")


def test_train_tool_output_piped_to_a_file_is_quiet_and_has_one_line_per_epoch(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user runs it
    cfg = tmp_path / "cfg.py"  # the 3-task test config with train.verbose back at its default (None)
    cfg.write_text(
        "from tests.training.three_tasks_config import get_config as base\n\n\n"
        "def get_config():\n    c = base()\n    c.train.verbose = None\n    return c\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "train.py"),
            f"--config={cfg}",
            f"--workdir={tmp_path / 'run'}",
            "--config.train.epochs=2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    noisy = [line for line in r.stderr.splitlines() if any(n in line for n in NOISE)]
    assert not noisy, noisy
    epochs = [line for line in r.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(" (")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"], r.stdout
    assert all("a_loss" in line and "val_c_accuracy" in line for line in epochs)
