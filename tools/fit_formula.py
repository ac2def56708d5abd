"""`python tools/fit_formula.py [flags]` = `mtlzoo fit_formula [flags]`: the command lives in mtlzoo/cli/fit_formula.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, fit_formula  # noqa: E402

if __name__ == "__main__":
    _common.run(fit_formula.main)
