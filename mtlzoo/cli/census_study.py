"""MMoE on Census-Income: shared_bottom vs mmoe vs cgc vs ple vs cross_stitch, AUC per task over seeds.

    mtlzoo census_study --config=census_mmoe --workdir=/tmp/mtlzoo_census \
        --architectures=shared_bottom,mmoe,cgc,ple,cross_stitch --seeds=0,1,2

``single_task`` (an extra arm) trains the shared_bottom config on each task alone. One run
folder per architecture and seed (``WORKDIR/<architecture>/seed<seed>``); a finished
one is reused, so rerunning the command resumes. Writes ``census_mmoe.{md,json,png}`` in
WORKDIR (see :mod:`mtlzoo.studies.census_mmoe`).
"""

from mtlzoo.cli._common import fail, int_list, run  # noqa: I001  (quiets TF logging first)

from absl import flags

PROGRESS_NAME = "census study"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_CONFIG = flags.DEFINE_string("config", "census_mmoe", "Config file with get_config(architecture).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Study folder: one run per architecture and seed, the report.")
_ARCHS = flags.DEFINE_list(
    "architectures",
    ["shared_bottom", "mmoe", "cgc", "ple", "cross_stitch"],
    "model.architecture values to compare; single_task: one shared_bottom model per task.",
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (initialisation and the data split).")
_EPOCHS = flags.DEFINE_integer("epochs", None, "Override train.epochs.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    seeds = int_list(_SEEDS.value, "seeds")
    from mtlzoo.config import load_config_module
    from mtlzoo.configs import config_path
    from mtlzoo.models import ARCHITECTURES
    from mtlzoo.studies.census_mmoe import run_census_study

    for arch in _ARCHS.value or fail("--architectures must not be empty"):
        if arch not in (*ARCHITECTURES.names(), "single_task"):
            fail(f"--architectures: unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES.names())}")
    module = load_config_module(config_path(_CONFIG.value))
    report = run_census_study(module.get_config, _WORKDIR.value, _ARCHS.value, seeds, _EPOCHS.value)
    from mtlzoo.studies.census_mmoe import markdown

    print(markdown(report))
    print(f"report written to {_WORKDIR.value}/census_mmoe.md (.json, .png); {report['study_seconds']:.0f} s")


if __name__ == "__main__":
    run(main)
