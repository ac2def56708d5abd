"""Transfer predictors from one all-task run, a recommended task grouping, and their check against measured transfer.

    mtlzoo affinity --config=transfer_synthetic --workdir=/tmp/affinity \
        [--transfer_report=/tmp/transfer/transfer.json] [--budget=2] [--every_steps=10] \
        [--lookahead_lr=0.01] [--alignment=none] [--singleton_score=0] [--seeds=0,1,2] \
        [--probes=0.25] [--measurement=in_step|host]

Writes affinity.json, affinity.md, affinity_heatmap.png and, with --transfer_report,
affinity_vs_transfer.png into --workdir. See mtlzoo.studies.affinity_study.
"""

from mtlzoo.cli._common import config_value, fail, int_list, run  # noqa: I001  (quiets TF logging first)
import os

from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Config file with get_config() and at least 2 tasks; override with --config.a.b=value.",
    lock_config=False,
)
PROGRESS_NAME = "affinity study"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder: affinity.{json,md}, affinity_heatmap.png.")
_REPORT = flags.DEFINE_string(
    "transfer_report",
    None,
    "A pairwise transfer report's transfer.json (tools/transfer_report.py) to validate against.",
)
_BUDGET = flags.DEFINE_integer("budget", 2, "Number of models for the recommended grouping.")
_EVERY = flags.DEFINE_integer("every_steps", 10, "Measure the lookahead affinity and gradient cosine every N steps.")
_LR = flags.DEFINE_float("lookahead_lr", None, "Step size of the lookahead step (default: train.learning_rate).")
_ALIGNMENT = flags.DEFINE_string(
    "alignment", "none", "Which transfer of the report to compare with (none, joint, ...)."
)
_SINGLETON = flags.DEFINE_float(
    "singleton_score", None, "Score of a task trained alone in the grouping (default: no one-task groups)."
)
_SEEDS = flags.DEFINE_list(
    "seeds", None, "Run once per seed (workdir/seed_<s>) and write summary.{md,json} (needs --transfer_report)."
)
_PROBES = flags.DEFINE_float(
    "probes",
    None,
    "Also the short pairwise probes (Standley et al.): the transfer report with this fraction of the epochs "
    "(at least 1), its transfer as a predictor.",
)
_MEASUREMENT = flags.DEFINE_enum(
    "measurement",
    "in_step",
    ["in_step", "host"],
    "in_step: inside the compiled training step (train.affinity); host: the host-driven reference callback.",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    if _REPORT.value is not None and not os.path.isfile(_REPORT.value):
        fail(f"--transfer_report: no file {_REPORT.value}")
    seeds = None if _SEEDS.value is None else int_list(_SEEDS.value, "seeds")
    from mtlzoo.studies.affinity_study import affinity_study, affinity_study_seeds

    kwargs = {
        "transfer_report": _REPORT.value,
        "budget": _BUDGET.value,
        "every_steps": _EVERY.value,
        "lookahead_lr": _LR.value,
        "alignment": _ALIGNMENT.value,
        "singleton_score": _SINGLETON.value,
        "probes": _PROBES.value,
        "measurement": _MEASUREMENT.value,
    }
    if seeds is None:
        affinity_study(config_value(_CONFIG), _WORKDIR.value, progress=print, **kwargs)
        report = os.path.join(_WORKDIR.value, "affinity.md")
    else:
        affinity_study_seeds(config_value(_CONFIG), _WORKDIR.value, seeds, progress=print, **kwargs)
        report = os.path.join(_WORKDIR.value, "summary.md")
    with open(report) as f:
        print(f.read())


if __name__ == "__main__":
    run(main)
