"""A run's folder: the files a training workdir (or a zoo entry, which has the same layout) holds,
and loading its model back.

    <workdir>/
        config.json                       the resolved config (:func:`mtlzoo.config.write_config`)
        vocabularies.json                 ``files`` source: the vocabularies built from the training
                                          files (:func:`save_run_data`); reused on every reload
        vocab.txt, tokenizer.json         ``files`` source with one whitespace text input ``tokens``:
                                          its vocabulary and the tokenizer ``export`` puts in-graph;
                                          vocab.txt alone: a source's built token vocabulary
                                          (``info["vocab"]``, e.g. ``sentiment``), the rows of
                                          ``model.encoder.embedding_pretrained``
        model.keras                       the final model
        checkpoints/epoch_NNN.weights.h5  per-epoch weights

Example:
    >>> from mtlzoo.workdir import load_workdir
    >>> model, config, source = load_workdir("/tmp/mtlzoo_quickstart", checkpoint=2)
    >>> source
    '/tmp/mtlzoo_quickstart/checkpoints/epoch_002.weights.h5'
"""

import json
import os
import re

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import exists, glob, is_remote, isdir, isfile, local_copy, open_file

CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
CHECKPOINTS_DIR = "checkpoints"
VOCABULARIES_FILE = "vocabularies.json"
VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
PYTHON_DATASETS = (
    "this run trained on tf.data.Datasets passed in Python (data.source 'datasets'), which the workdir cannot hold"
)


def _no_constants(name):
    raise ValueError(f"the non-finite number {name}")


def read_config(workdir, validate=True):
    """Reads ``<workdir>/config.json`` back as a ConfigDict, checked: a file that is truncated,
    not UTF-8, not a JSON object, holds NaN/Infinity, or fails validation (e.g. a field of the
    wrong type) raises one :class:`ConfigError` naming the file. ``validate``: True (the whole
    run config, :func:`mtlzoo.config.resolve_config`), ``"model"`` (only the tasks and the
    model, what loading and exporting need: :func:`mtlzoo.models.builder.resolve_model_config`)
    or False. The config returned is the file's, as written, except that a relative
    ``data.vocab_file`` naming a file of the folder (a zoo entry's own ``vocab.txt``, see
    :func:`mtlzoo.zoo.publish`) becomes that file's path (:func:`folder_paths`), and, when
    validated, the encoder's initialisation-only fields (a word-vector file) are None
    (:func:`without_init_only`): a run folder loads wherever it is copied.
    """
    import ml_collections

    path = os.path.join(workdir, CONFIG_FILE)
    if not isfile(path):
        raise ConfigError(None, f"{path} does not exist: is {workdir} a training workdir?")
    try:
        with open_file(path) as f:
            raw = json.load(f, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise ConfigError(
            None, f"{path} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}): truncated or corrupt?"
        ) from e
    except (ValueError, RecursionError, OSError) as e:  # UnicodeDecodeError is a ValueError
        raise ConfigError(None, f"{path} cannot be read: {_first_line(e)}") from e
    if not isinstance(raw, dict):
        raise ConfigError(None, f"{path} must hold a JSON object (the run's config), got {type(raw).__name__}")
    for key in ("tasks", "model", "data", "train"):
        if key in raw and not isinstance(raw[key], dict):
            raise ConfigError(None, f"{path}: {key} must be a JSON object, got {type(raw[key]).__name__}")
    for name, task in raw.get("tasks", {}).items():
        if not isinstance(task, dict):
            raise ConfigError(None, f"{path}: tasks.{name} must be a JSON object, got {type(task).__name__}")
    raw = folder_paths(raw, workdir)
    if not validate:
        return ml_collections.ConfigDict(raw)
    raw = without_init_only(raw)
    if validate == "model":
        from mtlzoo.models.builder import resolve_model_config as check
    else:
        from mtlzoo.config import resolve_config as check
    try:
        check(raw)
    except ConfigError as e:
        raise ConfigError(None, f"{path}: {e}") from e
    except Exception as e:  # a value of a type validation did not expect
        raise ConfigError(None, f"{path}: invalid config ({type(e).__name__}: {_first_line(e)})") from e
    return ml_collections.ConfigDict(raw)


def without_init_only(raw):
    """``raw`` (a config dict) with each ``model.encoder`` field marked ``init_only`` in its
    schema (:data:`mtlzoo.options.ENCODERS`: ``embedding_pretrained``, ``embedding_vocab_file``)
    set to None. Those fields only initialise the embedding before training; a trained run's
    ``model.keras`` and checkpoints hold the result, so reloading it must not need the
    word-vector file (which may be absent where the run was copied to, and costs a read)."""
    from mtlzoo.options import ENCODERS

    model = raw.get("model")
    encoder = model.get("encoder") if isinstance(model, dict) else None
    name = encoder.get("name") if isinstance(encoder, dict) else None
    schema = ENCODERS.get(name) if isinstance(name, str) else None
    if not isinstance(schema, dict):
        return raw
    drop = [k for k, f in schema.items() if f.init_only and encoder.get(k) is not None]
    if not drop:
        return raw
    return {**raw, "model": {**model, "encoder": {**encoder, **dict.fromkeys(drop)}}}


FOLDER_PATHS = (("data", "vocab_file"),)  # config fields that may name a file of the run folder


def folder_paths(raw, workdir):
    """``raw`` (a config dict) with each relative path of :data:`FOLDER_PATHS` that names a file
    inside ``workdir`` replaced by that file's path; other values (absolute paths, files of the
    working directory) unchanged. This is how a zoo entry refers to its own files, wherever it lies."""
    out = dict(raw)
    for section, key in FOLDER_PATHS:
        part = out.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if not isinstance(value, str) or not value or os.path.isabs(value) or "://" in value:
            continue
        inside = os.path.join(workdir, value)
        if isfile(inside):
            out[section] = {**part, key: inside if is_remote(inside) else os.path.abspath(inside)}
    return out


def _first_line(e):
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def checkpoint_file(workdir, epoch):
    """The path of epoch ``epoch``'s weights: ``<workdir>/checkpoints/epoch_NNN.weights.h5``."""
    return os.path.join(workdir, CHECKPOINTS_DIR, f"epoch_{int(epoch):03d}.weights.h5")


def checkpoint_path(workdir, checkpoint):
    """The file that ``checkpoint`` names in ``workdir``: an epoch number (``3`` or ``"3"`` ->
    ``checkpoints/epoch_003.weights.h5``), or a path (as is, else relative to ``checkpoints/``,
    else to the workdir).

    Raises:
        ConfigError: no such file; the message lists the workdir's checkpoints.
    """
    ckpt = str(checkpoint)
    if re.fullmatch(r"\d+", ckpt):
        candidate = checkpoint_file(workdir, ckpt)
    elif exists(ckpt):
        candidate = ckpt
    elif exists(os.path.join(workdir, CHECKPOINTS_DIR, ckpt)):
        candidate = os.path.join(workdir, CHECKPOINTS_DIR, ckpt)
    else:
        candidate = os.path.join(workdir, ckpt)
    if not isfile(candidate):
        found = sorted(os.path.basename(p) for p in glob(os.path.join(workdir, CHECKPOINTS_DIR, "*.weights.h5")))
        raise ConfigError(
            None,
            f"--checkpoint: {candidate} does not exist; {workdir}/{CHECKPOINTS_DIR} has "
            f"{', '.join(found) if found else 'no checkpoints'}",
        )
    return candidate


def model_source(workdir, checkpoint=None):
    """The model file :func:`load_workdir` reads: ``checkpoint`` (see :func:`checkpoint_path`),
    else ``model.keras``, else the last ``checkpoints/epoch_*.weights.h5``."""
    if checkpoint is not None:
        return checkpoint_path(workdir, checkpoint)
    source = os.path.join(workdir, MODEL_FILE)
    if isfile(source):
        return source
    found = sorted(glob(os.path.join(workdir, CHECKPOINTS_DIR, "epoch_*.weights.h5")))
    if not found:
        raise ConfigError(
            None, f"--workdir: {workdir} has no {MODEL_FILE} and no {CHECKPOINTS_DIR}/: did training run?"
        )
    return found[-1]


def load_workdir(workdir, checkpoint=None):
    """Loads the model of a training workdir or zoo entry; returns ``(model, config, source path)``.

    Args:
        workdir: directory with ``config.json`` and ``model.keras`` and/or
            ``checkpoints/epoch_NNN.weights.h5``.
        checkpoint: None (``model.keras``, else the last checkpoint), an epoch number
            (``3`` -> ``checkpoints/epoch_003.weights.h5``), or a path to a
            ``.weights.h5`` / ``.keras`` file (absolute, or relative to the workdir or
            its ``checkpoints/``). Weights files are loaded into ``build_model(config)``.

    Raises:
        ConfigError: missing workdir / config / model, or a file that does not load.
    """
    if not isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    config = read_config(workdir, validate="model")
    source = model_source(workdir, checkpoint)
    if source.endswith(".keras"):
        from mtlzoo.models import load_model  # Keras is imported only once the paths are known to be good

        return load_model(source), config, source
    if not source.endswith(".weights.h5"):
        raise ConfigError(None, f"--checkpoint: {source} is neither a .keras nor a .weights.h5 file")
    from mtlzoo.models import build_model

    model = build_model(config, vocab=saved_vocab(workdir))
    try:
        with local_copy(source) as local:  # h5py reads local files
            model.load_weights(local)
    except Exception as e:
        raise ConfigError(
            None, f"--checkpoint: {source} could not be loaded into the workdir's model ({type(e).__name__}: {e})"
        ) from e
    return model, config, source


def read_vocabularies(workdir):
    """The vocabularies a ``files`` run saved (``{input name: [value by index]}``), or None."""
    import json

    path = os.path.join(workdir, VOCABULARIES_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(None, f"--workdir: {path} is not readable JSON ({e})") from None


def load_run_data(config, tasks, workdir=None, needs=None):
    """The data of a run: :func:`mtlzoo.data.load_data` with the vocabularies saved in ``workdir``
    (so token and category ids are those the model trained with, even if the files changed).

    ``needs``: what the caller wants instead when the run's source was ``datasets`` (tf.data
    objects handed to ``mtlzoo.train`` in Python, not recorded in the workdir); a ConfigError."""
    from mtlzoo.data import load_data

    if config.data.source == "datasets" and needs:  # (without needs: the source's own message)
        raise ConfigError("data.source", f"{PYTHON_DATASETS}: {needs or 'pass the datasets again in Python'}")
    saved = read_vocabularies(workdir) if workdir and config.data.source == "files" else None
    return load_data(config, tasks, vocabularies=saved)


def run_vocab(data):
    """The token vocabulary (list, id = position) a data source built for a run, or None:
    ``info["vocab"]`` (e.g. ``sentiment``), else the ``files`` source's ``tokens`` vocabulary."""
    info = getattr(data, "info", None) or {}
    vocab = info.get("vocab") or (info.get("vocabularies") or {}).get("tokens")
    return list(vocab) if vocab else None


def saved_vocab(workdir):
    """The token vocabulary a run saved as ``<workdir>/vocab.txt`` (line = id), or None."""
    path = os.path.join(workdir, VOCAB_FILE)
    if not isfile(path):
        return None
    with open_file(path) as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def save_run_data(workdir, config, data):
    """Writes what a ``files`` run needs to be reloaded the same way: ``vocabularies.json`` (the
    built vocabularies), and for a single whitespace text input named ``tokens`` its ``vocab.txt``
    and ``tokenizer.json`` (the in-graph ``vocab`` tokenizer of
    :mod:`mtlzoo.export.tokenizers`, so ``export`` gives raw-string signatures)."""
    from mtlzoo import fileio

    if config.data.source != "files":
        vocab = (getattr(data, "info", None) or {}).get("vocab")
        if vocab and all(isinstance(w, str) and w and "\n" not in w and "\r" not in w for w in vocab):
            fileio.write_text("".join(f"{w}\n" for w in vocab), os.path.join(workdir, VOCAB_FILE))
        return
    vocabularies = (getattr(data, "info", None) or {}).get("vocabularies") or {}
    fileio.write_json(vocabularies, os.path.join(workdir, VOCABULARIES_FILE))
    features = dict(config.data.features)
    spec = features.get("tokens")
    if set(features) != {"tokens"} or not hasattr(spec, "items") or spec.get("kind") != "text":
        return
    tok = dict(spec.get("tokenizer") or {"name": "whitespace"})
    if tok.get("name", "whitespace") != "whitespace" or "tokens" not in vocabularies:
        return
    fileio.write_text("".join(f"{w}\n" for w in vocabularies["tokens"]), os.path.join(workdir, VOCAB_FILE))
    fileio.write_json(
        {
            "name": "vocab",
            "vocab_file": VOCAB_FILE,
            "lowercase": bool(tok.get("lowercase", True)),
            "oov_token": "[UNK]",
        },
        os.path.join(workdir, TOKENIZER_FILE),
    )
