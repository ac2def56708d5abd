"""`python tools/glue_study.py [flags]` = `mtlzoo glue_study [flags]`: the command lives in mtlzoo/cli/glue_study.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, glue_study  # noqa: E402

if __name__ == "__main__":
    _common.run(glue_study.main)
