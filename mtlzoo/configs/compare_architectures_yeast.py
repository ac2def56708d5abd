"""Architecture comparison on Yeast: 14 binary labels on 103 features (river's bundled copy).

    python tools/compare_architectures.py --config=configs/compare_architectures_yeast.py \
        --workdir=/tmp/mtlzoo_architectures_yeast --architectures=shared_bottom,mmoe,ple,cross_stitch \
        --seeds=0,1,2 --metric=auc

The stand-in for ChestX-ray14's 14 labels on one image: every example carries all 14
labels (shared input). Architectures, widths and training as in
``configs/compare_architectures.py`` (the digits comparison), with the Yeast data.
"""

from mtlzoo.configs import compare_architectures as _base


def get_config(architecture="shared_bottom"):
    c = _base.get_config(architecture)
    c.tasks = {f"label_{i}": {"kind": "binary"} for i in range(14)}
    c.data = {"source": "yeast", "batch_size": 64, "validation_fraction": 0.15, "test_fraction": 0.15}
    c.model.encoder.input_dim = 103
    c.train.epochs = 15
    return c
