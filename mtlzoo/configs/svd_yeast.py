"""SVD task reweighting on Yeast (Wu, Zhang & Ré, ICLR 2020, Algorithm 2 / Section 3.3).

    python tools/svd_study.py --config=configs/svd_yeast.py --workdir=/tmp/mtlzoo_svd_yeast

The run config of the study: the 14 Yeast labels as binary tasks on one shared input (the
stand-in for ChestX-ray14's 14 labels on one image), a hard-shared MLP, and the SVD
weighting (the study's reweighted arm; its centred arm is the same with ``center: true``,
its unweighted arm the same config with ``train.weighting = {"name": "ew"}``). The study restricts ``tasks`` to a pair and sets
``data.corrupt_labels`` for its noisy-label part (see mtlzoo.studies.svd).
"""

import ml_collections

from mtlzoo.config import with_defaults


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {f"label_{i}": {"kind": "binary"} for i in range(14)}
    c.data = {"source": "yeast", "batch_size": 64, "validation_fraction": 0.15, "test_fraction": 0.15}
    c.model = {
        "architecture": "shared_bottom",
        "encoder": {"name": "mlp", "input_dim": 103, "units": (64, 32)},
        "tower": {"units": (16,)},
    }
    c.train = {
        "epochs": 20,
        "learning_rate": 2e-3,
        "optimizer": "adam",
        "eval_split": "validation",
        "verbose": 0,
        "weighting": {"name": "svd", "rank": 1, "max_examples": 2048},
    }
    return with_defaults(c)
