"""Transfer report demo: four synthetic tasks of three kinds on one shared MLP.

    python tools/transfer_report.py --config=configs/transfer_synthetic.py --workdir=/tmp/transfer

Each task has its own examples (x ~ N(0, I_16), heterogeneous data, so alignment can route
by task) and a task vector theta_i = sqrt(r) theta_g(i) + sqrt(1 - r) u_i; see
``mtlzoo.data.sources.SyntheticSource``. Two planted groups: the regressions ``reg_a`` and
``reg_b`` share one base vector, ``sign`` and ``argmax4`` another, so related pairs sit
within a group and unrelated ones across. Small enough for about two minutes on 2 CPU
cores with one seed.
"""

import ml_collections

from mtlzoo.config import with_defaults


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {
        "reg_a": {"kind": "regression"},
        "reg_b": {"kind": "regression"},
        "sign": {"kind": "binary"},
        "argmax4": {"kind": "multiclass", "num_classes": 4},
    }
    c.data = {
        "source": "synthetic",
        "batch_size": 32,
        "examples_per_task": 400,
        "input_dim": 16,
        "relatedness": 0.7,
        "noise": 0.3,
        "groups": {"reg_a": 0, "reg_b": 0, "sign": 1, "argmax4": 1},
        "validation_fraction": 0.5,
        "test_fraction": 0.0,
    }
    c.model = {
        "architecture": "shared_bottom",
        "encoder": {"name": "mlp", "input_dim": 16, "units": (8,)},
        "tower": {"units": (8,)},
    }
    c.train = {
        "epochs": 20,
        "learning_rate": 1e-2,
        "optimizer": "adam",
        "eval_split": "validation",
        "steps_per_loop": 50,
    }
    return with_defaults(c)
