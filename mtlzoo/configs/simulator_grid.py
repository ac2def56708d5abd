"""Simulator grid of Bettgenhaeuser, Hedderich & Klakow (2020): main-task F1 over (T, n, AMI).

    python tools/simulate.py --config=configs/simulator_grid.py --workdir=/tmp/simgrid

6 task counts x 6 token counts x 6 target AMI values x 3 repeats = 648 small BiLSTM
taggers on the embedded HMM base text (no data needed), about 25 minutes of one CPU core.
Rerunning the command resumes: finished cells in ``results.csv`` are not rerun. Real
base text: ``--config.simulator.source=conll2000`` (reads ``$MTLZOO_DATA_DIR`` or
``--config.simulator.data_dir``; set ``--config.simulator.max_length=64`` for its
longer sentences). Unbalanced setting: ``--config.grid.main_tokens=600`` fixes the
main task's tokens while the grid varies the auxiliary tasks'.
"""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.threads = 1  # TF intra/inter-op threads: the machine is shared
    c.simulator = ml_collections.ConfigDict(
        {
            "source": "hmm",  # hmm | conll2000 | conll2002
            "data_dir": ml_collections.config_dict.placeholder(str),  # None: $MTLZOO_DATA_DIR
            "language": ml_collections.config_dict.placeholder(str),  # conll2002: esp | ned
            "num_types": 4,  # entity types of the HMM: d = 2 * 4 + 1 = 9 BIO labels
            "vocab_size": 2000,
            "names_per_type": 150,
            "pool_tokens": 200_000,
            "test_tokens": 5000,
            "max_length": 16,
            "calibration_tokens": 50_000,
        }
    )
    c.grid = ml_collections.ConfigDict(
        {
            "n_tasks": (1, 2, 3, 4, 5, 6),
            "n_tokens_per_task": (150, 300, 600, 1200, 2400, 4800),
            "mutual_info": (0.05, 0.2, 0.35, 0.5, 0.7, 0.9),
            "repeats": 3,
            "main_tokens": ml_collections.config_dict.placeholder(int),  # set: unbalanced setting
        }
    )
    c.model = ml_collections.ConfigDict(
        {"embedding_dim": 32, "hidden": 32, "num_layers": 1, "dense_layers": 1, "dropout": 0.0}
    )
    c.train = ml_collections.ConfigDict(
        {
            "batch_size": 64,
            "epochs": 8,
            "min_steps": 80,
            "max_steps": ml_collections.config_dict.placeholder(int),
            "learning_rate": 0.02,
            "optimizer": "adam",
        }
    )
    return c
