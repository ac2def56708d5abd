"""The shipped checkpoints (issue #8, "Done when"): every known entry (``zoo.known()``) loads
with ``zoo.load``, evaluates to its card's numbers (within 0.5 points), fine-tunes from its
own weights and exports a SavedModel that a fresh process serves (one process for the module's
entries, :class:`tests.export.common.ServingProcess`).

An entry is looked up in the zoo root (``$MTLZOO_HOME`` or saved_models/). It is skipped
only when the data it is scored on is absent (``$MTLZOO_DATA_DIR/<entry.json data>``); a missing
entry FAILS with the command that builds it. The same checks run on a tiny entry published
from a 1-epoch quickstart into a temporary root (``tiny``), so they are exercised without
the real data.
"""

import json
import os

import numpy as np
import pytest

from mtlzoo import zoo
from mtlzoo.errors import ConfigError
from tests.export.common import vocab_reference
from tests.zoo.common import keras_outputs, published_quickstart, read_lines, serve_many

TINY = "tiny"
POINTS = 0.5  # x100: the card's numbers are reproduced within half a point
MAX_BYTES = 10_000_000  # "a few MB at most"
TINY_KNOWN = zoo.Known(
    "digits, a 1-epoch quickstart",
    "quickstart",
    "card.md",
    finetune={"tasks": {"parity": {"kind": "binary"}}, "finetune": {"freeze": "encoder"}},
)


@pytest.fixture(scope="module", params=[*sorted(zoo.known()), TINY])
def entry(request, tmp_path_factory):
    name = request.param
    if name == TINY:
        return {"name": "digits_mlp", "root": published_quickstart(tmp_path_factory), "known": TINY_KNOWN}
    known = zoo.known()[name]
    if known.data:
        data_dir = os.environ.get("MTLZOO_DATA_DIR")
        if not data_dir or not os.path.exists(os.path.join(data_dir, known.data)):
            pytest.skip(f"{name} is scored on $MTLZOO_DATA_DIR/{known.data}, which is absent")
    try:
        zoo.path(name)
    except ConfigError as e:
        pytest.fail(str(e))
    return {"name": name, "root": None, "known": known}


@pytest.fixture(scope="module")
def loaded(entry):
    """The entry's model, ``zoo.load``-ed once for the module's tests of that entry, which only
    read it (its outputs, weights and predictions)."""
    return zoo.load(entry["name"], entry["root"])


def _path(entry):
    return zoo.path(entry["name"], entry["root"])


def test_loads(entry, loaded):
    facts = zoo.info(entry["name"], entry["root"])
    model = loaded
    assert sorted(model.output) == sorted(facts["config"]["tasks"]) == sorted(facts["scores"])
    assert facts["description"] and facts["size_bytes"] <= MAX_BYTES
    for fname in zoo.ENTRY_FILES:
        assert os.path.isfile(os.path.join(facts["path"], fname)), fname


def test_card_matches_metrics_and_names_its_config(entry):
    facts = zoo.info(entry["name"], entry["root"])
    table = zoo.parse_scores_table(facts["card"])
    assert "<!-- scores -->" not in facts["card"] and "<!-- command -->" not in facts["card"]
    for t, row in facts["scores"].items():
        want = {m: None if v is None else round(100 * v, 2) for m, v in row.items() if m != "examples"}
        if {"mse", "mae"} & set(row):
            want.update({m: round(row[m], 4) for m in ("mse", "mae") if row.get(m) is not None})
        assert table[t] == pytest.approx(want, abs=1e-9), t
    if entry["known"] is not TINY_KNOWN:
        assert f"--config={entry['known'].config}" in facts["card"]


def test_evaluates_to_its_card(entry):
    from mtlzoo.evaluation import evaluate

    with open(os.path.join(_path(entry), "metrics.json")) as f:
        stored = json.load(f)
    before = sorted(os.listdir(_path(entry)))
    got = evaluate(_path(entry), split="test", write=False)
    assert got["examples"] == stored["examples"]
    assert sorted(os.listdir(_path(entry))) == before  # write=False leaves the entry as it was
    for t, row in stored["tasks"].items():
        for m, v in row.items():
            if m == "examples" or v is None:
                continue
            assert abs(100 * (got["tasks"][t][m] - v)) <= POINTS, (t, m, got["tasks"][t][m], v)
    for m, v in stored["average"].items():
        if v is not None:
            assert abs(100 * (got["average"][m] - v)) <= POINTS, ("average", m)


def test_finetunes_from_its_weights(entry, loaded, tmp_path, monkeypatch):
    facts = zoo.info(entry["name"], entry["root"])
    pretrained = loaded
    cfg = json.loads(json.dumps(entry["known"].finetune))
    train = dict(facts["config"]["train"])
    train.update(epochs=1, steps_per_epoch=2, verbose=0)
    if "alignment_epochs" in train:
        train["alignment_epochs"] = None
    cfg["train"] = train
    from mtlzoo.zoo import finetuning

    before, original = {}, finetuning.apply_plan

    def spy(model, pretrained_model, plan):  # the weights the run starts from, before any step
        out = original(model, pretrained_model, plan)
        before.update({layer.name: [np.array(w) for w in layer.get_weights()] for layer in out.layers})
        return out

    monkeypatch.setattr(finetuning, "apply_plan", spy)
    result = zoo.finetune(entry["name"], cfg, str(tmp_path / "ft"), root=entry["root"])
    with open(tmp_path / "ft" / "finetune.json") as f:
        plan = json.load(f)
    assert plan["transferred"] and os.path.isfile(tmp_path / "ft" / "model.keras")
    for name in plan["transferred"]:
        for got, want in zip(before[name], pretrained.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)
    old, new = sorted(pretrained.output), sorted(result.model.output)
    for name, rows in plan["remapped"].items():
        for got, want in zip(before[name], pretrained.get_layer(name).get_weights(), strict=True):
            for t in rows["kept"]:
                np.testing.assert_array_equal(got[new.index(t)], want[old.index(t)], err_msg=f"{name}[{t}]")
    assert plan["vocab_file"] == facts["vocab"]  # a text entry's token ids are kept


def _columns(instances):
    return {k: [row[k] for row in instances] for k in instances[0]}


@pytest.mark.slow
def test_exports_and_a_fresh_process_serves_it(entry, loaded, serving, tmp_path):
    facts = zoo.info(entry["name"], entry["root"])
    path = zoo.export(entry["name"], str(tmp_path / "serving"), root=entry["root"])
    extra = os.path.join(path, "assets.extra")
    with open(os.path.join(extra, "example_request.json")) as f:
        ids_request = json.load(f)
    calls = [("serving_default", _columns(ids_request["instances"]))]
    tok_path = os.path.join(facts["path"], zoo.TOKENIZER_FILE)
    if facts["vocab"] and os.path.isfile(tok_path):
        with open(tok_path) as f:
            tok = json.load(f)
        assert tok["name"] == "vocab"  # the entries' text models take word ids
        texts = ["a good film about nothing", "The Dow Jones fell 3 % on Monday .", "qqxzunknownword"]
        calls.append(("text", {"text": texts}))
    got = serve_many(serving, tmp_path, path, calls)
    model = loaded
    tasks = facts["config"]["tasks"]
    feats = {k: np.asarray(v) for k, v in calls[0][1].items()}
    checks = [(got[0], keras_outputs(model, tasks, feats))]
    if len(calls) == 2:
        fixed = model.input["tokens"].shape[1]
        tokens = vocab_reference(
            calls[1][1]["text"],
            read_lines(facts["vocab"]),
            oov="[UNK]",
            lowercase=tok["lowercase"],
            max_len=tok.get("max_length"),
            fixed=fixed,
        )
        checks.append((got[1], keras_outputs(model, tasks, {"tokens": tokens})))
    with open(os.path.join(extra, "mtlzoo_export.json")) as f:
        meta = json.load(f)
    for served, want in checks:
        labels = {k for k in served if k.endswith("_label")}  # tag names beside the ids (tagging entries)
        for k in labels:
            task = k[: -len("_label")]
            names = np.array([*meta["tasks"][task]["label_names"], ""])  # id -1 (padding) -> ""
            np.testing.assert_array_equal(served[k], names[served[f"{task}_class_ids"]], err_msg=k)
        assert sorted(set(served) - labels) == sorted(want)
        for k, v in want.items():
            if k.endswith("class_ids"):
                assert np.mean(served[k] == v) >= 0.99, k  # argmax ties may differ in float round-off
            else:
                np.testing.assert_allclose(served[k], v, rtol=1e-4, atol=1e-5, err_msg=k)
