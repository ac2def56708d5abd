"""CoNLL-2000 part-of-speech tagging and chunking on one shared BiLSTM (hard parameter sharing).

    NLTK_DATA=/path/to/nltk_data python tools/train.py --config=configs/conll2000_tagger.py \
        --workdir=/tmp/mtlzoo_conll2000

Reads nltk's ``conll2000`` corpus (``python -m nltk.downloader conll2000``; see
docs/data_sources.md). Tasks ``pos`` (46 classes) and ``chunk`` (IOB, 24 classes)
label the same WSJ sentences; a word embedding trained from scratch over the
words seen at least twice in the training split (case kept; the rest are ``[UNK]``),
one BiLSTM layer and a linear softmax per task and token, 5 epochs (about 2 CPU-minutes).

Single-task baselines with the same hyper-parameters: name the tasks after the file,
``--config=configs/conll2000_tagger.py:chunk`` (or ``:pos``), or run
``tools/conll_study.py`` (STL pos, STL chunk and MTL pos+chunk over seeds, scored with
token accuracy and conlleval chunk F1; docs/reproductions.md).
"""

import ml_collections

from mtlzoo.config import with_defaults

MAX_VOCAB = 10000  # [PAD], [UNK] and the words seen twice (~9,000 of the training split): ~2.5 MB at 64 dims
MAX_LENGTH = 80  # the longest sentence has 78 tokens: nothing is truncated

TASKS = {"pos": {"kind": "tagging", "num_classes": 46}, "chunk": {"kind": "tagging", "num_classes": 24}}


def get_config(tasks="pos,chunk"):
    """``tasks``: comma-separated subset of ``pos,chunk`` (the study's single-task runs)."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {t: dict(TASKS[t]) for t in tasks.split(",")}
    c.data = {
        "source": "conll2000",
        "batch_size": 32,
        "max_vocab": MAX_VOCAB,
        "min_count": 2,
        "max_length": MAX_LENGTH,
        "validation_fraction": 0.1,
    }
    c.model = {
        "architecture": "shared_bottom",
        "encoder": {
            "name": "tagger",
            "vocab_size": MAX_VOCAB,
            "max_length": MAX_LENGTH,
            "embedding_dim": 64,
            "hidden": 64,
            "num_layers": 1,
            "dropout": 0.2,
        },
        "tower": {"units": ()},
    }
    c.train = {"epochs": 5, "learning_rate": 2e-3, "optimizer": "adam", "eval_split": "validation"}
    return with_defaults(c)
