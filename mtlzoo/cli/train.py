"""Train a multi-task model from a config file.

    python tools/train.py --config=configs/quickstart.py --workdir=/tmp/run \
        [--config.train.epochs=3] [--strategy=mirrored]

Rerunning the same command after a crash resumes from the last checkpoint; a rerun with another
config is refused (``--overwrite`` starts afresh), and one workdir has one writer at a time.
"""

from mtlzoo.cli._common import config_value, run  # noqa: I001  (quiets TF logging first)
import sys

from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file with get_config(); override fields with --config.a.b=value.", lock_config=False
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory: config.json, checkpoints/, logs/, model.keras, metrics.json."
)
_STRATEGY = flags.DEFINE_string(
    "strategy",
    "default",
    "tf.distribute strategy: default, one_device, mirrored, multi_worker_mirrored (reads TF_CONFIG; run the same "
    "command on every worker) or tpu.",
)
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices", None, "Split the CPU into this many logical devices (e.g. to run --strategy=mirrored without GPUs)."
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite",
    False,
    "Start afresh in a workdir that holds a run (its checkpoints, logs and model are removed); without it a rerun "
    "with another config is refused.",
)
flags.mark_flags_as_required(["config", "workdir"])


def precheck():
    """Every field of the config against the static option tables, before TensorFlow is imported."""
    from mtlzoo.config import check_config

    check_config(config_value(_CONFIG))


def main(argv):
    del argv
    if _CPU_DEVICES.value:
        from mtlzoo.training.strategy import configure_cpu_devices

        configure_cpu_devices(_CPU_DEVICES.value)
    from mtlzoo.training import TrainingError, format_metrics_table, train

    try:
        result = train(config_value(_CONFIG), _WORKDIR.value, strategy=_STRATEGY.value, overwrite=_OVERWRITE.value)
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(3)
    if result.chief:
        print(format_metrics_table(result.metrics, title=f"final metrics ({result.metrics['split']} split)"))
        print(f"model saved to {result.workdir}/model.keras")


if __name__ == "__main__":
    run(main)
