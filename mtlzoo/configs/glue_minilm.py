"""GLUE fine-tuning of the pretrained MiniLM encoder (all-MiniLM-L6-v2), read from GLUE's own files.

    python tools/train.py --config=configs/glue_minilm.py --workdir=/tmp/glue5
    python tools/train.py --config=configs/glue_minilm.py:rte --workdir=/tmp/stl_rte \\
        --config.data.max_train_examples.rte=500 --config.train.epochs=1
    python tools/train.py --config=configs/glue_minilm.py:cola,sst2,mrpc,stsb,rte,align --workdir=/tmp/glue5_align

The argument after ``:`` is ``[TASK,...][,align]``: the tasks (default the five at hand:
``cola sst2 mrpc stsb rte``; ``qnli qqp mnli wnli`` where their folders exist), one task =
single-task fine-tuning; ``align`` puts the per-task alignment R_i between BERT's embedding
block and its transformer layers (``model.alignment = joint``, Wu, Zhang & Ré 2020).

Data: ``$MTLZOO_DATA_DIR/glue`` (the folders ``download_glue_data.py`` writes); ``test`` is
GLUE's dev set, ``validation`` a seeded 10% of train. SST-2's 67,349 training sentences are
subsampled to ``SST2_TRAIN`` (seeded) to keep it affordable on a CPU. Tokens: the
checkpoint's own uncased WordPiece vocabulary, pairs packed ``[CLS] a [SEP] b [SEP]``, at most
128 tokens, batches length-bucketed and padded to their longest example.

Encoder: ``$MTLZOO_BERT_CHECKPOINT`` or ``$MTLZOO_DATA_DIR/bert/all-MiniLM-L6-v2`` (transformers
format, 6 layers, hidden 384), mean pooling over tokens (how it was trained). Caveat: MiniLM-L6-v2
is a distilled MiniLM further trained as a sentence embedder on pair data (SNLI/MultiNLI, QQP
among them), not a plain masked-LM checkpoint like BERT-base. Recipe: AdamW (weight decay
0.01), peak rate 1e-4, linear warm-up over 10% of the steps then linear decay to 0, gradient
norm clipped at 1, 3 epochs, batch 32, tasks sampled in proportion to sqrt(size); one linear
head per task. The peak rate is in the grid Google's BERT README gives compact BERTs (3e-4,
1e-4, 5e-5, 3e-5; Turc et al. 2019), and the schedule's mean rate, half its peak, is keras-hub's
constant 5e-5 (docs/benchmarks.md: at 5e-5 peak a 60-step SST-2 run scored 2 points lower).
The GLUE study and the ``glue5_minilm`` entry were trained at peak 5e-5 (``mtlzoo glue_study
--learning_rate=5e-5``, docs/reproductions.md).
"""

import os

import ml_collections
from ml_collections import config_dict

from mtlzoo.config import with_defaults

FIVE = ("cola", "sst2", "mrpc", "stsb", "rte")
ALL = (*FIVE, "qnli", "qqp", "mnli", "wnli")
KINDS = {"stsb": {"kind": "regression"}, "mnli": {"kind": "multiclass", "num_classes": 3}}
MAX_LENGTH = 128
SST2_TRAIN = 8000


def checkpoint():
    return os.environ.get("MTLZOO_BERT_CHECKPOINT") or os.path.join(
        os.environ.get("MTLZOO_DATA_DIR", "."), "bert", "all-MiniLM-L6-v2"
    )


def parse(arg):
    """``"rte,mrpc,align"`` -> ``(("rte", "mrpc"), True)``; ValueError naming a bad part."""
    parts = [p.strip() for p in (arg or "").split(",") if p.strip()]
    align = "align" in parts
    tasks = tuple(p for p in parts if p != "align")
    for t in tasks:
        if t not in ALL:
            raise ValueError(f"configs/glue_minilm.py: unknown task {t!r}; choose from {', '.join(ALL)}")
    return tasks or FIVE, align


def get_config(arg=None):
    tasks, align = parse(arg)
    ckpt = checkpoint()
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {t: KINDS.get(t, {"kind": "binary"}) for t in tasks}
    caps = ml_collections.ConfigDict({t: config_dict.placeholder(int) for t in tasks})
    if "sst2" in tasks:
        caps.sst2 = SST2_TRAIN
    c.data = {
        "source": "glue_files",
        "checkpoint": ckpt,
        "max_length": MAX_LENGTH,
        "bucket_by_length": True,
        "max_train_examples": caps,
        "validation_fraction": 0.1,
        "batch_size": 32,
        "mixing": "interleaved",
        "sampler": {"name": "proportional", "alpha": 0.5},
    }
    c.model = {
        "architecture": "shared_bottom",
        "alignment": "joint" if align else "none",
        "encoder": {"name": "bert", "preset": ckpt, "pooling": "mean"},
        "tower": {"units": (), "dropout": 0.1},
    }
    c.train = {
        "epochs": 3,
        "optimizer": "adamw",
        "learning_rate": 1e-4,
        "weight_decay": 0.01,
        "clipnorm": 1.0,
        "lr_schedule": "linear",
        "warmup_fraction": 0.1,
        "eval_split": "validation",
    }
    return with_defaults(c)
