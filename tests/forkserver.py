"""A fork server for the suite's tool runs: ``python tools/<name>.py ...`` without paying
TensorFlow's import (~4-5 s on this project's 2-core machine) in every run.

One server process per test process (each pytest-xdist worker) imports TensorFlow, Keras,
keras-hub and mtlzoo's non-command modules once, runs no TensorFlow op, and then forks a
child per request. The child sets the request's working directory, environment and
``sys.argv``, sends its stdout/stderr to files, runs the tool's file as ``__main__`` (the
tool's own flags are defined then, in the child: nothing of one run is seen by the next)
and exits with the tool's exit code. The child is what a fresh ``python tools/<name>.py``
is, except that the modules above are already imported.

Each child is a real process of its own: a test may SIGKILL it mid-run (the state it leaves
on disk is what such a test checks), and several children may run at once (the two workers
of a multi-worker run). Tests that are about the process itself (what a tool imports,
TensorFlow's start-up lines) keep fresh processes (``subprocess``, or
:func:`tests.helpers.run_tool` with ``fresh=True``), and ``MTLZOO_TEST_FRESH=1`` makes every
run a fresh process (the check that the fork changes nothing:
``MTLZOO_TEST_FRESH=1 python -m pytest tests/tools``).

Protocol (stdin/stdout, one JSON object per line): request ``{"argv", "cwd", "env", "out",
"err"}`` -> ``{"started": child pid}`` at once, then ``{"ended": child pid, "rc": exit code}``
when that child ends (children end in any order). At the end of its stdin the server waits
for its children and exits.
"""

import json
import os
import sys

PRELOAD = ("numpy", "tensorflow", "keras", "keras_hub", "absl.flags", "absl.app", "ml_collections")
MTLZOO_PRELOAD = ("mtlzoo", "mtlzoo.training", "mtlzoo.data", "mtlzoo.export", "mtlzoo.models", "mtlzoo.evaluation")


def _child(req):
    """Runs in the forked child; never returns."""
    code = 1
    try:
        import signal

        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # what a fresh process has
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        out = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(err, 2)
        import runpy

        argv = req["argv"]
        try:
            if argv[0] == "-m":
                sys.argv = [argv[1], *argv[2:]]
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
            else:
                sys.argv = list(argv)
                sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
                runpy.run_path(argv[0], run_name="__main__")
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001  (what Python prints for an uncaught exception)
            import traceback

            traceback.print_exc()
            code = 1
        import atexit

        atexit._run_exitfuncs()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(repo):
    """Preloads the modules, then serves requests from stdin until it ends: one forked child per
    request, children running side by side, each reported when it ends (reaped on SIGCHLD)."""
    sys.path.insert(0, repo)
    import importlib
    import select
    import signal

    for name in PRELOAD + MTLZOO_PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # nothing but replies on the pipe: stray prints of the server go to its stderr
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler, so the wakeup fd is written
    signal.set_wakeup_fd(wake_w)

    def send(obj):
        reply.write(json.dumps(obj) + "\n")
        reply.flush()

    children, pending, stdin_open = set(), b"", True
    while stdin_open or children:
        ready, _, _ = select.select([0, wake_r] if stdin_open else [wake_r], [], [])
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        while children:  # reap every child that has ended, whichever woke us
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            send({"ended": pid, "rc": os.waitstatus_to_exitcode(status)})
        if 0 in ready:
            chunk = os.read(0, 65536)
            if not chunk:
                stdin_open = False
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    reply.close()
                    os.close(wake_r)
                    os.close(wake_w)
                    _child(req)
                children.add(pid)
                send({"started": pid})
    # every reply is flushed and every child reaped: skip the interpreter's teardown of the
    # preloaded TensorFlow and Keras (~1.5 s, which the test session waits for at its end)
    os._exit(0)


if __name__ == "__main__":
    serve(sys.argv[1])
