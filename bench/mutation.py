"""A small mutation tester over the AST: plants one bug at a time in a module and runs that
module's targeted tests against it (not part of CI; the score is in docs/testing.md).

    python bench/mutation.py mtlzoo/analysis/svd_reweighting.py tests/analysis/test_svd_reweighting.py
    python bench/mutation.py mtlzoo/analysis/covariance.py --timeout=300 -- tests/analysis/test_covariance.py -k "not task_embeddings"

Operators (each mutant changes one node of the module's functions):

* comparisons: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``, ``<`` <-> ``>``, ``is`` <-> ``is not``,
  ``in`` <-> ``not in``;
* arithmetic: ``+`` <-> ``-``, ``*`` <-> ``/``, ``**`` -> ``*``, ``//`` -> ``/``, ``@`` kept (shapes);
  unary ``-x`` -> ``x``;
* boolean: ``and`` <-> ``or``, ``not x`` -> ``x``;
* constants: an int n -> n + 1 (and 1 -> 0), a float x -> 2x (0.0 -> 1.0),
  ``True`` <-> ``False``;
* removed statements: an assignment, expression, ``raise``, ``return`` (-> ``return None``) or
  ``if`` becomes ``pass``.

By default each mutant's pytest is a forked child of one warm process that has imported the
tests' third-party modules once (``--subprocess``: a fresh interpreter per mutant, about 3x the
CPU); mutants in statements the unmutated tests never execute count as survivors without a run
(``--run-uncovered`` runs them); each killed mutant names the test that failed first;
``--sample N`` runs a seeded random subset, ``--lines`` a line range.

Docstrings, string constants and the module's top level outside functions are left alone.
Each mutant is written into a copy of the checkout (the working tree is never touched) and
the tests run there with ``-x`` and a timeout; a mutant is *killed* when they fail (or time
out), *survived* when they pass. Prints one line per mutant and, with ``--markdown``, a
table row and the survivors.
"""

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CMP = {
    ast.Lt: [ast.LtE, ast.Gt],
    ast.LtE: [ast.Lt],
    ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
}
_BIN = {
    ast.Add: [ast.Sub],
    ast.Sub: [ast.Add],
    ast.Mult: [ast.Div],
    ast.Div: [ast.Mult],
    ast.Pow: [ast.Mult],
    ast.FloorDiv: [ast.Div],
    ast.Mod: [ast.FloorDiv],
}
_BOOL = {ast.And: [ast.Or], ast.Or: [ast.And]}


def _docstrings(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                out.add(id(first))
    return out


def _in_functions(tree):
    """Nodes inside function bodies (the module's logic, not its constants and imports)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if sub is not node:
                    inside.add(id(sub))
    return inside


def mutations(tree):
    """Yields ``(path, description, apply)``: ``apply(node)`` mutates a deep copy's node in place
    (or returns a replacement statement); ``path`` finds that node in the copy."""
    docs, inside = _docstrings(tree), _in_functions(tree)
    index = {}
    for i, node in enumerate(ast.walk(tree)):
        index[id(node)] = i
    for node in ast.walk(tree):
        if id(node) not in inside:
            continue
        line = getattr(node, "lineno", "?")
        i = index[id(node)]
        if isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                for new in _CMP.get(type(op), []):
                    yield i, line, f"{type(op).__name__} -> {new.__name__}", ("cmp", k, new)
        elif isinstance(node, ast.BinOp):
            for new in _BIN.get(type(node.op), []):
                yield i, line, f"{type(node.op).__name__} -> {new.__name__}", ("bin", new)
        elif isinstance(node, ast.AugAssign):
            for new in _BIN.get(type(node.op), []):
                yield i, line, f"{type(node.op).__name__}= -> {new.__name__}=", ("bin", new)
        elif isinstance(node, ast.BoolOp):
            for new in _BOOL[type(node.op)]:
                yield i, line, f"{type(node.op).__name__} -> {new.__name__}", ("bool", new)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            yield i, line, f"drop {type(node.op).__name__}", ("unary",)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, str) and node.value is not None:
            v = node.value
            if isinstance(v, bool):
                yield i, line, f"{v} -> {not v}", ("const", not v)
            elif isinstance(v, int):
                yield i, line, f"{v} -> {v + 1}", ("const", v + 1)
                if v == 1:
                    yield i, line, "1 -> 0", ("const", 0)
            elif isinstance(v, float):
                new = 1.0 if v == 0 else v * 2
                yield i, line, f"{v!r} -> {new!r}", ("const", new)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Raise, ast.Return, ast.If)):
            if id(node) in docs:
                continue
            what = "return -> return None" if isinstance(node, ast.Return) else f"remove {type(node).__name__}"
            yield i, line, what, ("stmt",)


def apply(tree, target, change):
    tree = copy.deepcopy(tree)
    node = next(n for i, n in enumerate(ast.walk(tree)) if i == target)
    kind = change[0]
    if kind == "cmp":
        node.ops[change[1]] = change[2]()
    elif kind == "bin":
        node.op = change[1]()
    elif kind == "bool":
        node.op = change[1]()
    elif kind == "unary":
        _replace(tree, node, node.operand)
    elif kind == "const":
        node.value = change[1]
    elif kind == "stmt":
        new = ast.Return(value=None) if isinstance(node, ast.Return) else ast.Pass()
        _replace(tree, node, ast.copy_location(new, node))
    return ast.fix_missing_locations(tree)


def _replace(tree, old, new):
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for k, item in enumerate(value):
                    if item is old:
                        value[k] = new
                        return
    raise RuntimeError("node not found")


def _enclosing_statements(tree):
    """``id(node) -> (first line, last line)`` of the innermost statement holding each node."""
    spans = {}

    def visit(node, span):
        if isinstance(node, ast.stmt):
            span = (node.lineno, getattr(node, "end_lineno", node.lineno) or node.lineno)
        spans[id(node)] = span
        for child in ast.iter_child_nodes(node):
            visit(child, span)

    visit(tree, (0, 10**9))
    return spans


def _enclosing_functions(tree):
    """``id(node) -> names of the functions (and "lam" for lambdas) around it``."""
    out = {}

    def visit(node, names):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = names | {node.name}
        elif isinstance(node, ast.Lambda):
            names = names | {"lam"}
        out[id(node)] = names
        for child in ast.iter_child_nodes(node):
            visit(child, names)

    visit(tree, frozenset())
    return out


def _function_spans(tree):
    """``id(node) -> [(first line, last line) of each function around it, outermost first]``."""
    out = {}

    def visit(node, spans):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            spans = [*spans, (node.lineno, node.end_lineno)]
        out[id(node)] = spans
        for child in ast.iter_child_nodes(node):
            visit(child, spans)

    visit(tree, [])
    return out


def _drain(fd, chunks):
    """Appends to ``chunks`` what the non-blocking pipe ``fd`` holds now (until empty or closed)."""
    try:
        while True:
            data = os.read(fd, 1 << 16)
            if not data:
                return
            chunks.append(data)
    except BlockingIOError:
        pass


def _trace_lines(filename, state=None):
    """Starts recording the lines of ``filename`` that run (all threads); returns a dict
    ``line -> set of the tests that ran it`` (the test is ``state["test"]`` at the time; keys
    that are strings are the names of the module's functions that ran converted by AutoGraph)."""
    import threading

    state = state if state is not None else {"test": "*"}
    seen = {}

    def add(key):
        tests = seen.get(key)
        if tests is None:
            tests = seen[key] = set()
        tests.add(state["test"])

    def local(frame, event, arg):
        if event == "line":
            add(frame.f_lineno)
        return local

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == filename:
            add(frame.f_lineno)
            return local
        if "__autograph_generated" in frame.f_code.co_filename and frame.f_globals.get("__file__") == filename:
            # a function of the module converted by AutoGraph (tf.function, Dataset.map) runs as
            # generated code whose lines are not the module's: remember it by name ("tf__<name>")
            add(frame.f_code.co_name.removeprefix("tf__"))
        return None

    sys.settrace(tracer)
    threading.settrace(tracer)
    return seen


# what the trace records outside a single test's own run: lines run while collecting, between
# tests, or inside a fixture wider than one test (module, class, session) can matter to every
# test that follows, so a mutant on such a line runs against all targeted tests
_ALL_TESTS = "*"


def _selection_args(pytest_args, nodeids):
    """``pytest_args`` with its paths and ``-k``/``-m`` filters replaced by ``nodeids`` (already
    filtered by them in the traced run); other options are kept."""
    kept, skip = [], False
    for a in pytest_args:
        if skip:
            skip = False
            continue
        if a in ("-k", "-m"):
            skip = True
            continue
        if a.startswith("-k") or a.startswith("-m") or not a.startswith("-"):
            continue
        kept.append(a)
    return [*kept, *nodeids]


class _ForkServer:
    """Runs pytest in forked children of one process that has already imported the tests'
    third-party modules (TensorFlow, Keras, ...): each mutant pays only its own module's import
    and the tests, not the interpreter and TensorFlow start-up (measured in docs/testing.md).

    The parent never imports ``mtlzoo`` or ``tests``: every child imports them fresh from the
    copy, so the mutated file is what the child runs."""

    def __init__(self, work, pytest_args):
        self.work, self.args = work, pytest_args
        os.chdir(work)
        sys.path.insert(0, work)
        sys.dont_write_bytecode = True
        os.environ["PYTHONPATH"] = work
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        # which third-party modules the tests import: a collect-only child lists them
        names = self._child(self._collect_modules, timeout=600, want_result=True) or []
        for name in names:
            try:
                __import__(name)
            except Exception:  # a module that fails to preload is simply imported by the child
                pass

    def _collect_modules(self):
        import pytest

        pytest.main(["-q", "--collect-only", "-p", "no:cacheprovider", *self.args])
        own = ("mtlzoo", "tests", "conftest")
        tops = set()
        for name, mod in list(sys.modules.items()):
            top = name.split(".")[0]
            path = getattr(mod, "__file__", None) or ""
            if top in own or path.startswith(self.work) or top.startswith("_pytest") or top == "__main__":
                continue
            tops.add(top)
        return sorted(tops)

    def _child(self, fn, timeout, want_result=False):
        """Runs ``fn`` in a forked child; returns its result (``want_result``) or exit status
        (``None`` on timeout, the child killed)."""
        import pickle

        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            import signal

            signal.signal(
                signal.SIGTERM, signal.SIG_DFL
            )  # not the parent's clean-up handler: a killed run ends here too
            os.close(r)
            code = 1
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                out = fn()
                if want_result:
                    os.write(w, pickle.dumps(out))
                    code = 0
                else:
                    code = int(out)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        deadline = time.time() + timeout
        chunks = []
        os.set_blocking(r, False)
        while True:
            _drain(r, chunks)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.time() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                os.close(r)
                return None
            time.sleep(0.05)
        _drain(r, chunks)
        os.close(r)
        code = os.waitstatus_to_exitcode(status)
        if want_result:
            return pickle.loads(b"".join(chunks)) if code == 0 and chunks else None
        return code

    def pytest(self, timeout, trace=None, nodeids=None):
        """``(exit status, first failing test)`` of pytest on the copy (``(None, None)`` on
        timeout); with ``nodeids``, only those tests (in that order). With ``trace`` (a file
        name), returns ``(status, {line or function name: [tests that ran it]}, [all tests in
        order])`` instead: the per-test line coverage of the unmutated run."""
        args = self.args if nodeids is None else _selection_args(self.args, nodeids)

        def run():
            import pytest

            state = {"test": _ALL_TESTS}

            class Plugin:
                nodeid = None  # the test that kills the mutant (the first failure under -x)
                order = []

                def pytest_runtest_logreport(self, report):
                    if report.failed and self.nodeid is None:
                        self.nodeid = report.nodeid

                def pytest_collection_finish(self, session):
                    self.order = [item.nodeid for item in session.items]

                @pytest.hookimpl(hookwrapper=True)
                def pytest_runtest_protocol(self, item, nextitem):
                    state["test"] = item.nodeid
                    yield
                    state["test"] = _ALL_TESTS

                @pytest.hookimpl(hookwrapper=True)
                def pytest_fixture_setup(self, fixturedef, request):
                    if fixturedef.scope == "function":
                        yield
                        return
                    before, state["test"] = state["test"], _ALL_TESTS
                    yield
                    state["test"] = before

            plugin = Plugin()
            seen = _trace_lines(trace, state) if trace else None
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", *args], plugins=[plugin])
            if trace:
                sys.settrace(None)
                return (int(code), {k: sorted(v) for k, v in seen.items()}, plugin.order)
            return (int(code), plugin.nodeid)

        if trace:
            return self._child(run, timeout, want_result=True) or (1, {}, [])
        return self._child(run, timeout, want_result=True) or (None, None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="the module to mutate, e.g. mtlzoo/analysis/covariance.py")
    parser.add_argument("tests", nargs="+", help="the targeted tests (pytest paths, node ids, -k EXPR)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant's test run (killed past it)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N mutants")
    parser.add_argument(
        "--skip", type=int, default=0, help="leave out the first N mutants (after --lines; before --limit)"
    )
    parser.add_argument(
        "--sample", type=int, default=None, help="only a uniform random sample of N mutants (an estimate of the score)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the seed of --sample and --shuffle")
    parser.add_argument(
        "--shuffle",
        action="store_true",
        help="run the mutants in a seeded random order (a run stopped early has run a uniform random sample)",
    )
    parser.add_argument(
        "--resume",
        type=int,
        default=0,
        help="leave out the first N mutants of the run order, after --shuffle (continue a stopped run with "
        "the same --seed and selection)",
    )
    parser.add_argument(
        "--run",
        type=int,
        default=None,
        help="run at most N mutants, after --shuffle and --resume (one shard of a run split over machines)",
    )
    parser.add_argument("--lines", default=None, help="only mutants on these lines: A-B, N, or a comma-separated list")
    parser.add_argument("--markdown", action="store_true", help="print a docs/testing.md table row and survivors")
    parser.add_argument(
        "--subprocess",
        action="store_true",
        help="a fresh interpreter per mutant (the old way) instead of forked children of one warm process",
    )
    parser.add_argument(
        "--no-select",
        action="store_true",
        help="run every mutant against all targeted tests (by default only the tests that executed its "
        "statement in the unmutated run, in their order)",
    )
    parser.add_argument(
        "--no-confirm",
        action="store_true",
        help="with selection, do not rerun a mutant that passed its selected tests against all targeted tests",
    )
    parser.add_argument(
        "--run-uncovered",
        action="store_true",
        help="also run mutants in statements the unmutated tests never execute (they survive by construction; "
        "by default they are counted as survivors without a run)",
    )
    args = parser.parse_args()

    source = open(os.path.join(REPO, args.module), encoding="utf-8").read()
    tree = ast.parse(source)
    found = list(mutations(tree))
    if args.lines:  # "A-B", "N" or a comma-separated list of them
        spans = [(int(p.split("-")[0]), int(p.split("-")[-1])) for p in args.lines.split(",")]
        found = [m for m in found if any(a <= m[1] <= b for a, b in spans)]
    found = found[args.skip :][: args.limit]
    if args.sample and args.sample < len(found):  # a uniform random subset, kept in source order
        import random

        picked = sorted(random.Random(args.seed).sample(range(len(found)), args.sample))
        print(f"a random sample of {args.sample} of the {len(found)} mutants (seed {args.seed})")
        found = [found[j] for j in picked]
    if args.shuffle:  # a seeded random order: a run stopped at any point has run a uniform sample
        import random

        random.Random(args.seed).shuffle(found)
    if args.resume:
        print(f"resuming after the first {args.resume} of the {len(found)} mutants in this order", flush=True)
        found = found[args.resume :]
    found = found[: args.run]
    nodes = list(ast.walk(tree))
    stmt_span = _enclosing_statements(tree)
    func_names = _enclosing_functions(tree)
    func_spans = _function_spans(tree)
    start = time.time()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still removes its copy
    work = tempfile.mkdtemp(prefix="mtlzoo_mutation_")
    try:
        for part in ("mtlzoo", "tests", "configs", "tools", "pyproject.toml"):
            src = os.path.join(REPO, part)
            if os.path.isdir(src):
                shutil.copytree(
                    src, os.path.join(work, part), symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            elif os.path.exists(src):
                shutil.copy(src, work)
        target = os.path.join(work, args.module)
        ran = None  # line (or AutoGraph function name) -> tests that ran it, unmutated (fork mode)
        order = []  # all targeted tests, in pytest's order (fork mode)
        killers = [None]  # the failing test of the last mutant (fork mode)
        if args.subprocess:
            env = {**os.environ, "PYTHONPATH": work, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1"}
            cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args.tests]

            def run_tests(timeout, nodeids=None):
                try:
                    return subprocess.run(
                        cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout
                    ).returncode
                except subprocess.TimeoutExpired:
                    return None

            base = run_tests(None)
        else:
            server = _ForkServer(work, args.tests)
            base, ran, order = server.pytest(timeout=10 * args.timeout, trace=target)
            converted = {k for k in ran if isinstance(k, str)}  # functions run through AutoGraph

            def run_tests(timeout, nodeids=None):
                code, nodeid = server.pytest(timeout=timeout, nodeids=nodeids)
                killers[0] = nodeid
                return code

        if base != 0:
            sys.exit(f"the tests fail on the unmutated module (exit status {base})")
        print(f"baseline passes ({time.time() - start:.0f} s since start)", flush=True)
        select = not args.subprocess and not args.no_select and bool(order)
        if not args.subprocess and not args.no_select and not order:
            print("no per-test coverage recorded: every mutant runs all targeted tests", flush=True)
        killed, survivors, confirmed = 0, [], 0
        for n, (i, line, what, change) in enumerate(found, 1):
            a, b = stmt_span[id(nodes[i])]
            untraced = ""
            if ran is None:
                executed, by = True, None
            else:
                keys = [k for k in ran if isinstance(k, int) and a <= k <= b]
                keys += sorted(func_names[id(nodes[i])] & converted)
                executed, by = bool(keys), set().union(*(ran[k] for k in keys)) if keys else set()
                spans = func_spans[id(nodes[i])]
                if not executed and len(spans) > 1:
                    # a nested function (e.g. a generator handed to tf.data) can run on a thread
                    # the tracer never sees: if the function around it ran, run the mutant on the
                    # tests that ran that function
                    lo, hi = spans[-2]
                    outer = [k for k in ran if isinstance(k, int) and lo <= k <= hi]
                    if outer:
                        executed, by = True, set().union(*(ran[k] for k in outer))
                        untraced = ", nested function not traced: the tests of the one around it"
            if not args.run_uncovered and not executed:
                survivors.append((line, what + " (never executed by the tests)"))
                print(f"[{n}/{len(found)}] line {line}: {what}: SURVIVED (not executed by the tests; not run)")
                continue
            try:
                mutated = ast.unparse(apply(tree, i, change))
            except Exception as e:  # a mutation that cannot be unparsed is skipped, said so
                print(f"[{n}/{len(found)}] line {line}: {what}: skipped ({e})", flush=True)
                continue
            with open(target, "w", encoding="utf-8") as f:
                f.write(mutated)
            t0 = time.time()
            killers[0] = None
            # the tests that ran this statement, in their original order; all of them when a line
            # ran outside one test (collection, a wide fixture) or nothing is recorded
            nodeids = None
            if select and by and _ALL_TESTS not in by:
                nodeids = [t for t in order if t in by]
                nodeids = None if len(nodeids) == len(order) else nodeids  # all of them: no rerun
            code = run_tests(args.timeout, nodeids)
            if nodeids is not None and code in (4, 5):  # pytest could not take the node ids: all tests
                nodeids = None
                code = run_tests(args.timeout)
            note = ("" if nodeids is None else f", {len(nodeids)} of {len(order)} tests") + untraced
            if code == 0 and nodeids is not None and not args.no_confirm:
                # the selected tests passed: a cached trace or fixture may hide the statement from
                # other tests, so a survivor is confirmed against all targeted tests
                code = run_tests(args.timeout)
                note += ", passed: rerun on all"
                if code != 0:
                    confirmed += 1
            verdict = "killed (timeout or crash)" if code is None else ("killed" if code != 0 else "SURVIVED")
            if killers[0]:
                verdict += f" by {killers[0]}"
            killed += not verdict.startswith("SURVIVED")
            if verdict == "SURVIVED":
                survivors.append((line, what))
            print(f"[{n}/{len(found)}] line {line}: {what}: {verdict} ({time.time() - t0:.1f} s{note})", flush=True)
        if select and not args.no_confirm:
            print(f"killed only by the rerun on all tests (missed by the selection): {confirmed}")
        with open(target, "w", encoding="utf-8") as f:
            f.write(source)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = killed + len(survivors)
    score = 100.0 * killed / total if total else float("nan")
    print(f"{args.module}: {killed}/{total} mutants killed ({score:.1f}%), {len(survivors)} survived")
    print(f"wall time {time.time() - start:.0f} s")
    if args.markdown:
        where = f" (lines {args.lines})" if args.lines else ""
        print(f"| `{args.module}`{where} | {' '.join(args.tests)} | {total} | {killed} | {score:.1f}% |")
        for line, what in survivors:
            print(f"- `{args.module}` line {line}: {what}")


if __name__ == "__main__":
    main()
