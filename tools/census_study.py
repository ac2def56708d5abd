"""`python tools/census_study.py [flags]` = `mtlzoo census_study [flags]`: the command lives in mtlzoo/cli/census_study.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, census_study  # noqa: E402

if __name__ == "__main__":
    _common.run(census_study.main)
