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
    """``python argv`` (a script and its arguments, or ``-m module ...``) as :func:`run_tool` runs it:
    started by :func:`start_python`, killed (and ``TimeoutExpired`` raised) past ``timeout``."""
    child = start_python(argv, env=env, fresh=fresh, cwd=cwd)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        raise subprocess.TimeoutExpired(child.args, timeout, child.stdout, child.stderr) from None
    return subprocess.CompletedProcess(child.args, child.returncode, child.stdout, child.stderr)


def kill_after_a_new_checkpoint(args, workdir, delay=0.0, deadline=1200):
    """Starts ``train.py args --workdir=workdir`` (a fork-server child), waits until it writes a
    new checkpoint index (``state/checkpoint``), SIGKILLs it ``delay`` seconds later and returns
    whether it was killed before it finished (no ``model.keras``). ``deadline``: seconds to wait
    for the checkpoint (a loaded machine: startup and tracing can take minutes)."""
    import signal
    import time

    index = os.path.join(workdir, "state", "checkpoint")

    def mtime():
        return os.stat(index).st_mtime_ns if os.path.exists(index) else None

    before = mtime()
    proc = start_tool("train", *args, f"--workdir={workdir}")
    end = time.time() + deadline
    while mtime() == before and time.time() < end and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return not os.path.exists(os.path.join(workdir, "model.keras"))


def start_tool(name, *args, env=None, fresh=False):
    """Starts ``python tools/<name>.py args`` without waiting: a :class:`Child` (as
    :func:`run_tool` runs it, a fork-server child unless ``fresh``)."""
    return start_python([os.path.join(REPO, "tools", f"{name}.py"), *args], env=env, fresh=fresh)


def start_python(argv, env=None, fresh=False, cwd=REPO):
    """Starts ``python argv`` without waiting and returns its :class:`Child`: a child of the fork
    server, or a fresh process with ``fresh=True`` or ``MTLZOO_TEST_FRESH=1``. Either is a real
    process of its own that a test may SIGKILL; its stdout and stderr go to files read when it ends."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    if fresh or os.environ.get("MTLZOO_TEST_FRESH") == "1":
        return Child([sys.executable, *argv], full_env, cwd, None)
    return Child([sys.executable, *argv], full_env, cwd, _FORKS)


class Child:
    """A started ``python`` run, with what tests use of ``subprocess.Popen``: ``pid``, ``poll()``,
    ``wait(timeout)``, ``send_signal``/``kill``, and once it has ended ``returncode``, ``stdout``
    and ``stderr`` (text)."""

    def __init__(self, args, env, cwd, server):
        import tempfile

        self.args, self.server = args, server
        self.returncode = self.stdout = self.stderr = None
        self._tmp = tempfile.mkdtemp(prefix="mtlzoo_child_")
        self._out, self._err = os.path.join(self._tmp, "out"), os.path.join(self._tmp, "err")
        if server is None:
            with open(self._out, "wb") as out, open(self._err, "wb") as err:
                self._proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
            self.pid = self._proc.pid
        else:
            self.pid = server.start(args[1:], env, cwd, self._out, self._err)

    def poll(self):
        if self.returncode is None:
            rc = self._proc.poll() if self.server is None else self.server.poll(self.pid, 0)
            if rc is not None:
                self._finish(rc)
        return self.returncode

    def wait(self, timeout=None):
        """The exit code once the run has ended; ``TimeoutExpired`` (the run left running) past ``timeout``."""
        if self.returncode is None:
            if self.server is None:
                rc = self._proc.wait(timeout)
            else:
                rc = self.server.poll(self.pid, timeout)
                if rc is None:
                    raise subprocess.TimeoutExpired(self.args, timeout)
            self._finish(rc)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:  # not yet reported ended, so the pid is still this run's
            os.kill(self.pid, sig)

    def kill(self):
        import signal

        self.send_signal(signal.SIGKILL)

    def _finish(self, rc):
        import shutil

        with open(self._out, encoding="utf-8", errors="replace") as f:
            self.stdout = f.read()
        with open(self._err, encoding="utf-8", errors="replace") as f:
            self.stderr = f.read()
        shutil.rmtree(self._tmp, ignore_errors=True)
        self.returncode = rc


def end_at_eof(proc, timeout=60):
    """Closes the stdin of ``proc`` (a ``subprocess.Popen`` that ends at the end of its input) and
    waits for it; kills it if it is still running after ``timeout`` seconds."""
    proc.stdin.close()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _ForkServer:
    """The client of :mod:`tests.forkserver`: one server per test process, started on first use;
    several of its children may run at once."""

    def __init__(self):
        self.proc, self.buffer, self.ended = None, b"", {}
        self.lock = threading.Lock()

    def _line(self, timeout):
        """The server's next reply, or None if none came within ``timeout`` seconds (None: wait)."""
        import select
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the test fork server ended")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def start(self, argv, env, cwd, out, err):
        """Asks for a child running ``python argv``; returns its pid once it has started."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.buffer, self.ended = b"", {}
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.forkserver", REPO],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    cwd=REPO,
                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                )
            req = {"argv": argv, "cwd": str(cwd), "env": env, "out": out, "err": err}
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
            while True:
                msg = self._line(None)
                if "started" in msg:
                    return msg["started"]
                self.ended[msg["ended"]] = msg["rc"]

    def close(self):
        """Ends the server: at the end of its stdin it waits for its children and exits (killed
        after a minute if a child is still running then)."""
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                end_at_eof(self.proc)
            self.proc = None

    def poll(self, pid, timeout):
        """Child ``pid``'s exit code, waiting up to ``timeout`` seconds (None: until it ends);
        None if it is still running then."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while pid not in self.ended:
                msg = self._line(None if deadline is None else max(0.0, deadline - time.monotonic()))
                if msg is None:
                    return None
                self.ended[msg["ended"]] = msg["rc"]
            return self.ended.pop(pid)


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
