"""Pairwise transfer report: single-task and pairwise multi-task models, transfer next to covariance similarity.

    python tools/transfer_report.py --config=configs/transfer_synthetic.py --workdir=/tmp/transfer \
        [--alignment=both|none|joint|fixed_encoder] [--seeds=0,1] [--config.train.epochs=5] \
        [--similarity_rows=tokens|examples]

Writes transfer.md, transfer.csv, transfer.json and transfer_heatmap.png into --workdir (sub-runs
under --workdir/runs/). Rerunning the same command skips finished sub-runs and resumes an
interrupted one. See mtlzoo.studies.transfer.
"""

from mtlzoo.cli._common import config_value, int_list, run  # noqa: I001  (quiets TF logging first)
import os

from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Config file with get_config() and at least 2 tasks; override fields with --config.a.b=value.",
    lock_config=False,
)
PROGRESS_NAME = "transfer report"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_WORKDIR = flags.DEFINE_string("workdir", None, "Report folder: transfer.{md,csv,json}, transfer_heatmap.png, runs/.")
_ALIGNMENT = flags.DEFINE_enum(
    "alignment",
    "both",
    ["both", "all", "none", "joint", "fixed_encoder"],
    "MTL models without covariance alignment (none), with it (joint, or fixed_encoder: the paper's "
    "schedule), or both (none and joint).",
)
_ROWS = flags.DEFINE_enum(
    "similarity_rows",
    "tokens",
    ["tokens", "examples"],
    "Rows of a task's embedding matrix in the covariance similarity: every real token, or one per example "
    "(the mean of its tokens); examples writes transfer_examples.* beside transfer.*.",
)
_SEEDS = flags.DEFINE_list("seeds", None, "Comma-separated seeds to average over (default: the config's seed).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    seeds = None if _SEEDS.value is None else int_list(_SEEDS.value, "seeds")
    from mtlzoo.studies.transfer import transfer_report

    transfer_report(
        config_value(_CONFIG),
        _WORKDIR.value,
        alignment=_ALIGNMENT.value,
        seeds=seeds,
        progress=print,
        similarity_rows=_ROWS.value,
    )
    stem = "transfer" if _ROWS.value == "tokens" else "transfer_examples"
    with open(os.path.join(_WORKDIR.value, f"{stem}.md")) as f:
        print(f.read())
    print(f"report written to {_WORKDIR.value}/{stem}.{{md,csv,json}} and {stem}_heatmap.png")


if __name__ == "__main__":
    run(main)
