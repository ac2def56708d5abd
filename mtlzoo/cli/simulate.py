"""Run the multi-task simulator grid (Bettgenhaeuser, Hedderich & Klakow 2020).

    python tools/simulate.py --config=configs/simulator_grid.py --workdir=/tmp/simgrid \
        [--config.grid.repeats=1] [--max_cells=10]

Trains one small multi-task BiLSTM tagger per grid cell (T tasks, n tokens per task,
target AMI, repeat) and appends a row to ``WORKDIR/results.csv`` as each cell finishes.
Rerunning the same command after a crash skips the finished cells.
"""

from mtlzoo.cli._common import config_value, run  # noqa: I001  (quiets TF logging first)
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Grid config file with get_config(); override fields with --config.a.b=value.", lock_config=False
)
PROGRESS_NAME = "simulator grid"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory: config.json, alphas.json, results.csv.")
_MAX_CELLS = flags.DEFINE_integer("max_cells", None, "Stop after this many new cells (default: run them all).")
_PROGRESS = flags.DEFINE_boolean("progress", True, "Show a progress bar on stderr.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    from mtlzoo.studies.simulator_grid import run_grid

    if _MAX_CELLS.value is not None and _MAX_CELLS.value < 0:
        from mtlzoo.errors import ConfigError

        raise ConfigError("--max_cells", f"must be >= 0, got {_MAX_CELLS.value}")
    path = run_grid(config_value(_CONFIG), _WORKDIR.value, progress=_PROGRESS.value, max_cells=_MAX_CELLS.value)
    print(f"results in {path}")


if __name__ == "__main__":
    run(main)
