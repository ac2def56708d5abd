"""`python tools/affinity.py [flags]` = `mtlzoo affinity [flags]`: the command lives in mtlzoo/cli/affinity.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, affinity  # noqa: E402

if __name__ == "__main__":
    _common.run(affinity.main)
