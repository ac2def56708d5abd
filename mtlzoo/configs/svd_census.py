"""SVD task reweighting under label noise on Census-Income (the second data set of the SVD study).

    python tools/svd_study.py --config=configs/svd_census.py --workdir=/tmp/mtlzoo_svd_census \
        --arms=ew,svd,svd_centred,svd_normalised,svd_rank2,svd_every5,svd_once \
        --pair_list=income:marital,marital:income --seeds=0,1,2 --corrupt_mode=random

Census-Income's two shared-input labels (``income`` > 50K, ``marital`` = never married; the
MMoE paper's first task group, ``mtlzoo.data.census``) as the pair, each in turn the noisy one.
Sized for a busy 2-core CPU: ``max_rows`` keeps a seeded subset of 12,000 of the 99,762 rows of
``census-income.test.gz`` (``default_rng([seed, 0xC5])``, each training seed its own subset),
split 4/6 train (8,000), 1/6 validation, 1/6 test with the same seed. A hard-shared MLP
502 -> 64 -> 32 (ReLU), one 16-unit tower per task, Adam 1e-3, batch 128, 10 epochs; the SVD
weighting is the study's reweighted arm (rank 1, every epoch; the arms change it).
"""

import ml_collections

from mtlzoo.config import with_defaults

INPUT_DIM = 502  # 7 continuous + 495 one-hot categories of the file (mtlzoo.data.census)


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {"income": {"kind": "binary"}, "marital": {"kind": "binary"}}
    c.data = {"source": "census", "batch_size": 128, "max_rows": 12000, "corrupt_mode": "random"}
    c.model = {
        "architecture": "shared_bottom",
        "encoder": {"name": "mlp", "input_dim": INPUT_DIM, "units": (64, 32)},
        "tower": {"units": (16,)},
    }
    c.train = {
        "epochs": 10,
        "learning_rate": 1e-3,
        "optimizer": "adam",
        "eval_split": "validation",
        "verbose": 0,
        "weighting": {"name": "svd", "rank": 1, "max_examples": 2048},
    }
    return with_defaults(c)
