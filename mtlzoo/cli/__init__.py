"""The ``mtlzoo`` command: ``mtlzoo SUBCOMMAND [flags]``, one thin absl main per subcommand.

    mtlzoo train --config=quickstart --workdir=/tmp/run
    mtlzoo train --help                  # the subcommand's absl flags
    mtlzoo zoo list
    python -m mtlzoo train ...           # the same command

Each subcommand is the module ``mtlzoo.cli.<name>`` (``tools/<name>.py`` in a checkout runs the
same main); its one-line description is the first line of that module's docstring.
"""

import ast
import importlib
import importlib.util
import os
import sys

COMMANDS = (
    "train",
    "evaluate",
    "export",
    "predict",
    "finetune",
    "publish",
    "zoo",
    "transfer_report",
    "affinity",
    "svd_study",
    "conll_study",
    "covariance_study",
    "sentiment_study",
    "compare_architectures",
    "census_study",
    "glue_study",
    "simulate",
    "fit_formula",
)


def description(command):
    """The first line of ``mtlzoo.cli.<command>``'s docstring, read without importing it (each
    subcommand defines its own absl flags, so only the one that runs is imported)."""
    spec = importlib.util.find_spec(f"mtlzoo.cli.{command}")
    with open(spec.origin, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def usage(prog="mtlzoo"):
    """The command's help: its subcommands, one line each."""
    width = max(map(len, COMMANDS))
    lines = [
        f"usage: {prog} SUBCOMMAND [flags]      ({prog} SUBCOMMAND --help lists a subcommand's flags)",
        "",
        "subcommands:",
    ]
    lines += [f"  {c:<{width}}  {description(c)}" for c in COMMANDS]
    return "\n".join(lines)


def main(argv=None, prog="mtlzoo"):
    """Runs ``mtlzoo SUBCOMMAND [flags]``; an unknown subcommand is one error line and exit 2.

    A reader that closes the pipe early (``mtlzoo --help | head``) ends the output quietly,
    as ``cat`` does, instead of a BrokenPipeError traceback.
    """
    try:
        return _main(argv, prog)
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull so the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv, prog):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2:
        print(usage(prog), file=sys.stderr)
        return 2
    if argv[1] in ("-h", "--help", "-help", "help"):
        print(usage(prog))
        return 0
    name = argv[1].replace("-", "_")
    if name not in COMMANDS:
        print(f"error: unknown subcommand {argv[1]!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    sys.argv = [f"{prog} {name}", *argv[2:]]  # absl reads sys.argv (help text, --config.x overrides)
    module = importlib.import_module(f"mtlzoo.cli.{name}")
    from mtlzoo.cli._common import run

    run(module.main)
    return 0
