"""Evaluate a trained multi-task model on one split of its data.

    python tools/evaluate.py --workdir=/tmp/mtlzoo_quickstart [--split=test] [--checkpoint=3]

Prints per-task metrics (accuracy, F1, AUC, MCC, Pearson/Spearman, ... as the task kind
calls for) and their average, and writes them to <workdir>/eval_<split>.json.
"""

from mtlzoo.cli._common import run  # noqa: I001  (quiets TF logging first)
from absl import flags

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Training workdir (or saved_models/<name>): config.json plus model.keras or checkpoints/."
)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    None,
    "What to evaluate instead of model.keras: an epoch number (3 = checkpoints/epoch_003.weights.h5) "
    "or a path to a .weights.h5 / .keras file. Default: model.keras, else the last checkpoint.",
)
_SPLIT = flags.DEFINE_string("split", "test", "Data split to evaluate on: train, validation or test.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    from mtlzoo.evaluation import evaluate, format_table

    result = evaluate(_WORKDIR.value, checkpoint=_CHECKPOINT.value, split=_SPLIT.value)
    print(format_table(result))
    print(f"wrote {_WORKDIR.value}/eval_{result['split']}.json")


if __name__ == "__main__":
    run(main)
