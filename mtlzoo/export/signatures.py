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

With label names (``label_names={task: [name by class id]}``; binary: the names of class 0
and class 1), binary, multiclass and tagging tasks also return ``label`` (string ``[B]``,
``[B, T]`` for tagging with ``""`` at padding): the name of ``class_ids``, e.g.
``entailment`` / ``not_entailment``.

``serving_default`` returns every task's outputs named ``<task>_<output>``
(``digit_class_ids``); the signature named after a task returns only that task's
outputs, unprefixed (``class_ids``). If the model takes a ``task_id`` input (a
per-task alignment routes on it), it is not an input of any signature: it is
fixed inside to the task's index (task i = the i-th task name in sorted order),
and ``serving_default`` runs the model once per task.

Every signature calls one ``tf.function`` of the model (``ServingModule._forward``), which is
traced per input structure (model inputs, tokenized text, tokenized pairs; once more inside
TensorFlow's save), not per signature and task: the 13 signatures of a five-task text-pair
model share the traces of 3 input structures. The raw-text and pair signatures likewise call
one traced tokenization each (``ServingModule._tokenize``).

Raw-text signatures (with a tokenizer): ``text`` (input ``text``, all tasks, prefixed
outputs) and ``<task>_text``; a tokenizer that packs sentence pairs (``wordpiece``) adds
``text_pair`` (inputs ``text_a`` and ``text_b``, all tasks) and ``<task>_text_pair``. When
each task's text fields are known (``text_fields={task: (first, second or None)}``, a GLUE
source's ``info``), a task gets only the per-task variant that fits it: ``rte_text_pair``
but no ``rte_text``, ``cola_text`` but no ``cola_text_pair``.

Example:
    >>> module = ServingModule(model)                 # task kinds read from the model
    >>> fn, specs = module.signatures()["digit"]     # specs: [TensorSpec(name="features")]
    >>> fn(tf.zeros([2, 64]))["class_ids"].shape
    TensorShape([2])
"""

import functools

from mtlzoo.errors import ConfigError

OUTPUTS = {
    "binary": ("probabilities", "class_ids"),
    "multiclass": ("probabilities", "class_ids"),
    "multilabel": ("probabilities", "class_ids"),
    "regression": ("values",),
    "tagging": ("probabilities", "class_ids"),
}
LABEL_OUTPUT = "label"  # with label names: the name of class_ids (binary, multiclass, tagging)
LABELLED_KINDS = ("binary", "multiclass", "tagging")
TASK_ID = "task_id"
TEXT_INPUT = "text"
PAIR_SIGNATURE = "text_pair"
PAIR_INPUTS = ("text_a", "text_b")


def output_names(spec, prefixed, labelled=False):
    """The output names a task contributes to a signature (``labelled``: it has label names)."""
    outs = [*OUTPUTS[spec.kind], *([LABEL_OUTPUT] if labelled and spec.kind in LABELLED_KINDS else [])]
    return [f"{spec.name}_{o}" if prefixed else o for o in outs]


def split_output_name(name, task_names):
    """``"digit_class_ids"`` -> ``("digit", "class_ids")`` given the task names; None if no match."""
    for t in sorted(task_names, key=len, reverse=True):
        rest = name[len(t) + 1 :]
        if name.startswith(t + "_") and (rest == LABEL_OUTPUT or any(rest in outs for outs in OUTPUTS.values())):
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


def check_label_names(tasks, label_names):
    """``{task: tuple of names}`` for the labelled kinds; ConfigError on a count that does not fit."""
    out = {}
    by_name = {t.name: t for t in tasks}
    for task, names in (label_names or {}).items():
        if task not in by_name:
            raise ConfigError("label_names", f"no task named {task!r}; the model has {', '.join(sorted(by_name))}")
        spec = by_name[task]
        if names is None or spec.kind not in LABELLED_KINDS:
            continue
        want = 2 if spec.kind == "binary" else spec.num_classes
        names = tuple(str(n) for n in names)
        if len(names) != want:
            raise ConfigError(f"label_names.{task}", f"has {len(names)} names but the task has {want} classes")
        out[task] = names
    return out


def task_outputs(spec, y, padding=None, names=None):
    """The serving outputs of one task from the model's output ``y`` (TF ops).

    ``padding``: bool ``[B, T]``, True at padding tokens (tagging only). ``names``: label
    names by class id; adds ``label`` (``""`` at padding).
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
    out = {"probabilities": y, "class_ids": ids}
    if names:
        table = tf.constant([*names, ""])  # id -1 (padding) -> the last entry, ""
        out[LABEL_OUTPUT] = tf.gather(table, tf.where(ids < 0, tf.constant(len(names), tf.int64), ids))
    return out


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
            tasks) and ``<task>_text`` (and the pair signatures, see the module doc).
        label_names: ``{task: [name by class id]}``; adds ``label`` outputs.
        text_fields: ``{task: (first, second or None)}``; picks each task's raw-text variant.
    """

    def __init__(self, model, tasks=None, tokenizer=None, label_names=None, text_fields=None):
        self.model = model
        self.tasks = check_tasks(model, tasks) if tasks is not None else infer_tasks(model)
        self.label_names = check_label_names(self.tasks, label_names)
        self.text_fields = {t: tuple(f) if f is not None else None for t, f in (text_fields or {}).items()}
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

    @property
    def pairs(self):
        return self.tokenizer is not None and getattr(self.tokenizer, "supports_pairs", False)

    def _task_modes(self, task):
        """The raw-text modes (``"text"``, ``"pair"``) of a task's own signatures."""
        if not self.pairs:
            return ("text",)
        fields = self.text_fields.get(task)
        if fields is None:
            return ("text", "pair")
        return ("pair",) if len(fields) > 1 and fields[1] else ("text",)

    def layout(self):
        """``{signature: (task names, prefixed outputs, input mode)}`` in a stable order.

        Input mode: None (model inputs), ``"text"`` (raw ``text``) or ``"pair"`` (``text_a``, ``text_b``).
        """
        out = {"serving_default": (self.task_names, True, None)}
        out.update({t: ([t], False, None) for t in self.task_names})
        if self.tokenizer is not None:
            out[TEXT_INPUT] = (self.task_names, True, "text")
            if self.pairs:
                out[PAIR_SIGNATURE] = (self.task_names, True, "pair")
            for t in self.task_names:
                for mode in self._task_modes(t):
                    out[f"{t}_{TEXT_INPUT if mode == 'text' else PAIR_SIGNATURE}"] = ([t], False, mode)
        return out

    def signature_names(self):
        names = ["serving_default", *self.task_names]
        if self.tokenizer is not None:
            names += [TEXT_INPUT, *([PAIR_SIGNATURE] if self.pairs else [])]
            for t in self.task_names:
                names += [f"{t}_{TEXT_INPUT if m == 'text' else PAIR_SIGNATURE}" for m in self._task_modes(t)]
        return names

    def input_mode(self, signature):
        return self.layout()[signature][2]

    def is_text(self, signature):
        return self.input_mode(signature) is not None

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
        if self.has_task_id:
            dtype = self.specs[TASK_ID].dtype
            by_task = {n: self._forward(inputs, tf.constant(self.task_names.index(n), dtype))[n] for n in task_names}
        else:
            out = self._forward(inputs)
            by_task = {name: out[name] for name in task_names}
        flat = {}
        for spec in self.tasks:
            if spec.name in by_task:
                outs = task_outputs(spec, by_task[spec.name], padding, self.label_names.get(spec.name))
                for key, value in outs.items():
                    flat[f"{spec.name}_{key}" if prefixed else key] = value
        return flat

    @functools.cached_property
    def _forward(self):
        """The model in inference mode as one ``tf.function`` that every signature calls: traced
        once per input structure (model inputs, tokenized text, tokenized pairs), not once per
        signature and task. ``forward(inputs, task_index)`` with a ``task_id`` input (the index
        filled in per example inside), ``forward(inputs)`` without."""
        import tensorflow as tf

        if self.has_task_id:

            def forward(inputs, index):
                batch = tf.shape(next(iter(inputs.values())))[0]
                return self.model(dict(inputs, **{TASK_ID: tf.fill([batch], index)}), training=False)

        else:

            def forward(inputs):
                return self.model(dict(inputs), training=False)

        return tf.function(forward, autograph=False)

    @functools.cached_property
    def _tokenize(self):
        """The tokenizer as one ``tf.function`` per method that the raw-text signatures call,
        traced once, not once per signature: ``"text"`` (text -> model inputs) and, for a
        tokenizer that packs pairs, ``"pair"`` ((text_a, text_b) -> model inputs)."""
        import tensorflow as tf

        methods = {"text": self.tokenizer.__call__, "pair": getattr(self.tokenizer, "pair", None)}
        return {name: tf.function(fn, autograph=False) for name, fn in methods.items() if fn is not None}

    def _make(self, task_names, prefixed, mode):
        names = list(self.input_specs)

        if mode == "text":

            def fn(text_batch):
                return self.outputs(self._tokenize["text"](text_batch), task_names, prefixed)

            return fn, [self.tokenizer.input_spec()]
        if mode == "pair":

            def pair_fn(text_a, text_b):
                return self.outputs(self._tokenize["pair"](text_a, text_b), task_names, prefixed)

            return pair_fn, self.tokenizer.pair_input_specs()

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
        string = {"dtype": "string", "shape": [None]}
        for name, (task_names, prefixed, mode) in self.layout().items():
            if mode == "text":
                inputs = {TEXT_INPUT: string}
            elif mode == "pair":
                inputs = {k: string for k in PAIR_INPUTS}
            else:
                inputs = {k: {"dtype": v.dtype.name, "shape": list(v.shape)} for k, v in self.input_specs.items()}
            sigs[name] = {
                "tasks": list(task_names),
                "inputs": inputs,
                "prefixed": prefixed,
                "outputs": [o for t in task_names for o in output_names(by_name[t], prefixed, t in self.label_names)],
            }
        return {
            "tasks": {
                t.name: {
                    "kind": t.kind,
                    "num_classes": t.num_classes,
                    "label_names": list(self.label_names[t.name]) if t.name in self.label_names else None,
                    "text_fields": list(self.text_fields[t.name]) if self.text_fields.get(t.name) else None,
                }
                for t in self.tasks
            },
            "task_id_input": self.has_task_id,
            "signatures": sigs,
        }
