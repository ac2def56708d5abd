"""Architecture comparison: shared_bottom vs mmoe vs ple vs cross_stitch on digits.

    python tools/compare_architectures.py --config=configs/compare_architectures.py \
        --workdir=/tmp/mtlzoo_architectures --architectures=shared_bottom,mmoe,ple,cross_stitch --seeds=0,1,2

``get_config(architecture)`` returns one run's config; the tool calls it once per
architecture. Three tasks on scikit-learn's bundled digits (real 8x8 images, no
download): ``digit`` (10 classes), ``parity`` and ``magnitude`` (>= 5); each task
keeps its label on a random 20% of the training examples (``label_fraction``), a
low-data setting in which what is shared matters. The soft-sharing architectures get experts / columns of the same
width as the shared bottom's second layer.
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
    c.tasks = {
        "digit": {"kind": "multiclass", "num_classes": 10},
        "parity": {"kind": "binary"},
        "magnitude": {"kind": "binary"},
    }
    c.data = {
        "source": "digits",
        "batch_size": 32,
        "validation_fraction": 0.15,
        "test_fraction": 0.3,
        "label_fraction": 0.2,
    }
    units = (64, 32) if architecture == "shared_bottom" else (64,)
    c.model = {
        "architecture": architecture,
        "encoder": {"name": "mlp", "input_dim": 64, "units": units},
        "tower": {"units": (16,)},
        "experts": dict(EXPERTS.get(architecture, {})),
    }
    c.train = {"epochs": 8, "learning_rate": 2e-3, "optimizer": "adam", "eval_split": "test", "verbose": 0}
    return with_defaults(c)
