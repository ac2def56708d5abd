"""Saving and loading ``.keras`` models, atomically and in safe mode."""

import json
import os
import zipfile

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import atomic_path, is_remote, isfile, local_copy, makedirs


def save_model(model, path):
    """Saves ``model`` to ``path`` (``.keras``) via a temporary file and an atomic rename."""
    if not path.endswith(".keras"):
        raise ValueError(f"model path must end in .keras, got {path}")
    makedirs(path.rsplit("/", 1)[0] if is_remote(path) else os.path.dirname(os.path.abspath(path)))
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    return path


def load_model(path, compile=False):
    """Loads a ``.keras`` multi-task model with ``safe_mode=True``.

    Registers mtlzoo's layers first and imports keras-hub only when the archive
    uses its layers (e.g. the bert encoder).

    Raises:
        ConfigError: the file is missing or not a valid ``.keras`` archive.
    """
    import keras

    import mtlzoo.layers  # noqa: F401  (registers custom layers)

    if is_remote(path):  # gs://, ram://: read from a local copy (zipfile needs a seekable local file)
        if not isfile(path):
            raise ConfigError(None, f"model file {path} does not exist")
        with local_copy(path, ".keras") as local:
            return load_model(local, compile)
    if not os.path.isfile(path):
        raise ConfigError(None, f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            cfg = json.loads(zf.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise ConfigError(None, f"{path} is not a valid .keras file ({e})") from e
    if "keras_hub" in json.dumps(cfg):
        import keras_hub  # noqa: F401  (registers keras-hub layers)
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as e:
        raise ConfigError(None, f"{path} could not be loaded as a model ({type(e).__name__}: {e})") from e
