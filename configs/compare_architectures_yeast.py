"""Architecture comparison on Yeast: 14 binary labels on 103 features (river's bundled copy).

    python tools/compare_architectures.py --config=configs/compare_architectures_yeast.py \
        --workdir=/tmp/mtlzoo_architectures_yeast --architectures=shared_bottom,mmoe,ple,cross_stitch \
        --seeds=0,1,2 --metric=auc

The stand-in for ChestX-ray14's 14 labels on one image: every example carries all 14
labels (shared input). Same widths as ``configs/compare_architectures.py``.
"""

import ml_collections

from mtlzoo.config import with_defaults

EXPERTS = {
    "shared_bottom": {},
    "mmoe": {"num_experts": 4, "units": (32,)},
    "cgc": {"num_shared_experts": 2, "num_task_experts": 1, "units": (32,)},
    "ple": {"num_shared_experts": 2, "num_task_experts": 1, "levels": 2, "units": (32,)},
    "cross_stitch": {"units": (32,), "alpha_self": 0.9},
}


def get_config(architecture="shared_bottom"):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {f"label_{i}": {"kind": "binary"} for i in range(14)}
    c.data = {"source": "yeast", "batch_size": 64, "validation_fraction": 0.15, "test_fraction": 0.15}
    units = (64, 32) if architecture == "shared_bottom" else (64,)
    c.model = {
        "architecture": architecture,
        "encoder": {"name": "mlp", "input_dim": 103, "units": units},
        "tower": {"units": (16,)},
        "experts": dict(EXPERTS.get(architecture, {})),
    }
    c.train = {"epochs": 15, "learning_rate": 2e-3, "optimizer": "adam", "eval_split": "test", "verbose": 0}
    return with_defaults(c)
