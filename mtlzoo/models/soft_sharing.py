"""Soft-sharing architectures: ``mmoe``, ``cgc``, ``ple`` and ``cross_stitch``.

Chosen by ``model.architecture``; their options live in ``model.experts`` (validated
here, per architecture, so a field another architecture uses is rejected by name).
All sit on top of the encoder's pooled representation (after E, the optional
alignment and B), so they combine with every encoder that gives one::

    features --E--(alignment)--B--> z --experts / columns--> per-task input --tower_i--> output_i

* ``mmoe`` (Ma et al. 2018): ``num_experts`` shared experts ``f_j`` (Dense stacks,
  ``units``) and a softmax gate per task, ``h_i = sum_j g_ij(z) f_j(z)`` (eqs. 4-5).
  Options: ``num_experts`` (4), ``units`` ([64]), ``activation``, ``dropout``.
* ``cgc`` (Tang et al. 2020, Customized Gate Control): ``num_shared_experts`` shared
  and ``num_task_experts`` experts per task; task i's gate mixes its own experts and
  the shared ones (eqs. 1-2). Options as mmoe's with those two counts.
* ``ple`` (Tang et al. 2020, Progressive Layered Extraction): ``levels`` CGC extraction
  layers; below the last, a shared gate mixes every expert of the level into the next
  level's shared input, and task i's gate output is task i's next input (eqs. 3-4).
* ``cross_stitch`` (Misra et al. 2016): a column per task (a Dense stack ``units`` on
  ``z``), the columns mixed after every layer by a :class:`~mtlzoo.layers.CrossStitch`
  unit initialised to ``alpha_self`` on the diagonal (1.0: identity). With the ``mlp``
  encoder and ``encoder.units = []`` the columns start at the features, as in the paper
  (whose columns are whole networks); otherwise they share the encoder below them.

Naming (see :func:`mtlzoo.models.builder.split_variables`): task experts, gates,
mixtures and columns are named ``<task>__...`` and are task-specific; shared experts
(``expert_j_...``, ``level<l>_shared_expert_j_...``), PLE's shared gates and the
cross-stitch units are shared, so gradient aggregators act on them.

Representation marking: these architectures have no single shared representation
that every task's loss reaches only through (experts/gates/cross-stitch units above z
are shared too), so nothing is marked ``shared_pooled`` and
``train.per_task_grads = "representation"`` raises its ConfigError; use the default
``params`` mode, which takes per-task gradients over all shared parameters. Tagging
(sequence) tasks are not supported by these architectures.

Inspection after training: :func:`gate_statistics` (mean gate weight per expert per
task) and :func:`cross_stitch_matrices` (the learned alpha of each unit).
"""

import re

import keras

from mtlzoo import options
from mtlzoo.errors import ConfigError
from mtlzoo.models.builder import ARCHITECTURES, embed_and_align, hold_task_weights, is_task_layer, task_head
from mtlzoo.schema import check_fields

# the ``model.experts`` schema of each soft-sharing architecture (mtlzoo.options, one source)
SCHEMAS = options.EXPERTS


def architecture_options(name, model_cfg):
    """``model.experts`` checked against architecture ``name``'s schema, defaults filled."""
    return check_fields(model_cfg.get("experts") or {}, SCHEMAS[name], "model.experts")


def _shared_input(name, tasks, model_cfg, encoder):
    """Inputs and the pooled representation z (after E, alignment, B, task weights)."""
    for spec in tasks:
        if spec.is_sequence:
            raise ConfigError(
                "model.architecture", f"{name} supports example-level tasks only; task {spec.name!r} is a tagging task"
            )
    inputs = encoder.inputs()
    rep = encoder.encode(embed_and_align(tasks, model_cfg, encoder, inputs), inputs)
    if "pooled" not in rep:
        raise ConfigError("model.encoder.name", f"{name} needs an encoder with a pooled representation")
    rep = hold_task_weights(rep, tasks, model_cfg)
    return inputs, rep["pooled"]


def _dense_stack(x, opts, prefix):
    """Dense layers ``<prefix>_dense_<i>`` (and dropout) with ``opts`` units/activation/dropout."""
    for i, units in enumerate(opts["units"]):
        x = keras.layers.Dense(units, activation=opts["activation"], name=f"{prefix}_dense_{i}")(x)
        if opts["dropout"]:
            x = keras.layers.Dropout(opts["dropout"], name=f"{prefix}_dropout_{i}")(x)
    return x


def _mix(x, experts, names, prefix):
    """Gate ``<prefix>_gate`` on ``x`` over ``experts`` and their mixture ``<prefix>_mixture``."""
    from mtlzoo.layers import ExpertMixture, MixtureGate

    gate = MixtureGate(len(experts), expert_names=names, name=f"{prefix}_gate")(x)
    return ExpertMixture(name=f"{prefix}_mixture")([gate, *experts])


def _heads(tasks, model_cfg, per_task):
    return {spec.name: task_head(spec, per_task[spec.name], model_cfg["tower"]) for spec in tasks}


@ARCHITECTURES.register("mmoe")
def mmoe(tasks, model_cfg, encoder):
    """Multi-gate mixture of experts (Ma et al. 2018): shared experts, one softmax gate per task."""
    opts = architecture_options("mmoe", model_cfg)
    inputs, z = _shared_input("mmoe", tasks, model_cfg, encoder)
    names = [f"expert_{j}" for j in range(opts["num_experts"])]
    experts = [_dense_stack(z, opts, n) for n in names]
    per_task = {spec.name: _mix(z, experts, names, f"{spec.name}_") for spec in tasks}
    return inputs, _heads(tasks, model_cfg, per_task)


def _extraction(tasks, model_cfg, encoder, name, levels):
    opts = architecture_options(name, model_cfg)
    levels = opts["levels"] if levels is None else levels
    inputs, z = _shared_input(name, tasks, model_cfg, encoder)
    task_in = {spec.name: z for spec in tasks}
    shared_in = z
    for lvl in range(levels):
        shared_names = [f"level{lvl}_shared_expert_{j}" for j in range(opts["num_shared_experts"])]
        shared = [_dense_stack(shared_in, opts, n) for n in shared_names]
        own, own_names = {}, {}
        for spec in tasks:
            own_names[spec.name] = [f"{spec.name}__level{lvl}_expert_{j}" for j in range(opts["num_task_experts"])]
            own[spec.name] = [_dense_stack(task_in[spec.name], opts, n) for n in own_names[spec.name]]
        last = lvl == levels - 1
        if not last:  # the shared gate of PLE (eq. 4) sees every expert of the level
            every = [e for spec in tasks for e in own[spec.name]] + shared
            every_names = [n for spec in tasks for n in own_names[spec.name]] + shared_names
            shared_in = _mix(shared_in, every, every_names, f"level{lvl}_shared")
        task_in = {
            spec.name: _mix(
                task_in[spec.name],
                own[spec.name] + shared,
                own_names[spec.name] + shared_names,
                f"{spec.name}__level{lvl}",
            )
            for spec in tasks
        }
    return inputs, _heads(tasks, model_cfg, task_in)


@ARCHITECTURES.register("cgc")
def cgc(tasks, model_cfg, encoder):
    """Customized Gate Control (Tang et al. 2020): shared + task experts, one gate per task."""
    return _extraction(tasks, model_cfg, encoder, "cgc", levels=1)


@ARCHITECTURES.register("ple")
def ple(tasks, model_cfg, encoder):
    """Progressive Layered Extraction (Tang et al. 2020): ``levels`` CGC layers with shared gates."""
    return _extraction(tasks, model_cfg, encoder, "ple", levels=None)


@ARCHITECTURES.register("cross_stitch")
def cross_stitch(tasks, model_cfg, encoder):
    """Cross-stitch networks (Misra et al. 2016): per-task columns mixed after every layer."""
    from mtlzoo.layers import CrossStitch

    opts = architecture_options("cross_stitch", model_cfg)
    inputs, z = _shared_input("cross_stitch", tasks, model_cfg, encoder)
    names = [spec.name for spec in tasks]
    cols = [z] * len(names)
    for i, units in enumerate(opts["units"]):
        cols = [
            keras.layers.Dense(units, activation=opts["activation"], name=f"{t}__column_{i}")(c)
            for t, c in zip(names, cols, strict=True)
        ]
        if opts["dropout"]:
            cols = [
                keras.layers.Dropout(opts["dropout"], name=f"{t}__column_dropout_{i}")(c)
                for t, c in zip(names, cols, strict=True)
            ]
        cols = CrossStitch(len(names), alpha_self=opts["alpha_self"], task_names=names, name=f"cross_stitch_{i}")(cols)
        cols = list(cols)
    return inputs, _heads(tasks, model_cfg, dict(zip(names, cols, strict=True)))


def _gate_layers(model):
    from mtlzoo.layers import MixtureGate

    return [layer for layer in model.layers if isinstance(layer, MixtureGate)]


def gate_statistics(model, features, by_layer=False, batch_size=256):
    """Mean gate weight per expert per task on ``features`` (a dict of model inputs).

    Returns ``{task: {expert name: mean weight}}`` from each task's gate (the last
    extraction level's for ``ple``); each task's weights sum to 1. With ``by_layer``,
    ``{gate layer name: {expert name: mean weight}}`` for every gate, PLE's shared gates
    and lower levels included. ``{}`` for a model without gates.

    Example:
        >>> stats = gate_statistics(model, {"features": x})
        >>> stats["digit"]      # {'expert_0': 0.31, 'expert_1': 0.12, ...}
    """
    import numpy as np

    gates = _gate_layers(model)
    if not gates:
        return {}
    probe = keras.Model(model.input, [g.output for g in gates])
    outs = probe.predict(features, batch_size=batch_size, verbose=0)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    per_layer = {}
    for g, w in zip(gates, outs, strict=True):
        names = g.expert_names or [f"expert_{j}" for j in range(g.num_experts)]
        per_layer[g.name] = {
            n: float(m) for n, m in zip(names, np.mean(np.asarray(w, np.float64), axis=0), strict=True)
        }
    if by_layer:
        return per_layer
    out = {}
    for name in model.output_names:
        own = [g.name for g in gates if is_task_layer(g.name, name)]
        if own:
            out[name] = per_layer[max(own, key=_level)]  # ple: the last extraction level
    return out


def _level(layer_name):
    m = re.search(r"__level(\d+)_gate$", layer_name)
    return int(m.group(1)) if m else -1


def cross_stitch_matrices(model):
    """The learned alpha of every cross-stitch unit: ``{layer: {task_i: {task_j: alpha_ij}}}``.

    Row ``task_i`` says how much of each column ``task_j`` task i's next layer reads.
    """
    from mtlzoo.layers import CrossStitch

    out = {}
    for layer in model.layers:
        if isinstance(layer, CrossStitch):
            alpha = keras.ops.convert_to_numpy(layer.alpha)
            names = layer.task_names or [str(i) for i in range(layer.num_tasks)]
            out[layer.name] = {a: {b: float(alpha[i, j]) for j, b in enumerate(names)} for i, a in enumerate(names)}
    return out


def architecture_statistics(model, features):
    """Everything a user inspects after training: ``{"gates": ..., "cross_stitch": ...}``
    (only the keys that apply); meant for the evaluation output."""
    out = {}
    gates = gate_statistics(model, features)
    if gates:
        out["gates"] = gates
    stitches = cross_stitch_matrices(model)
    if stitches:
        out["cross_stitch"] = stitches
    return out
