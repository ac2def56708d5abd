"""``evaluate`` on GLUE data reports each task's GLUE metric and the GLUE average, checked
against scikit-learn and scipy on the model's own predictions."""

import json
import os

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from tests.glue_run import GLUE_TASKS, trained_glue_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return trained_glue_run(tmp_path_factory)


def _references(workdir):
    """Per-task GLUE metrics of the model's test-split predictions, by sklearn / scipy."""
    from mtlzoo.config import read_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import load_workdir

    config = read_config(workdir)
    split = load_data(config, tasks_from_config(config.tasks)).splits["test"]
    model, _, _ = load_workdir(workdir)
    pred = model.predict({n: split.features[n] for n in model.input}, verbose=0)
    out = {}
    for t in GLUE_TASKS:
        keep = split.weights[t] > 0
        y, p = split.labels[t][keep], np.asarray(pred[t])[keep]
        if t == "stsb":
            out[t] = {"pearson": pearsonr(y[:, 0], p[:, 0])[0], "spearman": spearmanr(y[:, 0], p[:, 0])[0]}
            continue
        cls = p.argmax(-1) if t == "mnli" else (p[:, 0] >= 0.5).astype(int)
        y = y.reshape(-1).astype(int)
        if t == "cola":
            out[t] = {"mcc": matthews_corrcoef(y, cls)}
        elif t == "mrpc":
            out[t] = {"f1": f1_score(y, cls, zero_division=0), "accuracy": accuracy_score(y, cls)}
        else:
            out[t] = {"accuracy": accuracy_score(y, cls)}
    return out


def test_evaluate_adds_glue_metrics_and_average(run):
    from mtlzoo.evaluation import evaluate, format_table

    workdir, _, _ = run
    result = evaluate(workdir, split="test", write=True)
    ref = _references(workdir)
    glue = result["glue"]
    assert set(glue["tasks"]) == set(GLUE_TASKS)
    for t, metrics in ref.items():
        for name, value in metrics.items():
            np.testing.assert_allclose(glue["tasks"][t][name], value, atol=1e-9, err_msg=f"{t} {name}")
        np.testing.assert_allclose(glue["tasks"][t]["score"], np.mean(list(metrics.values())), atol=1e-9)
    assert glue["average"] == pytest.approx(np.mean([np.mean(list(m.values())) for m in ref.values()]))
    with open(os.path.join(workdir, "eval_test.json")) as f:
        written = json.load(f)
    assert written["glue"]["average"] == pytest.approx(glue["average"])
    table = format_table(result)
    assert f"GLUE average (5 tasks): {glue['average']:.4f}" in table
    assert "mcc" in table and "spearman" in table


def test_glue_report_leaves_out_tasks_that_are_not_glue_s():
    from mtlzoo.metrics.glue import glue_report
    from mtlzoo.tasks import TaskSpec

    tasks = [TaskSpec("rte", "binary"), TaskSpec("digit", "multiclass", num_classes=3), TaskSpec("stsb", "binary")]
    y = {"rte": np.array([[1.0], [0.0]]), "digit": np.array([0, 1]), "stsb": np.array([[1.0], [0.0]])}
    p = {"rte": np.array([[0.9], [0.8]]), "digit": np.eye(3)[:2], "stsb": np.array([[0.9], [0.1]])}
    report = glue_report(tasks, y, p)
    assert list(report["tasks"]) == ["rte"] and report["average"] == 0.5
    assert glue_report([tasks[1]], y, p) is None


@pytest.mark.parametrize("task", ["mnli", "stsb"])
def test_predict_texts_equals_one_unpadded_example_at_a_time(run, task):
    """Length-sorted, cut batches give each example's own unpadded output, in the input order."""
    from mtlzoo.data.glue_files import encode_texts, predict_texts, tokenizer_files, wordpiece_tokenizer
    from mtlzoo.workdir import load_workdir

    workdir, _, ckpt = run
    model, _, _ = load_workdir(workdir)
    tok = wordpiece_tokenizer(*tokenizer_files({"checkpoint": ckpt}))
    first = ["a b c d e f g", "a", "b c", "the a b c d e f g h i j k", "c"]
    second = ["b", "a b c d e f", "c", "d e", "a b c d e f g h"]
    index = sorted(GLUE_TASKS).index(task)
    got = predict_texts(model, tok, task, first, second, max_length=24, task_index=index, batch=2)
    for i in range(len(first)):
        feats, _ = encode_texts(tok, first[i : i + 1], second[i : i + 1], 24)
        feats["task_id"] = np.asarray([index], np.int32)
        want = np.asarray(model({n: feats[n] for n in model.input}, training=False)[task])[0]
        np.testing.assert_allclose(got[i], want.reshape(got[i].shape), atol=1e-5, err_msg=f"example {i}")
    assert got.shape == ((5, 3) if task == "mnli" else (5,))
