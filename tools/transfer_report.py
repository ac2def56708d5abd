"""`python tools/transfer_report.py [flags]` = `mtlzoo transfer_report [flags]`: the command lives in mtlzoo/cli/transfer_report.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's mtlzoo
from mtlzoo.cli import _common, transfer_report  # noqa: E402

if __name__ == "__main__":
    _common.run(transfer_report.main)
