"""MMoE's real-data benchmark (Ma et al., KDD 2018, Section 6.3): Census-Income, income > 50K and never married.

    python tools/census_study.py --config=census_mmoe --workdir=/tmp/mtlzoo_census \
        --architectures=shared_bottom,mmoe,cgc,ple,cross_stitch --seeds=0,1,2

``get_config(architecture)`` gives one run's config. Data: ``census`` (the 99,762 rows of
``census-income.test.gz`` split 4/6 train, 1/6 validation, 1/6 test with the seed; 7
standardised continuous and 32 one-hot nominal columns = 502 features). As in the paper,
the experts (and cross-stitch columns) read the input features directly (``encoder.units =
[]``) and are single ReLU layers; MMoE has 8 experts (the paper's count for this data set,
per secondary summaries of it); each architecture gets 128 hidden units below the towers
in all (shared bottom: one 128-unit layer; mmoe: 8 x 16; cgc / ple: 4 shared + 2 per task
x 16 per level; cross_stitch: a 64-unit column per task), a tower of 8 ReLU units per task
and the test split for the reported AUC. Sized for a 2-core CPU: see docs/reproductions.md.
"""

import ml_collections

from mtlzoo.config import with_defaults

INPUT_DIM = 502  # 7 continuous + 495 one-hot categories of the file (mtlzoo.data.census)
EXPERTS = {
    "shared_bottom": {},
    "mmoe": {"num_experts": 8, "units": (16,)},
    "cgc": {"num_shared_experts": 4, "num_task_experts": 2, "units": (16,)},
    "ple": {"num_shared_experts": 4, "num_task_experts": 2, "levels": 2, "units": (16,)},
    "cross_stitch": {"units": (64,), "alpha_self": 0.9},
}
EPOCHS = 4


def get_config(architecture="mmoe"):
    if architecture not in EXPERTS:
        raise ValueError(
            f"configs/census_mmoe.py: unknown architecture {architecture!r}; choose from {', '.join(EXPERTS)}"
        )
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {"income": {"kind": "binary"}, "marital": {"kind": "binary"}}
    c.data = {"source": "census", "batch_size": 256}
    c.model = {
        "architecture": architecture,
        "encoder": {"name": "mlp", "input_dim": INPUT_DIM, "units": (128,) if architecture == "shared_bottom" else ()},
        "tower": {"units": (8,)},
        "experts": dict(EXPERTS[architecture]),
    }
    c.train = {"epochs": EPOCHS, "learning_rate": 1e-3, "optimizer": "adam", "eval_split": "test", "verbose": 0}
    return with_defaults(c)
