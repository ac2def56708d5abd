"""Task specifications: what each head predicts and how it is scored.

A :class:`TaskSpec` is pure Python (no TensorFlow import), so configs can be
validated before any heavy work. :func:`build_loss` and :func:`build_metrics`
turn a spec into Keras objects when a model is compiled.

Kinds, their output layer, default loss and the label each batch carries:

============  =====================  ==============================  ========================
kind          output (activation)    default loss                    label per example
============  =====================  ==============================  ========================
binary        1 unit (sigmoid)       binary_crossentropy             float 0/1, shape [1]
multiclass    C units (softmax)      sparse_categorical_crossentropy int class id, shape []
multilabel    C units (sigmoid)      binary_crossentropy             float 0/1, shape [C]
regression    C units (linear)       mse                             float, shape [C]
tagging       C units per token      sparse_categorical_crossentropy int class id per token [T]
============  =====================  ==============================  ========================

Example:
    >>> spec = TaskSpec("sentiment", "binary")
    >>> spec.output_units
    1
"""

import dataclasses
import re

from mtlzoo.errors import ConfigError

KINDS = ("binary", "multiclass", "multilabel", "regression", "tagging")

# Losses a kind may use (Keras names); the first is the default.
LOSSES = {
    "binary": ("binary_crossentropy", "binary_focal_crossentropy", "hinge", "squared_hinge"),
    "multiclass": ("sparse_categorical_crossentropy",),
    "multilabel": ("binary_crossentropy", "binary_focal_crossentropy"),
    "regression": ("mse", "mae", "huber", "log_cosh"),
    "tagging": ("sparse_categorical_crossentropy",),
}

# Metrics a kind may use; the default metrics come first in each tuple's order given here.
METRICS = {
    "binary": ("accuracy", "auc", "precision", "recall"),
    "multiclass": ("accuracy", "top5_accuracy"),
    "multilabel": ("accuracy", "auc", "precision", "recall"),
    "regression": ("mae", "rmse", "mse"),
    "tagging": ("accuracy",),
}
DEFAULT_METRICS = {
    "binary": ("accuracy", "auc"),
    "multiclass": ("accuracy",),
    "multilabel": ("accuracy", "auc"),
    "regression": ("mae", "rmse"),
    "tagging": ("accuracy",),
}

# Task names become output names, layer names and TF Serving signature keys.
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
RESERVED_NAMES = frozenset({"task_id", "serving_default", "loss", "features", "tokens"})


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task of a multi-task model.

    Args:
        name: output key, layer-name prefix and signature key; letters, digits and
            underscores, starting with a letter.
        kind: one of ``binary``, ``multiclass``, ``multilabel``, ``regression``,
            ``tagging`` (per-token classification).
        num_classes: classes (multiclass, tagging), labels (multilabel) or output
            dimension (regression, default 1). For binary it is 2 (one sigmoid unit).
        loss: Keras loss name allowed for the kind (see ``LOSSES``); default per kind.
        metrics: metric names allowed for the kind (see ``METRICS``); default per kind.
        field: where the spec came from in a config, used in error messages.
    """

    name: str
    kind: str
    num_classes: int | None = None
    loss: str | None = None
    metrics: tuple | None = None
    field: str = dataclasses.field(default="tasks", compare=False, repr=False)

    def __post_init__(self):
        f = self.field
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise ConfigError(
                f,
                f"task name {self.name!r} is not a valid signature key (letters, digits, "
                "underscores, starting with a letter, at most 64 characters)",
            )
        if "__" in self.name:
            raise ConfigError(f, f"task name {self.name!r} contains '__', which mtlzoo keeps for a task's layer names")
        if self.name in RESERVED_NAMES:
            raise ConfigError(f, f"task name {self.name!r} is reserved")
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise ConfigError(f"{f}.kind", f"unknown task kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        n = self.num_classes
        if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
            raise ConfigError(f"{f}.num_classes", f"must be an integer, got {n!r}")
        if self.kind == "binary":
            if n not in (None, 2):
                raise ConfigError(f"{f}.num_classes", f"a binary task has 2 classes, got {n}")
            object.__setattr__(self, "num_classes", 2)
        elif self.kind == "regression":
            if n is None:
                object.__setattr__(self, "num_classes", 1)
            elif n < 1:
                raise ConfigError(f"{f}.num_classes", f"regression output dimension must be >= 1, got {n}")
        elif self.kind == "multilabel":
            if n is None or n < 1:
                raise ConfigError(f"{f}.num_classes", f"a multilabel task needs the number of labels >= 1, got {n}")
        else:  # multiclass, tagging
            if n is None or n < 2:
                raise ConfigError(f"{f}.num_classes", f"a {self.kind} task needs num_classes >= 2, got {n}")
        if self.loss is not None and not isinstance(self.loss, str):
            raise ConfigError(f"{f}.loss", f"must be a loss name, got {self.loss!r}")
        loss = self.loss or LOSSES[self.kind][0]
        if loss not in LOSSES[self.kind]:
            raise ConfigError(
                f"{f}.loss",
                f"loss {loss!r} does not fit a {self.kind} task; choose one of {', '.join(LOSSES[self.kind])}",
            )
        object.__setattr__(self, "loss", loss)
        metrics = DEFAULT_METRICS[self.kind] if self.metrics is None else self.metrics
        if isinstance(metrics, str):
            metrics = (metrics,)
        if not isinstance(metrics, (list, tuple)) or not all(isinstance(m, str) for m in metrics):
            raise ConfigError(f"{f}.metrics", f"must be a list of metric names, got {metrics!r}")
        metrics = tuple(metrics)
        for m in metrics:
            if m not in METRICS[self.kind]:
                raise ConfigError(
                    f"{f}.metrics",
                    f"metric {m!r} does not fit a {self.kind} task; choose from {', '.join(METRICS[self.kind])}",
                )
        object.__setattr__(self, "metrics", metrics)

    @property
    def output_units(self):
        """Units of the output layer."""
        return 1 if self.kind == "binary" else self.num_classes

    @property
    def output_activation(self):
        return {"binary": "sigmoid", "multilabel": "sigmoid", "regression": "linear"}.get(self.kind, "softmax")

    @property
    def is_sequence(self):
        """True if the task predicts one output per token."""
        return self.kind == "tagging"

    def label_shape(self):
        """Shape of one example's label (without the batch dimension)."""
        if self.kind == "binary":
            return (1,)
        if self.kind in ("multilabel", "regression"):
            return (self.num_classes,)
        if self.kind == "tagging":
            return (None,)
        return ()

    def label_dtype(self):
        return "int32" if self.kind in ("multiclass", "tagging") else "float32"

    def to_dict(self):
        return {
            "name": self.name,
            "kind": self.kind,
            "num_classes": self.num_classes,
            "loss": self.loss,
            "metrics": list(self.metrics),
        }

    @classmethod
    def from_config(cls, name, cfg, field=None):
        """Builds a spec from a config mapping ``{kind, num_classes, loss, metrics}``."""
        field = field or f"tasks.{name}"
        if not hasattr(cfg, "items"):
            raise ConfigError(field, f"must be a mapping {{kind, num_classes, loss, metrics}}, got {cfg!r}")
        cfg = dict(cfg)
        unknown = set(cfg) - {"kind", "num_classes", "loss", "metrics"}
        if unknown:
            raise ConfigError(f"{field}.{sorted(unknown)[0]}", "unknown field for a task")
        if "kind" not in cfg:
            raise ConfigError(f"{field}.kind", "missing required field")
        metrics = cfg.get("metrics")
        return cls(
            name=name,
            kind=cfg["kind"],
            num_classes=cfg.get("num_classes"),
            loss=cfg.get("loss"),
            metrics=tuple(metrics) if isinstance(metrics, (list, tuple)) else metrics,
            field=field,
        )


def tasks_from_config(tasks_cfg, field="tasks"):
    """Returns a list of TaskSpec from ``{name: {kind, ...}}``; checks names are unique.

    A list of TaskSpec (or of dicts with a ``name``) is accepted as well and keeps
    its order. A mapping is ordered by task name, so the order (and the ``task_id``
    of each task) does not depend on how a config or JSON file orders its keys.
    """
    if tasks_cfg is not None and not isinstance(tasks_cfg, (list, tuple)) and not hasattr(tasks_cfg, "items"):
        raise ConfigError(field, f"must be a mapping task name -> {{kind, ...}}, got {tasks_cfg!r}")
    if tasks_cfg is None or len(tasks_cfg) == 0:
        raise ConfigError(field, "missing required field: at least one task is needed")
    specs = []
    if isinstance(tasks_cfg, (list, tuple)):
        for i, t in enumerate(tasks_cfg):
            if isinstance(t, TaskSpec):
                specs.append(t)
            else:
                if not hasattr(t, "items"):
                    raise ConfigError(f"{field}[{i}]", f"must be a TaskSpec or a mapping with a name, got {t!r}")
                t = dict(t)
                if "name" not in t:
                    raise ConfigError(f"{field}[{i}].name", "missing required field")
                name = t.pop("name")
                specs.append(TaskSpec.from_config(name, t, field=f"{field}[{i}]"))
    else:
        for name in tasks_cfg:
            if not isinstance(name, str):
                raise ConfigError(field, f"task name {name!r} is not a string")
        for name, t in sorted(tasks_cfg.items()):
            specs.append(TaskSpec.from_config(name, t, field=f"{field}.{name}"))
    seen = set()
    for s in specs:
        if s.name in seen:
            raise ConfigError(field, f"duplicate task name {s.name!r}")
        seen.add(s.name)
    return specs


def build_loss(spec, reduction="sum_over_batch_size"):
    """The Keras loss object for a task (lazy Keras import); ``reduction=None`` keeps
    one loss per example (per token for tagging)."""
    import keras

    return {
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        "binary_focal_crossentropy": keras.losses.BinaryFocalCrossentropy,
        "hinge": keras.losses.Hinge,
        "squared_hinge": keras.losses.SquaredHinge,
        "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "huber": keras.losses.Huber,
        "log_cosh": keras.losses.LogCosh,
    }[spec.loss](name=f"{spec.name}_loss", reduction=reduction)


def build_metrics(spec):
    """Keras metric objects for a task, named without the task prefix (Keras adds it)."""
    import keras

    def make(m):
        if m == "accuracy":
            if spec.kind in ("binary", "multilabel"):
                return keras.metrics.BinaryAccuracy(name="accuracy")
            return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        if m == "top5_accuracy":
            return keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy")
        if m == "auc":
            return keras.metrics.AUC(
                name="auc",
                multi_label=spec.kind == "multilabel",
                num_labels=spec.num_classes if spec.kind == "multilabel" else None,
            )
        if m == "precision":
            return keras.metrics.Precision(name="precision")
        if m == "recall":
            return keras.metrics.Recall(name="recall")
        if m == "mae":
            return keras.metrics.MeanAbsoluteError(name="mae")
        if m == "mse":
            return keras.metrics.MeanSquaredError(name="mse")
        if m == "rmse":
            return keras.metrics.RootMeanSquaredError(name="rmse")
        raise ConfigError(f"tasks.{spec.name}.metrics", f"unknown metric {m!r}")

    return [make(m) for m in spec.metrics]
