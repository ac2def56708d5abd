"""The packaged experiment configs: one Python file per experiment with ``get_config()``
(big_vision style), shipped inside the wheel and addressable by name or by path.

    mtlzoo train --config=quickstart --workdir=/tmp/run
    mtlzoo train --config=sentiment:lstm,align --workdir=/tmp/run    # get_config("lstm,align")
    python tools/train.py --config=configs/quickstart.py --workdir=/tmp/run   # a path, as before

In a checkout ``configs/`` is a link to this folder. A config that derives from another
imports it by package name (``from mtlzoo.configs import sentiment``), so it works from an
installed wheel as well as from the checkout.
"""

import os

from mtlzoo.errors import ConfigError

DIRECTORY = os.path.dirname(os.path.abspath(__file__))


def names():
    """The names of the packaged configs, sorted (``quickstart``, ``sentiment``, ...)."""
    return sorted(f[:-3] for f in os.listdir(DIRECTORY) if f.endswith(".py") and not f.startswith("_"))


def config_path(name_or_path):
    """The file behind a ``--config`` value, keeping any ``:argument`` suffix.

    ``name_or_path`` is ``PATH[:ARG]`` or ``NAME[:ARG]``. A path that exists wins; otherwise
    a packaged config's name (``quickstart``), file name (``quickstart.py``) or checkout path
    (``configs/quickstart.py``, for commands written for a checkout and run elsewhere)
    resolves to the packaged file. Anything else raises ConfigError naming the value and the
    packaged names.

    >>> config_path("sentiment:lstm,align").endswith(os.path.join("configs", "sentiment.py:lstm,align"))
    True
    """
    path, sep, arg = str(name_or_path).partition(":")
    if os.path.exists(path):
        return str(name_or_path)
    stem = path[len("configs/") :] if path.startswith("configs/") else path
    stem = stem[:-3] if stem.endswith(".py") else stem
    if stem in names():
        return os.path.join(DIRECTORY, f"{stem}.py") + sep + arg
    raise ConfigError(
        None,
        f"config {path!r} is neither a file nor a packaged config; the packaged ones are {', '.join(names())}",
    )
