"""The zoo's catalogue: where the entries live and what each one is, read from the entries themselves.

An entry is one folder of the zoo root with the layout of a training workdir::

    <root>/<name>/
        model.keras     the trained model
        config.json     its resolved config (tasks, data, model, train)
        metrics.json    its test-split scores (``mtlzoo.evaluation.evaluate``)
        README.md       model card: data, intended use, scores, the command that trained it
        card.md         the card's template (``<!-- scores -->`` / ``<!-- command -->`` lines)
        entry.json      for the entries the project ships: how to rebuild it (below)
        vocab.txt       text models: the vocabulary (line number = token id)
        tokenizer.json  text models: the in-graph tokenizer ``export`` uses for raw strings

An entry is *published* when it has a ``model.keras``; it is *known* when it has an
``entry.json``: ``{"description", "config": the packaged config's name (e.g.
"sentiment:lstm,align"), "data": what it needs under $MTLZOO_DATA_DIR or null,
"finetune": a small fine-tuning config}``. A known entry that is not published (only
``entry.json`` and ``card.md``) is reported with the commands that build it. Nothing
here refers to a checkout's layout: every fact of an entry is inside its folder.

The root is, in order: the ``root=`` argument; ``$MTLZOO_HOME`` (``$MTLZOO_ZOO_DIR``, its
older name, is read too); the ``saved_models/`` folder of the source checkout mtlzoo runs
from. An installed wheel has no such folder, so it needs ``MTLZOO_HOME``.

Example:
    >>> from mtlzoo import zoo
    >>> zoo.list()
    ['conll2000_tagger_pos_chunk', 'sentiment6_lstm_align', 'yeast_mlp_svd']
    >>> zoo.known()["yeast_mlp_svd"].config
    'yeast_mlp_svd'
"""

import json
import os
import re
from collections.abc import Mapping

from mtlzoo.errors import ConfigError
from mtlzoo.schema import Field, check_fields

HOME_ENV = "MTLZOO_HOME"
LEGACY_HOME_ENV = "MTLZOO_ZOO_DIR"
ENTRY_FILES = ("model.keras", "config.json", "metrics.json", "README.md")
ENTRY_JSON = "entry.json"
CARD_TEMPLATE = "card.md"
VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"


def checkout_root():
    """The ``saved_models/`` folder beside the ``mtlzoo`` package when it runs from a source
    checkout, else None (an installed wheel)."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidate = os.path.join(package_parent, "saved_models")
    return candidate if os.path.isdir(candidate) else None


DEFAULT_ROOT = checkout_root()


def root_dir(root=None):
    """The zoo root: ``root``, else ``$MTLZOO_HOME`` (or ``$MTLZOO_ZOO_DIR``), else the checkout's
    ``saved_models/``; ConfigError when there is none."""
    found = root or os.environ.get(HOME_ENV) or os.environ.get(LEGACY_HOME_ENV) or checkout_root()
    if not found:
        raise ConfigError(
            None,
            f"no zoo root found: set {HOME_ENV} to a folder of zoo entries (such as a checkout's "
            "saved_models/) or pass root=",
        )
    return found


def _existing_root(root):
    found = root_dir(root)
    if not os.path.isdir(found):
        origin = "root=" if root else (f"${HOME_ENV}" if os.environ.get(HOME_ENV) else f"${LEGACY_HOME_ENV}")
        raise ConfigError(
            None, f"the zoo root {found} ({origin}) is not a directory; set {HOME_ENV} to a folder of zoo entries"
        )
    return found


class Known:
    """An entry the project ships: what it is, the packaged config that trains it and the card
    template its ``README.md`` is rendered from (read from the entry's ``entry.json``).

    ``data`` names the data directory (or file) the entry needs, relative to
    ``$MTLZOO_DATA_DIR`` (None: the data ships inside a Python package). ``finetune`` is a
    small fine-tuning config for the entry (a new task or a subset of its tasks) that the
    entry's README and tests use.
    """

    SCHEMA = {
        "description": Field(type=str),
        "config": Field(type=str),
        "data": Field(None, str, optional=True),
        "finetune": Field(None, "dict", optional=True),
    }

    def __init__(self, description, config, card, data=None, finetune=None):
        self.description = description
        self.config = config
        self.card = card
        self.data = data
        self.finetune = finetune or {}

    @classmethod
    def read(cls, entry):
        """The ``Known`` of entry folder ``entry`` (its ``entry.json``; card: its ``card.md``)."""
        path = os.path.join(entry, ENTRY_JSON)
        try:
            with open(path, encoding="utf-8") as f:
                facts = json.load(f)
            facts = check_fields(facts, cls.SCHEMA, "entry")
        except (ValueError, ConfigError) as e:  # json.JSONDecodeError is a ValueError
            raise ConfigError(None, f"{path}: {e}") from e
        return cls(
            facts["description"], facts["config"], os.path.join(entry, CARD_TEMPLATE), facts["data"], facts["finetune"]
        )

    def train_command(self, workdir):
        """The shell command that trains the entry's model into ``workdir``."""
        return f"mtlzoo train --config={self.config} --workdir={workdir}"

    def command(self, name, workdir=None):
        """The shell commands that train and publish the entry."""
        workdir = workdir or f"/tmp/mtlzoo_zoo/{name}"
        return f"{self.train_command(workdir)} && mtlzoo publish --workdir={workdir} --name={name} --card={self.card}"

    def to_dict(self, name):
        return {
            "description": self.description,
            "config": self.config,
            "card": self.card,
            "data": self.data,
            "finetune": self.finetune,
            "command": self.command(name),
        }


def _entry_dirs(root):
    return sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))


def known(root=None):
    """``{name: Known}`` of the entries of the zoo root that have an ``entry.json``, published or not."""
    root = _existing_root(root)
    return {
        d: Known.read(os.path.join(root, d))
        for d in _entry_dirs(root)
        if os.path.isfile(os.path.join(root, d, ENTRY_JSON))
    }


class _KnownView(Mapping):
    """``KNOWN[name]``: :func:`known` of the default root, read at each access."""

    def __getitem__(self, name):
        return known()[name]

    def __iter__(self):
        return iter(known())

    def __len__(self):
        return len(known())

    def __repr__(self):
        return f"KNOWN({sorted(self)})"


KNOWN = _KnownView()


def list(root=None):  # noqa: A001  (the zoo's public verb)
    """Names of the zoo's published entries (folders holding a ``model.keras``), sorted.

    Raises:
        ConfigError: no zoo root was found (set ``$MTLZOO_HOME``), or it is not a directory.
    """
    root = _existing_root(root)
    return [d for d in _entry_dirs(root) if os.path.isfile(os.path.join(root, d, "model.keras"))]


def check_name(name, field="--name"):
    """ConfigError unless ``name`` is a valid entry name (letters, digits, ``_ . -``; 64 at most)."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(
            None,
            f"{field}: {name!r} is not a zoo entry name (letters, digits, '_', '.', '-'; starts with a letter "
            "or digit; 64 characters at most)",
        )
    return name


def path(name, root=None):
    """The folder of published entry ``name``; ConfigError listing the entries (or naming the
    commands that build a known entry) if there is none."""
    root = root_dir(root)
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        raise ConfigError(None, f"--pretrained: {name!r} is not a zoo entry name")
    entry = os.path.join(root, name)
    if not os.path.isfile(os.path.join(entry, "model.keras")):
        if os.path.isfile(os.path.join(entry, ENTRY_JSON)):
            raise ConfigError(
                None,
                f"--pretrained: zoo entry {name!r} is not published in {root}; build it with: "
                + Known.read(entry).command(name),
            )
        names = list(root)
        raise ConfigError(
            None,
            f"--pretrained: no zoo entry {name!r} in {root}; entries: {', '.join(names) if names else 'none'}",
        )
    return entry


def card_description(card):
    """The first paragraph of a model card after its title, as one line ('' if none)."""
    lines, started = [], False
    for line in (card or "").splitlines():
        text = line.strip()
        if not started:
            if not text or text.startswith("#") or text.startswith("<!--"):
                continue
            started = True
        if not text or text.startswith("#") or text.startswith("```") or text.startswith("|"):
            break
        lines.append(text)
    return " ".join(lines)


def info(name, root=None):
    """An entry's facts.

    Returns ``{"name", "path", "description", "tasks": {task: {"kind", "num_classes"}},
    "data": source name, "scores": {task: {metric: value}}, "average": {metric: value},
    "examples", "size_bytes", "vocab": path or None, "vocab_size": its lines or None,
    "tokenizer": the entry's ``tokenizer.json`` or None, "encoder": ``config.model.encoder``
    or None, "known": its entry.json facts or None, "config", "metrics", "card"}`` (missing
    parts are None). The description is the
    card's first paragraph, else ``entry.json``'s.
    """
    entry = path(name, root)

    def read(fname, parse):
        p = os.path.join(entry, fname)
        if not os.path.isfile(p):
            return None
        with open(p, encoding="utf-8") as f:
            return parse(f)

    config = read("config.json", json.load)
    metrics = read("metrics.json", json.load)
    tokenizer = read(TOKENIZER_FILE, json.load)
    vocab_size = read(VOCAB_FILE, lambda f: sum(1 for _ in f))
    card = read("README.md", lambda f: f.read())
    known_facts = Known.read(entry).to_dict(name) if os.path.isfile(os.path.join(entry, ENTRY_JSON)) else None
    tasks = None
    if config and config.get("tasks"):
        tasks = {t: {"kind": s.get("kind"), "num_classes": s.get("num_classes")} for t, s in config["tasks"].items()}
    size = sum(
        os.path.getsize(os.path.join(entry, f))
        for f in (*ENTRY_FILES, VOCAB_FILE, TOKENIZER_FILE)
        if os.path.isfile(os.path.join(entry, f))
    )
    return {
        "name": name,
        "path": entry,
        "description": card_description(card) or (known_facts or {}).get("description") or "",
        "tasks": tasks,
        "data": ((config or {}).get("data") or {}).get("source"),
        "scores": (metrics or {}).get("tasks"),
        "average": (metrics or {}).get("average"),
        "examples": (metrics or {}).get("examples"),
        "size_bytes": size,
        "vocab": os.path.join(entry, VOCAB_FILE) if os.path.isfile(os.path.join(entry, VOCAB_FILE)) else None,
        "vocab_size": vocab_size,
        "tokenizer": tokenizer,
        "encoder": ((config or {}).get("model") or {}).get("encoder"),
        "known": known_facts,
        "config": config,
        "metrics": metrics,
        "card": card,
    }


def catalog(root=None):
    """Every entry one can ask for: the published ones and the known ones not yet built.

    Returns a list of ``{"name", "description", "published", "command"}`` sorted by name;
    ``command`` trains and publishes a known entry (None for others).
    """
    published = set(list(root))
    recipes = known(root)
    out = []
    for name in sorted(published | set(recipes)):
        recipe = recipes.get(name)
        description = info(name, root)["description"] if name in published else recipe.description
        out.append(
            {
                "name": name,
                "description": description,
                "published": name in published,
                "command": recipe.command(name) if recipe else None,
            }
        )
    return out
