"""The model zoo: trained multi-task models in ``saved_models/<name>/``, and fine-tuning.

An entry has the layout of a training workdir (so every tool that takes a workdir
takes an entry too)::

    saved_models/<name>/
        model.keras     the trained model
        config.json     its resolved config (tasks, data, model, train)
        metrics.json    its scores
        README.md       model card: data, intended use, scores, the command that trained it

The root is ``$MTLZOO_ZOO_DIR`` if set, else the repository's ``saved_models/``;
every function also takes ``root=``.

Example:
    >>> from mtlzoo import zoo
    >>> zoo.list()
    ['conll2000_tagger_pos_chunk', ...]
    >>> model = zoo.load("conll2000_tagger_pos_chunk")
    >>> zoo.export("conll2000_tagger_pos_chunk", "/tmp/serving")
"""

import fnmatch
import glob
import json
import os
import re

from mtlzoo.config import Field, check_fields
from mtlzoo.errors import ConfigError
from mtlzoo.registry import Registry

DEFAULT_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
ENTRY_FILES = ("model.keras", "config.json", "metrics.json", "README.md")


def root_dir(root=None):
    """The zoo directory: ``root``, else ``$MTLZOO_ZOO_DIR``, else the repository's ``saved_models/``."""
    return root or os.environ.get("MTLZOO_ZOO_DIR") or DEFAULT_ROOT


def list(root=None):  # noqa: A001  (the zoo's public verb)
    """Names of the zoo's entries (directories holding a ``model.keras``), sorted."""
    root = root_dir(root)
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "model.keras")))


def path(name, root=None):
    """The directory of entry ``name``; ConfigError listing the entries if there is none."""
    root = root_dir(root)
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        raise ConfigError(None, f"--pretrained: {name!r} is not a zoo entry name")
    entry = os.path.join(root, name)
    if not os.path.isfile(os.path.join(entry, "model.keras")):
        names = list(root)
        raise ConfigError(
            None,
            f"--pretrained: no zoo entry {name!r} in {root}; entries: {', '.join(names) if names else 'none'}",
        )
    return entry


def info(name, root=None):
    """An entry's facts: ``{"name", "path", "config", "metrics", "card"}`` (missing parts are None)."""
    entry = path(name, root)

    def read(fname, parse):
        p = os.path.join(entry, fname)
        if not os.path.isfile(p):
            return None
        with open(p) as f:
            return parse(f)

    return {
        "name": name,
        "path": entry,
        "config": read("config.json", json.load),
        "metrics": read("metrics.json", json.load),
        "card": read("README.md", lambda f: f.read()),
    }


def load(name, root=None, compile=False):
    """Loads entry ``name``'s Keras model (safe mode)."""
    from mtlzoo.models import load_model

    return load_model(os.path.join(path(name, root), "model.keras"), compile=compile)


def export(name, export_dir, version=None, root=None, overwrite=False, model_name=None, tokenizer=None):
    """Exports entry ``name`` for TF Serving under ``export_dir/<model_name or name>/<version>``."""
    from mtlzoo.export import export_workdir

    return export_workdir(
        path(name, root),
        export_dir,
        version=version,
        model_name=model_name or name,
        overwrite=overwrite,
        tokenizer=tokenizer,
    )


def _checkpoint_path(workdir, checkpoint):
    ckpt = str(checkpoint)
    if re.fullmatch(r"\d+", ckpt):
        candidate = os.path.join(workdir, "checkpoints", f"epoch_{int(ckpt):03d}.weights.h5")
    elif os.path.exists(ckpt):
        candidate = ckpt
    elif os.path.exists(os.path.join(workdir, "checkpoints", ckpt)):
        candidate = os.path.join(workdir, "checkpoints", ckpt)
    else:
        candidate = os.path.join(workdir, ckpt)
    if not os.path.isfile(candidate):
        found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(workdir, "checkpoints", "*.weights.h5")))
        raise ConfigError(
            None,
            f"--checkpoint: {candidate} does not exist; {workdir}/checkpoints has {', '.join(found) if found else 'no checkpoints'}",
        )
    return candidate


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
    from mtlzoo.config import read_config

    if not os.path.isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    config = read_config(workdir)
    if checkpoint is None:
        source = os.path.join(workdir, "model.keras")
        if not os.path.isfile(source):
            found = sorted(glob.glob(os.path.join(workdir, "checkpoints", "epoch_*.weights.h5")))
            if not found:
                raise ConfigError(
                    None, f"--workdir: {workdir} has no model.keras and no checkpoints/: did training run?"
                )
            source = found[-1]
    else:
        source = _checkpoint_path(workdir, checkpoint)
    if source.endswith(".keras"):
        from mtlzoo.models import load_model  # Keras is imported only once the paths are known to be good

        return load_model(source), config, source
    if not source.endswith(".weights.h5"):
        raise ConfigError(None, f"--checkpoint: {source} is neither a .keras nor a .weights.h5 file")
    from mtlzoo.models import build_model

    model = build_model(config)
    try:
        model.load_weights(source)
    except Exception as e:
        raise ConfigError(
            None, f"--checkpoint: {source} could not be loaded into the workdir's model ({type(e).__name__}: {e})"
        ) from e
    return model, config, source


# --------------------------------------------------------------------------- fine-tuning

FINETUNE_SCHEMA = {
    "freeze": Field("none", str, choices=("none", "encoder", "pretrained")),
    "freeze_layers": Field((), "strs"),
    "alignment": Field("none", str),
}

# Alignment for fine-tuning on a new task: name -> fn(config dict, new task names) -> config dict.
# The function edits the run config before it is resolved (e.g. switching on a per-task
# alignment layer for the new tasks); build_model then builds the aligned model and
# finetune() transfers every pretrained layer it finds by name. Layers the pretrained
# model lacks (an alignment's R_i, a new task's head) start from their initialisers and
# are never frozen, so ``freeze: encoder`` with an alignment is Algorithm 1's second
# stage (B fixed, train R_i and A_i) of Wu, Zhang & Ré (2020).
ALIGNMENTS = Registry("fine-tuning alignment")


@ALIGNMENTS.register("none")
def _no_alignment(config, new_tasks):
    return config


@ALIGNMENTS.register("joint")
def _joint_alignment(config, new_tasks):
    """Adds a covariance alignment (identity at start) between E and B of the fine-tuned
    model; with ``freeze: encoder`` only the R_i and the heads train, which is the second
    stage of Algorithm 1 applied to transfer. The examples' ``task_id`` routes them."""
    model = dict(_to_dict(config.get("model")) or {})
    model["alignment"] = "joint"
    return {**config, "model": model}


def resolve_pretrained(pretrained, root=None):
    """``--pretrained`` -> ``(model file, directory with config.json)``.

    Accepts a zoo entry name, a workdir / zoo entry directory, or a ``.keras`` file
    (its config is the ``config.json`` beside it).
    """
    if pretrained.endswith(".keras"):
        if not os.path.isfile(pretrained):
            raise ConfigError(None, f"--pretrained: {pretrained} does not exist")
        return pretrained, os.path.dirname(os.path.abspath(pretrained))
    if os.path.isdir(pretrained):
        model_path = os.path.join(pretrained, "model.keras")
        if not os.path.isfile(model_path):
            raise ConfigError(
                None, f"--pretrained: {pretrained} has no model.keras: is it a finished training workdir?"
            )
        return model_path, pretrained
    if os.sep in pretrained:
        raise ConfigError(None, f"--pretrained: {pretrained} does not exist")
    entry = path(pretrained, root)
    return os.path.join(entry, "model.keras"), entry


def _to_dict(config):
    if config is None:
        return {}
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return dict(config)


def plan_finetune(pretrained_model, model, tasks, options, old_tasks=None):
    """Which layers of ``model`` get pretrained weights, which are new, which are frozen.

    A layer is transferred when the pretrained model has a layer of the same name
    whose weights have the same shapes; a same-named layer with other shapes is an
    error. ``freeze``: ``none``; ``encoder`` (transferred layers that belong to no
    task); ``pretrained`` (all transferred layers); plus ``freeze_layers`` (fnmatch
    patterns over layer names). New layers are never frozen.

    Returns ``{"transferred": [...], "new": [...], "frozen": [...], "dropped_tasks": [...]}``.
    """
    from mtlzoo.models.builder import is_task_layer

    old = {layer.name: layer for layer in pretrained_model.layers}
    names = [t.name for t in tasks]
    old_specs = {t.name: t for t in (old_tasks or [])}
    for t in tasks:
        if t.name in old_specs and (old_specs[t.name].kind, old_specs[t.name].num_classes) != (t.kind, t.num_classes):
            o = old_specs[t.name]
            raise ConfigError(
                f"tasks.{t.name}",
                f"the pretrained model has {t.name!r} as a {o.kind} task with {o.num_classes} classes, "
                f"the config as {t.kind} with {t.num_classes}; rename the new task",
            )
    transferred, new = [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        src = old.get(layer.name)
        if src is None:
            new.append(layer.name)
            continue
        want = [tuple(w.shape) for w in layer.weights]
        have = [tuple(w.shape) for w in src.weights]
        if want != have:
            raise ConfigError(
                "model",
                f"layer {layer.name!r}: the pretrained weights have shapes {have} but the config builds {want}",
            )
        transferred.append(layer.name)
    if not transferred:
        raise ConfigError("model", "no layer of the pretrained model matches the config's model; nothing to fine-tune")
    mode = options["freeze"]
    frozen = set()
    if mode == "encoder":
        frozen = {n for n in transferred if not any(is_task_layer(n, t) for t in names)}
    elif mode == "pretrained":
        frozen = set(transferred)
    weighted = transferred + new
    for pattern in options["freeze_layers"]:
        hits = [n for n in weighted if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ConfigError("finetune.freeze_layers", f"pattern {pattern!r} matches no layer with weights")
        frozen.update(hits)
    old_task_names = {t.name for t in old_tasks} if old_tasks else set(pretrained_model.output)
    return {
        "transferred": transferred,
        "new": new,
        "frozen": sorted(frozen),
        "dropped_tasks": sorted(old_task_names - set(names)),
        "new_tasks": sorted(set(names) - old_task_names),
    }


def apply_plan(model, pretrained_model, plan):
    """Copies the transferred layers' pretrained weights into ``model`` and freezes ``plan["frozen"]``."""
    for name in plan["transferred"]:
        model.get_layer(name).set_weights(pretrained_model.get_layer(name).get_weights())
    for name in plan["frozen"]:
        model.get_layer(name).trainable = False
    return model


def finetune(pretrained, config, workdir, root=None, strategy="default"):
    """Fine-tunes a trained multi-task model; returns the trainer's ``TrainResult``.

    Args:
        pretrained: zoo entry name, workdir / zoo entry directory, or ``.keras`` file
            (with a ``config.json`` beside it).
        config: a run config (see :mod:`mtlzoo.config`) plus an optional ``finetune``
            section ``{freeze: none|encoder|pretrained, freeze_layers: [patterns],
            alignment: none}``. Sections it omits (``tasks``, ``data``, ``model``,
            ``train``, ``seed``) come from the pretrained model's config. Tasks the
            pretrained model lacks get a new head; pretrained tasks the config omits
            are dropped; ``model`` must build layers whose names and shapes match
            the pretrained ones it shares.
        workdir: run directory, as for :func:`mtlzoo.training.train`, plus
            ``finetune.json`` (the plan: transferred, new and frozen layers).

    The trainer (:func:`mtlzoo.training.train`) builds the model from the config;
    before training, every layer that the pretrained model has under the same name
    receives its weights and the layers ``freeze`` selects are frozen, so checkpoints,
    logs and resume are the trainer's (a resumed run restores its own weights). See
    ``ALIGNMENTS`` for the alignment extension point.

    Example:
        >>> finetune("/tmp/mtlzoo_quickstart", {"finetune": {"freeze": "encoder"},
        ...          "train": {"epochs": 2}}, "/tmp/mtlzoo_ft")
    """
    from mtlzoo.config import read_config, resolve_config
    from mtlzoo.tasks import tasks_from_config

    cfg = _to_dict(config)
    options = check_fields(cfg.pop("finetune", None), FINETUNE_SCHEMA, "finetune")
    align = ALIGNMENTS.get(options["alignment"], "finetune.alignment")
    model_path, config_dir = resolve_pretrained(pretrained, root)
    if not os.path.isfile(os.path.join(config_dir, "config.json")):
        raise ConfigError(None, f"--pretrained: {config_dir} has no config.json; fine-tuning needs the model's config")
    old_cfg = read_config(config_dir).to_dict()
    merged = {**old_cfg, **{k: v for k, v in cfg.items() if v is not None}}
    old_tasks = tasks_from_config(old_cfg["tasks"])
    new_task_names = sorted(set(_to_dict(merged.get("tasks"))) - {t.name for t in old_tasks})
    merged = align(merged, new_task_names)
    resolved = resolve_config(merged)  # validates every field before any heavy work
    tasks = tasks_from_config(resolved.tasks)

    from mtlzoo.models import build_model, load_model  # heavy imports only after the cheap checks

    pretrained_model = load_model(model_path)
    probe = build_model(resolved)
    plan = plan_finetune(pretrained_model, probe, tasks, options, old_tasks)
    del probe

    os.makedirs(workdir, exist_ok=True)
    record = {"pretrained": os.path.abspath(model_path), **options, **plan}
    tmp = os.path.join(workdir, "finetune.json.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(workdir, "finetune.json"))
    from mtlzoo.training import train

    def model_fn(config):  # the trainer's variables are collected after this returns
        return apply_plan(build_model(config), pretrained_model, plan)

    return train(resolved, workdir, strategy=strategy, model_fn=model_fn)


__all__ = [
    "ALIGNMENTS",
    "DEFAULT_ROOT",
    "export",
    "finetune",
    "info",
    "list",
    "load",
    "load_workdir",
    "path",
    "resolve_pretrained",
    "root_dir",
]
