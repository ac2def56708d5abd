"""GLUE metrics against scikit-learn and scipy; the GLUE average by hand."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from mtlzoo.metrics.glue import GLUE_METRICS, glue_average, task_metrics, task_score


def _binary(seed, n=200):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    p = np.clip(0.6 * y + 0.4 * rng.random(n) + 0.2 * rng.normal(size=n), 0, 1)
    return y, p


@pytest.mark.parametrize("seed", range(4))
def test_classification_metrics_match_sklearn(seed):
    y, p = _binary(seed)
    cls = (p >= 0.5).astype(int)
    cola = task_metrics("cola", y, p)
    assert cola["mcc"] == pytest.approx(matthews_corrcoef(y, cls), abs=1e-12)
    for task in ("mrpc", "qqp"):
        m = task_metrics(task, y.astype(np.float32)[:, None], p[:, None])  # the batch shapes: [n, 1]
        assert m["f1"] == pytest.approx(f1_score(y, cls), abs=1e-12)
        assert m["accuracy"] == pytest.approx(accuracy_score(y, cls), abs=1e-12)
    for task in ("sst2", "qnli", "rte", "wnli"):
        assert task_metrics(task, y, p) == {"accuracy": pytest.approx(accuracy_score(y, cls), abs=1e-12)}
    scores = np.random.default_rng(seed).random((len(y), 3))
    y3 = np.random.default_rng(seed + 10).integers(0, 3, size=len(y))
    assert task_metrics("mnli", y3, scores)["accuracy"] == pytest.approx(accuracy_score(y3, scores.argmax(1)))


def test_degenerate_predictions_follow_sklearn():
    y = np.array([0, 1, 1, 0, 1])
    const = np.zeros(5)
    assert task_metrics("cola", y, const)["mcc"] == matthews_corrcoef(y, const.astype(int)) == 0.0
    assert task_metrics("mrpc", y, const)["f1"] == f1_score(y, const.astype(int), zero_division=0) == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_stsb_correlations_match_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = np.round(rng.uniform(0, 5, size=150) * 2) / 2  # scores on a 0.5 grid: many ties
    p = np.round(y + rng.normal(size=150), 1)
    m = task_metrics("stsb", y[:, None], p[:, None])
    assert m["pearson"] == pytest.approx(pearsonr(y, p)[0], abs=1e-10)
    assert m["spearman"] == pytest.approx(spearmanr(y, p)[0], abs=1e-10)


def test_weight_zero_examples_are_left_out():
    y, p = _binary(7)
    w = (np.arange(len(y)) % 3 != 0).astype(np.float32)
    keep = w > 0
    got = task_metrics("mrpc", y, p, weights=w)
    assert got["f1"] == pytest.approx(f1_score(y[keep], (p[keep] >= 0.5).astype(int)))


def test_glue_average_is_the_mean_of_task_means():
    per_task = {
        "cola": {"mcc": 0.5},
        "mrpc": {"f1": 0.9, "accuracy": 0.8},
        "stsb": {"pearson": 0.88, "spearman": 0.86},
        "rte": {"accuracy": 0.7},
    }
    assert task_score("mrpc", per_task["mrpc"]) == pytest.approx(0.85)
    assert glue_average(per_task) == pytest.approx((0.5 + 0.85 + 0.87 + 0.7) / 4)
    assert set(GLUE_METRICS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"}
    with pytest.raises(ValueError, match="unknown GLUE task 'squad'"):
        task_metrics("squad", [1], [1])


@pytest.mark.parametrize("seed", range(3))
def test_a_binary_task_with_a_softmax_head_scores_its_argmax(seed):
    """Class scores [n, 2] of a 2-way softmax head: the class is the argmax (sklearn on it)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=120)
    scores = rng.random((120, 2))
    cls = scores.argmax(1)
    assert task_metrics("cola", y, scores)["mcc"] == pytest.approx(matthews_corrcoef(y, cls), abs=1e-12)
    m = task_metrics("mrpc", y, scores)
    assert m["f1"] == pytest.approx(f1_score(y, cls), abs=1e-12)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, cls), abs=1e-12)
