"""The package's layer order (docs/architecture.md), checked on every module of ``mtlzoo/``.

Every ``import`` and ``from ... import`` is read from the source (function-level imports
included) and resolved to a module of the package. An import may point to the same layer
or a lower one, never up; and the module graph has no cycle. ``import mtlzoo`` (the root,
whose lazy attributes reach the training loop) counts as an import of the top layer.
"""

import ast
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

PACKAGE = os.path.join(REPO, "mtlzoo")

# Lowest first. A module belongs to the longest prefix listed here.
LAYERS = [
    ("errors", "registry", "fileio", "schema", "options"),
    ("tasks", "layers", "metrics", "analysis"),
    ("encoders", "data", "weighting"),
    ("models",),
    ("config", "workdir"),
    ("training",),
    ("evaluation", "export"),
    ("zoo",),
    ("studies",),
    ("cli", "configs", "__main__", ""),  # "" is the root package mtlzoo/__init__.py
]
LAYER_OF = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def module_files(package_dir=PACKAGE):
    """Maps dotted module name -> file path for every .py file under ``package_dir``."""
    out = {}
    root = os.path.dirname(package_dir)
    for dirpath, _, files in os.walk(package_dir):
        for f in files:
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join(rel)] = os.path.join(dirpath, f)
    return out


def imports_of(name, path, modules):
    """The package modules that module ``name`` (file ``path``) imports, anywhere in its body."""
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    is_pkg = os.path.basename(path) == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            if target != "mtlzoo" and not target.startswith("mtlzoo."):
                continue
            while target not in modules and "." in target:  # `import mtlzoo.a.b` names a module
                target = target.rpartition(".")[0]
            found.add(target)
    found.discard(name)
    return found


def layer(module):
    parts = module.split(".")[1:]
    for n in range(len(parts), -1, -1):
        key = ".".join(parts[:n])
        if key in LAYER_OF:
            return LAYER_OF[key]
    raise KeyError(module)


def graph(package_dir=PACKAGE):
    modules = module_files(package_dir)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def upward_edges(edges):
    return sorted(
        f"{src} (layer {layer(src)}) imports {dst} (layer {layer(dst)})"
        for src, dsts in edges.items()
        for dst in dsts
        if layer(dst) > layer(src)
    )


def find_cycle(edges):
    """One cycle as a list of modules, or None (iterative depth-first search)."""
    state = {}
    for start in sorted(edges):
        if start in state:
            continue
        stack = [(start, iter(sorted(edges[start])))]
        path = [start]
        state[start] = "open"
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = "done"
                stack.pop()
                path.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                stack.append((nxt, iter(sorted(edges.get(nxt, ())))))
                path.append(nxt)
    return None


def test_every_module_has_a_layer():
    unknown = []
    for name in module_files():
        try:
            layer(name)
        except KeyError:
            unknown.append(name)
    assert not unknown, f"modules outside the layer order (add them to LAYERS and docs/architecture.md): {unknown}"


def test_no_import_points_up_the_layer_order():
    bad = upward_edges(graph())
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_checker_catches_a_back_edge_and_a_cycle(tmp_path):
    """The checks themselves bite: a planted up-edge and a planted cycle are found."""
    pkg = tmp_path / "mtlzoo"
    (pkg / "zoo").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "tasks.py").write_text("def f():\n    from mtlzoo.zoo import catalog\n")
    (pkg / "zoo" / "__init__.py").write_text("")
    (pkg / "zoo" / "catalog.py").write_text("from mtlzoo import errors\nfrom . import cards\n")
    (pkg / "zoo" / "cards.py").write_text("from .catalog import x\n")
    edges = graph(str(pkg))
    assert upward_edges(edges) == ["mtlzoo.tasks (layer 1) imports mtlzoo.zoo.catalog (layer 7)"]
    cycle = find_cycle(edges)
    assert cycle is not None and set(cycle) == {"mtlzoo.zoo.catalog", "mtlzoo.zoo.cards"}


def test_import_mtlzoo_loads_no_tensorflow():
    code = (
        "import sys, mtlzoo, mtlzoo.schema, mtlzoo.errors, mtlzoo.registry;"
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
