"""Serving functions: outputs by task kind, per-task signatures, task_id fixed inside."""

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from tests.export.common import FOUR_KINDS, TAGGER_TASKS, build, expected_outputs, random_inputs


def _call(module, name, inputs):
    fn, specs = module.signatures()[name]
    return {k: np.asarray(v) for k, v in fn(*[inputs[s.name] for s in specs]).items()}


def test_outputs_by_kind_match_numpy_on_the_model_output():
    from mtlzoo.export import ServingModule
    from mtlzoo.tasks import tasks_from_config

    model = build("mlp", FOUR_KINDS)
    module = ServingModule(model, tasks_from_config(FOUR_KINDS))
    x = random_inputs("mlp", batch=7)
    y = model.predict(x, verbose=0)
    got = _call(module, "serving_default", x)
    want = {}
    for t in tasks_from_config(FOUR_KINDS):
        want.update({f"{t.name}_{k}": v for k, v in expected_outputs(t.kind, y[t.name]).items()})
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
        assert got[k].shape == want[k].shape, k
    # each task's own signature: only its outputs, unprefixed
    for t in tasks_from_config(FOUR_KINDS):
        own = _call(module, t.name, x)
        assert sorted(own) == sorted(expected_outputs(t.kind, y[t.name]))
        for k, v in expected_outputs(t.kind, y[t.name]).items():
            np.testing.assert_allclose(own[k], v, rtol=1e-5, atol=1e-6)


def test_kinds_read_from_the_model_equal_the_config():
    from mtlzoo.export import infer_tasks
    from mtlzoo.tasks import tasks_from_config

    for tasks, enc in ((FOUR_KINDS, "mlp"), (TAGGER_TASKS, "tagger")):
        got = [(t.name, t.kind, t.num_classes) for t in infer_tasks(build(enc, tasks))]
        assert got == [(t.name, t.kind, t.num_classes) for t in tasks_from_config(tasks)]


def test_tagging_class_ids_are_minus_one_at_padding():
    from mtlzoo.export import ServingModule

    model = build("tagger", TAGGER_TASKS)
    x = random_inputs("tagger", batch=4)
    y = model.predict(x, verbose=0)
    got = _call(ServingModule(model), "pos", x)
    want = expected_outputs("tagging", y["pos"], padding=x["tokens"] == 0)
    assert (got["class_ids"][x["tokens"] == 0] == -1).all() and (x["tokens"] == 0).any()
    np.testing.assert_array_equal(got["class_ids"], want["class_ids"])


def _task_id_model(traced=None):
    """Two tasks whose outputs depend on task_id: output_i = sigmoid(w . x + 3 * task_id).
    ``traced``: a list that gets one item each time the model's graph is built (a Python call)."""
    import keras

    def shift_of(t):
        if traced is not None:
            traced.append(t)
        return 3.0 * keras.ops.cast(keras.ops.expand_dims(t, -1), "float32")

    x = keras.Input((4,), name="features")
    tid = keras.Input((), dtype="int32", name="task_id")
    h = keras.layers.Dense(4, name="shared")(x)
    shift = keras.layers.Lambda(shift_of)(tid)
    h = keras.layers.Add()([h, shift])
    outputs = {
        "a": keras.layers.Dense(1, activation="sigmoid", name="a")(h),
        "b": keras.layers.Dense(3, activation="softmax", name="b")(h),
    }
    return keras.Model({"features": x, "task_id": tid}, outputs)


def test_task_id_is_fixed_inside_to_the_task_index():
    from mtlzoo.export import ServingModule

    model = _task_id_model()
    module = ServingModule(model)
    assert [s.name for s in module.signatures()["serving_default"][1]] == ["features"]
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    for index, task in enumerate(["a", "b"]):
        ref = model.predict({"features": x, "task_id": np.full(5, index, np.int32)}, verbose=0)[task]
        other = model.predict({"features": x, "task_id": np.full(5, 1 - index, np.int32)}, verbose=0)[task]
        assert not np.allclose(ref, other)  # task_id matters in this model
        np.testing.assert_allclose(_call(module, task, {"features": x})["probabilities"], ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            _call(module, "serving_default", {"features": x})[f"{task}_probabilities"], ref, rtol=1e-5, atol=1e-6
        )


def test_an_export_traces_the_model_once_however_many_signatures_call_it(tmp_path):
    """serving_default (the model once per task inside) and each task's signature call one
    traced forward. Traces of the model's graph in an export of this two-task model: the
    forward's (once by Keras's export archive, once more in TensorFlow's save context) and one
    by the archive's tracking of the model: 3; one trace per signature and task gave 9."""
    import tensorflow as tf

    from mtlzoo.export import export_model

    traced = []
    model = _task_id_model(traced)
    del traced[:]  # the functional build's own call
    path = export_model(model, str(tmp_path), "m", version=1)
    assert len(traced) <= 3, len(traced)
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    loaded = tf.saved_model.load(path)
    for index, task in enumerate(["a", "b"]):
        ref = model.predict({"features": x, "task_id": np.full(3, index, np.int32)}, verbose=0)[task]
        np.testing.assert_allclose(loaded.signatures[task](features=x)["probabilities"], ref, rtol=1e-5, atol=1e-6)
        got = loaded.signatures["serving_default"](features=x)[f"{task}_probabilities"]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_config_tasks_must_match_the_model_outputs():
    from mtlzoo.export import ServingModule
    from mtlzoo.tasks import tasks_from_config

    model = build("mlp", FOUR_KINDS)
    with pytest.raises(ConfigError, match="the model outputs"):
        ServingModule(model, tasks_from_config({"other": {"kind": "binary"}}))
