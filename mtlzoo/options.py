"""The option tables: every registered name and its option schema, without TensorFlow.

This leaf module (layer 0, pure Python) is the one source of what a config may name and set:
the rooms take their schemas from here (``schema = options.ENCODERS["bert"]`` on an encoder,
``options.SOURCES[...]`` on a data source, ``options.MODEL`` as ``builder.MODEL_SCHEMA``, ...)
rather than declaring the fields again. The registries (``mtlzoo.weighting``, ``mtlzoo.data``,
``mtlzoo.encoders``, ``mtlzoo.models``) live next to code that imports TensorFlow and Keras;
importing them to learn which names and options exist costs seconds, so
:func:`mtlzoo.config.with_defaults` (run by every config file) and
:func:`mtlzoo.config.check_config` (the tools' first look at a config) read these tables and
never import TensorFlow:

* ``WEIGHTINGS``, ``AGGREGATORS``, ``SAMPLERS``, ``ENCODERS``, ``SOURCES``: ``{name: {option:
  Field}}``, the ``schema`` of each registered entry;
* ``EXPERTS``: the soft-sharing architectures' ``model.experts`` schemas;
  ``ARCHITECTURES``: every ``model.architecture``;
* ``ENCODER_PROVIDES``: which representations (``pooled``, ``sequence``) each encoder gives;
* ``MODEL``, ``TOWER``, ``DATA_COMMON``: the single-schema sections;
* ``ACTIVATIONS``: the names ``keras.activations.get`` accepts.

tests/test_options.py checks that every registered name has its table here and that the
registries expose these very objects, and each check's verdict and message against rules
written out by hand; a room that adds an entry or an option adds it here. Cross-field and file
checks (an encoder's ``check``, a source's ``check``) stay in the rooms and run in
:func:`mtlzoo.config.resolve_config`.
"""

from mtlzoo.registry import Registry
from mtlzoo.schema import REQUIRED, Field, all_positive, fraction, non_negative, positive


def at_least(n):
    """A check: ``v >= n`` (message ``must be >= n, got v``)."""

    def check(v):
        return None if v >= n else f"must be >= {n}, got {v}"

    return check


def _unit_interval(v):
    return None if 0.0 <= v <= 1.0 else f"must be in [0, 1], got {v}"


def _label_fraction(v):
    return None if 0 < v <= 1 else f"must be in (0, 1], got {v}"


def _image_shape(v):
    return None if len(v) == 3 and all(x > 0 for x in v) else f"must be [height, width, channels], got {list(v)}"


def _file_entries(v):
    return None if isinstance(v, (list, tuple)) and v else "list one file entry or more"


# --- weighting (mtlzoo.weighting.weightings.WEIGHTINGS, .aggregators.AGGREGATORS) ---

WEIGHTINGS = {
    "dwa": {"temperature": Field(2.0, float, positive)},
    "ew": {},
    "gradnorm": {"alpha": Field(1.5, float), "lr": Field(0.025, float, positive)},
    "rlw": {},
    "static": {"weights": Field({}, "dict")},
    "svd": {
        "rank": Field(1, int, positive),
        "every_steps": Field(None, int, positive, optional=True),
        "max_examples": Field(2048, int, positive),
        "center": Field(False, bool),
        "normalize": Field(False, bool),
    },
    "uncertainty": {},
}

AGGREGATORS = {
    "aligned_mtl": {},
    "cagrad": {
        "c": Field(0.5, float, non_negative),
        "rescale": Field(True, bool),
        "iterations": Field(300, int, positive),
    },
    "imtl_g": {},
    "mgda": {"iterations": Field(300, int, positive)},
    "pcgrad": {"shuffle": Field(True, bool)},
    "sum": {},
}

# --- data (mtlzoo.data.SAMPLERS, mtlzoo.data.SOURCES, mtlzoo.data.COMMON_SCHEMA) ---

SAMPLERS = {
    "annealed": {},
    "proportional": {"alpha": Field(1.0, float)},
    "round_robin": {},
    "temperature": {"temperature": Field(2.0, float, positive)},
    "uniform": {},
}

DATA_COMMON = {
    "source": Field(type=str),
    "batch_size": Field(32, int, positive),
    "mixing": Field("joint", str, choices=("joint", "interleaved")),
    "sampler": Field({"name": "proportional"}, "dict"),
}

CORRUPT_MODES = ("flip", "random")  # data.corrupt_mode (mtlzoo.data.real.corrupt_binary_labels)

_SPLITS = {"validation_fraction": Field(0.15, float, fraction), "test_fraction": Field(0.15, float, fraction)}
_LABEL_FRACTION = {"label_fraction": Field(1.0, float, _label_fraction)}

SOURCES = {
    "census": {
        "data_dir": Field(None, str, optional=True),
        "validation_fraction": Field(1 / 6, float, fraction),
        "test_fraction": Field(1 / 6, float, fraction),
        "max_rows": Field(None, int, positive, optional=True),
        "corrupt_labels": Field({}, "dict"),
        "corrupt_mode": Field("flip", str, choices=CORRUPT_MODES),
    },
    "conll2000": {
        "data_dir": Field(None, str, optional=True),
        "nltk_data": Field(None, str, optional=True),
        "vocab_file": Field(None, str, optional=True),
        "max_vocab": Field(20000, int, non_negative),
        "min_count": Field(1, int, positive),
        "max_length": Field(80, int, positive),
        "lowercase": Field(False, bool),
        "validation_fraction": Field(0.1, float, fraction),
    },
    "datasets": {"shuffle_buffer": Field(10000, int, positive)},
    "digits": {**_SPLITS, **_LABEL_FRACTION},
    "files": {
        "files": Field(type=None, check=_file_entries),
        "features": Field(type="dict"),
        "labels": Field({}, "dict"),
        "validation_fraction": Field(0.1, float, fraction),
        "test_fraction": Field(0.0, float, fraction),
        "shuffle_buffer": Field(10000, int, positive),
        "vocab_examples": Field(1_000_000, int, positive),
        "cycle_length": Field(4, int, positive),
        "csv_reader": Field("auto", str, choices=("auto", "tensorflow")),
        "tfrecord_reader": Field("auto", str, choices=("auto", "tensorflow")),
    },
    "glue": {
        "tfds_data_dir": Field(None, str, optional=True),
        "vocab_file": Field(type=str),
        "lowercase": Field(True, bool),
        "sequence_length": Field(128, int, positive),
        "validation_fraction": Field(0.1, float, fraction),
        "max_train_examples": Field(None, int, positive, optional=True),
    },
    "glue_files": {
        "data_dir": Field(None, str, optional=True),
        "checkpoint": Field(None, str, optional=True),
        "vocab_file": Field(None, str, optional=True),
        "lowercase": Field(None, bool, optional=True),
        "max_length": Field(128, int, at_least(3)),
        "validation_fraction": Field(0.1, float, fraction),
        "max_train_examples": Field(None, None, optional=True),
        "bucket_by_length": Field(True, bool),
    },
    "sentiment": {
        "data_dir": Field(None, str, optional=True),
        "vocab_file": Field(None, str, optional=True),
        "max_vocab": Field(20000, int, non_negative),
        "min_count": Field(1, int, positive),
        "max_length": Field(64, int, positive),
        "lowercase": Field(True, bool),
        "validation_fraction": Field(0.1, float, fraction),
        "test_fraction": Field(0.1, float, fraction),
    },
    "synthetic": {
        **_SPLITS,
        **_LABEL_FRACTION,
        "input_dim": Field(16, int, positive),
        "examples_per_task": Field(512, int, positive),
        "relatedness": Field(0.8, float, _unit_interval),
        "noise": Field(0.1, float, non_negative),
        # {task: group id}: tasks of one group share a base vector (default group 0); it may name
        # tasks a config leaves out, so one map serves every subset of the tasks
        "groups": Field({}, "dict"),
    },
    "yeast": {
        "labels_as": Field("tasks", str, choices=("tasks", "multilabel")),
        **_SPLITS,
        **_LABEL_FRACTION,
        "corrupt_labels": Field({}, "dict"),
        "corrupt_mode": Field("flip", str, choices=CORRUPT_MODES),
    },
}

# --- encoders (mtlzoo.encoders.ENCODERS) ---

_EMBED = {
    "vocab_size": Field(type=int, check=at_least(2)),
    "embedding_dim": Field(128, int, positive),
    "max_length": Field(None, int, positive, optional=True),
    "embedding_pretrained": Field(None, str, optional=True, init_only=True),
    "embedding_vocab_file": Field(None, str, optional=True, init_only=True),
    "embedding_trainable": Field(True, bool),
    "embedding_oov_seed": Field(0, int),
}

ENCODERS = {
    "bert": {
        "preset": Field(None, str, optional=True),
        "vocab_size": Field(30522, int, positive),
        "num_layers": Field(2, int, positive),
        "num_heads": Field(2, int, positive),
        "hidden_dim": Field(128, int, positive),
        "intermediate_dim": Field(512, int, positive),
        "dropout": Field(0.1, float, fraction),
        "max_sequence_length": Field(128, int, positive),
        "num_segments": Field(2, int, positive),
        "pooling": Field("cls", str, choices=("cls", "mean")),
        "trainable": Field(True, bool),
    },
    "image_cnn": {
        "input_shape": Field(type="ints", check=_image_shape),
        "filters": Field((32, 64), "ints", all_positive),
        "kernel_size": Field(3, int, positive),
        "units": Field(128, int, positive),
        "dropout": Field(0.0, float, fraction),
    },
    "lstm": {
        **_EMBED,
        "hidden": Field(128, int, positive),
        "num_layers": Field(1, int, positive),
        "pooling": Field("mean", str, choices=("mean", "max", "last")),
        "dropout": Field(0.0, float, fraction),
    },
    "mlp": {
        "input_dim": Field(type=int, check=positive),
        "units": Field((256, 128), "ints", all_positive),
        "activation": Field("relu", str),
        "dropout": Field(0.0, float, fraction),
        "batch_norm": Field(False, bool),
    },
    "tagger": {
        **_EMBED,
        "embedding_dim": Field(64, int, positive),
        "hidden": Field(64, int, positive),
        "num_layers": Field(1, int, positive),
        "dense_layers": Field(0, int, non_negative),
        "dropout": Field(0.0, float, fraction),
    },
    "text_cnn": {
        **_EMBED,
        "filter_widths": Field((3, 4, 5), "ints", all_positive),
        "num_filters": Field(100, int, positive),
        "activation": Field("relu", str),
        "dropout": Field(0.5, float, fraction),
    },
    "text_mlp": {
        **_EMBED,
        "units": Field((128,), "ints", all_positive),
        "activation": Field("relu", str),
        "dropout": Field(0.0, float, fraction),
    },
}

ENCODER_PROVIDES = {name: ("pooled",) for name in ENCODERS} | {"tagger": ("sequence", "pooled")}

# --- models (mtlzoo.models.ARCHITECTURES, builder.MODEL_SCHEMA / TOWER_SCHEMA, soft_sharing.SCHEMAS) ---

ARCHITECTURES = ("cgc", "cross_stitch", "mmoe", "ple", "shared_bottom")

_STACK = {
    "units": Field((64,), "ints", all_positive),
    "activation": Field("relu", str),
    "dropout": Field(0.0, float, fraction),
}

EXPERTS = {
    "mmoe": {"num_experts": Field(4, int, positive), **_STACK},
    "cgc": {"num_shared_experts": Field(1, int, positive), "num_task_experts": Field(1, int, positive), **_STACK},
    "ple": {
        "num_shared_experts": Field(1, int, positive),
        "num_task_experts": Field(1, int, positive),
        "levels": Field(2, int, positive),
        **_STACK,
    },
    "cross_stitch": {"alpha_self": Field(1.0, float, _unit_interval), **_STACK},
}

TOWER = {
    "units": Field((64,), "ints", all_positive),
    "activation": Field("relu", str),
    "dropout": Field(0.0, float, fraction),
    # the output layer's kernel: Keras' default, or BERT's truncated normal (sd 0.02, as keras-hub's classifiers)
    "output_initializer": Field("glorot_uniform", str, choices=("glorot_uniform", "bert_truncated_normal")),
}

MODEL = {
    "architecture": Field("shared_bottom", str),
    # covariance alignment between E and B (Wu, Zhang & Ré 2020, Alg. 1): "joint" trains R_i with
    # everything; "fixed_encoder" trains the model first (R_i = I), then only R_i and the heads
    "alignment": Field("none", str, choices=("none", "joint", "fixed_encoder")),
    "alignment_penalty": Field(0.0, float, non_negative),
    # hold SVD task weights in the model (set when train.weighting.name = svd)
    "task_weights": Field(False, bool),
    # options of the soft-sharing architectures, validated by each (mtlzoo.models.soft_sharing)
    "experts": Field({}, "dict"),
    "encoder": Field(REQUIRED, "dict"),
    "tower": Field({}, "dict"),
}

# --- Keras (keras.activations.get accepts exactly these strings) ---

ACTIVATIONS = (
    "celu",
    "elu",
    "exponential",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
    "threshold",
)


# where each kind's live registry lives; consulted only when its module is already imported
LIVE = {
    "weighting": ("mtlzoo.weighting.weightings", "WEIGHTINGS"),
    "aggregator": ("mtlzoo.weighting.aggregators", "AGGREGATORS"),
    "sampler": ("mtlzoo.data.samplers", "SAMPLERS"),
    "data source": ("mtlzoo.data", "SOURCES"),
    "encoder": ("mtlzoo.encoders", "ENCODERS"),
    "architecture": ("mtlzoo.models.builder", "ARCHITECTURES"),
}


def user_names(kind):
    """Names registered at run time (a user's own weighting, source, encoder ...) that the
    static tables do not hold. Registering one imports its registry's module, so reading
    ``sys.modules`` finds it without importing TensorFlow here; their options are checked by
    :func:`mtlzoo.config.resolve_config` through the live registry."""
    import sys

    module, attr = LIVE[kind]
    live = getattr(sys.modules.get(module), attr, None)
    return [] if live is None else [n for n in live.names() if n not in KINDS[kind]]


def registry(kind, names):
    """A :class:`~mtlzoo.registry.Registry` of ``names`` plus the user-registered names of
    ``kind`` (entries: the names themselves), so that an unknown name is refused with the
    registry's own message (``unknown <kind> 'x'; choose one of ...``)."""
    reg = Registry(kind)
    for name in [*names, *user_names(kind)]:
        reg.register(name)(name)
    return reg


# the registries' kinds, as their error messages name them
KINDS = {
    "weighting": WEIGHTINGS,
    "aggregator": AGGREGATORS,
    "sampler": SAMPLERS,
    "data source": SOURCES,
    "encoder": ENCODERS,
    "architecture": ARCHITECTURES,
}
