"""Six Yeast labels as a task collection for the transfer predictors (issue #21).

    python tools/transfer_report.py --config=configs/affinity_yeast.py --workdir=/tmp/yeast_pairs \
        --alignment=none --seeds=0,1,2 --config.train.eval_split=test
    mtlzoo affinity --config=configs/affinity_yeast.py --workdir=/tmp/yeast_affinity \
        --transfer_report=/tmp/yeast_pairs/transfer.json

``label_0`` .. ``label_5`` (Yeast's ``Class1`` .. ``Class6``: gene function categories, one shared
input of 103 features, 2,417 genes; river's bundled copy) on the hard-shared MLP of
``configs/svd_yeast.py`` with plain summed losses: a second collection, beside the six sentiment
tasks, small enough (k = 6: 15 pairs, 203 groupings) to measure every pair over three seeds and
to enumerate the groupings. Tasks share their examples here (every gene has every label), unlike
the sentiment tasks, so the alignment (which routes by task) is not part of this collection.
"""

from mtlzoo.configs import svd_yeast as _svd


def get_config():
    c = _svd.get_config()  # the same data, MLP and training; six labels, unweighted
    c.tasks = {f"label_{i}": {"kind": "binary"} for i in range(6)}
    c.train.weighting = {"name": "ew"}
    return c
