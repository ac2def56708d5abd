"""A fork server for the suite's tool runs: ``python tools/<name>.py ...`` without paying
TensorFlow's import (~4-5 s on this project's 2-core machine) in every run.

One server process per test process (each pytest-xdist worker) imports TensorFlow, Keras,
keras-hub and mtlzoo's non-command modules once, runs no TensorFlow op, and then forks a
child per request. The child sets the request's working directory, environment and
``sys.argv``, sends its stdout/stderr to files, runs the tool's file as ``__main__`` (the
tool's own flags are defined then, in the child: nothing of one run is seen by the next)
and exits with the tool's exit code. The child is what a fresh ``python tools/<name>.py``
is, except that the modules above are already imported.

Tests that are about the process itself (what a tool imports, TensorFlow's start-up lines,
a kill mid-run) keep real processes (``subprocess``, or :func:`tests.helpers.run_tool` with
``fresh=True``), and
``MTLZOO_TEST_FRESH=1`` makes every run a fresh process (the check that the fork changes
nothing: ``MTLZOO_TEST_FRESH=1 python -m pytest tests/tools``).

Protocol (stdin/stdout, one JSON object per line): request ``{"argv", "cwd", "env", "out",
"err"}`` -> ``{"pid": child}`` at once, then ``{"rc": exit code}`` when the child ends.
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
    sys.path.insert(0, repo)
    import importlib

    for name in PRELOAD + MTLZOO_PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # nothing but replies on the pipe: stray prints of the server go to its stderr
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            reply.close()
            _child(req)
        reply.write(json.dumps({"pid": pid}) + "\n")
        reply.flush()
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        reply.write(json.dumps({"rc": rc}) + "\n")
        reply.flush()


if __name__ == "__main__":
    serve(sys.argv[1])
