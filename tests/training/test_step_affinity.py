"""The in-step affinity measurement (``train.affinity``, :class:`mtlzoo.training.affinity.StepAffinity`).

References: (a) the closed form of one SGD step on a linear model with squared loss (the same
reference as the host-driven :class:`ModelAffinity` in tests/analysis/test_affinity.py);
(b) the host-driven ModelAffinity / AffinityTracker on a small MLP with dropout, measured at the
same weights on the same batches in one ``model.fit`` run; (c) training with the measurement ends
with the weights of training without it, through both doors (``model.fit`` and ``train()``).
"""

import json
import os

import numpy as np
import pytest

from tests.analysis.test_affinity import K, closed_form, keras_batch, keras_linear, linear_problem, regression_tasks


def _train_cfg(lr, affinity=None, optimizer="sgd"):
    cfg = {"learning_rate": lr, "optimizer": optimizer, "weight_decay": 0.0}
    if affinity is not None:
        cfg["affinity"] = affinity
    return cfg


def test_in_step_equals_one_sgd_step_by_hand_on_a_linear_model():
    from mtlzoo.training import compile_model

    x, w, heads, y, weights = linear_problem(4)
    lr = 0.1
    model = keras_linear(w, heads)
    tasks = regression_tasks()
    compile_model(model, tasks, _train_cfg(0.01, {"every_steps": 1, "learning_rate": lr}))
    probe = model._mtlzoo_fit_loop.affinity
    before = [v.numpy().copy() for v in model.weights]
    out = probe.compute(keras_batch(x, y, weights))
    expected, grads, losses = closed_form(x, w, heads, y, weights, lr)
    np.testing.assert_allclose(out["lookahead"], expected, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(out["losses"], losses, rtol=1e-5)
    flat = [g.ravel() for g in grads]
    cos = np.array([[np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) for b in flat] for a in flat])
    np.testing.assert_allclose(out["cosine"], cos, rtol=1e-5, atol=1e-6)
    for a, b in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())  # nothing written

    # a task without labelled examples: its row and column are left out (NaN), the rest unchanged
    absent = weights.copy()
    absent[:, 2] = 0.0
    out2 = probe.compute(keras_batch(x, y, absent))
    expected2, _, _ = closed_form(x, w, heads, y, absent, lr)
    keep = [0, 1]
    np.testing.assert_allclose(out2["lookahead"][np.ix_(keep, keep)], expected2[np.ix_(keep, keep)], rtol=2e-4)
    assert np.isnan(out2["lookahead"][2]).all() and np.isnan(out2["lookahead"][:, 2]).all()
    assert np.isnan(out2["cosine"][2]).all() and np.isnan(out2["cosine"][:, 2]).all()

    # in the step: the sums skip the NaN entries, and the means are over the finite ones
    feats, labels, sw = keras_batch(x, y, weights)
    _, _, sw2 = keras_batch(x, y, absent)
    cat = lambda a, b: {n: np.concatenate([a[n], b[n]]) for n in a}  # noqa: E731
    model.fit(
        cat(feats, feats), cat(labels, labels), sample_weight=cat(sw, sw2), batch_size=len(x), shuffle=False, verbose=0
    )
    out = probe.result()
    assert out["measurements"] == 2
    counts = np.full((K, K), 1)
    counts[np.ix_(keep, keep)] = 2
    np.testing.assert_array_equal(out["counts"]["lookahead"], counts)
    # the second measurement is at the weights after one SGD step (lr 0.01) on the first batch:
    # the shared W on the sum of the task gradients, each head A_t on its own
    res = x @ w @ heads.T - y
    head_grads = np.stack([2 / len(x) * (weights[:, t] * res[:, t]) @ (x @ w) for t in range(K)])
    stepped = w - 0.01 * sum(closed_form(x, w, heads, y, weights, lr)[1])
    second, _, _ = closed_form(x, stepped, heads - 0.01 * head_grads, y, absent, lr)
    mean = expected.copy()
    mean[np.ix_(keep, keep)] = (expected[np.ix_(keep, keep)] + second[np.ix_(keep, keep)]) / 2
    np.testing.assert_allclose(out["lookahead"], mean, rtol=5e-4, atol=5e-6)


def _mlp_with_dropout(seed):
    import keras

    import mtlzoo
    from tests.helpers import model_config

    keras.utils.set_random_seed(seed)
    cfg = model_config("mlp", tower=(8,))
    cfg["model"]["encoder"]["dropout"] = 0.3
    cfg["model"]["tower"]["dropout"] = 0.2
    return mtlzoo.build_model(cfg), cfg


def _mlp_data(n=48, seed=1):
    rng = np.random.default_rng(seed)
    x = {"features": rng.normal(size=(n, 12)).astype(np.float32)}
    y = {
        "sentiment": rng.integers(0, 2, (n, 1)).astype(np.float32),
        "topic": rng.integers(0, 4, (n,)).astype(np.int32),
        "score": rng.normal(size=(n, 1)).astype(np.float32),
    }
    sw = {t: (rng.random(n) > 0.2).astype(np.float32) for t in y}
    return x, y, sw


def _fit(model, tasks, train_cfg, data, batch, callbacks=(), force_fit_loop=False):
    from mtlzoo.training import compile_model
    from mtlzoo.training.fit import use_fit_step

    compile_model(model, tasks, train_cfg)
    if force_fit_loop:
        use_fit_step(model, tasks, train_cfg)
    x, y, sw = data
    model.fit(x, y, sample_weight=sw, batch_size=batch, epochs=2, shuffle=False, verbose=0, callbacks=list(callbacks))
    return model


def test_in_step_equals_host_reference_on_an_mlp_with_dropout():
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.affinity import AffinityTracker, ModelAffinity

    model, cfg = _mlp_with_dropout(0)
    tasks = tasks_from_config(cfg["tasks"])
    data = _mlp_data()
    x, y, sw = data
    batch = 12

    def batch_fn(s):  # the batch of step s (4 per epoch, unshuffled)
        rows = slice((s % 4) * batch, (s % 4 + 1) * batch)
        return (
            {k: v[rows] for k, v in x.items()},
            {k: v[rows] for k, v in y.items()},
            {k: v[rows] for k, v in sw.items()},
        )

    lr = 0.05
    tracker = AffinityTracker(tasks, lr, every_steps=3, batch_fn=batch_fn)
    train_cfg = _train_cfg(0.01, {"every_steps": 3, "learning_rate": lr}, optimizer="adam")
    _fit(model, tasks, train_cfg, data, batch, callbacks=[tracker])
    probe = model._mtlzoo_fit_loop.affinity
    host = tracker.result()
    res = probe.result()
    assert host["steps"] == [0, 3, 6] and res["measurements"] == 3
    np.testing.assert_allclose(res["lookahead"], host["lookahead"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(res["cosine"], host["cosine"], rtol=0, atol=1e-6)
    # and one measurement at the trained weights
    one_host = ModelAffinity(model, tasks).compute(batch_fn(1), lr)
    one = probe.compute(batch_fn(1))
    np.testing.assert_allclose(one["lookahead"], one_host["lookahead"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(one["cosine"], one_host["cosine"], rtol=0, atol=1e-6)
    assert np.abs(one["lookahead"][~np.eye(3, dtype=bool)]).max() > 1e-4  # not trivially zero


def test_measuring_never_changes_training_fit_door():
    from mtlzoo.tasks import tasks_from_config

    weights = []
    for affinity in (None, {"every_steps": 2}):
        model, cfg = _mlp_with_dropout(3)
        tasks = tasks_from_config(cfg["tasks"])
        _fit(model, tasks, _train_cfg(0.01, affinity, "adam"), _mlp_data(), 12, force_fit_loop=affinity is None)
        assert (model._mtlzoo_fit_loop.affinity is None) == (affinity is None)
        if affinity:
            assert model._mtlzoo_fit_loop.affinity.result()["measurements"] == 4  # steps 0, 2, 4, 6 of 8
        weights.append([v.numpy() for v in model.weights])
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_measuring_never_changes_training_train_door(tmp_path):
    from configs.quickstart import get_config
    from mtlzoo.training import train

    def config(affinity):
        c = get_config()
        c.train.epochs = 1
        c.train.steps_per_epoch = 6
        c.train.steps_per_loop = 4
        c.train.verbose = 0
        c.model.encoder.units = (16,)
        c.model.tower.units = (8,)
        if affinity:
            c.train.affinity = affinity
        return c

    plain = train(config(None), str(tmp_path / "plain"))
    measured = train(config({"every_steps": 4, "learning_rate": 0.1}), str(tmp_path / "measured"))
    for a, b in zip(plain.model.weights, measured.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert plain.affinity is None and not os.path.exists(tmp_path / "plain" / "affinity.json")
    saved = json.loads((tmp_path / "measured" / "affinity.json").read_text())
    assert saved["measurements"] == 2 and saved["every_steps"] == 4 and saved["learning_rate"] == 0.1  # steps 0, 4
    np.testing.assert_allclose(np.array(saved["cosine"], dtype=float), measured.affinity["cosine"])
    assert sorted(saved["tasks"]) == ["digit", "magnitude", "parity"]


@pytest.mark.parametrize(
    "affinity,words",
    [({"every_steps": 0}, "train.affinity.every_steps"), ({"rate": 0.1}, "train.affinity.rate")],
)
def test_bad_affinity_config_names_the_field(affinity, words):
    from configs.quickstart import get_config
    from mtlzoo.config import resolve_config
    from mtlzoo.errors import ConfigError

    c = get_config()
    c.train.affinity = affinity
    with pytest.raises(ConfigError, match=words):
        resolve_config(c)


def test_more_than_one_replica_is_refused_with_one_sentence():
    """MirroredStrategy refuses the all-reduce inside the step's tf.cond (measured: a merge_call
    RuntimeError at trace time), so the in-step measurement says so before training."""
    from mtlzoo.errors import ConfigError
    from mtlzoo.training.affinity import StepAffinity

    x, w, heads, y, weights = linear_problem(0)
    model = keras_linear(w, heads)

    class TwoReplicas:
        num_replicas_in_sync = 2

    with pytest.raises(ConfigError, match="train.affinity.*one replica only"):
        StepAffinity(model, regression_tasks(), model.trainable_variables[:1], None, 0.1, 1, TwoReplicas())
