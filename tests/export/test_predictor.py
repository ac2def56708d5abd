"""JSON requests in TF Serving's REST format against an export and a .keras file."""

import json
import os

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from tests.export.common import FOUR_KINDS, TEXT_TASKS, build, expected_outputs, vocab_reference, write_vocab
from tests.helpers import model_config


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from mtlzoo.config import write_config
    from mtlzoo.export import export_model, load_predictor
    from mtlzoo.models import save_model
    from mtlzoo.tasks import tasks_from_config

    root = tmp_path_factory.mktemp("predictor")
    model = build("mlp", FOUR_KINDS)
    save_model(model, str(root / "run" / "model.keras"))
    write_config(model_config("mlp", FOUR_KINDS), str(root / "run"))
    export_model(model, str(root / "serving"), "kinds", tasks=tasks_from_config(FOUR_KINDS))
    vocab = write_vocab(root / "vocab.txt")
    text_model = build("text_cnn", TEXT_TASKS)
    tok = {"name": "vocab", "vocab_file": str(root / "vocab.txt")}
    export_model(text_model, str(root / "serving"), "text", tasks=tasks_from_config(TEXT_TASKS), tokenizer=tok)
    return {
        "model": model,
        "text_model": text_model,
        "vocab": vocab,
        "saved": load_predictor(str(root / "serving" / "kinds")),  # model dir: its latest version
        "keras": load_predictor(str(root / "run" / "model.keras")),
        "text": load_predictor(str(root / "serving" / "text" / "1")),
    }


X = np.random.default_rng(3).normal(size=(4, 12)).astype(np.float32)


def _want_rows(model, tasks_cfg, x, only=None):
    from mtlzoo.tasks import tasks_from_config

    y = model.predict(x, verbose=0)
    rows = [{} for _ in range(len(next(iter(x.values()))))]
    for t in tasks_from_config(tasks_cfg):
        if only and t.name != only:
            continue
        for k, v in expected_outputs(t.kind, y[t.name]).items():
            for i in range(len(rows)):
                rows[i].setdefault(t.name, {})[k] = v[i]
    return rows


def _assert_rows(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert sorted(g) == sorted(w)
        for task in w:
            assert sorted(g[task]) == sorted(w[task])
            for k in w[task]:
                np.testing.assert_allclose(np.asarray(g[task][k]), w[task][k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("which", ["saved", "keras"])
def test_row_and_column_formats_give_the_model_outputs(setup, which):
    p = setup[which]
    want = _want_rows(setup["model"], FOUR_KINDS, {"features": X})
    rows = p.predict({"instances": [{"features": r.tolist()} for r in X]})
    assert rows["signature_name"] == "serving_default"
    _assert_rows(rows["predictions"], want)
    _assert_rows(p.predict({"instances": [r.tolist() for r in X]})["predictions"], want)  # one input: bare rows
    _assert_rows(p.predict({"inputs": {"features": X.tolist()}})["predictions"], want)
    _assert_rows(p.predict({"inputs": X.tolist()})["predictions"], want)
    one = p.predict({"instances": [{"features": X[0].tolist()}]}, task="topic")
    assert one["signature_name"] == "topic"
    _assert_rows(one["predictions"], _want_rows(setup["model"], FOUR_KINDS, {"features": X[:1]}, only="topic"))
    by_name = p.predict({"signature_name": "tags", "instances": [X[0].tolist()]})
    _assert_rows(by_name["predictions"], _want_rows(setup["model"], FOUR_KINDS, {"features": X[:1]}, only="tags"))
    assert json.loads(json.dumps(rows)) == rows  # JSON-able


def test_raw_text_uses_the_text_signature(setup):
    p = setup["text"]
    texts = ["the cat sat", "a good film was not bad", "zebra"]
    tokens = vocab_reference(texts, setup["vocab"])
    want = _want_rows(setup["text_model"], TEXT_TASKS, {"tokens": tokens})
    got = p.predict({"instances": texts})
    assert got["signature_name"] == "text"
    _assert_rows(got["predictions"], want)
    got = p.predict({"instances": [{"text": t} for t in texts]}, task="topic")
    assert got["signature_name"] == "topic_text"
    _assert_rows(got["predictions"], _want_rows(setup["text_model"], TEXT_TASKS, {"tokens": tokens}, only="topic"))
    with pytest.raises(ConfigError, match="no raw-string signature"):
        setup["saved"].predict({"instances": ["the cat"]})


def test_example_requests_written_beside_the_export_run(setup):
    from mtlzoo.export import read_request

    for name, fname, sig in (
        ("text", "example_text_request.json", "text"),
        ("text", "example_request.json", "serving_default"),
        ("saved", "example_request.json", "serving_default"),
    ):
        p = setup[name]
        body = read_request(os.path.join(p.source, "assets.extra", fname))
        got = p.predict(body)
        assert got["signature_name"] == sig and len(got["predictions"]) == len(body["instances"]) == 3


@pytest.mark.parametrize("which", ["saved", "keras"])
@pytest.mark.parametrize(
    "body,task,words",
    [
        (
            {"instances": [{"features": [0.0] * 12}]},
            "colour",
            "unknown task 'colour'; the model has score, sentiment, tags, topic",
        ),
        ({"signature_name": "colour", "instances": [[0.0] * 12]}, None, "unknown signature or task 'colour'"),
        ({"instances": []}, None, "empty batch"),
        ({"inputs": {"features": []}}, None, "empty batch"),
        (
            {"instances": [{"features": [0.0] * 11}]},
            None,
            "instances[0]: input features: expected shape [12] per example, got [11]",
        ),
        (
            {"instances": [{"features": [[0.0] * 12]}]},
            None,
            "instances[0]: input features: expected shape [12] per example, got [1, 12]",
        ),
        (
            {"instances": [{"features": ["a"] * 12}]},
            None,
            "instances[0]: input features: must hold numbers (float32), got a string",
        ),
        (
            {"instances": [{"features": [0.0] * 12}, {"features": [0.0] * 3}]},
            None,
            "instances[1]: input features: expected shape [12] per example, got [3]",
        ),
        ({"instances": [{"feature": [0.0] * 12}]}, None, "'feature' is not an input of signature 'serving_default'"),
        ({"instances": [{}]}, None, "missing input 'features'"),
        ({"rows": [[0.0] * 12]}, None, '{"instances": [...]} or {"inputs": ...}'),
    ],
)
def test_bad_requests_are_named(setup, which, body, task, words):
    with pytest.raises(ConfigError) as e:
        setup[which].predict(body, task=task)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_wrong_integer_inputs(setup):
    p = setup["text"]
    with pytest.raises(ConfigError, match=r"input tokens: must hold integers \(int32\), got floats"):
        p.predict({"instances": [{"tokens": [1.5, 2.0]}]})
    with pytest.raises(ConfigError, match="the model rejected the request"):
        p.predict({"instances": [{"tokens": [1, 2, 999]}]})  # beyond the 50-row embedding


def test_request_files_and_bad_paths(setup, tmp_path):
    from mtlzoo.export import load_predictor, read_request

    (tmp_path / "r.jsonl").write_text('{"features": [0.0]}\n\n{"features": [1.0]}\n')
    assert read_request(str(tmp_path / "r.jsonl")) == {"instances": [{"features": [0.0]}, {"features": [1.0]}]}
    (tmp_path / "one.jsonl").write_text('{"features": [0.0]}\n')
    assert read_request(str(tmp_path / "one.jsonl")) == {"instances": [{"features": [0.0]}]}
    (tmp_path / "bad.jsonl").write_text('{"features": [0.0]}\n{"features": \n')
    with pytest.raises(ConfigError, match="line 2 is not valid JSON"):
        read_request(str(tmp_path / "bad.jsonl"))
    with pytest.raises(ConfigError, match="does not exist"):
        read_request(str(tmp_path / "nope.json"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_predictor(str(tmp_path / "nope"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ConfigError, match="neither a SavedModel directory"):
        load_predictor(str(tmp_path / "empty"))
    (tmp_path / "corrupt.keras").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not a valid .keras file"):
        load_predictor(str(tmp_path / "corrupt.keras"))
