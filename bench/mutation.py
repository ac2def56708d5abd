"""A small mutation tester over the AST: plants one bug at a time in a module and runs that
module's targeted tests against it (not part of CI; the score is in docs/testing.md).

    python bench/mutation.py mtlzoo/analysis/svd_reweighting.py tests/analysis/test_svd_reweighting.py
    python bench/mutation.py mtlzoo/analysis/covariance.py tests/analysis/test_covariance.py --timeout=300

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="the module to mutate, e.g. mtlzoo/analysis/covariance.py")
    parser.add_argument("tests", nargs="+", help="the targeted tests (pytest paths, node ids, -k EXPR)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant's test run (killed past it)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N mutants")
    parser.add_argument("--lines", default=None, help="only mutants on these lines: A-B, N, or a comma-separated list")
    parser.add_argument("--markdown", action="store_true", help="print a docs/testing.md table row and survivors")
    args = parser.parse_args()

    source = open(os.path.join(REPO, args.module), encoding="utf-8").read()
    tree = ast.parse(source)
    found = list(mutations(tree))
    if args.lines:  # "A-B", "N" or a comma-separated list of them
        spans = [(int(p.split("-")[0]), int(p.split("-")[-1])) for p in args.lines.split(",")]
        found = [m for m in found if any(a <= m[1] <= b for a, b in spans)]
    found = found[: args.limit]
    work = tempfile.mkdtemp(prefix="mtlzoo_mutation_")
    try:
        for part in ("mtlzoo", "tests", "configs", "tools", "pyproject.toml"):
            src = os.path.join(REPO, part)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(work, part), symlinks=True)
            elif os.path.exists(src):
                shutil.copy(src, work)
        target = os.path.join(work, args.module)
        env = {**os.environ, "PYTHONPATH": work, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args.tests]
        base = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        if base.returncode != 0:
            sys.exit(f"the tests fail on the unmutated module:\n{base.stdout[-2000:]}")
        killed, survivors = 0, []
        for n, (i, line, what, change) in enumerate(found, 1):
            try:
                mutated = ast.unparse(apply(tree, i, change))
            except Exception as e:  # a mutation that cannot be unparsed is skipped, said so
                print(f"[{n}/{len(found)}] line {line}: {what}: skipped ({e})", flush=True)
                continue
            with open(target, "w", encoding="utf-8") as f:
                f.write(mutated)
            t0 = time.time()
            try:
                r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=args.timeout)
                verdict = "killed" if r.returncode != 0 else "SURVIVED"
            except subprocess.TimeoutExpired:
                verdict = "killed (timeout)"
            killed += verdict != "SURVIVED"
            if verdict == "SURVIVED":
                survivors.append((line, what))
            print(f"[{n}/{len(found)}] line {line}: {what}: {verdict} ({time.time() - t0:.0f} s)", flush=True)
        with open(target, "w", encoding="utf-8") as f:
            f.write(source)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = killed + len(survivors)
    score = 100.0 * killed / total if total else float("nan")
    print(f"{args.module}: {killed}/{total} mutants killed ({score:.1f}%), {len(survivors)} survived")
    if args.markdown:
        where = f" (lines {args.lines})" if args.lines else ""
        print(f"| `{args.module}`{where} | {' '.join(args.tests)} | {total} | {killed} | {score:.1f}% |")
        for line, what in survivors:
            print(f"- `{args.module}` line {line}: {what}")


if __name__ == "__main__":
    main()
