"""A tiny GLUE run shared by the evaluation and export tests: GLUE files and a random one-layer
BERT checkpoint in transformers format written by the test, one epoch of training."""

import os
import shutil

from tests.data.test_glue_files import KINDS, LAYOUTS, write_glue
from tests.encoders.tiny_bert import write_transformers_bert

GLUE_TASKS = ("cola", "mnli", "mrpc", "rte", "stsb")


def glue_config(root, ckpt, tasks=GLUE_TASKS):
    return {
        "seed": 0,
        "tasks": {t: KINDS[t] for t in tasks},
        "data": {"source": "glue_files", "data_dir": root, "checkpoint": ckpt, "max_length": 24, "batch_size": 8},
        "model": {"encoder": {"name": "bert", "preset": ckpt}, "tower": {"units": []}},
        "train": {"epochs": 1, "optimizer": "adamw", "learning_rate": 1e-3, "verbose": 0},
    }


def trained_glue_run(tmp_path_factory, tasks=GLUE_TASKS):
    """``(workdir, glue dir, checkpoint dir)`` of a tiny GLUE run trained once per session, by
    whichever pytest-xdist worker asks first (:func:`tests.helpers.shared_dir`).

    Each dev file is a copy of its training file (20-30 examples), so every metric has
    enough examples to be non-trivial. Tests must treat the workdir as read-only.
    """
    from tests.helpers import shared_dir

    def build(base):
        import mtlzoo

        root, ckpt, workdir = str(base / "GLUE"), str(base / "bert"), str(base / "run")
        write_transformers_bert(ckpt, layers=1)  # evaluation and export are checked, not BERT's depth
        write_glue(root, tasks)
        for t in tasks:
            lay = LAYOUTS[t]
            shutil.copy(os.path.join(root, lay.folder, lay.files[0]), os.path.join(root, lay.folder, lay.files[1]))
        mtlzoo.train(glue_config(root, ckpt, tasks), workdir)

    base = shared_dir(tmp_path_factory, "mtlzoo_glue_" + "_".join(tasks), build)
    return str(base / "run"), str(base / "GLUE"), str(base / "bert")
