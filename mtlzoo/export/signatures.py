"""Serving functions of a multi-task model: one signature per task, plus all tasks together.

A model maps a features dict to ``{task: output}``. Serving adds what a client wants from
each output, by task kind (``p`` is the model's output):

============  ===========================================  ==========================================
kind          outputs                                      meaning
============  ===========================================  ==========================================
binary        ``probabilities`` [B, 1], ``class_ids`` [B]  P(class 1); 1 where p >= 0.5
multiclass    ``probabilities`` [B, C], ``class_ids`` [B]  softmax; argmax
multilabel    ``probabilities`` [B, C], ``class_ids`` [B, C]  sigmoid per label; 1 where p >= 0.5
regression    ``values`` [B, C]                            the model's output
tagging       ``probabilities`` [B, T, C], ``class_ids`` [B, T]  argmax per token, -1 at padding
============  ===========================================  ==========================================

``serving_default`` returns every task's outputs named ``<task>_<output>``
(``digit_class_ids``); the signature named after a task returns only that task's
outputs, unprefixed (``class_ids``). If the model takes a ``task_id`` input (a
per-task alignment routes on it), it is not an input of any signature: it is
fixed inside to the task's index (task i = the i-th task name in sorted order),
and ``serving_default`` runs the model once per task.

Example:
    >>> module = ServingModule(model)                 # task kinds read from the model
    >>> fn, specs = module.signatures()["digit"]     # specs: [TensorSpec(name="features")]
    >>> fn(tf.zeros([2, 64]))["class_ids"].shape
    TensorShape([2])
"""

from mtlzoo.errors import ConfigError

OUTPUTS = {
    "binary": ("probabilities", "class_ids"),
    "multiclass": ("probabilities", "class_ids"),
    "multilabel": ("probabilities", "class_ids"),
    "regression": ("values",),
    "tagging": ("probabilities", "class_ids"),
}
TASK_ID = "task_id"
TEXT_INPUT = "text"


def output_names(spec, prefixed):
    """The output names a task contributes to a signature."""
    return [f"{spec.name}_{o}" if prefixed else o for o in OUTPUTS[spec.kind]]


def split_output_name(name, task_names):
    """``"digit_class_ids"`` -> ``("digit", "class_ids")`` given the task names; None if no match."""
    for t in sorted(task_names, key=len, reverse=True):
        rest = name[len(t) + 1 :]
        if name.startswith(t + "_") and any(rest in outs for outs in OUTPUTS.values()):
            return t, rest
    return None


def infer_tasks(model):
    """Task specs read from a model's output layers (used when there is no config).

    The output layer of task ``t`` is the layer named ``t`` (see
    :func:`mtlzoo.models.builder.task_head`): softmax over a sequence -> tagging,
    softmax -> multiclass, sigmoid with 1 unit -> binary, sigmoid -> multilabel,
    linear -> regression. Returns specs sorted by name.
    """
    from mtlzoo.tasks import TaskSpec

    outputs = model.output if isinstance(model.output, dict) else None
    if outputs is None:
        raise ConfigError(None, "the model's outputs are not a dict keyed by task; is it an mtlzoo model?")
    specs = []
    for name in sorted(outputs):
        shape = tuple(outputs[name].shape)
        try:
            act = getattr(getattr(model.get_layer(name), "activation", None), "__name__", None)
        except ValueError:
            act = None
        units = shape[-1]
        if act == "softmax":
            kind = "tagging" if len(shape) == 3 else "multiclass"
        elif act == "sigmoid":
            kind = "binary" if units == 1 else "multilabel"
        elif act == "linear":
            kind = "regression"
        else:
            raise ConfigError(
                None,
                f"cannot tell the kind of task {name!r} from the model (output layer activation {act!r}); "
                "export from a training workdir so its config.json names the task kinds",
            )
        specs.append(TaskSpec(name, kind, num_classes=None if kind == "binary" else units))
    return specs


def check_tasks(model, tasks):
    """Checks a task list against the model's outputs; returns it ordered by name."""
    outputs = model.output if isinstance(model.output, dict) else {}
    names = {t.name for t in tasks}
    if names != set(outputs):
        raise ConfigError(
            "tasks",
            f"the config names tasks {', '.join(sorted(names))} but the model outputs {', '.join(sorted(outputs))}",
        )
    return sorted(tasks, key=lambda t: t.name)


def model_input_specs(model):
    """``{name: tf.TensorSpec}`` of the model's inputs (``task_id`` included if present)."""
    import tensorflow as tf

    inputs = model.input if isinstance(model.input, dict) else None
    if inputs is None:
        raise ConfigError(None, "the model's inputs are not a dict of named features; is it an mtlzoo model?")
    return {name: tf.TensorSpec(tuple(t.shape), tf.as_dtype(t.dtype), name=name) for name, t in inputs.items()}


def task_outputs(spec, y, padding=None):
    """The serving outputs of one task from the model's output ``y`` (TF ops).

    ``padding``: bool ``[B, T]``, True at padding tokens (tagging only).
    """
    import tensorflow as tf

    y = tf.cast(y, tf.float32)
    if spec.kind == "regression":
        return {"values": y}
    if spec.kind == "binary":
        ids = tf.cast(y[:, 0] >= 0.5, tf.int64)
    elif spec.kind == "multilabel":
        ids = tf.cast(y >= 0.5, tf.int64)
    else:
        ids = tf.argmax(y, axis=-1, output_type=tf.int64)
        if spec.kind == "tagging" and padding is not None:
            ids = tf.where(padding, tf.constant(-1, tf.int64), ids)
    return {"probabilities": y, "class_ids": ids}


def padding_of(inputs):
    """Bool ``[B, T]`` padding mask from ``tokens`` (id 0) or BERT's ``padding_mask``; None otherwise."""
    import tensorflow as tf

    if "tokens" in inputs:
        return tf.equal(inputs["tokens"], 0)
    if "padding_mask" in inputs:
        return tf.equal(inputs["padding_mask"], 0)
    return None


class ServingModule:
    """Builds the serving functions of a multi-task Keras model.

    Args:
        model: functional mtlzoo model (dict inputs, dict outputs keyed by task).
        tasks: list of TaskSpec; None reads the kinds from the model (:func:`infer_tasks`).
        tokenizer: optional tokenizer (see :mod:`mtlzoo.export.tokenizers`) whose
            outputs are model inputs; adds raw-string signatures ``text`` (all
            tasks) and ``<task>_text``.
    """

    def __init__(self, model, tasks=None, tokenizer=None):
        self.model = model
        self.tasks = check_tasks(model, tasks) if tasks is not None else infer_tasks(model)
        self.specs = model_input_specs(model)
        self.has_task_id = TASK_ID in self.specs
        self.input_specs = {k: v for k, v in self.specs.items() if k != TASK_ID}
        self.tokenizer = tokenizer
        self.resources = []
        if tokenizer is not None:
            tokenizer.check_model(self.input_specs, model)
            self.resources = tokenizer.build()
        self._check_names()

    @property
    def task_names(self):
        return [t.name for t in self.tasks]

    def layout(self):
        """``{signature: (task names, prefixed outputs, raw-string input)}`` in a stable order."""
        out = {"serving_default": (self.task_names, True, False)}
        out.update({t: ([t], False, False) for t in self.task_names})
        if self.tokenizer is not None:
            out[TEXT_INPUT] = (self.task_names, True, True)
            out.update({f"{t}_{TEXT_INPUT}": ([t], False, True) for t in self.task_names})
        return out

    def signature_names(self):
        names = ["serving_default", *self.task_names]
        if self.tokenizer is not None:
            names += [TEXT_INPUT, *[f"{t}_{TEXT_INPUT}" for t in self.task_names]]
        return names

    def is_text(self, signature):
        return self.layout()[signature][2]

    def _check_names(self):
        names = self.signature_names()
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError("tasks", f"task name {dupes[0]!r} clashes with a serving signature name")

    def outputs(self, inputs, task_names, prefixed):
        """Flat dict of serving outputs for ``task_names`` from the model inputs (no task_id)."""
        import tensorflow as tf

        inputs = {k: tf.convert_to_tensor(v) for k, v in inputs.items()}
        padding = padding_of(inputs)
        by_task = {}
        if self.has_task_id:
            batch = tf.shape(next(iter(inputs.values())))[0]
            for name in task_names:
                index = self.task_names.index(name)
                feed = dict(inputs, **{TASK_ID: tf.fill([batch], tf.constant(index, self.specs[TASK_ID].dtype))})
                by_task[name] = self.model(feed, training=False)[name]
        else:
            out = self.model(dict(inputs), training=False)
            by_task = {name: out[name] for name in task_names}
        flat = {}
        for spec in self.tasks:
            if spec.name in by_task:
                for key, value in task_outputs(spec, by_task[spec.name], padding).items():
                    flat[f"{spec.name}_{key}" if prefixed else key] = value
        return flat

    def _make(self, task_names, prefixed, text):
        names = list(self.input_specs)

        if text:

            def fn(text_batch):
                return self.outputs(self.tokenizer(text_batch), task_names, prefixed)

            return fn, [self.tokenizer.input_spec()]

        def fn(*args):
            return self.outputs(dict(zip(names, args, strict=True)), task_names, prefixed)

        return fn, list(self.input_specs.values())

    def signatures(self):
        """``{signature name: (python fn, [tf.TensorSpec])}`` in a stable order."""
        return {name: self._make(*spec) for name, spec in self.layout().items()}

    def describe(self):
        """JSON-able description: tasks, signatures with their inputs and outputs."""
        by_name = {t.name: t for t in self.tasks}
        sigs = {}
        for name, (task_names, prefixed, text) in self.layout().items():
            inputs = (
                {TEXT_INPUT: {"dtype": "string", "shape": [None]}}
                if text
                else {k: {"dtype": v.dtype.name, "shape": list(v.shape)} for k, v in self.input_specs.items()}
            )
            sigs[name] = {
                "tasks": list(task_names),
                "inputs": inputs,
                "outputs": [o for t in task_names for o in output_names(by_name[t], prefixed)],
            }
        return {
            "tasks": {t.name: {"kind": t.kind, "num_classes": t.num_classes} for t in self.tasks},
            "task_id_input": self.has_task_id,
            "signatures": sigs,
        }
