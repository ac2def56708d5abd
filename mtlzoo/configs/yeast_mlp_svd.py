"""Zoo entry ``yeast_mlp_svd``: the 14 Yeast labels on one MLP, trained with SVD task reweighting.

    python tools/train.py --config=configs/yeast_mlp_svd.py --workdir=/tmp/mtlzoo_zoo/yeast_mlp_svd

The SVD arm of ``configs/svd_yeast.py`` (Wu, Zhang & Ré 2020, Algorithm 2: rank 1, alpha
recomputed every epoch from the shared 32-d representation of the training split), trained
for 12 epochs: the median of the epochs of best mean validation AUC of that arm over seeds
0, 1, 2 in the study (13, 12, 9; ``python tools/svd_study.py --config=configs/svd_yeast.py
--workdir=/tmp/mtlzoo_svd_yeast --seeds=0,1,2``). Seed 0: the split of the study.
"""

from mtlzoo.configs import svd_yeast as _study


def get_config():
    c = _study.get_config()
    c.train.epochs = 12
    return c
