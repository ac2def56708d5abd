"""Shared test helpers: tiny configs for every encoder, random inputs for them, the ``.keras``
round trip and tool runs (children of a fork server, :mod:`tests.forkserver`, or fresh processes)."""

import json
import os
import subprocess
import sys
import threading

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VOCAB = 50
SMALL_ENCODERS = {
    "mlp": {"name": "mlp", "input_dim": 12, "units": [16]},
    "text_mlp": {"name": "text_mlp", "vocab_size": VOCAB, "embedding_dim": 8, "units": [6]},
    "text_cnn": {"name": "text_cnn", "vocab_size": VOCAB, "embedding_dim": 8, "num_filters": 4},
    "lstm": {"name": "lstm", "vocab_size": VOCAB, "embedding_dim": 8, "hidden": 6},
    "tagger": {"name": "tagger", "vocab_size": VOCAB, "embedding_dim": 8, "hidden": 6},
    "image_cnn": {"name": "image_cnn", "input_shape": [8, 8, 1], "filters": [4, 8], "units": 16},
    "bert": {
        "name": "bert",
        "vocab_size": VOCAB,
        "num_layers": 2,
        "hidden_dim": 64,
        "num_heads": 2,
        "intermediate_dim": 128,
        "max_sequence_length": 16,
    },
}

THREE_TASKS = {
    "sentiment": {"kind": "binary"},
    "topic": {"kind": "multiclass", "num_classes": 4},
    "score": {"kind": "regression", "num_classes": 2},
}


def model_config(encoder, tasks=None, tower=(8,)):
    return {
        "tasks": tasks or THREE_TASKS,
        "model": {"encoder": dict(SMALL_ENCODERS[encoder]), "tower": {"units": list(tower)}},
    }


def random_features(encoder, batch=6, time=7, seed=0):
    """Random inputs for an encoder; token rows end in padding (id 0) of varied length."""
    rng = np.random.default_rng(seed)
    if encoder == "mlp":
        return {"features": rng.normal(size=(batch, 12)).astype(np.float32)}
    if encoder == "image_cnn":
        return {"image": rng.random((batch, 8, 8, 1)).astype(np.float32)}
    tokens = rng.integers(1, VOCAB, size=(batch, time)).astype(np.int32)
    lengths = rng.integers(2, time + 1, size=batch)
    lengths[0] = time
    for i, n in enumerate(lengths):
        tokens[i, n:] = 0
    if encoder == "bert":
        return {
            "token_ids": tokens,
            "segment_ids": np.zeros_like(tokens),
            "padding_mask": (tokens != 0).astype(np.int32),
        }
    return {"tokens": tokens}


def random_labels(tasks, batch=6, time=7, seed=1):
    """Valid random labels for each task spec, in the shapes the heads expect."""
    from mtlzoo.tasks import tasks_from_config

    rng = np.random.default_rng(seed)
    out = {}
    for t in tasks_from_config(tasks):
        if t.kind == "binary":
            out[t.name] = rng.integers(0, 2, size=(batch, 1)).astype(np.float32)
        elif t.kind == "multiclass":
            out[t.name] = rng.integers(0, t.num_classes, size=(batch,)).astype(np.int32)
        elif t.kind == "multilabel":
            out[t.name] = rng.integers(0, 2, size=(batch, t.num_classes)).astype(np.float32)
        elif t.kind == "regression":
            out[t.name] = rng.normal(size=(batch, t.num_classes)).astype(np.float32)
        else:
            out[t.name] = rng.integers(0, t.num_classes, size=(batch, time)).astype(np.int32)
    return out


def config_verdicts(check, path, overrides):
    """For each override (``{dotted path: value}``): loads config file ``path``, sets those values
    and runs ``check`` on it; returns None where it passes, else the ConfigError's message.
    Imports no TensorFlow itself (a fresh interpreter may use it to show that checking does not)."""
    from mtlzoo.config import load_config_file
    from mtlzoo.errors import ConfigError

    out = []
    for override in overrides:
        c = load_config_file(path)
        for key, value in override.items():
            *head, last = key.split(".")
            node = c
            for k in head:
                node = node[k]
            node[last] = value
        try:
            check(c)
            out.append(None)
        except ConfigError as e:
            out.append(str(e))
    return out


def run_tool(name, *args, timeout=600, env=None, fresh=False):
    """Runs ``python tools/<name>.py args`` and returns a CompletedProcess: in a child of the
    test process's fork server (:mod:`tests.forkserver`: TensorFlow already imported), or in a
    fresh process with ``fresh=True`` (a test about the process itself) or ``MTLZOO_TEST_FRESH=1``."""
    return run_python([os.path.join(REPO, "tools", f"{name}.py"), *args], timeout=timeout, env=env, fresh=fresh)


def run_python(argv, timeout=600, env=None, fresh=False, cwd=REPO):
    """``python argv`` (a script and its arguments, or ``-m module ...``) as :func:`run_tool` runs it."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    if fresh or os.environ.get("MTLZOO_TEST_FRESH") == "1":
        return subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd
        )
    return _FORKS.run(list(argv), full_env, timeout, cwd)


class _ForkServer:
    """The client of :mod:`tests.forkserver`: one server per test process, started on first use."""

    def __init__(self):
        self.proc, self.buffer = None, b""
        self.lock = threading.Lock()

    def _line(self, timeout):
        import select

        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the test fork server ended")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def run(self, argv, env, timeout, cwd):
        import signal
        import tempfile

        with self.lock, tempfile.TemporaryDirectory() as tmp:
            if self.proc is None or self.proc.poll() is not None:
                self.buffer = b""
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.forkserver", REPO],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    cwd=REPO,
                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                )
            out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
            req = {"argv": argv, "cwd": str(cwd), "env": env, "out": out, "err": err}
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
            pid = self._line(None)["pid"]
            done = self._line(timeout)
            if done is None:
                os.kill(pid, signal.SIGKILL)
                self._line(None)
            with open(out, encoding="utf-8", errors="replace") as f:
                stdout = f.read()
            with open(err, encoding="utf-8", errors="replace") as f:
                stderr = f.read()
            if done is None:
                raise subprocess.TimeoutExpired([sys.executable, *argv], timeout, stdout, stderr)
            return subprocess.CompletedProcess([sys.executable, *argv], done["rc"], stdout, stderr)


_FORKS = _ForkServer()


def shared_dir(tmp_path_factory, name, build):
    """``<root>/<name>``, built once per test session by ``build(path)`` and shared by every
    pytest-xdist worker of the session (the pytest-xdist recipe for session-wide data).

    ``root`` is the folder above the worker's base temp folder (the session's, shared by its
    workers) under xdist, the base temp folder itself otherwise. The first worker to ask
    builds the folder in place while it holds an ``fcntl`` lock on ``<name>.lock``, then
    writes ``<name>.done``; the others wait on the lock and find the marker. A build that
    failed (no marker) is removed and built again by the next one to ask. Tests must treat the
    folder as read-only."""
    import fcntl
    import shutil

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path, done = root / name, root / f"{name}.done"
    if done.exists():
        return path
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                shutil.rmtree(path, ignore_errors=True)
                build(path)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path


def module_results(module, out, timeout=600):
    """Runs ``python -m <module> <out>`` from the checkout (a child of the fork server: e.g. a
    2-logical-CPU mirrored setup that must not share this process's TensorFlow) and returns the
    JSON it wrote to ``out``; fails with the end of its stderr when it exits non-zero."""
    r = run_python(["-m", module, str(out)], timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    with open(out) as f:
        return json.load(f)


def assert_keras_round_trip(model, inputs, tmp_path, name="model"):
    """Saves ``model`` to ``tmp_path/<name>.keras``, loads it back in safe mode and checks the
    copy: same class, same weights in order (names, shapes, values) and identical outputs on ``inputs``
    (an array or a dict, outputs a tensor or a dict of them). After keras-hub's
    ``TestCase.run_model_saving_test``. Returns the loaded model for further checks.
    """
    import keras

    import mtlzoo

    path = mtlzoo.save_model(model, str(tmp_path / f"{name}.keras"))
    loaded = mtlzoo.load_model(path)  # keras.saving.load_model(..., safe_mode=True)
    assert isinstance(loaded, type(model)), f"loaded a {type(loaded).__name__}, saved a {type(model).__name__}"
    # names and shapes, not paths: keras drops a Bidirectional wrapper's prefix from its layers' paths on load
    assert [(w.name, tuple(w.shape)) for w in loaded.weights] == [(w.name, tuple(w.shape)) for w in model.weights]
    for before, after in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(before), keras.ops.convert_to_numpy(after), err_msg=before.path
        )
    a, b = model.predict(inputs, verbose=0), loaded.predict(inputs, verbose=0)
    keras.tree.assert_same_structure(a, b)
    for x, y in zip(keras.tree.flatten(a), keras.tree.flatten(b), strict=True):
        np.testing.assert_array_equal(x, y)
    return loaded
