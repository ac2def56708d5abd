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

Example:
    >>> vocab, lowercase = checkpoint_vocab("/data/bert/all-MiniLM-L6-v2")
    >>> # ('/data/bert/all-MiniLM-L6-v2/vocab.txt', True)
"""

import json
import os

from mtlzoo.errors import ConfigError

KERAS_HUB_WEIGHTS = ("model.weights.h5", "model.weights.json")
TRANSFORMERS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
KERAS_HUB_VOCAB = os.path.join("assets", "tokenizer", "vocabulary.txt")
TRANSFORMERS_VOCAB = "vocab.txt"


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
    exist, or a directory without ``config.json`` or weights.
    """
    if not os.path.isdir(preset):
        if "://" in preset or not (os.sep in preset or preset.startswith((".", "~"))):
            raise ConfigError(
                field,
                f"{preset!r} is a preset name that needs the network to download; mtlzoo reads only local "
                "checkpoints: download it once (e.g. keras_hub.models.BertBackbone.from_preset(name)"
                ".save_to_preset(DIR), or a Hugging Face snapshot with config.json, model.safetensors "
                "and vocab.txt) and set preset to that directory",
            )
        raise ConfigError(field, f"checkpoint directory {preset} does not exist")
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
    (default True). ConfigError naming the directory and the missing file.
    """
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
