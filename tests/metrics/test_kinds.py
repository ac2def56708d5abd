"""Per-task metrics against direct numpy evaluations of their definitions."""

import math

import numpy as np
import pytest

from mtlzoo.metrics import average_metrics, compute_metrics, task_metrics
from mtlzoo.tasks import TaskSpec

RNG = np.random.default_rng(0)


def counts(y, pred, w):
    tp = np.sum(w * (y == 1) * (pred == 1))
    tn = np.sum(w * (y == 0) * (pred == 0))
    fp = np.sum(w * (y == 0) * (pred == 1))
    fn = np.sum(w * (y == 1) * (pred == 0))
    return tp, tn, fp, fn


def pairwise_auc(y, p, w):
    """P(score of a positive > score of a negative), ties 1/2, pairs weighted by w_i w_j."""
    pos, neg = y == 1, y == 0
    diff = p[pos][:, None] - p[neg][None, :]
    pair_w = w[pos][:, None] * w[neg][None, :]
    return float(np.sum(pair_w * ((diff > 0) + 0.5 * (diff == 0))) / np.sum(pair_w))


def multiclass_mcc(y, pred, w, k):
    """Gorodkin's R_K from the weighted confusion matrix."""
    c = np.zeros((k, k))
    np.add.at(c, (y, pred), w)
    s, correct = c.sum(), np.trace(c)
    t, p = c.sum(axis=1), c.sum(axis=0)
    return (correct * s - t @ p) / math.sqrt((s**2 - p @ p) * (s**2 - t @ t))


def test_binary_against_counts_and_pairwise_auc():
    n = 200
    y = RNG.integers(0, 2, size=(n, 1)).astype(np.float32)
    p = np.clip(0.3 * y + 0.7 * RNG.random((n, 1)), 0, 1)
    w = RNG.choice([0.0, 0.5, 1.0, 2.0], size=n)
    got = task_metrics(TaskSpec("b", "binary"), y, p, w)
    keep = w > 0
    yy, pp, ww = y[keep, 0], p[keep, 0], w[keep]
    pred = (pp >= 0.5).astype(int)
    tp, tn, fp, fn = counts(yy, pred, ww)
    assert got["examples"] == keep.sum()
    assert got["accuracy"] == pytest.approx((tp + tn) / ww.sum())
    assert got["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert got["mcc"] == pytest.approx((tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    assert got["auc"] == pytest.approx(pairwise_auc(yy, pp, ww))


def test_weight_zero_examples_do_not_count():
    spec = TaskSpec("m", "multiclass", num_classes=4)
    y = RNG.integers(0, 4, size=60)
    p = RNG.dirichlet(np.ones(4), size=60)
    w = (np.arange(60) % 3 != 0).astype(float)
    base = task_metrics(spec, y, p, w)
    y2, p2 = y.copy(), p.copy()
    y2[w == 0] = 0  # placeholders / garbage where the label is missing
    p2[w == 0] = RNG.dirichlet(np.ones(4), size=(w == 0).sum())
    assert task_metrics(spec, y2, p2, w) == base
    assert task_metrics(spec, y[w > 0], p[w > 0]) == base


def test_multiclass_against_numpy():
    k, n = 5, 300
    y = RNG.integers(0, k, size=n)
    p = RNG.dirichlet(np.ones(k), size=n)
    p[np.arange(n), y] += RNG.random(n)  # better than chance
    w = RNG.choice([0.0, 1.0, 3.0], size=n)
    got = task_metrics(TaskSpec("m", "multiclass", num_classes=k), y, p, w)
    keep = w > 0
    yy, ww, pred = y[keep], w[keep], np.argmax(p[keep], axis=1)
    assert got["accuracy"] == pytest.approx(np.sum(ww * (pred == yy)) / ww.sum())
    f1s = []
    for c in range(k):
        tp, _, fp, fn = counts((yy == c).astype(int), (pred == c).astype(int), ww)
        f1s.append(2 * tp / (2 * tp + fp + fn))
    assert got["macro_f1"] == pytest.approx(np.mean(f1s))
    assert got["mcc"] == pytest.approx(multiclass_mcc(yy, pred, ww, k))


def test_multilabel_against_numpy():
    n, c = 150, 4
    y = RNG.integers(0, 2, size=(n, c)).astype(np.float32)
    y[:, 3] = 1  # one label with a single class: no AUC for it
    p = np.clip(0.4 * y + 0.6 * RNG.random((n, c)), 0, 1)
    w = np.ones(n)
    got = task_metrics(TaskSpec("l", "multilabel", num_classes=c), y, p, w)
    pred = (p >= 0.5).astype(int)
    tp, _, fp, fn = counts(y.ravel(), pred.ravel(), np.ones(n * c))
    assert got["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    per = []
    for j in range(c):
        tp, _, fp, fn = counts(y[:, j], pred[:, j], w)
        per.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    assert got["macro_f1"] == pytest.approx(np.mean(per))
    assert got["mean_auc"] == pytest.approx(np.mean([pairwise_auc(y[:, j], p[:, j], w) for j in range(3)]))


def test_regression_against_numpy():
    n = 120
    y = RNG.normal(size=(n, 2)).astype(np.float32)
    p = y + 0.5 * RNG.normal(size=(n, 2))
    w = RNG.choice([0.0, 1.0, 2.0], size=n)
    got = task_metrics(TaskSpec("r", "regression", num_classes=2), y, p, w)
    keep = w > 0
    yy, pp, ww = y[keep].astype(float), p[keep], w[keep]
    assert got["mse"] == pytest.approx(np.mean(np.sum(ww[:, None] * (yy - pp) ** 2, axis=0) / ww.sum()))
    assert got["mae"] == pytest.approx(np.mean(np.sum(ww[:, None] * np.abs(yy - pp), axis=0) / ww.sum()))
    pearson = [np.corrcoef(yy[:, j], pp[:, j])[0, 1] for j in range(2)]
    assert got["pearson"] == pytest.approx(np.mean(pearson))

    def ranks(v):
        return np.argsort(np.argsort(v))  # continuous data: no ties

    spearman = [np.corrcoef(ranks(yy[:, j]), ranks(pp[:, j]))[0, 1] for j in range(2)]
    assert got["spearman"] == pytest.approx(np.mean(spearman))


def test_tagging_counts_real_tokens_of_labelled_examples():
    n, t, k = 6, 5, 3
    tokens = np.array([[3, 4, 5, 0, 0]] * n)
    y = RNG.integers(0, k, size=(n, t))
    p = RNG.dirichlet(np.ones(k), size=(n, t))
    w = np.array([1, 1, 0, 1, 2, 1.0])
    got = compute_metrics(
        [TaskSpec("pos", "tagging", num_classes=k)], {"pos": y}, {"pos": p}, {"pos": w}, {"tokens": tokens}
    )
    correct = (np.argmax(p, axis=-1) == y)[:, :3]
    assert got["tasks"]["pos"]["token_accuracy"] == pytest.approx(np.sum(w[:, None] * correct) / (3 * w.sum()))
    assert got["tasks"]["pos"]["examples"] == 3 * 5


def test_undefined_metrics_are_nan_and_the_average_skips_them():
    spec = TaskSpec("b", "binary")
    one_class = task_metrics(spec, np.ones((5, 1)), np.full((5, 1), 0.7))
    assert math.isnan(one_class["auc"]) and one_class["accuracy"] == 1.0
    nothing = task_metrics(spec, np.ones((5, 1)), np.full((5, 1), 0.7), np.zeros(5))
    assert nothing["examples"] == 0 and all(math.isnan(v) for k, v in nothing.items() if k != "examples")
    avg = average_metrics(
        {"a": {"accuracy": 0.5, "auc": float("nan")}, "b": {"accuracy": 1.0, "auc": 0.8, "examples": 3}}
    )
    assert avg == {"accuracy": 0.75, "auc": 0.8}


def test_iob_tagging_tasks_get_conlleval_chunk_scores():
    """Hand count: gold chunks NP[0,1] VP[2] NP[4]; predicted NP[0,1] NP[2] NP[4] -> 2 correct of 3 and 3."""
    vocab = ["[PAD]", "[UNK]", "B-NP", "I-NP", "B-VP", "O"]
    ids = {tag: i for i, tag in enumerate(vocab)}
    gold = [["B-NP", "I-NP", "B-VP", "O", "B-NP"]]
    pred = [["B-NP", "I-NP", "B-NP", "O", "B-NP"]]
    y = np.array([[ids[t] for t in gold[0]] + [0]])
    p = np.eye(len(vocab))[[[ids[t] for t in pred[0]] + [0]]]
    tokens = np.array([[5, 6, 7, 8, 9, 0]])
    spec = [TaskSpec("chunk", "tagging", num_classes=len(vocab))]
    got = compute_metrics(spec, {"chunk": y}, {"chunk": p}, {"chunk": np.ones(1)}, {"tokens": tokens}, {"chunk": vocab})
    r = got["tasks"]["chunk"]
    assert r["chunk_precision"] == pytest.approx(2 / 3) and r["chunk_recall"] == pytest.approx(2 / 3)
    assert r["chunk_f1"] == pytest.approx(2 / 3) and r["token_accuracy"] == pytest.approx(4 / 5)
    plain = compute_metrics(spec, {"chunk": y}, {"chunk": p}, {"chunk": np.ones(1)}, {"tokens": tokens}, None)
    assert "chunk_f1" not in plain["tasks"]["chunk"]
    pos = compute_metrics(
        spec, {"chunk": y}, {"chunk": p}, {"chunk": np.ones(1)}, {"tokens": tokens}, {"chunk": ["NN"]}
    )
    assert "chunk_f1" not in pos["tasks"]["chunk"]
