"""The simulator grid's per-T model cache with dropout on (issue 22: the cache was tested with
dropout 0 only, where a reused model's dropout state cannot show)."""

import numpy as np
import pytest

from mtlzoo.data import simulator as sim
from mtlzoo.studies import simulator_grid as grid


@pytest.mark.slow
def test_reused_model_with_dropout_trains_like_a_fresh_one():
    corpus = sim.hmm_corpus(pool_tokens=20_000, test_tokens=1_000, seed=3)
    model = {"embedding_dim": 8, "hidden": 8, "num_layers": 1, "dense_layers": 1, "dropout": 0.2}
    train = {
        "batch_size": 32,
        "epochs": 2,
        "min_steps": 60,
        "max_steps": None,
        "learning_rate": 0.02,
        "optimizer": "adam",
    }
    data = sim.to_task_data(corpus, sim.simulate_tasks(corpus, 2, 300, alpha=0.9, seed=0), 16, 400)
    other = sim.to_task_data(corpus, sim.simulate_tasks(corpus, 2, 200, alpha=0.5, seed=1), 16, 400)
    cached = grid.TaggerTrainer(model, train, corpus.num_labels, corpus.vocab_size, 16)
    cached(other, 2, 5)  # the cached model trains (and draws dropout masks) on something else first
    reused = cached(data, 2, 7)
    new = grid.TaggerTrainer(model, train, corpus.num_labels, corpus.vocab_size, 16)
    fresh = new(data, 2, 7)
    assert fresh["fscore"] > 0  # 60 steps: the main task is learned a little, so F1 can tell models apart
    assert reused["fscore"] == pytest.approx(fresh["fscore"], abs=1e-6)
    assert reused["accuracy"] == pytest.approx(fresh["accuracy"], abs=1e-6)
    # the trained weights themselves: the reused model ends where a new one ends
    for a, b in zip(cached._models[2][0].get_weights(), new._models[2][0].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
