"""Local pretrained checkpoints: which layout a directory has, its weights and its WordPiece vocabulary.

Two layouts are read, both offline:

* keras-hub preset (``backbone.save_to_preset(DIR)`` / ``tokenizer.save_to_preset(DIR)``):
  ``config.json`` (with ``registered_name``), ``model.weights.h5`` (or a sharded
  ``model.weights.json``), ``tokenizer.json`` and ``assets/tokenizer/vocabulary.txt``;
* Hugging Face transformers (what ``save_pretrained`` writes and the Hub serves):
  ``config.json`` (with ``model_type``), ``model.safetensors`` (or a sharded
  ``model.safetensors.index.json``), ``vocab.txt`` and ``tokenizer_config.json``
  (``do_lower_case``). keras-hub converts it on load (it needs the ``safetensors`` package).

A preset *name* (``bert_base_en_uncased``, ``hf://...``, ``kaggle://...``) would need the
network; :func:`check_local_checkpoint` refuses it with one line saying how to get a
local directory instead. Pure Python: nothing heavy is imported.

A checkpoint directory may be named portably (:func:`resolve_checkpoint`), so that a config
written on one machine finds the checkpoint on another: ``$MTLZOO_BERT_CHECKPOINT`` (the
variable holds the directory) or ``$MTLZOO_DATA_DIR/<path>`` (a path under the data
directory); ``${NAME}`` works too. An unset variable is one ConfigError naming it. (A zoo
entry needs neither: publishing copies the vocabulary into the entry and replaces the
checkpoint by its architecture, the weights being in ``model.keras``.)

Example:
    >>> vocab, lowercase = checkpoint_vocab("/data/bert/all-MiniLM-L6-v2")
    >>> # ('/data/bert/all-MiniLM-L6-v2/vocab.txt', True)
"""

import json
import os
import re

from mtlzoo.errors import ConfigError

CHECKPOINT_ENV = "MTLZOO_BERT_CHECKPOINT"
DATA_DIR_ENV = "MTLZOO_DATA_DIR"
PORTABLE_VARIABLES = (CHECKPOINT_ENV, DATA_DIR_ENV)
_VARIABLE = re.compile(r"^\$(?:\{(\w+)\}|(\w+))(?=/|$)")

KERAS_HUB_WEIGHTS = ("model.weights.h5", "model.weights.json")
TRANSFORMERS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
KERAS_HUB_VOCAB = os.path.join("assets", "tokenizer", "vocabulary.txt")
TRANSFORMERS_VOCAB = "vocab.txt"


def resolve_checkpoint(value, field="model.encoder.preset"):
    """The local directory a checkpoint reference names.

    ``$MTLZOO_BERT_CHECKPOINT`` / ``${MTLZOO_BERT_CHECKPOINT}`` (optionally followed by
    ``/<path>``) -> that variable's value; ``$MTLZOO_DATA_DIR/<path>`` -> the data directory
    joined with ``<path>``; anything else is returned as given. A reference to a variable
    that is not set, or to another variable, is one ConfigError naming the variable.
    """
    m = _VARIABLE.match(value) if isinstance(value, str) else None
    if not m:
        return value
    name = m.group(1) or m.group(2)
    if name not in PORTABLE_VARIABLES:
        raise ConfigError(
            field, f"{value!r}: ${name} is not a checkpoint variable (use ${CHECKPOINT_ENV} or ${DATA_DIR_ENV}/<path>)"
        )
    base = os.environ.get(name)
    if not base:
        raise ConfigError(
            field,
            f"{value!r} needs the environment variable {name}, which is not set: set {name} to "
            + (
                "the checkpoint directory" if name == CHECKPOINT_ENV else "the data directory that holds the checkpoint"
            ),
        )
    rest = value[m.end() :].lstrip("/")
    return os.path.join(base, rest) if rest else base


def _read_json(path, field):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(field, f"cannot read {path}: {e}") from e


def checkpoint_format(directory, field="model.encoder.preset"):
    """``"keras_hub"`` or ``"transformers"`` for a checkpoint directory; ConfigError otherwise."""
    config = os.path.join(directory, "config.json")
    if not os.path.isfile(config):
        raise ConfigError(field, f"checkpoint directory {directory} has no config.json")
    c = _read_json(config, field)
    if isinstance(c, dict) and "model_type" in c:
        return "transformers"
    if isinstance(c, dict) and ("registered_name" in c or "class_name" in c):
        return "keras_hub"
    raise ConfigError(
        field,
        f"{config} is neither a keras-hub preset config (registered_name) nor a transformers config (model_type)",
    )


def check_local_checkpoint(preset, field="model.encoder.preset"):
    """Checks that ``preset`` is a local checkpoint directory with weights; returns its format.

    Raises ConfigError (no network call) for a preset name or URL, a path that does not
    exist, or a directory without ``config.json`` or weights. ``preset`` may be a portable
    reference (:func:`resolve_checkpoint`).
    """
    given, preset = preset, resolve_checkpoint(preset, field)
    if not os.path.isdir(preset):
        if "://" in preset or not (os.sep in preset or preset.startswith((".", "~"))):
            raise ConfigError(
                field,
                f"{preset!r} is a preset name that needs the network to download; mtlzoo reads only local "
                "checkpoints: download it once (e.g. keras_hub.models.BertBackbone.from_preset(name)"
                ".save_to_preset(DIR), or a Hugging Face snapshot with config.json, model.safetensors "
                "and vocab.txt) and set preset to that directory",
            )
        shown = preset if given == preset else f"{preset} ({given})"
        raise ConfigError(field, f"checkpoint directory {shown} does not exist")
    fmt = checkpoint_format(preset, field)
    names = TRANSFORMERS_WEIGHTS if fmt == "transformers" else KERAS_HUB_WEIGHTS
    if not any(os.path.isfile(os.path.join(preset, n)) for n in names):
        raise ConfigError(field, f"checkpoint directory {preset} has no weights file ({' or '.join(names)})")
    return fmt


def checkpoint_vocab(directory, field="data.checkpoint"):
    """``(vocabulary file, lowercase)`` of a checkpoint's WordPiece tokenizer.

    transformers layout: ``vocab.txt`` and ``do_lower_case`` from ``tokenizer_config.json``
    (default True, as in transformers' ``BertTokenizer``); keras-hub layout:
    ``assets/tokenizer/vocabulary.txt`` and ``lowercase`` from ``tokenizer.json``
    (default True). ConfigError naming the directory and the missing file. ``directory``
    may be a portable reference (:func:`resolve_checkpoint`).
    """
    directory = resolve_checkpoint(directory, field)
    if not os.path.isdir(directory):
        raise ConfigError(field, f"checkpoint directory {directory} does not exist")
    fmt = checkpoint_format(directory, field)
    if fmt == "transformers":
        vocab = os.path.join(directory, TRANSFORMERS_VOCAB)
        cfg_path = os.path.join(directory, "tokenizer_config.json")
        cfg = _read_json(cfg_path, field) if os.path.isfile(cfg_path) else {}
        lowercase = cfg.get("do_lower_case", True)
    else:
        vocab = os.path.join(directory, KERAS_HUB_VOCAB)
        cfg_path = os.path.join(directory, "tokenizer.json")
        cfg = _read_json(cfg_path, field) if os.path.isfile(cfg_path) else {}
        lowercase = (cfg.get("config") or {}).get("lowercase", True)
    if not os.path.isfile(vocab):
        raise ConfigError(
            field, f"checkpoint directory {directory} has no vocabulary file {os.path.relpath(vocab, directory)}"
        )
    return vocab, bool(lowercase)
