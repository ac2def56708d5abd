"""Dict labels with zero sample weight leave that head's gradients at exactly zero."""

import numpy as np
import tensorflow as tf

import mtlzoo
from mtlzoo.tasks import tasks_from_config
from mtlzoo.training import compile_model
from tests.helpers import THREE_TASKS, model_config, random_features, random_labels


def _head_weights(model, task):
    from mtlzoo.models import split_variables

    return split_variables(model, list(THREE_TASKS))[1][task]


def test_zero_weight_task_gets_exactly_zero_gradient():
    model = mtlzoo.build_model(model_config("mlp"))
    tasks = tasks_from_config(THREE_TASKS)
    compile_model(model, tasks, {"learning_rate": 0.1, "optimizer": "sgd", "weight_decay": 0.0})
    x = random_features("mlp", batch=8)
    y = random_labels(THREE_TASKS, batch=8)
    w = {t: np.ones(8, np.float32) for t in THREE_TASKS}
    w["topic"] = np.zeros(8, np.float32)  # every 'topic' label missing in this batch

    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=pred, sample_weight=w)
    grads = tape.gradient(loss, model.trainable_variables)
    by_name = {v.path: g for v, g in zip(model.trainable_variables, grads, strict=True)}
    topic = _head_weights(model, "topic")
    assert topic, "the topic head must have weights"
    for v in topic:
        g = by_name[v.path]
        assert g is None or not np.any(np.asarray(g)), v.path
    for v in _head_weights(model, "sentiment"):
        assert np.any(np.asarray(by_name[v.path])), "a labelled head must get gradient"

    # and one fit step leaves the unlabelled head's weights bit-identical
    before = [np.asarray(v).copy() for v in topic]
    model.fit(x, y, sample_weight=w, batch_size=8, epochs=1, verbose=0)
    for a, v in zip(before, topic, strict=True):
        np.testing.assert_array_equal(a, np.asarray(v))


def test_heterogeneous_tasks_train_with_plain_fit():
    """Synthetic source: each example belongs to one task (task_id); the others weigh 0."""
    from mtlzoo.config import resolve_config
    from mtlzoo.data import load_data

    cfg = resolve_config(
        {
            "tasks": {
                "a": {"kind": "binary"},
                "b": {"kind": "regression"},
                "c": {"kind": "multiclass", "num_classes": 3},
            },
            "data": {"source": "synthetic", "examples_per_task": 64, "input_dim": 6},
            "model": {"encoder": {"name": "mlp", "input_dim": 6, "units": [8]}},
        }
    )
    tasks = tasks_from_config(cfg.tasks)
    data = load_data(cfg, tasks)
    tr = data.splits["train"]
    total = sum(np.asarray(w) for w in tr.weights.values())
    np.testing.assert_array_equal(total, np.ones(len(tr)))  # exactly one labelled task per example
    for i, t in enumerate(tasks):
        np.testing.assert_array_equal(tr.weights[t.name] > 0, tr.features["task_id"] == i)
    model = mtlzoo.build_model(cfg)
    compile_model(model, tasks, cfg.train)
    hist = model.fit(data.dataset("train", 16, ["features"], shuffle=True), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
