"""Compare multi-task architectures on one config, averaged over seeds; writes a Markdown table.

    python tools/compare_architectures.py --config=configs/compare_architectures.py \
        --workdir=/tmp/mtlzoo_architectures --architectures=shared_bottom,mmoe,ple,cross_stitch --seeds=0,1,2

The config file's ``get_config(architecture)`` gives each run's config (a
``get_config()`` without an argument is used as is, with ``model.architecture`` set).
Each (architecture, seed) trains in ``WORKDIR/<architecture>/seed<seed>``
(:func:`mtlzoo.studies.architectures.compare_architectures`); a finished run (its ``metrics.json`` exists) is reused,
so rerunning the command resumes. Writes ``WORKDIR/architectures.md`` (mean +- std of
``--metric`` per task on ``train.eval_split``, trainable parameters) and
``WORKDIR/<architecture>/seed<seed>/architecture_statistics.json`` (mean gate weights
or cross-stitch alphas on the evaluation split).
"""

from mtlzoo.cli._common import int_list, run  # noqa: I001  (quiets TF logging first)
import os

from absl import flags

PROGRESS_NAME = "architecture comparison"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_CONFIG = flags.DEFINE_string("config", None, "Config file with get_config(architecture) or get_config().")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory: one run per architecture and seed, the table.")
_ARCHS = flags.DEFINE_list(
    "architectures", ["shared_bottom", "mmoe", "ple", "cross_stitch"], "Architectures to compare (model.architecture)."
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (config.seed: initialisation, data split, label drops).")
_METRIC = flags.DEFINE_string("metric", "accuracy", "Metric of metrics.json reported per task.")
_EPOCHS = flags.DEFINE_integer("epochs", None, "Override train.epochs.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    from mtlzoo.configs import config_path
    from mtlzoo.studies.architectures import compare_architectures

    seeds = int_list(_SEEDS.value, "seeds")
    table = compare_architectures(
        config_path(_CONFIG.value),
        _WORKDIR.value,
        _ARCHS.value,
        seeds,
        metric=_METRIC.value,
        epochs=_EPOCHS.value,
        progress=lambda line: print(line, flush=True),
    )
    print(table)
    print(f"table written to {os.path.join(_WORKDIR.value, 'architectures.md')}")


if __name__ == "__main__":
    run(main)
