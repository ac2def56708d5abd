"""Shared pieces of the zoo tests: a card template, tiny published entries, a fake sentiment
directory, and a fresh-process TF Serving-style call of an export with independent references."""

import json
import os

import numpy as np

from tests.export.common import SERVING_PREAMBLE, expected_outputs, trained_quickstart

CARD = """# {name}

A tiny entry for the tests: {what}.

## Test scores

<!-- scores -->

## Command

<!-- command -->
"""

POSITIVE = ["good", "great", "fine", "lovely", "superb", "warm", "clever", "bright"]
NEGATIVE = ["bad", "dull", "awful", "poor", "boring", "flat", "weak", "grim"]
FILLER = ["the", "film", "was", "a", "plot", "and", "very", "it", "story", "actor"]


def write_card(path, name, what="scores and command filled by publish"):
    with open(path, "w", encoding="utf-8") as f:
        f.write(CARD.format(name=name, what=what))
    return str(path)


def fake_sentiment(root, n=120, seed=0):
    """``<root>/sentiment/`` with ``rt-polarity.all`` (mr) and ``custrev.all`` (cr): ``n`` lines
    ``<label> <words>`` each; the label decides the polar word. ``custrev.all`` uses a few words
    ``mr`` never has (so a fine-tuned ``cr`` run needs the pretrained vocabulary's [UNK])."""
    rng = np.random.default_rng(seed)
    d = os.path.join(str(root), "sentiment")
    os.makedirs(d, exist_ok=True)
    for fname, extra in (("rt-polarity.all", []), ("custrev.all", ["phone", "battery", "screen"])):
        lines = []
        for _ in range(n):
            y = int(rng.integers(0, 2))
            words = list(rng.choice(FILLER + extra, size=int(rng.integers(3, 9))))
            words.insert(int(rng.integers(0, len(words))), str(rng.choice(POSITIVE if y else NEGATIVE)))
            lines.append(f"{y} {' '.join(words)}")
        with open(os.path.join(d, fname), "w") as f:
            f.write("\n".join(lines) + "\n")
    return str(root)


def published_quickstart(tmp_path_factory):
    """A 1-epoch quickstart published as ``digits_mlp`` into a session-wide zoo root (read-only),
    by whichever pytest-xdist worker asks first (:func:`tests.helpers.shared_dir`)."""
    from tests.helpers import shared_dir

    def build(base):
        from mtlzoo import zoo

        workdir = trained_quickstart(tmp_path_factory)
        base.mkdir()
        card = write_card(base / "digits_card.md", "digits_mlp", "digits, three tasks")
        zoo.publish(
            workdir,
            "digits_mlp",
            card,
            command="python tools/train.py --config=configs/quickstart.py",
            root=str(base / "root"),
            log=None,
        )

    return str(shared_dir(tmp_path_factory, "zoo_root_shared", build) / "root")


# Runs in a fresh interpreter (a ServingProcess): argv = [request.json, out.npz]; only tensorflow (+ tensorflow_text).
SERVE = (
    SERVING_PREAMBLE
    + r"""
import tensorflow_text  # noqa: F401

request, out = sys.argv[1], sys.argv[2]
with open(request) as f:
    req = json.load(f)
loaded = tf.saved_model.load(req["export"])
arrays = {}
for n, (signature, inputs) in enumerate(req["calls"]):
    fn = loaded.signatures[signature]
    feed = {}
    for k, v in inputs.items():
        spec = fn.structured_input_signature[1][k]
        feed[k] = tf.constant(np.asarray(v, dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype))
    for k, v in fn(**feed).items():  # string outputs (label names) as unicode arrays
        v = v.numpy()
        arrays[f"{n}|{k}"] = np.char.decode(v.astype(bytes), "utf-8") if v.dtype == object else v
np.savez(out, **arrays)
"""
)


def serve_many(serving, tmp_path, export_path, calls):
    """Outputs of each ``(signature, inputs)`` call (inputs as lists) on the SavedModel at
    ``export_path``, computed by ``serving`` (a :class:`tests.export.common.ServingProcess`:
    a fresh process that cannot import mtlzoo or keras-hub)."""
    req = tmp_path / "request.json"
    req.write_text(json.dumps({"export": export_path, "calls": calls}))
    out = str(tmp_path / "served.npz")
    serving.run(SERVE, [req, out], timeout=300)
    data = np.load(out, allow_pickle=False)
    results = [{} for _ in calls]
    for key in data.files:
        n, name = key.split("|", 1)
        results[int(n)][name] = data[key]
    return results


def serve(serving, tmp_path, export_path, signature, inputs):
    """One call of :func:`serve_many`."""
    return serve_many(serving, tmp_path, export_path, [(signature, inputs)])[0]


def keras_outputs(model, tasks, feats, task_names=None):
    """The documented serving outputs of ``task_names`` (default: all, prefixed as in
    ``serving_default``) from the Keras model plus numpy; a ``task_id`` input is task i =
    the i-th task name in sorted order."""
    from mtlzoo.tasks import tasks_from_config

    specs = {t.name: t for t in tasks_from_config(tasks)}
    order = sorted(specs)
    prefixed = task_names is None
    names = order if task_names is None else task_names
    padding = (feats["tokens"] == 0) if "tokens" in feats else None
    takes_id = "task_id" in model.input
    want, shared = {}, None
    for t in names:
        if takes_id:  # the model's outputs depend on the task id: one prediction per task
            x = {**feats, "task_id": np.full(len(next(iter(feats.values()))), order.index(t), np.int32)}
            y = model.predict(x, verbose=0)[t]
        else:  # one prediction gives every task's output
            shared = model.predict(dict(feats), verbose=0) if shared is None else shared
            y = shared[t]
        for k, v in expected_outputs(specs[t].kind, y, padding).items():
            want[f"{t}_{k}" if prefixed else k] = v
    return want


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]
