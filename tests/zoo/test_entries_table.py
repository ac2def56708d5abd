"""saved_models/README.md's entries table is what the entries' metrics.json say."""

import os
import re

from mtlzoo import zoo
from tests.helpers import REPO


def test_the_readme_table_matches_the_entries():
    with open(os.path.join(REPO, "saved_models", "README.md"), encoding="utf-8") as f:
        text = f.read()
    table = zoo.readme_entries(text)
    assert table is not None, "saved_models/README.md lost its <!-- entries --> lines"
    assert table == zoo.entries_table(os.path.join(REPO, "saved_models")), "run: mtlzoo publish --readme"


def test_the_readme_lists_every_known_entry_and_its_finetune_example():
    with open(os.path.join(REPO, "saved_models", "README.md"), encoding="utf-8") as f:
        text = f.read()
    for name, known in zoo.known(os.path.join(REPO, "saved_models")).items():
        assert f"| `{name}` |" in text and f"`{known.config}`" in text, name
        example = re.split(rf'zoo\.finetune\(\s*"{name}",', text, maxsplit=1)[1].split("zoo.finetune(", 1)[0]
        for task, spec in known.finetune["tasks"].items():
            assert f'"{task}": {{"kind": "{spec["kind"]}"' in example, (name, task)
        assert f'"freeze": "{known.finetune["finetune"]["freeze"]}"' in example, name
