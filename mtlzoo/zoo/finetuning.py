"""Fine-tuning a trained multi-task model (a zoo entry, a workdir or a ``.keras`` file) on new
or fewer tasks: which layers get the pretrained weights (:func:`plan_finetune`), copying them
and freezing (:func:`apply_plan`), then the trainer (:func:`finetune`).

With ``freeze: encoder`` and an alignment (``ALIGNMENTS``), fine-tuning is the second stage
of Algorithm 1 of Wu, Zhang & Ré (ICLR 2020): the shared module B fixed, the per-task
alignment R_i and the heads A_i trained.

Example:
    >>> from mtlzoo import zoo
    >>> zoo.finetune("sentiment6_lstm_align",
    ...              {"tasks": {"sst5": {"kind": "multiclass", "num_classes": 5}}, "finetune": {"freeze": "encoder"}},
    ...              "/tmp/sst5_from_sentiment6")
"""

import fnmatch
import os
import shutil

from mtlzoo import fileio
from mtlzoo.errors import ConfigError
from mtlzoo.registry import Registry
from mtlzoo.schema import Field, check_fields
from mtlzoo.workdir import VOCABULARIES_FILE
from mtlzoo.zoo.catalogue import VOCAB_FILE, path

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


# Layers that hold one slice per task along axis 0, task i = the i-th task name in sorted order:
# the covariance alignment's R_i (``alignment``, [k, d, d]) and the SVD task weights (``task_weights``, [k]).
PER_TASK_LAYERS = ("alignment", "task_weights")


def plan_finetune(pretrained_model, model, tasks, options, old_tasks=None):
    """Which layers of ``model`` get pretrained weights, which are new, which are frozen.

    A layer is transferred when the pretrained model has a layer of the same name
    whose weights have the same shapes; a same-named layer with other shapes is an
    error. The per-task layers (``PER_TASK_LAYERS``: the alignment's R_i, the SVD task
    weights) are remapped by task name instead: the slice of a task both models have
    is copied, a new task's slice keeps its initial value (R_i = I). ``freeze``:
    ``none``; ``encoder`` (transferred layers that belong to no task; per-task layers
    are a task's, so R_i keep training: Algorithm 1's second stage); ``pretrained``
    (all transferred layers, and remapped ones without a new task); plus
    ``freeze_layers`` (fnmatch patterns over layer names). New layers are never frozen.

    Returns ``{"transferred": [...], "remapped": {layer: {"kept": [tasks], "new": [tasks]}},
    "new": [...], "frozen": [...], "dropped_tasks": [...], "new_tasks": [...]}``.
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
    old_task_names = sorted({t.name for t in old_tasks} if old_tasks else set(pretrained_model.output))
    transferred, new, remapped = [], [], {}
    for layer in model.layers:
        if not layer.weights:
            continue
        src = old.get(layer.name)
        if src is None:
            new.append(layer.name)
            continue
        want = [tuple(w.shape) for w in layer.weights]
        have = [tuple(w.shape) for w in src.weights]
        if layer.name in PER_TASK_LAYERS and [w[1:] for w in want] == [w[1:] for w in have]:
            if [w[0] for w in want] == [len(names)] * len(want) and [w[0] for w in have] == [len(old_task_names)] * len(
                have
            ):
                kept = sorted(set(names) & set(old_task_names))
                remapped[layer.name] = {"kept": kept, "new": sorted(set(names) - set(old_task_names))}
                continue
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
        frozen = set(transferred) | {n for n, r in remapped.items() if not r["new"]}
    weighted = transferred + sorted(remapped) + new
    for pattern in options["freeze_layers"]:
        hits = [n for n in weighted if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ConfigError("finetune.freeze_layers", f"pattern {pattern!r} matches no layer with weights")
        frozen.update(hits)
    return {
        "transferred": transferred,
        "remapped": remapped,
        "new": new,
        "frozen": sorted(frozen),
        "dropped_tasks": sorted(set(old_task_names) - set(names)),
        "new_tasks": sorted(set(names) - set(old_task_names)),
    }


def apply_plan(model, pretrained_model, plan):
    """Copies the transferred layers' pretrained weights into ``model`` (the kept tasks' slices
    of the remapped per-task layers) and freezes ``plan["frozen"]``."""
    import numpy as np

    for name in plan["transferred"]:
        model.get_layer(name).set_weights(pretrained_model.get_layer(name).get_weights())
    new_names = sorted(model.output)
    old_names = sorted(pretrained_model.output)
    for name, rows in plan.get("remapped", {}).items():
        layer, src = model.get_layer(name), pretrained_model.get_layer(name)
        weights = [np.array(w) for w in layer.get_weights()]
        for w, w_old in zip(weights, src.get_weights(), strict=True):
            for t in rows["kept"]:
                w[new_names.index(t)] = w_old[old_names.index(t)]
        layer.set_weights(weights)
    for name in plan["frozen"]:
        model.get_layer(name).trainable = False
    return model


def _fixed_vocabulary(merged, user_cfg, config_dir):
    """Sets ``data.vocab_file`` to the pretrained entry's ``vocab.txt`` (so the new data's token
    ids are the ones the pretrained embedding learnt) when the entry has one, the data
    source takes a ``vocab_file`` and the user's config does not set it; returns the file or None.
    The lower-casing of the entry's tokenizer (``tokenizer.json``) comes with it when the source
    takes ``lowercase`` and the user's config does not set it."""
    import json

    from mtlzoo.data import SOURCES
    from mtlzoo.zoo.catalogue import TOKENIZER_FILE

    vocab = os.path.join(config_dir, VOCAB_FILE)
    data = dict(_to_dict(merged.get("data")))
    user_data = _to_dict(user_cfg.get("data"))
    if not os.path.isfile(vocab) or user_data.get("vocab_file") or "source" not in data:
        return None
    source = SOURCES.get(data["source"], "data.source")
    if "vocab_file" not in getattr(source, "schema", {}):
        return None
    data["vocab_file"] = os.path.abspath(vocab)
    tok_path = os.path.join(config_dir, TOKENIZER_FILE)
    if "lowercase" in source.schema and user_data.get("lowercase") is None and os.path.isfile(tok_path):
        with open(tok_path, encoding="utf-8") as f:
            lowercase = json.load(f).get("lowercase")
        if isinstance(lowercase, bool):
            data["lowercase"] = lowercase
    merged["data"] = data
    return data["vocab_file"]


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
            the pretrained ones it shares. When the pretrained entry / workdir has a
            ``vocab.txt`` and the config's data source takes ``vocab_file``, the data
            is encoded with that vocabulary unless the config sets ``data.vocab_file``.
        workdir: run directory, as for :func:`mtlzoo.training.train`, plus
            ``finetune.json`` (the plan: transferred, new and frozen layers). A ``files`` run starts
            from the pretrained run's ``vocabularies.json`` (inputs it names keep their ids).

    The trainer (:func:`mtlzoo.training.train`) builds the model from the config;
    before training, every layer that the pretrained model has under the same name
    receives its weights and the layers ``freeze`` selects are frozen, so checkpoints,
    logs and resume are the trainer's (a resumed run restores its own weights). See
    ``ALIGNMENTS`` for the alignment extension point.

    Example:
        >>> finetune("/tmp/mtlzoo_quickstart", {"finetune": {"freeze": "encoder"},
        ...          "train": {"epochs": 2}}, "/tmp/mtlzoo_ft")
    """
    from mtlzoo.config import resolve_config
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import read_config  # a corrupt config.json: one ConfigError naming it

    cfg = _to_dict(config)
    options = check_fields(cfg.pop("finetune", None), FINETUNE_SCHEMA, "finetune")
    align = ALIGNMENTS.get(options["alignment"], "finetune.alignment")
    model_path, config_dir = resolve_pretrained(pretrained, root)
    if not os.path.isfile(os.path.join(config_dir, "config.json")):
        raise ConfigError(None, f"--pretrained: {config_dir} has no config.json; fine-tuning needs the model's config")
    old_cfg = read_config(config_dir, validate="model").to_dict()
    merged = {**old_cfg, **{k: v for k, v in cfg.items() if v is not None}}
    vocab_file = _fixed_vocabulary(merged, cfg, config_dir)
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

    record = {"pretrained": os.path.abspath(model_path), "vocab_file": vocab_file, **options, **plan}
    saved = os.path.join(config_dir, VOCABULARIES_FILE)
    mine = os.path.join(workdir, VOCABULARIES_FILE)
    if resolved.data.source == "files" and os.path.isfile(saved) and not os.path.isfile(mine):
        # the pretrained files run's vocabularies: the same token/category ids (the trainer reuses them)
        os.makedirs(workdir, exist_ok=True)
        shutil.copy2(saved, mine)
    from mtlzoo.training import train

    def model_fn(config):  # the trainer's variables are collected after this returns
        # written here, once the trainer has loaded and checked the data: bad data leaves no plan behind
        fileio.write_json(record, os.path.join(workdir, "finetune.json"))
        return apply_plan(build_model(config), pretrained_model, plan)

    return train(resolved, workdir, strategy=strategy, model_fn=model_fn)
