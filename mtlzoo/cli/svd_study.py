"""SVD task reweighting study: noisy-label pairs and all labels clean, unweighted vs SVD-reweighted
(Algorithm 2 as written, and with centred labels).

    python tools/svd_study.py --config=configs/svd_yeast.py --workdir=/tmp/mtlzoo_svd_yeast \
        [--parts=pairs,all] [--pairs=20] [--corrupt_fraction=0.2] [--pair_seed=0] [--seeds=0,1,2]

The config is the SVD arm (train.weighting.name = svd, run with center false); the centred SVD arm
is the same with center true (theta_i = X^T (y_i - mean y_i)); the unweighted arm is the same config
with weighting ew. Writes svd_study.md, svd_study.json and svd_study.png into --workdir (sub-runs under
--workdir/pairs and --workdir/all). Rerunning the same command skips finished sub-runs. See
mtlzoo.studies.svd (Wu, Zhang & Ré 2020, Algorithm 2 and Section 3.3).
"""

from mtlzoo.cli._common import config_value, fail, int_list, run  # noqa: I001  (quiets TF logging first)
import os

from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Config file of the SVD arm (binary tasks, yeast source); override with --config.a.b=v.",
    lock_config=False,
)
PROGRESS_NAME = "SVD study"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_WORKDIR = flags.DEFINE_string("workdir", None, "Report folder: svd_study.{md,json,png}, pairs/, all/.")
_PARTS = flags.DEFINE_list("parts", ["pairs", "all"], "pairs (noisy-label pairs) and/or all (every label, clean).")
_PAIRS = flags.DEFINE_integer("pairs", 20, "Number of random label pairs.")
_FRACTION = flags.DEFINE_float("corrupt_fraction", 0.2, "Fraction of the noisy label's training labels flipped.")
_PAIR_SEED = flags.DEFINE_integer("pair_seed", 0, "Seed of the pair draw.")
_EXTRA = flags.DEFINE_list(
    "extra_arms",
    [],
    "Optional arms next to ew/svd/svd_centred: svd_normalised (centred labels / their std), "
    "svd_scaled (labels / their std).",
)
_SEEDS = flags.DEFINE_list("seeds", None, "Training seeds of the all-labels part (default: the config's seed).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    seeds = None if _SEEDS.value is None else int_list(_SEEDS.value, "seeds")
    bad = [p for p in _PARTS.value if p not in ("pairs", "all")]
    if bad or not _PARTS.value:
        fail(f"--parts: choose from pairs, all; got {','.join(_PARTS.value)!r}")
    from mtlzoo.studies.svd import svd_study
    from mtlzoo.studies.svd_report import EXTRA_ARMS

    bad = [a for a in _EXTRA.value if a not in EXTRA_ARMS]
    if bad:
        fail(f"--extra_arms: {bad[0]!r} is not one of {', '.join(EXTRA_ARMS)}")

    svd_study(
        config_value(_CONFIG),
        _WORKDIR.value,
        parts=_PARTS.value,
        num_pairs=_PAIRS.value,
        corrupt_fraction=_FRACTION.value,
        pair_seed=_PAIR_SEED.value,
        seeds=seeds,
        progress=lambda line: print(line, flush=True),
        extra_arms=tuple(_EXTRA.value),
    )
    with open(os.path.join(_WORKDIR.value, "svd_study.md")) as f:
        print(f.read())
    print(f"report written to {_WORKDIR.value}/svd_study.{{md,json,png}}")


if __name__ == "__main__":
    run(main)
