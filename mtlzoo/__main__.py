"""``python -m mtlzoo SUBCOMMAND [flags]``: the ``mtlzoo`` command (see :mod:`mtlzoo.cli`)."""

import sys

from mtlzoo.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m mtlzoo"))
