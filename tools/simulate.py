"""`python tools/simulate.py [flags]` = `mtlzoo simulate [flags]`: the command lives in mtlzoo/cli/simulate.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, simulate  # noqa: E402

if __name__ == "__main__":
    _common.run(simulate.main)
