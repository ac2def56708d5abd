"""Writes a multi-task model as a TF Serving SavedModel, atomically.

Layout (what TF Serving's file-system poller expects)::

    export_dir/<model_name>/<version>/     version: a positive integer
        saved_model.pb  variables/  assets/        (assets: e.g. a tokenizer's vocabulary)
        assets.extra/tf_serving_warmup_requests    one PredictionLog per signature
        assets.extra/mtlzoo_export.json            tasks, signatures, their inputs and outputs
        assets.extra/example_request.json          a REST predict body to try (tools/predict.py, curl)

The version is written to a hidden directory beside the target
(``export_dir/<model_name>/.tmp-<version>-<random>``; TF Serving ignores names that
are not integers) and renamed into place when complete, so a server polling
``export_dir/<model_name>`` never loads a half-written version. An existing version
is replaced only with ``overwrite=True``.
"""

import json
import os
import re
import uuid

from mtlzoo import fileio
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import swap_into_place

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# Attribute names of the exported object that signature endpoints must not shadow.
_RESERVED = frozenset({"variables", "trainable_variables", "non_trainable_variables", "signatures"})
METADATA_FILE = "mtlzoo_export.json"


def versions(base):
    """Sorted integer versions present under ``export_dir/<model_name>``."""
    if not fileio.isdir(base):
        return []
    return sorted(int(d) for d in fileio.listdir(base) if d.isdigit() and fileio.isdir(os.path.join(base, d)))


def latest_version_dir(base):
    """The highest version directory under a model base directory, or None."""
    found = versions(base)
    return os.path.join(base, str(found[-1])) if found else None


def _check_target(export_dir, model_name, version, overwrite):
    if not isinstance(model_name, str) or not _NAME_RE.match(model_name):
        raise ConfigError(
            None, f"--model_name: {model_name!r} is not a valid model name (letters, digits, '_', '.', '-')"
        )
    base = os.path.join(export_dir, model_name)
    if version is None:
        version = (versions(base) or [0])[-1] + 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(None, f"--version: must be a positive integer, got {version!r}")
    target = os.path.join(base, str(version))
    if fileio.exists(target) and not overwrite:
        raise ConfigError(
            None, f"--version: {target} already exists; pass --overwrite to replace it or choose another --version"
        )
    return base, version, target


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else value.tolist()


def _write_example_requests(extra, examples, module):
    """``example_request.json`` (and ``example_text_request.json``): TF Serving REST bodies to try."""
    bodies = {"example_request.json": "serving_default"}
    if module.tokenizer is not None:
        bodies["example_text_request.json"] = "text"
    if module.pairs:
        bodies["example_text_pair_request.json"] = "text_pair"
    for fname, sig in bodies.items():
        inputs = examples[sig]
        n = len(next(iter(inputs.values())))
        instances = [{k: _jsonable(v[i]) for k, v in inputs.items()} for i in range(n)]
        with fileio.open_file(os.path.join(extra, fname), "w") as f:
            json.dump({"signature_name": sig, "instances": instances}, f)


def export_model(
    model,
    export_dir,
    model_name="model",
    version=None,
    tasks=None,
    tokenizer=None,
    overwrite=False,
    metadata=None,
    label_names=None,
    text_fields=None,
):
    """Exports ``model`` for TF Serving; returns the version directory.

    Args:
        model: a functional mtlzoo model (dict inputs, dict outputs keyed by task).
        export_dir: root that holds one directory per model name.
        model_name: TF Serving model name (the directory under ``export_dir``).
        version: positive integer; None takes the highest existing version + 1.
        tasks: list of TaskSpec (from the run config); None reads kinds from the model.
        tokenizer: a tokenizer or tokenizer config (``mtlzoo.export.tokenizers``);
            adds raw-string signatures.
        overwrite: replace an existing version directory.
        metadata: extra JSON-able facts recorded in ``assets.extra/mtlzoo_export.json``.
        label_names: ``{task: [name by class id]}``: binary, multiclass and tagging tasks
            also return ``label``, the name of their class id.
        text_fields: ``{task: (first, second or None)}``: a task gets the raw-text
            signature that fits it (``<task>_text`` or ``<task>_text_pair``).

    Signatures: see :mod:`mtlzoo.export.signatures`.

    Raises:
        ConfigError: bad name or version, an existing version without ``overwrite``,
            a tokenizer that does not fit the model. Nothing is left behind on failure.

    Example:
        >>> export_model(model, "/tmp/serving", "digits", version=1)
        '/tmp/serving/digits/1'
    """
    import keras

    from mtlzoo.export.signatures import ServingModule
    from mtlzoo.export.tokenizers import make_tokenizer
    from mtlzoo.export.warmup import WARMUP_FILE, example_inputs, write_warmup

    base, version, target = _check_target(export_dir, model_name, version, overwrite)
    if tokenizer is not None and isinstance(tokenizer, dict):
        tokenizer = make_tokenizer(tokenizer)
    module = ServingModule(model, tasks, tokenizer, label_names=label_names, text_fields=text_fields)
    clash = sorted(set(module.signature_names()) & _RESERVED)
    if clash:
        raise ConfigError("tasks", f"task name {clash[0]!r} clashes with an attribute of the exported model")

    fileio.makedirs(base)  # local or a tf.io.gfile URL: SavedModel and TFRecord writers take both
    tmp = os.path.join(base, f".tmp-{version}-{uuid.uuid4().hex[:8]}")
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for resource in module.resources:
            archive.track(resource)
        for name, (fn, specs) in module.signatures().items():
            archive.add_endpoint(name, fn, specs)
        archive.write_out(tmp, verbose=False)
        extra = os.path.join(tmp, "assets.extra")
        fileio.makedirs(extra)
        examples = example_inputs(module)
        write_warmup(os.path.join(extra, WARMUP_FILE), model_name, examples)
        _write_example_requests(extra, examples, module)
        meta = {
            "model_name": model_name,
            "version": version,
            **module.describe(),
            "tokenizer": tokenizer.to_config() if tokenizer is not None else None,
            **(metadata or {}),
        }
        with fileio.open_file(os.path.join(extra, METADATA_FILE), "w") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
        swap_into_place(tmp, target)  # overwrite=True: the old version is moved aside, then removed
    except BaseException:
        fileio.rmtree(tmp)
        raise
    return target


def export_workdir(
    workdir, export_dir, version=None, model_name=None, overwrite=False, checkpoint=None, tokenizer=None
):
    """Exports a training workdir (or a ``saved_models/<name>`` entry) for TF Serving.

    Reads ``config.json`` for the task kinds and ``model.keras`` (or ``checkpoint``,
    see :func:`mtlzoo.workdir.load_workdir`). A tokenizer is taken from ``tokenizer``
    (a config mapping), else from ``<workdir>/tokenizer.json`` when present, else, for a
    BERT run on GLUE's files (data source ``glue_files``), the ``wordpiece`` tokenizer of
    the run's own vocabulary, lower-casing and ``max_length`` (:func:`run_text_setup`), which
    also gives the label names and each task's text fields (pair tasks get pair signatures).
    A tagging run's tag names (its data's ``tag_vocab``) become ``label`` outputs too.
    ``model_name`` defaults to the workdir's base name.
    """
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import load_workdir

    if not fileio.isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    model_name = model_name or re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(os.path.normpath(workdir)))
    _check_target(export_dir, model_name, version, overwrite)  # fail before loading anything
    model, config, source = load_workdir(workdir, checkpoint)
    if tokenizer is None and fileio.isfile(os.path.join(workdir, "tokenizer.json")):
        with fileio.open_file(os.path.join(workdir, "tokenizer.json")) as f:
            tokenizer = json.load(f)
        if "vocab_file" in tokenizer and not os.path.isabs(tokenizer["vocab_file"]):
            tokenizer["vocab_file"] = os.path.join(workdir, tokenizer["vocab_file"])
    run_tokenizer, label_names, text_fields = run_text_setup(config)
    if tokenizer is None:
        tokenizer = run_tokenizer
    tasks = tasks_from_config(config.tasks)
    if label_names is None and any(t.kind == "tagging" for t in tasks):
        label_names = tag_names(config, tasks)
    return export_model(
        model,
        export_dir,
        model_name,
        version=version,
        tasks=tasks,
        tokenizer=tokenizer,
        overwrite=overwrite,
        metadata={"source": os.path.abspath(source)},
        label_names=label_names,
        text_fields=text_fields,
    )


def tag_names(config, tasks):
    """``{task: tag names by id}`` of a tagging run (its data's ``info["tag_vocab"]``), or None
    when the run's data cannot be read here (the export then returns tag ids only)."""
    from mtlzoo.data import load_data

    if not config.get("data"):
        return None
    try:
        return load_data(config, tasks).info.get("tag_vocab")
    except ConfigError:
        return None


def run_text_setup(config):
    """``(tokenizer config or None, label names or None, text fields or None)`` a run's config implies.

    For data source ``glue_files``: the ``wordpiece`` tokenizer over the vocabulary and
    lower-casing the data pipeline used (``data.vocab_file`` / ``data.lowercase``, else the
    checkpoint's, :func:`mtlzoo.data.glue_files.tokenizer_files`) cut at ``data.max_length``,
    so raw text is packed exactly as in training; GLUE's label names and text fields by task.
    Other sources: ``(None, None, None)``.
    """
    data = config.get("data")  # a model-only workdir (e.g. a published .keras) has no data section
    if not data or data.get("source") != "glue_files":
        return None, None, None
    from mtlzoo.data.glue_files import LAYOUTS, tokenizer_files

    vocab, lower = tokenizer_files(dict(data))
    tokenizer = {"name": "wordpiece", "vocab_file": vocab, "lowercase": bool(lower), "max_length": data.max_length}
    tasks = [t for t in config.tasks if t in LAYOUTS]
    return (
        tokenizer,
        {t: LAYOUTS[t].names for t in tasks if LAYOUTS[t].names},
        {t: LAYOUTS[t].field_names for t in tasks},
    )
