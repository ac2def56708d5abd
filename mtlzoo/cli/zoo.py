"""List the zoo's pretrained entries or show one entry's card facts.

    mtlzoo zoo list [--root=DIR]
    mtlzoo zoo info NAME [--root=DIR]

The zoo is a folder of entries (``saved_models/`` in a checkout); ``--root`` names another one.
"""

from mtlzoo.cli._common import fail, run  # noqa: I001  (quiets TF logging first)

from absl import flags

_ROOT = flags.DEFINE_string("root", None, "Zoo folder (default: the zoo's own default, saved_models/ in a checkout).")

USES_TENSORFLOW = False  # listing and card facts read files only (mtlzoo.cli._common.run imports no TensorFlow)

USAGE = "usage: mtlzoo zoo list | mtlzoo zoo info NAME  [--root=DIR]"


def main(argv):
    from mtlzoo import zoo

    args = argv[1:]
    if args[:1] == ["list"] and len(args) == 1:
        names = zoo.list(_ROOT.value)
        if not names:
            print(f"no entries in {zoo.root_dir(_ROOT.value)}")
        width = max(map(len, names), default=0)
        for name in names:
            description = zoo.info(name, _ROOT.value)["description"] or ""
            print(f"{name:<{width}}  {description.splitlines()[0] if description else ''}".rstrip())
    elif args[:1] == ["info"] and len(args) == 2:
        print(zoo.format_info(zoo.info(args[1], _ROOT.value)))
    else:
        fail(f"expected 'list' or 'info NAME', got {' '.join(args) or 'nothing'!r} ({USAGE})")


if __name__ == "__main__":
    run(main)
