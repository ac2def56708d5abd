"""GLUE multi-task fine-tuning of BERT with covariance alignment (Wu, Zhang & Ré 2020, Sec. 4).

For users with the data and a GPU or TPU:

    # once, with internet: prepare the five GLUE tasks for tensorflow-datasets
    for t in cola mrpc qnli rte sst2; do tfds build glue/$t --data_dir=$TFDS_DIR; done
    # a local keras-hub BERT preset (e.g. bert_base_en_uncased saved with
    # keras_hub.models.BertBackbone.from_preset(...).save_to_preset(DIR) and the tokenizer's
    # save_to_preset(DIR)); its WordPiece vocabulary is DIR/assets/tokenizer/vocabulary.txt
    MTLZOO_BERT_PRESET=DIR python tools/train.py --config=configs/glue_bert_align.py \
        --workdir=/tmp/mtlzoo_glue --config.data.tfds_data_dir=$TFDS_DIR

Tasks cola, mrpc, qnli, rte, sst2 (binary), each with its own examples; ``test`` is
GLUE's validation split (GLUE's test labels are hidden). ``model.alignment = "joint"``
puts one alignment matrix R_i per task between BERT's embedding block and its
transformer layers. Without MTLZOO_BERT_PRESET the config builds a BERT-base-sized
model from scratch (vocab_file: $MTLZOO_BERT_VOCAB), which is not the paper's setting.
"""

import os

import ml_collections

from mtlzoo.config import with_defaults

SEQUENCE_LENGTH = 128


def get_config():
    preset = os.environ.get("MTLZOO_BERT_PRESET")
    vocab = os.environ.get("MTLZOO_BERT_VOCAB") or (
        os.path.join(preset, "assets", "tokenizer", "vocabulary.txt") if preset else "vocab.txt"
    )
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {t: {"kind": "binary"} for t in ("cola", "mrpc", "qnli", "rte", "sst2")}
    c.data = {
        "source": "glue",
        "batch_size": 32,
        "mixing": "interleaved",
        "sampler": {"name": "proportional", "alpha": 0.5},  # temperature-style sampling (QNLI dwarfs RTE)
        "vocab_file": vocab,
        "sequence_length": SEQUENCE_LENGTH,
        "tfds_data_dir": os.environ.get("TFDS_DATA_DIR", ""),
    }
    encoder = {"name": "bert", "max_sequence_length": SEQUENCE_LENGTH, "dropout": 0.1}
    if preset:
        encoder["preset"] = preset
    else:  # BERT-base sizes, trained from scratch
        encoder.update(vocab_size=30522, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072)
    c.model = {
        "architecture": "shared_bottom",
        "alignment": "joint",
        "encoder": encoder,
        "tower": {"units": (), "dropout": 0.1},
    }
    c.train = {
        "epochs": 3,
        "steps_per_epoch": 2000,
        "learning_rate": 2e-5,
        "optimizer": "adamw",
        "weight_decay": 0.01,
        "clipnorm": 1.0,
        "eval_split": "validation",
        "mixed_precision": "mixed_bfloat16",
    }
    return with_defaults(c)
