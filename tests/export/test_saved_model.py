"""What TF Serving relies on, checked without a model server:

* ``saved_model_cli show --all``: the serve tag set; every signature with method
  ``tensorflow/serving/predict`` and its named, typed inputs and outputs;
* a fresh process that imports only tensorflow and tensorflow_text (mtlzoo and
  keras-hub imports are blocked; one process serves the module's tests) loads the export,
  replays every warmup record through its signature and gets the Keras model's outputs;
* every op in the graph is registered in that process.
"""

import json
import os
import re

import numpy as np
import pytest

from tests.export.common import (
    FOUR_KINDS,
    SAVED_MODEL_CLI,
    SERVING_PREAMBLE,
    TAGGER_TASKS,
    TEXT_TASKS,
    build,
    expected_outputs,
    vocab_reference,
    wordpiece_pair_reference,
    wordpiece_reference,
    write_vocab,
)

# Runs in a fresh interpreter (the module's ServingProcess): argv = [out.npz, export dir, export dir, ...].
REPLAY = (
    SERVING_PREAMBLE
    + r"""
import tensorflow_text  # noqa: F401  (TF Serving's build links the TF Text ops)
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
from tensorflow_serving.apis import prediction_log_pb2

out, dirs = sys.argv[1], sys.argv[2:]
arrays, report = {}, {}
for d in dirs:
    with open(d + "/saved_model.pb", "rb") as f:
        sm = saved_model_pb2.SavedModel.FromString(f.read())
    graph = sm.meta_graphs[0].graph_def
    ops = {n.op for n in graph.node} | {n.op for fn in graph.library.function for n in fn.node_def}
    loaded = tf.saved_model.load(d)
    n = 0
    for raw in tf.data.TFRecordDataset(d + "/assets.extra/tf_serving_warmup_requests"):
        req = prediction_log_pb2.PredictionLog.FromString(raw.numpy()).predict_log.request
        sig = req.model_spec.signature_name
        feed = {k: tf.constant(tf.make_ndarray(v)) for k, v in req.inputs.items()}
        for k, v in loaded.signatures[sig](**feed).items():
            arrays[f"{d}|{n}|{sig}|{k}"] = v.numpy()
        n += 1
    report[d] = {
        "signature_defs": {
            k: {
                "method": v.method_name,
                "inputs": {i: tf.as_dtype(t.dtype).name for i, t in v.inputs.items()},
                "outputs": {o: tf.as_dtype(t.dtype).name for o, t in v.outputs.items()},
            }
            for k, v in sm.meta_graphs[0].signature_def.items()
            if not k.startswith("__")
        },
        "tags": list(sm.meta_graphs[0].meta_info_def.tags),
        "records": n,
        "ops": sorted(ops),
        "unregistered": sorted(o for o in ops if op_def_registry.get(o) is None),
        "signatures": sorted(loaded.signatures),
    }
report["mtlzoo_imported"] = any(m.split(".")[0] in ("mtlzoo", "keras_hub") for m in sys.modules)
np.savez(out, **arrays)
with open(out + ".json", "w") as f:
    json.dump(report, f)
"""
)


def replay(serving, tmp_path, dirs):
    """(report, outputs) of REPLAY on the export ``dirs``, run by ``serving`` (a fresh process)."""
    out = str(tmp_path / "replay.npz")
    serving.run(REPLAY, [out, *dirs])
    with open(out + ".json") as f:
        report = json.load(f)
    data = np.load(out, allow_pickle=False)
    results = {}
    for key in data.files:
        d, n, sig, name = key.split("|")
        results.setdefault(d, {}).setdefault((int(n), sig), {})[name] = data[key]
    return report, results


def warmup_requests(path):
    """Independent reading of the warmup file (protos straight from tensorflow-serving-api)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    out = []
    for raw in tf.data.TFRecordDataset(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")):
        req = prediction_log_pb2.PredictionLog.FromString(raw.numpy()).predict_log.request
        out.append((req.model_spec.signature_name, {k: tf.make_ndarray(v) for k, v in req.inputs.items()}))
    return out


def saved_model_cli(serving, path):
    """The text ``saved_model_cli show --all --dir path`` prints: TensorFlow's tool run in the
    module's fresh TensorFlow-only process (:data:`tests.export.common.SAVED_MODEL_CLI`)."""
    return serving.run(SAVED_MODEL_CLI, ["show", "--all", "--dir", path], timeout=300)


def parse_cli(text):
    """``{signature: {"method", "inputs": {name: dtype}, "outputs": {name: dtype}}}`` from saved_model_cli."""
    sigs = {}
    for block in re.split(r"\nsignature_def\['", text)[1:]:
        name = block.split("'", 1)[0]
        ins, _, outs = block.partition("contains the following output(s):")
        sigs[name] = {
            "method": re.search(r"Method name is: (\S*)", block).group(1),
            "inputs": dict(re.findall(r"inputs\['([^']+)'\] tensor_info:\s*dtype: (\w+)", ins)),
            "outputs": dict(re.findall(r"outputs\['([^']+)'\] tensor_info:\s*dtype: (\w+)", outs)),
        }
    return sigs


_PREDICTIONS = {}  # (model id, inputs) -> the Keras model's outputs on them


def _predict(model, feats):
    """``model.predict(feats)``, computed once per model and inputs: the warmup records of the
    plain signatures share one model input (and the raw-text ones one text), so their
    references are one prediction."""
    key = (id(model), *((k, v.dtype.str, v.shape, v.tobytes()) for k, v in sorted(feats.items())))
    if key not in _PREDICTIONS:
        _PREDICTIONS[key] = (model, model.predict(feats, verbose=0))  # the model kept: its id stays its own
    return _PREDICTIONS[key][1]


def keras_reference(model, tasks, sig, inputs, tokenize):
    """The expected outputs of one signature: the Keras model on the (tokenised) inputs + numpy."""
    from mtlzoo.tasks import tasks_from_config

    specs = {t.name: t for t in tasks_from_config(tasks)}
    text = "text" in inputs
    pair = "text_a" in inputs
    if pair:
        feats = tokenize([s.decode() for s in inputs["text_a"]], [s.decode() for s in inputs["text_b"]])
    else:
        feats = tokenize([s.decode() for s in inputs["text"]]) if text else inputs
    y = _predict(model, feats)
    base = sig
    for suffix in ("_text_pair", "_text") if (text or pair) else ():
        if sig.endswith(suffix):
            base = sig[: -len(suffix)]
            break
    names = sorted(specs) if base in ("serving_default", "text", "text_pair") else [base]
    padding = (feats["tokens"] == 0) if "tokens" in feats else None
    want = {}
    for t in names:
        for k, v in expected_outputs(specs[t].kind, y[t], padding).items():
            want[f"{t}_{k}" if len(names) > 1 or base in ("serving_default", "text", "text_pair") else k] = v
    return want


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    from mtlzoo.export import export_model
    from mtlzoo.tasks import tasks_from_config

    root = tmp_path_factory.mktemp("exports")
    vocab = write_vocab(root / "vocab.txt")
    out = {}
    for name, enc, tasks, tok in (
        ("kinds", "mlp", FOUR_KINDS, None),
        ("text", "text_cnn", TEXT_TASKS, {"name": "vocab", "vocab_file": str(root / "vocab.txt")}),
    ):
        model = build(enc, tasks)
        path = export_model(model, str(root / "serving"), name, tasks=tasks_from_config(tasks), tokenizer=tok)
        out[name] = {
            "model": model,
            "tasks": tasks,
            "path": path,
            "tokenize": (lambda texts: {"tokens": vocab_reference(texts, vocab)}) if tok else None,
        }
    return out


@pytest.fixture(scope="module")
def replayed(exports, serving, tmp_path_factory):
    return replay(serving, tmp_path_factory.mktemp("replay"), [e["path"] for e in exports.values()])


def test_layout(exports):
    for name, e in exports.items():
        assert e["path"].endswith(os.path.join("serving", name, "1"))
        for part in ("saved_model.pb", "variables", "assets", "assets.extra/tf_serving_warmup_requests"):
            assert os.path.exists(os.path.join(e["path"], part)), part
        assert not [d for d in os.listdir(os.path.dirname(e["path"])) if d.startswith(".")]
    assert os.listdir(os.path.join(exports["text"]["path"], "assets")) == ["vocab.txt"]


def _check_signatures(sigs, meta_path, tasks, text):
    """Signature defs (from saved_model_cli or the proto) against the export's own description."""
    want_dtype = {"float32": "DT_FLOAT", "int32": "DT_INT32", "int64": "DT_INT64", "string": "DT_STRING"}
    with open(meta_path) as f:
        meta = json.load(f)["signatures"]
    names = sorted(tasks)
    expected = ["serving_default", *names] + (["text", *[f"{t}_text" for t in names]] if text else [])
    assert sorted(sigs) == sorted(expected) == sorted(meta)
    for sig, info in sigs.items():
        assert info["method"] == "tensorflow/serving/predict", sig
        assert info["inputs"] == {k: want_dtype[v["dtype"]] for k, v in meta[sig]["inputs"].items()}, sig
        assert sorted(info["outputs"]) == sorted(meta[sig]["outputs"]), sig
        for out, dtype in info["outputs"].items():
            assert dtype == ("DT_INT64" if out.endswith("class_ids") else "DT_FLOAT"), (sig, out)


def test_saved_model_cli_lists_every_signature(exports, serving):
    e = exports["text"]
    text = saved_model_cli(serving, e["path"])
    assert "MetaGraphDef with tag-set: 'serve'" in text
    sigs = {k: v for k, v in parse_cli(text).items() if not k.startswith("__")}
    _check_signatures(sigs, os.path.join(e["path"], "assets.extra", "mtlzoo_export.json"), e["tasks"], text=True)
    assert sigs["text"]["inputs"] == {"text": "DT_STRING"}
    assert sigs["topic"]["inputs"] == {"tokens": "DT_INT32"}
    assert sorted(sigs["serving_default"]["outputs"]) == [
        "sentiment_class_ids",
        "sentiment_probabilities",
        "topic_class_ids",
        "topic_probabilities",
    ]


def test_signature_defs_of_every_kind(exports, replayed):
    """The same facts saved_model_cli prints, read from saved_model.pb in the fresh process."""
    report, _ = replayed
    e = exports["kinds"]
    info = report[e["path"]]
    assert info["tags"] == ["serve"]
    sigs = {
        k: {
            **v,
            "inputs": {i: "DT_" + d.upper().replace("FLOAT32", "FLOAT") for i, d in v["inputs"].items()},
            "outputs": {o: "DT_" + d.upper().replace("FLOAT32", "FLOAT") for o, d in v["outputs"].items()},
        }
        for k, v in info["signature_defs"].items()
    }
    _check_signatures(sigs, os.path.join(e["path"], "assets.extra", "mtlzoo_export.json"), e["tasks"], text=False)
    assert sigs["serving_default"]["inputs"] == {"features": "DT_FLOAT"}
    assert sorted(sigs["tags"]["outputs"]) == ["class_ids", "probabilities"]
    assert sorted(sigs["score"]["outputs"]) == ["values"]


def test_fresh_process_replays_warmup_with_the_keras_outputs(exports, replayed):
    report, results = replayed
    assert report["mtlzoo_imported"] is False
    for name, e in exports.items():
        requests = warmup_requests(e["path"])
        assert report[e["path"]]["records"] == len(requests) == len(report[e["path"]]["signatures"])
        assert {sig for sig, _ in requests} == set(report[e["path"]]["signatures"])
        for n, (sig, inputs) in enumerate(requests):
            got = results[e["path"]][(n, sig)]
            want = keras_reference(e["model"], e["tasks"], sig, inputs, e["tokenize"])
            assert sorted(got) == sorted(want), (name, sig)
            for k in want:
                np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-5, err_msg=f"{name}/{sig}/{k}")


def test_every_op_is_registered_with_tensorflow_and_tf_text_only(exports, replayed):
    report, _ = replayed
    for e in exports.values():
        assert report[e["path"]]["unregistered"] == []
    # the check is not vacuous: the raw-string export uses lookup ops and the plain one does not
    assert "LookupTableFindV2" in report[exports["text"]["path"]]["ops"]
    assert "LookupTableFindV2" not in report[exports["kinds"]["path"]]["ops"]


@pytest.mark.slow
def test_tagger_and_bert_wordpiece_exports_replay_in_a_fresh_process(serving, tmp_path):
    from mtlzoo.export import export_model
    from mtlzoo.tasks import tasks_from_config

    vocab = write_vocab(tmp_path / "vocab.txt")
    words = ["the", "cat", "##s", "sat", "on", "mat", "good", "film", ",", "."]
    wp_vocab = write_vocab(tmp_path / "wp.txt", words, specials=("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
    cases = {
        "tagger": (
            build("tagger", TAGGER_TASKS),
            TAGGER_TASKS,
            {"name": "vocab", "vocab_file": str(tmp_path / "vocab.txt")},
            lambda texts: {"tokens": vocab_reference(texts, vocab)},
        ),
        "bert": (
            build("bert", TEXT_TASKS),
            TEXT_TASKS,
            {"name": "wordpiece", "vocab_file": str(tmp_path / "wp.txt")},
            lambda texts, second=None: (  # the model's 16 positions
                wordpiece_reference(texts, wp_vocab, max_len=16)
                if second is None
                else wordpiece_pair_reference(texts, second, wp_vocab, max_len=16)
            ),
        ),
    }
    paths = {
        name: export_model(m, str(tmp_path / "serving"), name, tasks=tasks_from_config(t), tokenizer=tok)
        for name, (m, t, tok, _) in cases.items()
    }
    report, results = replay(serving, tmp_path, list(paths.values()))
    assert report["mtlzoo_imported"] is False
    assert "WordpieceTokenizeWithOffsets" in report[paths["bert"]]["ops"]  # a TF Text op, registered by tensorflow_text
    for name, (model, tasks, _, tokenize) in cases.items():
        path = paths[name]
        assert report[path]["unregistered"] == []
        pairs = ["text_pair", *[f"{t}_text_pair" for t in tasks]] if name == "bert" else []  # wordpiece packs pairs
        assert sorted(report[path]["signature_defs"]) == sorted(
            ["serving_default", *tasks, "text", *[f"{t}_text" for t in tasks], *pairs]
        )
        requests = warmup_requests(path)
        assert len(requests) == report[path]["records"]
        for n, (sig, inputs) in enumerate(requests):
            want = keras_reference(model, tasks, sig, inputs, tokenize)
            got = results[path][(n, sig)]
            assert sorted(got) == sorted(want), (name, sig)
            for k in want:
                np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5, err_msg=f"{name}/{sig}/{k}")
