"""The README's Python example runs as written, and its two commands are what CI runs."""

import os
import re

from tests.helpers import REPO


def _readme():
    with open(os.path.join(REPO, "README.md")) as f:
        return f.read()


def test_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", _readme(), re.S)
    assert blocks
    exec(compile(blocks[0], "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command():
    bash = re.findall(r"```bash\n(.*?)```", _readme(), re.S)
    assert len(bash) == 2 and "pytest" in bash[1]
    with open(os.path.join(REPO, ".ci", "run")) as f:
        ci = f.read()
    assert bash[1].strip() in ci
