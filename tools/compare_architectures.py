"""`python tools/compare_architectures.py [flags]` = `mtlzoo compare_architectures [flags]`: the command lives in mtlzoo/cli/compare_architectures.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, compare_architectures  # noqa: E402

if __name__ == "__main__":
    _common.run(compare_architectures.main)
