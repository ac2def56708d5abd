"""Raw-text export of a BERT run on GLUE's files: sentence pairs and label names.

References: the training pipeline's own packing (:func:`mtlzoo.data.glue_files.pack`, which
follows BERT's ``_truncate_seq_pair``) fed to the Keras model, GLUE's label names as written in
the files' layouts, and a fresh process that imports only TensorFlow and TF Text.
"""

import functools
import json
import os

import numpy as np
import pytest

from mtlzoo import ConfigError
from tests.export.common import SAVED_MODEL_CLI, SERVING_PREAMBLE, TAGGER_TASKS, ServingProcess, build
from tests.glue_run import trained_glue_run

PAIRS = [
    ("The cat sat on the mat .", "A dog ran ."),
    ("He said it was a very good movie , and she said it was bad !", "it is not"),  # cut: longer side first
    ("a", "the cat sat on the mat and the dog ran and he said it was not good , she said it was bad ."),
]
SINGLES = ["The cat sat .", "it was a good movie , he said and she said it was not very good ! the cat sat on it ."]

# Fresh interpreter (the module's ServingProcess): argv = [export version dir]; prints a JSON report.
SERVE = (
    SERVING_PREAMBLE
    + r"""
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

d = sys.argv[1]
with open(d + "/saved_model.pb", "rb") as f:
    graph = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs[0].graph_def
ops = {n.op for n in graph.node} | {n.op for fn in graph.library.function for n in fn.node_def}
core_missing = sorted(o for o in ops if op_def_registry.get(o) is None)  # ops TensorFlow alone lacks
import tensorflow_text  # noqa: F401  (TF Serving's build links the TF Text ops)

loaded = tf.saved_model.load(d)
out = loaded.signatures["rte_text_pair"](text_a=tf.constant(["A dog ran ."]), text_b=tf.constant(["A dog is ."]))
report = {
    "tf_text_ops": core_missing,
    "unregistered": sorted(o for o in ops if op_def_registry.get(o) is None),
    "signatures": sorted(loaded.signatures),
    "rte": {k: v.numpy().tolist() for k, v in out.items() if v.dtype != tf.string},
    "rte_label": [s.decode() for s in out["label"].numpy()],
    "mtlzoo_imported": any(m.split(".")[0] in ("mtlzoo", "keras_hub") for m in sys.modules),
}
try:
    loaded.signatures["rte_text_pair"](text_a=tf.constant(["A dog ran ."]))
    report["one_text"] = None
except Exception as e:
    report["one_text"] = str(e).strip().splitlines()[0]
print(json.dumps(report))
"""
)


@pytest.fixture(scope="module")
def serving():
    """The module's fresh TensorFlow-only process, shared by its tests; TF Text is not imported
    at its start (SERVE checks which ops TensorFlow alone lacks, then imports it)."""
    with ServingProcess(tf_text=False) as p:
        yield p


TOKENIZER_CALLS = {}  # WordPieceTokenizer method -> Python calls (traces) during the fixture's export


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(workdir, export version dir); exported by ``export_workdir`` with no tokenizer named.
    Counts the Python calls of the tokenizer's ``__call__`` and ``pair`` during the export
    (each is a trace: in a signature, they run only while TensorFlow traces) in ``TOKENIZER_CALLS``."""
    from mtlzoo.export import export_workdir
    from mtlzoo.export.tokenizers import WordPieceTokenizer

    workdir, _, _ = trained_glue_run(tmp_path_factory)
    originals = {name: getattr(WordPieceTokenizer, name) for name in ("__call__", "pair")}

    def counted(name):
        def method(self, *args):
            TOKENIZER_CALLS[name] = TOKENIZER_CALLS.get(name, 0) + 1
            return originals[name](self, *args)

        return method

    TOKENIZER_CALLS.clear()
    try:
        for name in originals:
            setattr(WordPieceTokenizer, name, counted(name))
        path = export_workdir(workdir, str(tmp_path_factory.mktemp("serving")), model_name="glue")
    finally:
        for name, fn in originals.items():
            setattr(WordPieceTokenizer, name, fn)
    return workdir, path


def test_the_tokenizer_is_traced_once_however_many_signatures_call_it(exported):
    """The 2 raw-text and 5 pair signatures share one traced tokenization of each kind (the
    export calls the tokenizer nowhere else: its warmup requests hold raw text): at most 2
    traces of each (Keras's export archive, then TensorFlow's save context), where a trace
    per signature gave at least 2 and 5."""
    assert 1 <= TOKENIZER_CALLS.get("__call__", 0) <= 2, TOKENIZER_CALLS
    assert 1 <= TOKENIZER_CALLS.get("pair", 0) <= 2, TOKENIZER_CALLS


@functools.cache
def _workdir_model(workdir):
    """The workdir's Keras model, loaded once for the module's references (the run is read-only)."""
    from mtlzoo.workdir import load_workdir

    model, _, _ = load_workdir(workdir)
    return model


def _keras(workdir, first, second):
    """The Keras model's outputs on texts packed by the training pipeline (glue_files)."""
    from mtlzoo.config import read_config
    from mtlzoo.data.glue_files import encode_texts, tokenizer_files, wordpiece_tokenizer

    config = read_config(workdir)
    vocab, lower = tokenizer_files(dict(config.data))
    feats, _ = encode_texts(wordpiece_tokenizer(vocab, lower), first, second, config.data.max_length)
    return _workdir_model(workdir).predict(feats, verbose=0), feats


def test_pair_lengths_equal_bert_truncation():
    import tensorflow as tf

    from mtlzoo.data.glue_files import pack
    from mtlzoo.export.tokenizers import pair_lengths

    rng = np.random.default_rng(0)
    la, lb, m = rng.integers(0, 30, 400), rng.integers(0, 30, 400), rng.integers(3, 40, 400)
    ref = np.array(
        [
            [sum(s == k for s in pack(range(a), range(b), n, -1, -2)[1]) for k in (0, 1)]
            for a, b, n in zip(la, lb, m, strict=True)
        ]
    )
    ref -= [2, 1]  # [CLS] and the first [SEP] are segment 0, the last [SEP] segment 1
    ka, kb = pair_lengths(la, lb, m - 3)
    np.testing.assert_array_equal(np.stack([ka, kb], 1), ref)
    ta, tb = pair_lengths(tf.constant(la), tf.constant(lb), tf.constant(m - 3))
    np.testing.assert_array_equal(np.stack([ta.numpy(), tb.numpy()], 1), ref)


def test_signatures_and_metadata(exported):
    _, path = exported
    with open(os.path.join(path, "assets.extra", "mtlzoo_export.json")) as f:
        meta = json.load(f)
    sigs = meta["signatures"]
    assert set(sigs) == {
        "serving_default", "cola", "mnli", "mrpc", "rte", "stsb", "text", "text_pair",
        "cola_text", "mnli_text_pair", "mrpc_text_pair", "rte_text_pair", "stsb_text_pair",
    }  # fmt: skip
    assert list(sigs["text_pair"]["inputs"]) == ["text_a", "text_b"]
    assert sigs["rte_text_pair"]["outputs"] == ["probabilities", "class_ids", "label"]
    assert "stsb_label" not in sigs["text_pair"]["outputs"] and "mnli_label" in sigs["text_pair"]["outputs"]
    assert meta["tasks"]["rte"]["label_names"] == ["entailment", "not_entailment"]
    assert meta["tasks"]["mrpc"]["text_fields"] == ["sentence1", "sentence2"]
    tok = meta["tokenizer"]
    assert tok["name"] == "wordpiece" and tok["max_length"] == 24 and tok["vocab_file"].endswith("vocab.txt")


def test_pair_and_single_signatures_equal_the_keras_model(exported):
    import tensorflow as tf

    workdir, path = exported
    loaded = tf.saved_model.load(path)
    a, b = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    want, feats = _keras(workdir, a, b)
    assert feats["padding_mask"].sum(1).max() == 24  # the long pairs are cut to max_length
    got = loaded.signatures["text_pair"](text_a=tf.constant(a), text_b=tf.constant(b))
    rte = loaded.signatures["rte_text_pair"](text_a=tf.constant(a), text_b=tf.constant(b))
    names = {"rte": ["entailment", "not_entailment"], "mrpc": ["not_equivalent", "equivalent"]}
    for t in ("rte", "mrpc"):
        np.testing.assert_allclose(got[f"{t}_probabilities"].numpy(), want[t], atol=1e-5)
        cls = (want[t][:, 0] >= 0.5).astype(int)
        assert [s.decode() for s in got[f"{t}_label"].numpy()] == [names[t][c] for c in cls]
    np.testing.assert_allclose(rte["probabilities"].numpy(), want["rte"], atol=1e-5)
    mnli = ["entailment", "neutral", "contradiction"]
    assert [s.decode() for s in got["mnli_label"].numpy()] == [mnli[c] for c in want["mnli"].argmax(1)]
    np.testing.assert_allclose(got["stsb_values"].numpy(), want["stsb"], atol=1e-5)
    single, _ = _keras(workdir, SINGLES, None)
    cola = loaded.signatures["cola_text"](text=tf.constant(SINGLES))
    np.testing.assert_allclose(cola["probabilities"].numpy(), single["cola"], atol=1e-5)
    acceptable = ["unacceptable", "acceptable"]
    assert [s.decode() for s in cola["label"].numpy()] == [acceptable[int(p >= 0.5)] for p in single["cola"][:, 0]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="text_a and text_b must hold as many texts"):
        loaded.signatures["text_pair"](text_a=tf.constant(a), text_b=tf.constant(b[:2]))


def test_warmup_covers_the_pair_signatures(exported):
    from mtlzoo.export.warmup import read_warmup

    _, path = exported
    records = dict(read_warmup(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")))
    for sig in ("text_pair", "rte_text_pair", "mrpc_text_pair"):
        assert sorted(records[sig]) == ["text_a", "text_b"] and len(records[sig]["text_a"]) == 3
    assert sorted(records["cola_text"]) == ["text"]
    with open(os.path.join(path, "assets.extra", "example_text_pair_request.json")) as f:
        body = json.load(f)
    assert body["signature_name"] == "text_pair" and set(body["instances"][0]) == {"text_a", "text_b"}


def test_predictor_refuses_a_pair_signature_called_with_one_text(exported):
    from mtlzoo.export import load_predictor

    _, path = exported
    p = load_predictor(path)
    out = p.predict({"instances": [{"text_a": "A dog ran .", "text_b": "A dog is ."}]}, task="rte")
    assert out["signature_name"] == "rte_text_pair" and out["predictions"][0]["rte"]["label"] in (
        "entailment",
        "not_entailment",
    )
    msg = "takes a sentence pair \\(text_a and text_b\\); the request has no 'text_b'"
    with pytest.raises(ConfigError, match=msg) as e:
        p.predict({"instances": [{"text_a": "A dog ran ."}]}, task="rte")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="task 'rte' has no 'rte_text' signature; it takes 'rte_text_pair'"):
        p.predict({"instances": ["A dog ran ."]}, task="rte")


def test_saved_model_cli_lists_the_pair_signatures(exported, serving):
    _, path = exported
    text = serving.run(SAVED_MODEL_CLI, ["show", "--dir", path, "--tag_set", "serve"], timeout=300)
    for sig in ("text_pair", "rte_text_pair", "cola_text", "serving_default"):
        assert f'SignatureDef key: "{sig}"' in text


@pytest.mark.slow
def test_a_fresh_process_without_mtlzoo_answers_a_raw_pair(exported, serving):
    workdir, path = exported
    report = json.loads(serving.run(SERVE, [path]).strip().splitlines()[-1])
    assert report["mtlzoo_imported"] is False and report["unregistered"] == []
    # the only ops TensorFlow lacks are TF Text's, those of its BertTokenizer
    assert report["tf_text_ops"] and set(report["tf_text_ops"]) <= {
        "CaseFoldUTF8",
        "NormalizeUTF8",
        "RegexSplitWithOffsets",
        "WordpieceTokenizeWithOffsets",
    }, report["tf_text_ops"]
    want, _ = _keras(workdir, ["A dog ran ."], ["A dog is ."])
    np.testing.assert_allclose(report["rte"]["probabilities"], want["rte"], atol=1e-5)
    assert report["rte_label"] == [["entailment", "not_entailment"][int(want["rte"][0, 0] >= 0.5)]]
    assert report["one_text"] and "text_b" in report["one_text"]


def test_tagging_exports_return_tag_names(tmp_path):
    import tensorflow as tf

    from mtlzoo.export import export_model
    from mtlzoo.tasks import tasks_from_config
    from tests.export.common import random_inputs

    model = build("tagger", TAGGER_TASKS)
    tags = ["<pad>", "O", "B-NP", "I-NP", "B-VP"]
    path = export_model(
        model,
        str(tmp_path),
        "tagger",
        tasks=tasks_from_config(TAGGER_TASKS),
        label_names={"pos": tags, "sentiment": ["negative", "positive"]},
    )
    x = random_inputs("tagger", batch=4)
    x["tokens"][1, 3:] = 0
    out = tf.saved_model.load(path).signatures["pos"](**{k: tf.constant(v) for k, v in x.items()})
    y = model.predict(x, verbose=0)["pos"]
    ids = np.where(x["tokens"] == 0, -1, y.argmax(-1))
    want = np.where(ids < 0, "", np.array(tags)[np.maximum(ids, 0)])
    np.testing.assert_array_equal(out["label"].numpy().astype(str), want)
    with pytest.raises(ConfigError, match="label_names.pos: has 2 names but the task has 5 classes"):
        export_model(
            model, str(tmp_path), "bad", tasks=tasks_from_config(TAGGER_TASKS), label_names={"pos": ["a", "b"]}
        )


def test_the_tagger_entry_exports_tag_names(tmp_path):
    import tensorflow as tf

    from mtlzoo.export import export_workdir
    from tests.helpers import REPO

    nltk = os.environ.get("NLTK_DATA", "")
    if not any(os.path.exists(os.path.join(nltk, "corpora", f)) for f in ("conll2000", "conll2000.zip")):
        pytest.skip("CoNLL-2000 not found: set NLTK_DATA to a directory holding corpora/conll2000")
    entry = os.path.join(REPO, "saved_models", "conll2000_tagger_pos_chunk")
    path = export_workdir(entry, str(tmp_path), model_name="tagger")
    with open(os.path.join(path, "assets.extra", "mtlzoo_export.json")) as f:
        meta = json.load(f)
    pos = meta["tasks"]["pos"]["label_names"]
    assert len(pos) == 46 and pos[:2] == ["[PAD]", "[UNK]"] and {"NN", "VBD", "DT"} <= set(pos)
    out = tf.saved_model.load(path).signatures["pos_text"](text=tf.constant(["The cat sat on the mat ."]))
    ids, labels = out["class_ids"].numpy()[0], out["label"].numpy()[0].astype(str)
    assert (ids >= 0).sum() == 7 and (ids[7:] == -1).all()  # 7 words, then padding up to max_length
    assert [str(x) for x in labels] == [pos[i] if i >= 0 else "" for i in ids]
