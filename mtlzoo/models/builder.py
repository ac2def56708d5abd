"""``build_model(config)``: a functional multi-task ``keras.Model``.

The model maps the features dict to ``{task name: output}``::

    features --E--> embedding --B (shared encoder)--> representation
        --tower_i (small MLP)--> output layer_i (by task kind) --> outputs[task_i]

Inputs depend on the encoder (``features``, ``tokens``, ``image`` or BERT's three);
outputs are float32 even under mixed precision. Architectures are chosen by name
(``model.architecture``); ``shared_bottom`` is hard parameter sharing (Caruana 1997),
the setting of Wu, Zhang & Ré (2020): one shared B, one head A_i per task.
"""

import keras

from mtlzoo import options
from mtlzoo.errors import ConfigError
from mtlzoo.registry import Registry
from mtlzoo.schema import check_fields

ARCHITECTURES = Registry("architecture")

# the model section's schemas are the static tables of mtlzoo.options (one source, no TensorFlow)
TOWER_SCHEMA = options.TOWER
MODEL_SCHEMA = options.MODEL


def resolve_model_config(config):
    """Validates the parts build_model needs (tasks, model); returns (tasks, model dict)."""
    from mtlzoo import encoders
    from mtlzoo.tasks import tasks_from_config

    tasks = tasks_from_config(config.get("tasks"), field="tasks")
    if config.get("model") is None:
        raise ConfigError("model", "missing required field")
    model = check_fields(config["model"], MODEL_SCHEMA, "model")
    ARCHITECTURES.get(model["architecture"], "model.architecture")
    enc_cfg = dict(model["encoder"])
    if "name" not in enc_cfg:
        raise ConfigError("model.encoder.name", "missing required field")
    encoder = encoders.ENCODERS.get(enc_cfg.pop("name"), "model.encoder.name")
    model["encoder"] = {"name": encoder.name, **encoder.resolve(enc_cfg, "model.encoder")}
    model["tower"] = check_fields(model["tower"], TOWER_SCHEMA, "model.tower")
    for spec in tasks:
        need = "sequence" if spec.is_sequence else "pooled"
        if need not in encoder.provides:
            what = "one vector per token (tagger)" if spec.is_sequence else "a pooled vector"
            raise ConfigError(
                f"tasks.{spec.name}.kind",
                f"a {spec.kind} task needs an encoder with {what}; {encoder.name!r} gives {' and '.join(encoder.provides)}",
            )
    return tasks, model


def task_head(spec, x, tower):
    """Tower (Dense stack) and output layer for one task.

    ``tower.output_initializer`` draws the output layer's kernel: ``glorot_uniform`` (Keras'
    default) or ``bert_truncated_normal`` (normal with sd 0.02 cut at 2 sd, BERT's and keras-hub's
    classifier heads). ``tower.dropout`` acts on the input of the output layer and of every tower layer after the
    first: after each tower layer, or, with no tower layers (``units: []``, a linear head on the
    shared representation, as in BERT fine-tuning), on the shared representation itself.

    Naming convention: a task's own layers are named ``<task>`` (the output layer) or
    ``<task>__<part>``; :func:`split_variables` relies on it.
    """
    for i, units in enumerate(tower["units"]):
        x = keras.layers.Dense(units, activation=tower["activation"], name=f"{spec.name}__tower_{i}")(x)
        if tower["dropout"]:
            x = keras.layers.Dropout(tower["dropout"], name=f"{spec.name}__tower_dropout_{i}")(x)
    if tower["dropout"] and not tower["units"]:
        x = keras.layers.Dropout(tower["dropout"], name=f"{spec.name}__head_dropout")(x)
    init = tower["output_initializer"]
    kernel = keras.initializers.TruncatedNormal(stddev=0.02) if init == "bert_truncated_normal" else init
    return keras.layers.Dense(
        spec.output_units, activation=spec.output_activation, kernel_initializer=kernel, dtype="float32", name=spec.name
    )(x)


def is_task_layer(layer_name, task):
    return layer_name == task or layer_name.startswith(task + "__")


def split_variables(model, task_names):
    """Trainable variables of ``model`` split into shared ones and each task's own.

    Returns ``(shared, {task: [variables]})``; a variable is a task's if its layer is
    named ``<task>`` or ``<task>__...`` (see :func:`task_head`). The alignment layer's
    R_i are task-specific too (task i's examples only reach R_i); they come back under
    the key ``"alignment"``, so gradient aggregators never mix them.
    """
    own = {t: [] for t in task_names}
    shared = []
    for layer in model.layers:
        owner = next((t for t in task_names if is_task_layer(layer.name, t)), None)
        if owner is None and layer.name == "alignment":
            owner = "alignment"
            own.setdefault(owner, [])
        (own[owner] if owner else shared).extend(layer.trainable_variables)
    return shared, own


def embed_and_align(tasks, model_cfg, encoder, inputs):
    """E(x), followed by the per-task covariance alignment when ``model.alignment`` is on.

    With alignment a ``task_id`` input (int32 [batch]) routes each example through its
    task's R_i (Wu, Zhang & Ré 2020, Algorithm 1), between E and the shared module B.
    """
    x = encoder.embed(inputs)
    if model_cfg["alignment"] == "none":
        return x
    from mtlzoo.layers import CovarianceAlignment

    inputs["task_id"] = keras.Input((), dtype="int32", name="task_id")
    return CovarianceAlignment(len(tasks), identity_penalty=model_cfg["alignment_penalty"], name="alignment")(
        [x, inputs["task_id"]]
    )


@ARCHITECTURES.register("shared_bottom")
def shared_bottom(tasks, model_cfg, encoder):
    """Hard parameter sharing: one encoder, one tower + output per task."""
    inputs = encoder.inputs()
    rep = encoder.encode(embed_and_align(tasks, model_cfg, encoder, inputs), inputs)
    rep = mark_representations(hold_task_weights(rep, tasks, model_cfg), tasks)
    outputs = {
        spec.name: task_head(spec, rep["sequence" if spec.is_sequence else "pooled"], model_cfg["tower"])
        for spec in tasks
    }
    return inputs, outputs


REPRESENTATION_LAYERS = {"pooled": "shared_pooled", "sequence": "shared_sequence"}


def mark_representations(rep, tasks):
    """Passes the shared representations the tasks use through identity layers named
    ``shared_pooled`` / ``shared_sequence``, so the training engine can take per-task
    gradients with respect to them (``train.per_task_grads = "representation"``)."""
    used = {"sequence" if t.is_sequence else "pooled" for t in tasks}
    return {k: keras.layers.Identity(name=REPRESENTATION_LAYERS[k])(v) if k in used else v for k, v in rep.items()}


def hold_task_weights(rep, tasks, model_cfg):
    """With ``model.task_weights`` a :class:`~mtlzoo.layers.TaskWeights` layer (identity)
    on the pooled representation holds the SVD task weights inside the model."""
    if not model_cfg.get("task_weights"):
        return rep
    from mtlzoo.layers import TaskWeights

    key = "pooled" if "pooled" in rep else "sequence"
    return {**rep, key: TaskWeights(len(tasks), name="task_weights")(rep[key])}


def build_model(config, vocab=None):
    """Builds the multi-task model described by ``config`` (needs ``tasks`` and ``model``).

    Args:
        config: ConfigDict or mapping with ``tasks`` ({name: {kind, num_classes, ...}})
            and ``model`` ({architecture, encoder: {name, ...}, tower: {...}}).
        vocab: the run's token vocabulary (list, id = position; the data source's
            ``info["vocab"]``): the rows a text encoder's ``embedding_pretrained`` fills when
            ``embedding_vocab_file`` is unset. :func:`mtlzoo.training.train` passes it.

    Returns:
        A functional ``keras.Model``; ``model.output_names`` are the task names.

    Raises:
        ConfigError: naming the first invalid field.

    Example:
        >>> model = build_model({"tasks": {"a": {"kind": "binary"}},
        ...                      "model": {"encoder": {"name": "mlp", "input_dim": 8}}})
        >>> sorted(model.output.keys())
        ['a']
    """
    from mtlzoo.encoders import ENCODERS

    if hasattr(config, "to_dict"):
        config = config.to_dict()
    tasks, model_cfg = resolve_model_config(config)
    enc_opts = dict(model_cfg["encoder"])
    encoder = ENCODERS.get(enc_opts.pop("name"))(enc_opts)
    encoder.vocab = vocab
    inputs, outputs = ARCHITECTURES.get(model_cfg["architecture"])(tasks, model_cfg, encoder)
    try:
        return keras.Model(inputs=inputs, outputs=outputs, name=f"mtl_{model_cfg['architecture']}")
    except ValueError as e:
        if "unique" in str(e) or "used" in str(e):
            raise ConfigError("tasks", f"a task name clashes with a layer of the model: {e}") from e
        raise
