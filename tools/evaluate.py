"""`python tools/evaluate.py [flags]` = `mtlzoo evaluate [flags]`: the command lives in mtlzoo/cli/evaluate.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, evaluate  # noqa: E402

if __name__ == "__main__":
    _common.run(evaluate.main)
