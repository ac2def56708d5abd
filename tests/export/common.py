"""Shared pieces of the export, zoo and tool tests: small models, independent references
(numpy post-processing, pure-Python tokenizers) and one trained quickstart workdir per session."""

import os
import string
import unicodedata

import numpy as np

from tests.helpers import REPO, model_config

FOUR_KINDS = {
    "score": {"kind": "regression", "num_classes": 2},
    "sentiment": {"kind": "binary"},
    "tags": {"kind": "multilabel", "num_classes": 3},
    "topic": {"kind": "multiclass", "num_classes": 4},
}
TEXT_TASKS = {"sentiment": {"kind": "binary"}, "topic": {"kind": "multiclass", "num_classes": 4}}
TAGGER_TASKS = {"pos": {"kind": "tagging", "num_classes": 5}, "sentiment": {"kind": "binary"}}

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "good", "bad", "film", "was", "very", "not"]


def build(encoder, tasks):
    import mtlzoo

    return mtlzoo.build_model(model_config(encoder, tasks))


def write_vocab(path, words=WORDS, specials=("<pad>", "<unk>")):
    vocab = [*specials, *words]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    return vocab


def vocab_reference(texts, vocab, oov="<unk>", lowercase=True, max_len=None, fixed=None):
    """Pure-Python word lookup: ``[vocab.index(w) or oov for w in text.lower().split()]``, padded with 0."""
    ids = {w: i for i, w in enumerate(vocab)}
    rows = []
    for t in texts:
        words = (t.lower() if lowercase else t).split()
        rows.append([ids.get(w, ids[oov]) for w in words][: fixed or max_len])
    width = fixed or max(1, max(len(r) for r in rows))
    out = np.zeros((len(rows), width), np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _basic_split(text):
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words = []
    for w in text.split():
        cur = ""
        for c in w:
            if c in string.punctuation:
                if cur:
                    words.append(cur)
                words.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            words.append(cur)
    return words


def _wordpieces(text, ids):
    """Pure-Python BERT tokenisation of one text: basic split, greedy longest-match-first WordPiece."""
    pieces = []
    for w in _basic_split(text):
        start, sub = 0, []
        while start < len(w):
            end = len(w)
            while end > start:
                cand = ("##" if start else "") + w[start:end]
                if cand in ids:
                    break
                end -= 1
            if end == start:
                sub = ["[UNK]"]
                break
            sub.append(("##" if start else "") + w[start:end])
            start = end
        pieces += sub
    return [ids[p] for p in pieces]


def _dense(rows, segments, pad):
    width = max(len(r) for r in rows)
    tok = np.full((len(rows), width), pad, np.int32)
    seg = np.zeros((len(rows), width), np.int32)
    mask = np.zeros((len(rows), width), np.int32)
    for i, (r, s) in enumerate(zip(rows, segments, strict=True)):
        tok[i, : len(r)] = r
        seg[i, : len(s)] = s
        mask[i, : len(r)] = 1
    return {"token_ids": tok, "segment_ids": seg, "padding_mask": mask}


def wordpiece_reference(texts, vocab, max_len):
    """Pure-Python BERT tokenisation: basic split, greedy longest-match-first WordPiece, [CLS] x [SEP]."""
    ids = {w: i for i, w in enumerate(vocab)}
    rows = [[ids["[CLS]"], *_wordpieces(t, ids)[: max_len - 2], ids["[SEP]"]] for t in texts]
    return _dense(rows, [[0] * len(r) for r in rows], ids["[PAD]"])


def wordpiece_pair_reference(first, second, vocab, max_len):
    """``[CLS] a [SEP] b [SEP]`` of pure-Python WordPiece ids, packed by the training pipeline's
    :func:`mtlzoo.data.glue_files.pack` (BERT's ``_truncate_seq_pair``)."""
    from mtlzoo.data.glue_files import pack

    ids = {w: i for i, w in enumerate(vocab)}
    packed = [
        pack(_wordpieces(a, ids), _wordpieces(b, ids), max_len, ids["[CLS]"], ids["[SEP]"])
        for a, b in zip(first, second, strict=True)
    ]
    return _dense([t for t, _ in packed], [s for _, s in packed], ids["[PAD]"])


def expected_outputs(kind, y, padding=None):
    """The documented serving outputs of one task, computed with numpy from the model's output."""
    y = np.asarray(y, np.float32)
    if kind == "regression":
        return {"values": y}
    if kind == "binary":
        return {"probabilities": y, "class_ids": (y[:, 0] >= 0.5).astype(np.int64)}
    if kind == "multilabel":
        return {"probabilities": y, "class_ids": (y >= 0.5).astype(np.int64)}
    ids = np.argmax(y, axis=-1).astype(np.int64)
    if kind == "tagging" and padding is not None:
        ids = np.where(padding, -1, ids)
    return {"probabilities": y, "class_ids": ids}


def random_inputs(encoder, batch=5, seed=0):
    from tests.helpers import random_features

    return random_features(encoder, batch=batch, seed=seed)


def trained_quickstart(tmp_path_factory, epochs=1):
    """A quickstart workdir trained once per test session (in-process, ``epochs`` epochs), by
    whichever pytest-xdist worker asks first (:func:`tests.helpers.shared_dir`).

    Tests must treat it as read-only (copy it to change it)."""
    from tests.helpers import shared_dir

    def build(base):
        from mtlzoo.config import load_config_file
        from mtlzoo.training import train

        cfg = load_config_file(os.path.join(REPO, "configs", "quickstart.py"))
        cfg.train.epochs = epochs
        cfg.train.verbose = 0
        train(cfg, str(base))

    return str(shared_dir(tmp_path_factory, f"mtlzoo_quickstart_shared_{epochs}", build))


# What the installed ``saved_model_cli`` console script runs, as a ServingProcess script (argv:
# its arguments). Importing the tool registers no op (TF 2.21: 1,910 ops before and after,
# 1,948 with TF Text), so a registered-op check later in the same process sees the same registry.
SAVED_MODEL_CLI = "from tensorflow.python.tools.saved_model_cli import main\nsys.exit(main())\n"


def saved_model_cli(*args, timeout=300):
    """``saved_model_cli args`` (TensorFlow's console script of the running interpreter's
    environment, beside ``sys.executable``: not whatever the caller's PATH finds), run as
    :func:`tests.helpers.run_python` runs a script: a child of the test process's fork server,
    TensorFlow already imported (a fresh process with ``MTLZOO_TEST_FRESH=1``). Returns the
    CompletedProcess."""
    import sys

    from tests.helpers import run_python

    script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    assert os.path.isfile(script), f"no saved_model_cli beside {sys.executable}: is tensorflow installed there?"
    return run_python([script, *args], timeout=timeout)


# The start of every fresh-process serving script: imports of mtlzoo, keras-hub and the tests
# fail (serving must need only TensorFlow and TF Text), then numpy and tensorflow are imported.
SERVING_PREAMBLE = r"""import json, sys

class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("mtlzoo", "keras_hub", "tests"):
            raise ImportError(f"serving must not need {name}")
        return None

sys.meta_path.insert(0, _Block())
import numpy as np
import tensorflow as tf
"""


# A fresh interpreter that runs serving scripts on request (:class:`ServingProcess`): after
# SERVING_PREAMBLE and TF Text's import (argv ``tf_text``), it reads one JSON request per stdin line,
# ``{"script": code, "argv": [...]}``, runs the code as ``__main__`` with ``sys.argv = ["-c",
# *argv]`` in a namespace of its own (holding json, sys, np and tf, as after the preamble) and
# answers one JSON line on its stdout: the script's printed text, and the traceback if it raised
# (SystemExit with code 0 or None is a success, as for a process).
SERVING_LOOP = (
    SERVING_PREAMBLE
    + r"""
import contextlib, io, traceback

if sys.argv[1:] == ["tf_text"]:
    import tensorflow_text  # noqa: F401  (TF Serving's build links the TF Text ops)
reply = sys.stdout
for line in sys.stdin:
    req = json.loads(line)
    sys.argv = ["-c", *req["argv"]]
    printed, error = io.StringIO(), None
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(req["script"], "<serving script>", "exec"), {"__name__": "__main__", "json": json, "sys": sys, "np": np, "tf": tf})
    except SystemExit as e:  # sys.exit(0) or sys.exit() ends a script as it ends a process: success
        if e.code not in (None, 0):
            error = traceback.format_exc() + f"exit code {e.code!r}"
    except BaseException:
        error = traceback.format_exc()
    reply.write(json.dumps({"stdout": printed.getvalue(), "error": error}) + "\n")
    reply.flush()
"""
)


class ServingProcess:
    """One fresh interpreter that imports only TensorFlow and TF Text (mtlzoo, keras-hub and the
    tests cannot be imported in it: :data:`SERVING_PREAMBLE`), started on the first :meth:`run`
    and shared by the runs of one test module, so the module pays TensorFlow's import once.

    Each run executes a serving script (the text after :data:`SERVING_PREAMBLE`; it finds
    ``json``, ``sys``, ``np`` and ``tf`` imported) as a fresh ``python -c`` would, in a
    namespace of its own. Use as a context manager; leaving it ends the process.

    ``tf_text=False``: TF Text is not imported at the start (a script that checks which ops
    TensorFlow alone lacks imports it itself)."""

    def __init__(self, tf_text=True):
        self.tf_text = tf_text
        self.proc = self.err = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, script, argv, timeout=600):
        """Runs ``script`` with ``sys.argv[1:] = argv``; returns what it printed. Fails the test with
        the script's traceback (or the end of the process's stderr if the process died)."""
        import json
        import select
        import subprocess
        import sys
        import tempfile

        if script.startswith(SERVING_PREAMBLE):
            script = script[len(SERVING_PREAMBLE) :]
        if self.proc is None or self.proc.poll() is not None:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            env["TF_CPP_MIN_LOG_LEVEL"] = "3"
            self.err = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVING_LOOP, *(["tf_text"] if self.tf_text else [])],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.err,
                env=env,
                cwd="/",
            )
        self.proc.stdin.write((json.dumps({"script": script, "argv": [str(a) for a in argv]}) + "\n").encode())
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.proc.kill()
            self.proc.wait()
            self.err.seek(0)
            raise AssertionError(
                f"the serving process {'timed out' if not ready else 'died'}: {self.err.read().decode()[-3000:]}"
            )
        reply = json.loads(line)
        assert reply["error"] is None, reply["error"][-3000:]
        return reply["stdout"]

    def close(self):
        """Ends the process (at the end of its stdin), if one was started."""
        from tests.helpers import end_at_eof

        if self.proc is not None:
            end_at_eof(self.proc)
            self.err.close()
            self.proc = None
