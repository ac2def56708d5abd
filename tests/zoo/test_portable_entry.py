"""A zoo entry of a BERT model built on a local checkpoint directory is self-contained: once
published, the checkpoint directory can go and the entry still loads, evaluates, exports and
fine-tunes, in a new process (one that never loaded it) on a machine that never had it.

References: the entry's ``metrics.json`` written at publish time (evaluation must reproduce
it), the Keras model fed by the training pipeline's own packing of the same pair (the export's
pair signature must equal it), and the tiny checkpoint's own files (``vocab.txt``,
``tokenizer_config.json``'s lower-casing, ``config.json``'s architecture).
"""

import json
import os
import shutil

import pytest

from tests.data.test_glue_files import KINDS, LAYOUTS, write_glue
from tests.encoders.tiny_bert import SIZES, VOCAB, write_transformers_bert
from tests.helpers import REPO, run_python
from tests.zoo.common import write_card

TASKS = ("cola", "rte")

# A new process (a script run by tests.helpers.run_python): argv = [zoo root, entry name, export dir,
# fine-tune workdir]; prints a JSON report.
USE = r"""
import json, os, sys
import numpy as np
from mtlzoo import zoo

root, name, export_dir, ft = sys.argv[1:5]
report = {}
model = zoo.load(name, root)
report["weighted"] = sorted(layer.name for layer in model.layers if layer.weights)
result = zoo.evaluate(name, root=root)
report["evaluate"] = {"tasks": result["tasks"], "examples": result["examples"]}

import tensorflow as tf
from mtlzoo.data.glue_files import encode_texts, wordpiece_tokenizer

path = zoo.export(name, export_dir, root=root)
loaded = tf.saved_model.load(path)
a, b = ["The cat sat on the mat .", "a dog"], ["A dog ran .", "he said it was not good"]
out = loaded.signatures["rte_text_pair"](text_a=tf.constant(a), text_b=tf.constant(b))
report["pair_label"] = [s.decode() for s in out["label"].numpy()]
entry = zoo.path(name, root)
feats, _ = encode_texts(wordpiece_tokenizer(os.path.join(entry, "vocab.txt"), True), a, b, 24)
want = model.predict(feats, verbose=0)["rte"]
report["pair_max_diff"] = float(np.abs(out["probabilities"].numpy() - want).max())

res = zoo.finetune(
    name,
    {"train": {"epochs": 1, "optimizer": "adamw", "learning_rate": 1e-3, "verbose": 0},
     "finetune": {"freeze": "encoder"}},
    ft,
    root=root,
)
with open(os.path.join(ft, "finetune.json")) as f:
    plan = json.load(f)
report["finetune"] = {
    "transferred": sorted(plan["transferred"]), "new": plan["new"], "model": os.path.isfile(os.path.join(ft, "model.keras"))
}
print("REPORT " + json.dumps(report))
"""


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """(zoo root, entry dir, data dir, gone checkpoint dir, metrics at publish): a tiny BERT run
    on two GLUE tasks, published, then its checkpoint directory renamed away."""
    import mtlzoo
    from mtlzoo import zoo

    base = tmp_path_factory.mktemp("portable")
    data, ckpt = base / "data", str(base / "ckpt" / "tiny_bert")
    glue = str(data / "glue")
    write_transformers_bert(ckpt, lowercase=True)
    write_glue(glue, TASKS, train_copies=2)
    for t in TASKS:  # dev = a copy of train
        lay = LAYOUTS[t]
        shutil.copy(os.path.join(glue, lay.folder, lay.files[0]), os.path.join(glue, lay.folder, lay.files[1]))
    config = {
        "seed": 0,
        "tasks": {t: KINDS[t] for t in TASKS},
        "data": {"source": "glue_files", "data_dir": glue, "checkpoint": ckpt, "max_length": 24, "batch_size": 64},
        "model": {"encoder": {"name": "bert", "preset": ckpt, "pooling": "mean"}, "tower": {"units": []}},
        "train": {"epochs": 1, "optimizer": "adamw", "learning_rate": 1e-3, "verbose": 0},
    }
    workdir = str(base / "run")
    mtlzoo.train(config, workdir)
    root = str(base / "zoo")
    card = write_card(base / "card.md", "glue2_tiny_bert")
    old = os.environ.get("MTLZOO_DATA_DIR")
    os.environ["MTLZOO_DATA_DIR"] = str(data)
    try:
        zoo.publish(workdir, "glue2_tiny_bert", card, command="mtlzoo train ...", root=root, log=None)
    finally:
        if old is None:
            del os.environ["MTLZOO_DATA_DIR"]
        else:
            os.environ["MTLZOO_DATA_DIR"] = old
    gone = ckpt + "_gone"
    os.rename(ckpt, gone)  # the checkpoint is not on the machine that uses the entry
    entry = os.path.join(root, "glue2_tiny_bert")
    with open(os.path.join(entry, "metrics.json")) as f:
        metrics = json.load(f)
    return root, entry, str(data), ckpt, metrics


def test_entry_files_name_no_checkpoint_and_carry_its_tokenizer(published):
    _, entry, _, ckpt, _ = published
    for fname in os.listdir(entry):
        if fname.endswith((".json", ".md", ".txt")):
            with open(os.path.join(entry, fname), encoding="utf-8") as f:
                assert os.path.dirname(ckpt) not in f.read(), fname
    with open(os.path.join(entry, "vocab.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == VOCAB  # the checkpoint's own vocabulary, in order
    with open(os.path.join(entry, "tokenizer.json")) as f:
        tok = json.load(f)
    assert tok == {"name": "wordpiece", "vocab_file": "vocab.txt", "lowercase": True, "max_length": 24}
    with open(os.path.join(entry, "config.json")) as f:
        config = json.load(f)
    enc = config["model"]["encoder"]
    assert enc["preset"] is None and enc["pooling"] == "mean"
    assert (enc["vocab_size"], enc["num_layers"], enc["num_heads"], enc["hidden_dim"], enc["intermediate_dim"]) == (
        SIZES["vocab"],
        SIZES["layers"],
        SIZES["heads"],
        SIZES["hidden"],
        SIZES["inter"],
    )
    assert enc["max_sequence_length"] == SIZES["positions"]
    assert config["data"]["checkpoint"] is None
    assert config["data"]["vocab_file"] == "vocab.txt" and config["data"]["lowercase"] is True


def test_info_shows_the_entrys_tokenizer_and_encoder(published):
    from mtlzoo import zoo

    root, entry, _, _, _ = published
    text = zoo.format_info(zoo.info("glue2_tiny_bert", root))
    assert f"tokenizer: wordpiece, {entry}/vocab.txt ({len(VOCAB)} tokens, lower-cased, at most 24)" in text
    assert f"encoder: bert, {SIZES['layers']} layers, hidden {SIZES['hidden']}, mean pooling" in text


def test_new_process_without_the_checkpoint_loads_evaluates_exports_and_finetunes(published, tmp_path, monkeypatch):
    """The entry used by a new process that never saw the checkpoint: a child of the fork server
    (:mod:`tests.forkserver`: libraries imported, nothing loaded) or, with ``MTLZOO_TEST_FRESH=1``,
    a fresh interpreter; ``$MTLZOO_BERT_CHECKPOINT`` unset."""
    root, entry, data, ckpt, metrics = published
    assert not os.path.exists(ckpt)
    monkeypatch.delenv("MTLZOO_BERT_CHECKPOINT", raising=False)  # the run's environment is this one's
    script = tmp_path / "use_entry.py"
    script.write_text(USE)
    proc = run_python(
        [str(script), root, "glue2_tiny_bert", str(tmp_path / "serving"), str(tmp_path / "ft")],
        env={"MTLZOO_DATA_DIR": data, "PYTHONPATH": REPO},
        cwd=str(tmp_path),
        timeout=600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT ") :])
    assert report["evaluate"]["examples"] == metrics["examples"]
    for t in TASKS:
        for m, v in metrics["tasks"][t].items():
            assert report["evaluate"]["tasks"][t][m] == pytest.approx(v, abs=1e-6), (t, m)
    assert set(report["pair_label"]) <= {"entailment", "not_entailment"} and len(report["pair_label"]) == 2
    assert report["pair_max_diff"] < 1e-5
    ft = report["finetune"]
    # the fresh model (built from the entry's config alone) has every weighted layer of the entry
    assert ft["model"] and ft["new"] == [] and ft["transferred"] == report["weighted"]
    assert {"token_embedding", "transformer_layer_0", "transformer_layer_1"} <= set(ft["transferred"])
