"""Adversarial predict requests (issue 18 item 6): non-finite and out-of-range numbers, shape and
type errors named by instance / JSON-lines line and input, unreadable request files, and a
hypothesis fuzzer asserting that any request gives predictions or one one-line ConfigError."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtlzoo.errors import ConfigError
from tests.export.common import FOUR_KINDS, TEXT_TASKS, build, write_vocab
from tests.helpers import model_config


@pytest.fixture(scope="module")
def predictors(tmp_path_factory):
    from mtlzoo.config import write_config
    from mtlzoo.export import export_model, load_predictor
    from mtlzoo.models import save_model
    from mtlzoo.tasks import tasks_from_config

    root = tmp_path_factory.mktemp("predict_requests")
    model = build("mlp", FOUR_KINDS)
    save_model(model, str(root / "run" / "model.keras"))
    write_config(model_config("mlp", FOUR_KINDS), str(root / "run"))
    export_model(model, str(root / "serving"), "kinds", tasks=tasks_from_config(FOUR_KINDS))
    write_vocab(root / "vocab.txt")
    tok = {"name": "vocab", "vocab_file": str(root / "vocab.txt")}
    text = build("text_cnn", TEXT_TASKS)
    export_model(text, str(root / "serving"), "text", tasks=tasks_from_config(TEXT_TASKS), tokenizer=tok)
    return {
        "saved": load_predictor(str(root / "serving" / "kinds")),
        "keras": load_predictor(str(root / "run" / "model.keras")),
        "text": load_predictor(str(root / "serving" / "text")),
    }


def _row(v=0.0):
    return {"features": [v] * 12}


def _one_line_error(p, body, task=None):
    with pytest.raises(ConfigError) as e:
        p.predict(body, task=task)
    msg = str(e.value)
    assert "\n" not in msg and msg.strip() == msg
    return msg


@pytest.mark.parametrize("which", ["saved", "keras"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_inputs_are_refused_naming_the_instance(predictors, which, bad):
    rows = [_row(), _row(0.5), {"features": [0.0] * 5 + [bad] + [0.0] * 6}]
    msg = _one_line_error(predictors[which], {"instances": rows})
    assert msg.startswith("instances[2]: input features: holds the non-finite number")
    msg = _one_line_error(predictors[which], {"inputs": {"features": [r["features"] for r in rows]}})
    assert msg.startswith("inputs example 2: input features: holds the non-finite number")


@pytest.mark.parametrize("which", ["saved", "keras"])
def test_numbers_beyond_the_dtype_are_refused(predictors, which):
    # 1e39 is finite in JSON/Python but infinite as float32 (max 3.4e38); 10**400 has no float at all
    for big in (1e39, -(10**400)):
        msg = _one_line_error(predictors[which], {"instances": [_row(), {"features": [big] * 12}]})
        assert msg.startswith("instances[1]: input features: value") and "out of the float32 range" in msg
    msg = _one_line_error(predictors["text"], {"instances": [{"tokens": [1, 2]}, {"tokens": [2**31, 1]}]})
    assert msg.startswith("instances[1]: input tokens: value 2147483648 is out of the int32 range")
    msg = _one_line_error(predictors["text"], {"instances": [{"tokens": [1, 2]}, {"tokens": [1, 2, 3]}]})
    assert msg.startswith("instances[1]: input tokens: shape [3] differs from the first example's [2]")
    msg = _one_line_error(predictors["text"], {"instances": ["good film", 5]})
    assert msg == "instances[1]: input text: must be a string, got a number"


def test_json_lines_errors_name_the_line(predictors, tmp_path):
    from mtlzoo.export import read_request

    p = predictors["saved"]
    f = tmp_path / "r.jsonl"
    f.write_text(json.dumps(_row()) + "\n\n" + json.dumps(_row()) + '\n{"features": [1e400' + ", 0.0" * 11 + "]}\n")
    msg = _one_line_error(p, read_request(str(f)))
    assert msg.startswith("line 4: input features: holds the non-finite number inf")
    f.write_text(json.dumps(_row()) + '\n{"features": [NaN' + ", 0.0" * 11 + "]}\n")
    assert _one_line_error(p, read_request(str(f))).startswith("line 2: input features: holds the non-finite")
    f.write_text(json.dumps(_row()) + "\n" + json.dumps(_row()) + '\n{"features": [0.0, 1.0]}\n')
    assert _one_line_error(p, read_request(str(f))) == (
        "line 3: input features: expected shape [12] per example, got [2]"
    )
    f.write_text(json.dumps(_row()) + '\n{"feature": [0.0]}\n')
    assert _one_line_error(p, read_request(str(f))).startswith(
        "line 2: 'feature' is not an input of signature 'serving_default'"
    )
    f.write_text(json.dumps(_row()) + "\n[0.0]\n")
    assert _one_line_error(p, read_request(str(f))).startswith("line 2: signature 'serving_default' takes one input")


def test_unreadable_request_files_are_one_line(predictors, tmp_path):
    from mtlzoo.export import read_request

    cases = {
        "latin1.jsonl": (json.dumps(_row()) + "\n").encode() + b'{"features": "caf\xe9"}\n',
        "empty.json": b"",
        "blank.json": b"  \n\n",
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "doc.json": b'{"instances": [\n  {"features": [0.0]},\n  {"features": [0.0]\n]}\n',
    }
    words = {
        "latin1.jsonl": "line 2 is not UTF-8 text (byte 0xe9)",
        "empty.json": "is empty: it holds no instances",
        "blank.json": "is empty: it holds no instances",
        "deep.json": "line 1 is not valid JSON (nested too deeply)",
        "doc.json": "line 4 is not valid JSON",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError) as e:
            read_request(str(tmp_path / name))
        assert words[name] in str(e.value) and "\n" not in str(e.value), (name, str(e.value))
    # a UTF-8 byte-order mark (Windows editors) is accepted
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + (json.dumps(_row()) + "\n" + json.dumps(_row())).encode())
    out = predictors["saved"].predict(read_request(str(tmp_path / "bom.jsonl")))
    assert len(out["predictions"]) == 2


# -- the fuzzer ------------------------------------------------------------------------------
_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
_json = st.recursive(
    _leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=12
)
_number = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**40), 2**40) | st.sampled_from([1e39, 0.5])
_vector = st.lists(_number | _json, min_size=10, max_size=13) | st.lists(st.floats(-3, 3), min_size=12, max_size=12)
_key = st.sampled_from(["features", "tokens", "text", "featurés", "特征", ""]) | st.text(max_size=4)
_instance = (
    st.fixed_dictionaries({"features": _vector})
    | st.dictionaries(_key, _vector | _json, max_size=2)
    | _vector
    | _json
    | st.text(max_size=20)
)
_body = st.one_of(
    _json,
    st.fixed_dictionaries({"instances": st.lists(_instance, max_size=4)}),
    st.fixed_dictionaries({"inputs": st.dictionaries(_key, st.lists(_vector, max_size=3) | _json, max_size=2)}),
    st.fixed_dictionaries({"inputs": st.lists(_vector, max_size=3) | _json}),
    st.fixed_dictionaries(
        {
            "instances": st.lists(_instance, min_size=1, max_size=3),
            "signature_name": st.sampled_from(["serving_default", "topic", "text", "nope"]) | _json,
        }
    ),
)
_task = st.sampled_from([None, None, "topic", "score", "sentiment"]) | st.text(max_size=4)


def _check(p, body, task):
    try:
        out = p.predict(body, task=task)
    except ConfigError as e:
        msg = str(e)
        assert msg and "\n" not in msg, msg
        return
    assert isinstance(out, dict) and set(out) == {"signature_name", "predictions"}
    assert out["predictions"] and all(isinstance(r, dict) for r in out["predictions"])
    json.dumps(out)


_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.parametrize("which", ["saved", "keras", "text"])
def test_fuzzed_requests_give_predictions_or_one_line_errors(predictors, which):
    @_FUZZ
    @given(body=_body, task=_task)
    def run(body, task):
        _check(predictors[which], body, task)

    run()
