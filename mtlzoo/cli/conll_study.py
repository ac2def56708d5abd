"""CoNLL-2000 POS tagging and chunking: single-task versus multi-task, over seeds.

    NLTK_DATA=/path/to/nltk_data python tools/conll_study.py --config=configs/conll2000_tagger.py \
        --workdir=/tmp/mtlzoo_conll_study --seeds=0,1,2 [--plot=docs/img/conll2000_mtl_vs_stl.png]

Trains the arms stl_pos, stl_chunk and mtl (pos+chunk) with the config's hyper-parameters
(override any with --config.a.b=value), each seed in WORKDIR/<arm>/seed<seed>, and scores
them on the test split: token accuracy per task and conlleval chunk F1
(mtlzoo.studies.conll). A finished run is read back, so rerunning resumes. Writes
WORKDIR/conll_study.json, WORKDIR/conll_study.md (mean ± std over seeds, paired MTL - STL)
and the plot.
"""

from mtlzoo.cli._common import config_value, int_list, run  # noqa: I001  (quiets TF logging first)
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "The multi-task config (tasks pos and chunk); --config.a.b=value overrides.", lock_config=False
)
PROGRESS_NAME = "CoNLL study"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_WORKDIR = flags.DEFINE_string("workdir", None, "Study directory: one run per arm and seed, the report.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Config seeds (initialisation, validation split, batch order).")
_ARMS = flags.DEFINE_list("arms", ["stl_pos", "stl_chunk", "mtl"], "Arms to run: stl_pos, stl_chunk, mtl.")
_PLOT = flags.DEFINE_string("plot", None, "Where to write the PNG (default WORKDIR/conll_study.png).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    seeds = int_list(_SEEDS.value, "seeds")
    import tensorflow as tf

    from mtlzoo.config import resolve_config
    from mtlzoo.studies.conll import markdown_report, run_conll_study, write_outputs

    tf.get_logger().setLevel("ERROR")  # retracing notices of the repeated runs in one process
    base = config_value(_CONFIG)
    resolve_config(base)  # a bad field fails here, before any training
    study = run_conll_study(
        base, _WORKDIR.value, seeds=seeds, arms=_ARMS.value, progress=lambda s: print(s, flush=True)
    )
    md, png = write_outputs(study, _WORKDIR.value, _PLOT.value)
    print(markdown_report(study))
    print(f"wrote {md}, {png} and {_WORKDIR.value}/conll_study.json")


if __name__ == "__main__":
    run(main)
