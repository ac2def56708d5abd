"""Train a multi-task model from a config file.

    python tools/train.py --config=configs/quickstart.py --workdir=/tmp/run \
        [--config.train.epochs=3] [--strategy=mirrored]

Rerunning the same command after a crash resumes from the last checkpoint.
"""

from _common import config_value, run  # noqa: I001  (sets up sys.path and TF logging first)
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file with get_config(); override fields with --config.a.b=value.", lock_config=False
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory: config.json, checkpoints/, logs/, model.keras, metrics.json."
)
_STRATEGY = flags.DEFINE_string("strategy", "default", "tf.distribute strategy: default, one_device or mirrored.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    from mtlzoo.training import format_metrics_table, train

    result = train(config_value(_CONFIG), _WORKDIR.value, strategy=_STRATEGY.value)
    print(format_metrics_table(result.metrics, title=f"final metrics ({result.metrics['split']} split)"))
    print(f"model saved to {result.workdir}/model.keras")


if __name__ == "__main__":
    run(main)
