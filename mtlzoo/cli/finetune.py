"""Fine-tune a trained multi-task model: new task heads, frozen layers, then train.

    python tools/finetune.py --pretrained=/tmp/mtlzoo_quickstart --config=configs/quickstart.py \
        --workdir=/tmp/mtlzoo_finetune [--config.train.epochs=2]

The config is a run config (tasks, data, model, train) plus an optional section
finetune = {freeze: none|encoder|pretrained, freeze_layers: [patterns], alignment: none};
sections it leaves out come from the pretrained model's config.json. Tasks the pretrained
model lacks get a new head; layers are matched by name. The workdir is a training workdir
(resumable) plus finetune.json, the transfer plan.
"""

from mtlzoo.cli._common import config_value, run  # noqa: I001  (quiets TF logging first)
from absl import flags
from ml_collections import config_flags

_PRETRAINED = flags.DEFINE_string(
    "pretrained",
    None,
    "Zoo entry name (saved_models/<name>), a training workdir, or a .keras file with config.json beside it.",
)
_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Config file with get_config() (run config + optional finetune section); override fields with "
    "--config.a.b=value. Default: the pretrained model's own config (continue training).",
    lock_config=False,
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory for the fine-tuned model.")
_ZOO_DIR = flags.DEFINE_string(
    "zoo_dir", None, "Zoo root for --pretrained names (default: $MTLZOO_HOME, else a checkout's saved_models/)."
)
_STRATEGY = flags.DEFINE_string("strategy", "default", "tf.distribute strategy: default, one_device or mirrored.")
flags.mark_flags_as_required(["pretrained", "workdir"])


def main(argv):
    del argv
    import json
    import os

    from mtlzoo.zoo import finetune

    config = config_value(_CONFIG) if _CONFIG.value is not None else {}
    result = finetune(_PRETRAINED.value, config, _WORKDIR.value, root=_ZOO_DIR.value, strategy=_STRATEGY.value)
    from mtlzoo.training import format_metrics_table

    with open(os.path.join(result.workdir, "finetune.json")) as f:
        plan = json.load(f)
    print(
        f"transferred {len(plan['transferred'])} layers, {len(plan['new'])} new, {len(plan['frozen'])} frozen"
        + (f"; new tasks: {', '.join(plan['new_tasks'])}" if plan["new_tasks"] else "")
    )
    print(format_metrics_table(result.metrics, title=f"final metrics ({result.metrics['split']} split)"))
    print(f"model saved to {result.workdir}/model.keras")


if __name__ == "__main__":
    run(main)
