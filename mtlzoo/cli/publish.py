"""Publish a finished training workdir as a zoo entry in saved_models/<name>/.

    python tools/publish.py --workdir=/tmp/mtlzoo_quickstart --name=digits_mlp \
        --card=my_card.md --command="python tools/train.py --config=configs/quickstart.py ..."

Copies model.keras and config.json, evaluates the copy on the test split (metrics.json),
writes vocab.txt / tokenizer.json for text models and renders the card into README.md
(its lines <!-- scores --> and <!-- command --> become the measured score table and the
command); the entry appears at once, complete, or not at all. See saved_models/README.md.

    python tools/publish.py --list                 # the entries, published and known
    python tools/publish.py --readme               # rewrite saved_models/README.md's entries table
"""

from mtlzoo.cli._common import fail, run  # noqa: I001  (quiets TF logging first)
from absl import flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Finished training workdir (config.json and model.keras).")
_NAME = flags.DEFINE_string("name", None, "Entry name: letters, digits, '_', '.', '-' (the directory under the zoo).")
_CARD = flags.DEFINE_string(
    "card", None, "Model card template (markdown) with the lines <!-- scores --> and <!-- command -->."
)
_COMMAND = flags.DEFINE_string(
    "command",
    None,
    "The command that trained the model, written into the card. Default for the known entries "
    "(mtlzoo.zoo.KNOWN): python tools/train.py --config=<its config> --workdir=<--workdir>.",
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace an existing entry (swapped in once the new one is complete)."
)
_ZOO_DIR = flags.DEFINE_string("zoo_dir", None, "Zoo root (default: $MTLZOO_HOME, else a checkout's saved_models/).")
_LIST = flags.DEFINE_bool("list", False, "Print the published and known entries and exit.")
_README = flags.DEFINE_bool(
    "readme", False, "Rewrite the entries table of <zoo_dir>/README.md from the entries' metrics.json and exit."
)


def main(argv):
    del argv
    import os

    from mtlzoo import zoo

    if _LIST.value:
        for e in zoo.catalog(_ZOO_DIR.value):
            if e["published"]:
                print(zoo.format_info(zoo.info(e["name"], _ZOO_DIR.value)))
            else:
                print(f"{e['name']} (not published)\n  {e['description']}\n  build: {e['command']}")
        return
    if _README.value:
        path = zoo.update_readme(_ZOO_DIR.value)
        print(f"wrote the entries table of {path}")
        return
    missing = [f"--{f.name}" for f in (_WORKDIR, _NAME, _CARD) if f.value is None]
    if missing:
        fail(f"{', '.join(missing)} required (or --list / --readme)")
    zoo.publish(
        _WORKDIR.value,
        _NAME.value,
        _CARD.value,
        command=_COMMAND.value,
        root=_ZOO_DIR.value,
        overwrite=_OVERWRITE.value,
    )
    print(f"check it: python tools/evaluate.py --workdir={os.path.join(zoo.root_dir(_ZOO_DIR.value), _NAME.value)}")


if __name__ == "__main__":
    run(main)
