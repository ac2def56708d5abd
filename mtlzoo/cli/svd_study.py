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
_SEEDS = flags.DEFINE_list(
    "seeds", None, "Training seeds of the all-labels part, or of every unit with --arms (default: the config's seed)."
)
_ARMS = flags.DEFINE_list(
    "arms",
    [],
    "Run the variants study instead (mtlzoo.studies.svd_arms): arms from ew, svd, svd_centred, svd_normalised, "
    "svd_rank2, svd_every5, svd_once, for each pair and seed; writes svd_arms.{md,json,png}.",
)
_PAIR_LIST = flags.DEFINE_string(
    "pair_list", None, "With --arms: clean:noisy pairs (a:b,c:d); default the first --pairs of the seeded draw."
)
_MODE = flags.DEFINE_enum(
    "corrupt_mode", "random", ["flip", "random"], "With --arms: flip the chosen labels or give them fair-coin labels."
)
flags.mark_flags_as_required(["config", "workdir"])


def precheck():
    """The flags (--parts, --seeds, --extra_arms, --arms, --pair_list), before TensorFlow is imported
    (exit 2 at once): :mod:`mtlzoo.studies.svd_arms` and :mod:`mtlzoo.studies.svd_report` import none."""
    if _SEEDS.value is not None:
        int_list(_SEEDS.value, "seeds")
    bad = [p for p in _PARTS.value if p not in ("pairs", "all")]
    if bad or not _PARTS.value:
        fail(f"--parts: choose from pairs, all; got {','.join(_PARTS.value)!r}")
    if _ARMS.value:
        from mtlzoo.studies.svd_arms import ARM_OPTIONS, parse_pairs

        bad = [a for a in _ARMS.value if a not in ARM_OPTIONS]
        if bad or "ew" not in _ARMS.value:
            fail(f"--arms: include ew and choose from {', '.join(ARM_OPTIONS)}; got {','.join(_ARMS.value)!r}")
        if _PAIR_LIST.value:
            parse_pairs(_PAIR_LIST.value)  # a ConfigError: one error line, exit 2 (mtlzoo.cli._common.run)
        return
    from mtlzoo.studies.svd_report import EXTRA_ARMS

    bad = [a for a in _EXTRA.value if a not in EXTRA_ARMS]
    if bad:
        fail(f"--extra_arms: {bad[0]!r} is not one of {', '.join(EXTRA_ARMS)}")


def main(argv):
    del argv
    seeds = None if _SEEDS.value is None else int_list(_SEEDS.value, "seeds")
    if _ARMS.value:
        return _arms_main(seeds)
    from mtlzoo.studies.svd import svd_study

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


def _arms_main(seeds):
    from mtlzoo.config import resolve_config
    from mtlzoo.studies.svd import natural_key, sample_pairs
    from mtlzoo.studies.svd_arms import parse_pairs, svd_arms_study

    config = config_value(_CONFIG)
    resolved = resolve_config(config)
    if _PAIR_LIST.value:
        pairs = parse_pairs(_PAIR_LIST.value)
    else:
        pairs = sample_pairs(sorted(resolved.tasks.keys(), key=natural_key), _PAIRS.value, _PAIR_SEED.value)
    svd_arms_study(
        config,
        _WORKDIR.value,
        pairs,
        arms=_ARMS.value,
        seeds=seeds if seeds is not None else [int(resolved.seed)],
        corrupt_fraction=_FRACTION.value,
        corrupt_mode=_MODE.value,
        progress=lambda line: print(line, flush=True),
    )
    with open(os.path.join(_WORKDIR.value, "svd_arms.md")) as f:
        print(f.read())
    print(f"report written to {_WORKDIR.value}/svd_arms.{{md,json,png}}")


if __name__ == "__main__":
    run(main)
