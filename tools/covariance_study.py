"""`python tools/covariance_study.py [flags]` = `mtlzoo covariance_study [flags]`: the command lives in mtlzoo/cli/covariance_study.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, covariance_study  # noqa: E402

if __name__ == "__main__":
    _common.run(covariance_study.main)
