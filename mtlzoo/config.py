"""Config schema and validation: every field checked before any heavy work.

A run's config is an ``ml_collections.ConfigDict`` with these sections::

    seed: int
    tasks: {name: {kind, num_classes, loss, metrics}}      # see mtlzoo.tasks
    data:  {source, batch_size, ...source options}         # see mtlzoo.data
    model: {architecture, encoder: {name, ...options}, tower: {units, activation, dropout}}
    train: {epochs, steps_per_epoch, learning_rate, optimizer, ...}

:func:`resolve_config` fills defaults and raises :class:`ConfigError` naming the
first bad field (unknown name, wrong type, bad number, missing required field).
Only the pure-Python parts are imported here; registries are consulted lazily.
:func:`with_defaults` and :func:`check_config` read the static option tables of
:mod:`mtlzoo.options` instead, so loading a config file and a first check of every field
import no TensorFlow.
"""

import importlib.util
import json
import os

from mtlzoo.errors import ConfigError
from mtlzoo.schema import REQUIRED, Field, all_positive, check_fields, fraction, non_negative, positive  # noqa: F401

_FROM_MODELS = ("MODEL_SCHEMA", "TOWER_SCHEMA", "resolve_model_config")


def __getattr__(name):
    # the model section's schema lives with the builder (mtlzoo.models.builder); loaded on use
    if name in _FROM_MODELS:
        from mtlzoo.models import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'mtlzoo.config' has no attribute {name!r}")


TRAIN_SCHEMA = {
    "epochs": Field(5, int, positive),
    "steps_per_epoch": Field(None, int, positive, optional=True),
    "learning_rate": Field(1e-3, float, positive),
    "lr_schedule": Field("constant", str, choices=("constant", "linear")),  # linear: decay to 0 at the last step
    "warmup_fraction": Field(0.0, float, fraction),  # linear warm-up over this fraction of the steps
    "optimizer": Field("adam", str, choices=("adam", "adamw", "sgd", "rmsprop")),
    "weight_decay": Field(0.0, float, lambda v: None if 0 <= v < 1 else f"must be in [0, 1), got {v}"),
    "clipnorm": Field(None, float, positive, optional=True),
    "eval_split": Field("validation", str),
    "checkpoint_every_steps": Field(None, int, positive, optional=True),  # None: every epoch
    "keep_checkpoints": Field(3, int, positive),
    "steps_per_loop": Field(20, int, positive),
    "weighting": Field({"name": "ew"}, "dict"),
    "aggregator": Field({"name": "sum"}, "dict"),
    "per_task_grads": Field("params", str, choices=("params", "representation")),
    "alignment_epochs": Field(None, int, positive, optional=True),  # fixed_encoder phase 2 (default: epochs)
    # fixed_encoder phase 2 trains R_i and the heads (Algorithm 1), or the heads only with R_i
    # kept at the identity: the control that separates the alignment from the extra head training
    "alignment_phase2": Field("alignment_and_heads", str, choices=("alignment_and_heads", "heads")),
    "mixed_precision": Field("none", str, choices=("none", "mixed_float16", "mixed_bfloat16")),
    "jit_compile": Field(False, bool),
    "verbose": Field(None, int, choices=(0, 1, 2), optional=True),  # None: 1 on a terminal, else 2
    "early_stopping": Field(None, "dict", optional=True),  # EARLY_STOPPING_SCHEMA (mtlzoo.training.callbacks)
    "select": Field("last", str, choices=("last", "best")),  # model.keras: the last epoch or the best by:
    "select_monitor": Field("val_mean_loss", str),  # val_<task>_<metric> or val_mean_<metric> (task average)
    "affinity": Field(None, "dict", optional=True),  # AFFINITY_SCHEMA (mtlzoo.training.affinity.StepAffinity)
}

# train.affinity: the lookahead affinity and gradient cosine measured inside the training step
AFFINITY_SCHEMA = {
    "every_steps": Field(10, int, positive),
    "learning_rate": Field(None, float, positive, optional=True),  # None: train.learning_rate
}

EARLY_STOPPING_SCHEMA = {
    "monitor": Field("val_mean_loss", str),
    "patience": Field(0, int, non_negative),
    "min_delta": Field(0.0, float, non_negative),
    "mode": Field("auto", str, choices=("auto", "min", "max")),  # auto: max for accuracy-like names
}


def optional_section(section):
    """An optional ``train`` section (``early_stopping``, ``affinity``) without its unset (None)
    options, or None (off) when nothing is set.

    :func:`with_defaults` gives every config these sections as unset placeholders (so that
    ``--config.train.early_stopping.patience=2`` switches early stopping on from the command
    line); a section whose options are all unset is off, as ``None`` is.
    """
    if section is None:
        return None
    if not hasattr(section, "items"):
        return section  # check_fields names the wrong type
    opts = {k: v for k, v in section.items() if v is not None}
    return opts or None


TOP_SCHEMA = {
    "seed": Field(0, int, lambda v: None if 0 <= v <= 2**32 - 1 else f"must be in [0, 2**32 - 1], got {v}"),
    "tasks": Field(REQUIRED, "dict"),
    "data": Field(REQUIRED, "dict"),
    "model": Field(REQUIRED, "dict"),
    "train": Field({}, "dict"),
}


def check_config(config):
    """Checks a whole run config against the static option tables, without TensorFlow.

    The tools call it before anything imports TensorFlow (see ``precheck`` in
    ``mtlzoo/cli/train.py``), so a config with a bad field is refused in a fraction of a
    second. It checks what :func:`resolve_config` checks through the registries, in the same
    order and with the same messages: every section's fields (names, types, ranges, choices),
    every name a config picks (architecture, encoder, data source, sampler, weighting,
    aggregator) and its options, the tasks, the encoder's representations against the task
    kinds, ``model.experts`` of a soft-sharing architecture, activations, the batch-size
    limit and the svd / static weighting rules. What needs a room's code (an encoder's or a
    source's cross-field and file checks) is left to :func:`resolve_config`.

    Raises:
        ConfigError: naming the first invalid field.
    """
    from mtlzoo import options
    from mtlzoo.tasks import tasks_from_config

    if hasattr(config, "to_dict"):
        config = config.to_dict()
    if hasattr(config, "items"):
        config = _drop_unset(config)
    top = check_fields(config, TOP_SCHEMA, "config")
    # the model section (mtlzoo.models.builder.resolve_model_config)
    tasks = tasks_from_config(top.get("tasks"), field="tasks")
    model = check_fields(top["model"], options.MODEL, "model")
    options.registry("architecture", options.ARCHITECTURES).get(model["architecture"], "model.architecture")
    encoder = _static_named(model["encoder"], "encoder", options.ENCODERS, "model.encoder")
    tower = check_fields(model["tower"], options.TOWER, "model.tower")
    provides = options.ENCODER_PROVIDES.get(encoder["name"], ("pooled", "sequence"))  # a user's: checked later
    for spec in tasks:
        need = "sequence" if spec.is_sequence else "pooled"
        if need not in provides:
            what = "one vector per token (tagger)" if spec.is_sequence else "a pooled vector"
            raise ConfigError(
                f"tasks.{spec.name}.kind",
                f"a {spec.kind} task needs an encoder with {what}; {encoder['name']!r} gives {' and '.join(provides)}",
            )
    # the data section (mtlzoo.data.resolve_data_config)
    cfg = dict(top["data"])
    if "source" not in cfg:
        raise ConfigError("data.source", "missing required field")
    source = options.registry("data source", options.SOURCES).get(cfg["source"], "data.source")
    common = check_fields({k: cfg.pop(k) for k in list(cfg) if k in options.DATA_COMMON}, options.DATA_COMMON, "data")
    if source in options.SOURCES:  # a user-registered source's options: resolve_config checks them
        check_fields(cfg, options.SOURCES[source], "data")
    _static_named(common["sampler"], "sampler", options.SAMPLERS, "data.sampler")
    if common["batch_size"] > MAX_BATCH_SIZE:
        raise ConfigError("data.batch_size", f"must be at most {MAX_BATCH_SIZE}, got {common['batch_size']}")
    experts = None
    if model["architecture"] in options.EXPERTS:  # checked when the model is built (mtlzoo.models.soft_sharing)
        experts = check_fields(model["experts"] or {}, options.EXPERTS[model["architecture"]], "model.experts")
    for field, name in (
        ("model.tower.activation", tower.get("activation")),
        ("model.encoder.activation", encoder.get("activation")),
        ("model.experts.activation", (experts or {}).get("activation")),
    ):
        if name is not None and name not in options.ACTIVATIONS:
            raise ConfigError(field, f"unknown activation {name!r}")
    # the train section
    train = check_fields(top["train"], TRAIN_SCHEMA, "train")
    early = optional_section(train["early_stopping"])
    if early is not None:
        check_fields(early, EARLY_STOPPING_SCHEMA, "train.early_stopping")
    affinity = optional_section(train["affinity"])
    if affinity is not None:
        check_fields(affinity, AFFINITY_SCHEMA, "train.affinity")
    weighting = _static_named(train["weighting"], "weighting", options.WEIGHTINGS, "train.weighting")
    _static_named(train["aggregator"], "aggregator", options.AGGREGATORS, "train.aggregator")
    if weighting["name"] == "svd":
        _check_svd(weighting, tasks)
    if weighting["name"] == "static":
        names = {t.name for t in tasks}
        for t in weighting.get("weights", {}):
            if t not in names:
                raise ConfigError(f"train.weighting.weights.{t}", f"no task named {t!r}")


def _static_named(cfg, kind, table, field):
    """``{"name": ..., **options}`` checked against the static table of :mod:`mtlzoo.options`."""
    from mtlzoo.options import registry

    cfg = dict(cfg)
    if "name" not in cfg:
        raise ConfigError(f"{field}.name", "missing required field")
    name = registry(kind, table).get(cfg.pop("name"), f"{field}.name")
    if name not in table:  # user-registered: its options are checked by resolve_config (live registry)
        return {"name": name, **cfg}
    return {"name": name, **check_fields(cfg, table[name], field)}


def resolve_config(config):
    """Validates a whole run config and returns a resolved ``ConfigDict`` (defaults filled).

    Raises:
        ConfigError: naming the first invalid field.
    """
    import ml_collections

    from mtlzoo import data

    check_config(config)  # the static checks first: they need no TensorFlow
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    if hasattr(config, "items"):
        config = _drop_unset(config)
    top = check_fields(config, TOP_SCHEMA, "config")
    top = {k: v for k, v in top.items()}
    from mtlzoo.models.builder import resolve_model_config

    tasks, model = resolve_model_config(top)
    top["tasks"] = {t.name: {k: v for k, v in t.to_dict().items() if k != "name"} for t in tasks}
    top["model"] = model
    top["data"] = data.resolve_data_config(top["data"], tasks)
    if top["data"]["batch_size"] > MAX_BATCH_SIZE:
        raise ConfigError("data.batch_size", f"must be at most {MAX_BATCH_SIZE}, got {top['data']['batch_size']}")
    _check_activations(model)
    top["train"] = train = check_fields(top["train"], TRAIN_SCHEMA, "train")
    for key, schema in (("early_stopping", EARLY_STOPPING_SCHEMA), ("affinity", AFFINITY_SCHEMA)):
        opts = optional_section(train[key])
        train[key] = None if opts is None else check_fields(opts, schema, f"train.{key}")
    train["weighting"] = _named_options(
        train["weighting"], "mtlzoo.weighting.weightings", "WEIGHTINGS", "train.weighting"
    )
    train["aggregator"] = _named_options(
        train["aggregator"], "mtlzoo.weighting.aggregators", "AGGREGATORS", "train.aggregator"
    )
    if train["weighting"]["name"] == "svd":
        _check_svd(train["weighting"], tasks)
        top["model"]["task_weights"] = True
    if train["weighting"]["name"] == "static":
        for t in train["weighting"].get("weights", {}):
            if t not in top["tasks"]:
                raise ConfigError(f"train.weighting.weights.{t}", f"no task named {t!r}")
    return ml_collections.ConfigDict(top)


MAX_BATCH_SIZE = 2**20


def _check_activations(model):
    """Every activation a model section names is one Keras knows."""
    import keras

    named = [("model.tower.activation", model["tower"].get("activation"))]
    named.append(("model.encoder.activation", model["encoder"].get("activation")))
    named.append(("model.experts.activation", (model.get("experts") or {}).get("activation")))
    for field, name in named:
        if name is None:
            continue
        try:
            keras.activations.get(name)
        except (ValueError, TypeError) as e:
            raise ConfigError(field, f"unknown activation {name!r}") from e


def _check_svd(opts, tasks):
    k = len(tasks)
    if k < 2:
        raise ConfigError("train.weighting.name", f"SVD task reweighting needs at least 2 tasks, got {k}")
    if opts["rank"] > k:
        raise ConfigError("train.weighting.rank", f"rank {opts['rank']} is larger than the number of tasks ({k})")
    for t in tasks:
        if t.is_sequence:
            raise ConfigError(f"tasks.{t.name}.kind", "SVD task reweighting does not support tagging tasks yet")


def _named_options(cfg, module, registry, field):
    """Validates ``{"name": ..., **options}`` against the named entry's schema."""
    import importlib

    cfg = dict(cfg)
    if "name" not in cfg:
        raise ConfigError(f"{field}.name", "missing required field")
    name = cfg.pop("name")
    cls = getattr(importlib.import_module(module), registry).get(name, f"{field}.name")
    return {"name": name, **check_fields(cfg, cls.schema, field)}


def _placeholder(fields):
    """A typed ml_collections placeholder for a key that one or more schemas define."""
    from ml_collections import config_dict

    types = {f.type for f in fields}
    if len(types) == 1:
        typ = types.pop()
        if typ in (int, float, str, bool):
            return config_dict.placeholder(typ)
        if typ in ("ints", "strs"):
            return config_dict.placeholder(tuple)
    return config_dict.placeholder(object)  # parses a Python literal, else keeps the string


def _fill(section, schemas, defaults=False):
    """Adds every key of ``schemas`` that ``section`` lacks: the default (``defaults=True``,
    one schema) or an unset placeholder (the union of a registry's option schemas)."""
    from ml_collections import ConfigDict

    keys = {}
    for schema in schemas:
        for key, f in schema.items():
            keys.setdefault(key, []).append(f)
    for key, fields in keys.items():
        if key in section or key == "name":
            continue
        default = fields[0].default
        if defaults and default is not REQUIRED and default is not None:
            section[key] = ConfigDict(default) if isinstance(default, dict) else default
        else:
            section[key] = _placeholder(fields)


def _section(c, key):
    from ml_collections import ConfigDict

    if key not in c or c[key] is None:
        c[key] = ConfigDict()
    elif not isinstance(c[key], ConfigDict):
        c[key] = ConfigDict(c[key])
    return c[key]


# the named option sections: ``{"name": ..., **options}``; an option left unset (None) takes
# the named entry's default, so with_defaults can offer every registered entry's options
NAMED_SECTIONS = (
    ("data", "sampler"),
    ("train", "weighting"),
    ("train", "aggregator"),
    ("model", "encoder"),
    ("model", "experts"),
)


def with_defaults(config):
    """Makes every documented field of a config overridable from the command line.

    Config files end with ``return with_defaults(c)``: ml_collections only overrides
    fields that exist, so this adds what the file leaves out. Fields with one schema
    (``seed``, ``train.*``, ``data.batch_size/mixing/sampler``, ``model.architecture/
    alignment/...``, ``model.tower.*``) get their defaults; the options of the named
    sections (``data.sampler``, ``train.weighting``, ``train.aggregator``,
    ``model.encoder``, ``model.experts``), of the data sources and of the tasks get unset
    typed placeholders for every option any registered entry has (e.g.
    ``--config.train.aggregator.c=0.3`` after ``--config.train.aggregator.name=cagrad``).
    :func:`resolve_config` treats an unset (None) option as "the default of the named
    entry", and still refuses an option the chosen entry does not have.

    Pure Python: the option names come from the static tables of :mod:`mtlzoo.options`
    (checked against the registries by tests/test_options.py), so loading a config file
    does not import TensorFlow.
    """
    from ml_collections import ConfigDict

    from mtlzoo import options

    c = config if isinstance(config, ConfigDict) else ConfigDict(config)
    with c.unlocked():
        if "seed" not in c:
            c.seed = TOP_SCHEMA["seed"].default
        train = _section(c, "train")
        _fill(train, [TRAIN_SCHEMA], defaults=True)
        _fill(_section(train, "early_stopping"), [EARLY_STOPPING_SCHEMA])  # unset = off
        _fill(_section(train, "affinity"), [AFFINITY_SCHEMA])
        _fill(_section(train, "weighting"), list(options.WEIGHTINGS.values()))
        _fill(_section(train, "aggregator"), list(options.AGGREGATORS.values()))
        if "data" in c:
            d = _section(c, "data")
            _fill(d, [{k: f for k, f in options.DATA_COMMON.items() if k != "source"}], defaults=True)
            _fill(_section(d, "sampler"), list(options.SAMPLERS.values()))
            _fill(d, list(options.SOURCES.values()))
        if "model" in c:
            m = _section(c, "model")
            _fill(m, [{k: f for k, f in options.MODEL.items() if k not in ("encoder", "experts")}], defaults=True)
            _fill(_section(m, "tower"), [options.TOWER], defaults=True)
            _fill(_section(m, "experts"), list(options.EXPERTS.values()))
            _fill(_section(m, "encoder"), list(options.ENCODERS.values()))
        if "tasks" in c and isinstance(c.tasks, ConfigDict):
            task_schema = {"num_classes": Field(None, int), "loss": Field(None, str), "metrics": Field(None, "strs")}
            for name in list(c.tasks.keys()):
                if isinstance(c.tasks[name], ConfigDict):
                    _fill(c.tasks[name], [task_schema])
    return c


def _drop_unset(config):
    """A plain-dict copy of ``config`` without the unset (None) options of the named
    sections, the data section's source options and the tasks (see :func:`with_defaults`)."""
    config = dict(config)
    for top, key in NAMED_SECTIONS:
        sec = config.get(top)
        if hasattr(sec, "items") and hasattr(sec.get(key), "items"):
            config[top] = sec = dict(sec)
            sec[key] = {k: v for k, v in sec[key].items() if v is not None}
    if hasattr(config.get("data"), "items"):
        from mtlzoo.options import DATA_COMMON

        config["data"] = {k: v for k, v in config["data"].items() if v is not None or k in DATA_COMMON}
    if hasattr(config.get("tasks"), "items"):
        config["tasks"] = {
            name: {k: v for k, v in t.items() if v is not None} if hasattr(t, "items") else t
            for name, t in config["tasks"].items()
        }
    return config


def field_parent(cfg, dotted):
    """``(node, name)`` such that ``node[name]`` is the field ``dotted`` (``"train.epochs"``) of ``cfg``.

    KeyError whose argument is the first dotted prefix the config lacks (``"train"`` or
    ``"train.epochs"``), for the caller's own message.
    """
    *path, last = dotted.split(".")
    node = cfg
    for i, part in enumerate(path):
        if not hasattr(node, "keys") or part not in node:
            raise KeyError(".".join(path[: i + 1]))
        node = node[part]
    if not hasattr(node, "keys") or last not in node:
        raise KeyError(dotted)
    return node, last


def load_config_module(path):
    """Imports a config file as a module that has ``get_config``; ConfigError if it cannot."""
    if not os.path.isfile(path):
        raise ConfigError(None, f"config file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"_mtlzoo_config_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError(None, f"config file {path} has no get_config() function")
    return module


def load_config_file(path):
    """Imports a config file and returns its ``get_config()``; ConfigError if it cannot."""
    return load_config_module(path).get_config()


def write_config(config, workdir):
    """Writes the resolved config to ``workdir/config.json`` atomically."""
    from mtlzoo.fileio import makedirs, write_json

    makedirs(workdir)
    return write_json(config.to_dict() if hasattr(config, "to_dict") else config, os.path.join(workdir, "config.json"))


def read_config(workdir):
    """Reads ``workdir/config.json`` back as a ConfigDict."""
    import ml_collections

    from mtlzoo.fileio import isfile, open_file

    path = os.path.join(workdir, "config.json")
    if not isfile(path):
        raise ConfigError(None, f"{path} does not exist: is {workdir} a training workdir?")
    with open_file(path) as f:
        return ml_collections.ConfigDict(json.load(f))
