"""One TrainLoop step against a reference built outside the loop.

The reference takes each task's loss with its own GradientTape on a copy of the model's
weights (binary cross-entropy written out, per-example label weights, divided by the planned
global batch), forms the weighted per-task gradients of the shared variables, aggregates
them with explicit coefficients, and takes one plain SGD step: w <- w - lr g. The loop must
land on the same weights, in both ``per_task_grads`` modes, and hand GradNorm the per-task
gradient norms of the last shared kernel.
"""

import numpy as np
import pytest

TASKS = {"a": {"kind": "binary"}, "b": {"kind": "binary"}, "c": {"kind": "regression"}}
NAMES = list(TASKS)
B = 6
LR = 0.5


def _setup(weighting_cfg, aggregator, per_task_grads="params", l2=0.0, strategy=None, tower=None, **encoder):
    """The model (built in ``strategy.scope()``; default: the default strategy), its loop and
    one batch of B examples."""
    import contextlib

    import keras
    import tensorflow as tf

    import mtlzoo
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.weightings import build_weighting

    keras.utils.set_random_seed(1)
    enc = {"name": "mlp", "input_dim": 3, "units": [4], **encoder}
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = mtlzoo.build_model({"tasks": TASKS, "model": {"encoder": enc, **({"tower": tower} if tower else {})}})
        model({"features": np.zeros((1, 3), np.float32)})
        if l2:  # a weight regulariser on the first shared kernel: model.losses, added once to the total
            from mtlzoo.models import split_variables

            split_variables(model, NAMES)[0][0].regularizer = keras.regularizers.L2(l2)
            assert len(model.losses) == 1
        loop = TrainLoop(
            model,
            tasks_from_config(TASKS),
            keras.optimizers.SGD(LR),
            build_weighting(weighting_cfg, NAMES),
            aggregator,
            strategy or tf.distribute.get_strategy(),
            B,
            per_task_grads=per_task_grads,
        )
        if strategy is not None:
            loop.optimizer.build(loop.shared + loop.own)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, 3)).astype(np.float32)
    y = {
        "a": rng.integers(0, 2, size=(B, 1)).astype(np.float32),
        "b": rng.integers(0, 2, size=(B, 1)).astype(np.float32),
        "c": rng.normal(size=(B, 1)).astype(np.float32),
    }
    # sparse labels: task b is labelled on 4 of the 6 examples, c on 5
    w = {
        "a": np.ones((B, 1), np.float32),
        "b": np.array([[1], [0], [1], [1], [0], [1]], np.float32),
        "c": np.array([[1], [1], [1], [0], [1], [1]], np.float32),
    }
    return model, loop, x, y, w


def _reference(model, x, y, w, task_weights, coefs, l2=0.0):
    """Per-task losses and the weights after one SGD step, computed outside TrainLoop."""
    import tensorflow as tf

    from mtlzoo.models import split_variables

    shared, own = split_variables(model, NAMES)
    own = [v for vs in own.values() for v in vs]
    with tf.GradientTape(persistent=True) as tape:
        preds = model({"features": x}, training=True)
        losses = []
        for t in NAMES:
            p = tf.cast(preds[t], tf.float64)
            yt = tf.constant(y[t], tf.float64)
            if TASKS[t]["kind"] == "binary":
                p = tf.clip_by_value(p, 1e-7, 1 - 1e-7)
                per = -(yt * tf.math.log(p) + (1 - yt) * tf.math.log(1 - p))
            else:
                per = tf.square(p - yt)
            losses.append(tf.reduce_sum(per * w[t]) / B)  # over the planned global batch
        weighted = [task_weights[i] * losses[i] for i in range(3)]
        reg = l2 * tf.reduce_sum(tf.square(tf.cast(shared[0], tf.float64)))
        total = tf.add_n(weighted) + reg
    g_shared = [sum(coefs[i] * tape.gradient(weighted[i], v).numpy() for i in range(3)) for v in shared]
    g_shared = [
        g + tape.gradient(reg, v).numpy() if l2 and j == 0 else g
        for j, (g, v) in enumerate(zip(g_shared, shared, strict=True))
    ]
    g_own = [tape.gradient(total, v).numpy() for v in own]
    after = {id(v): v.numpy() - LR * g for v, g in zip(shared + own, g_shared + g_own, strict=True)}
    return np.array([float(v) for v in losses]), [after[id(v)] for v in model.trainable_variables]


class Rows:
    """An aggregator with explicit coefficients: sum_i c_i g_i (linear, so both gradient
    modes must agree with the reference)."""

    def __init__(self, coefs):
        self.coefs = coefs

    def __call__(self, G, step):
        import tensorflow as tf

        # the engine's contract: the aggregators see k, the number of rows, statically (an
        # all_gather under mirrored drops it; e.g. PCGrad's loop over the tasks needs it)
        assert G.shape[0] == len(self.coefs), G.shape
        return tf.linalg.matvec(G, tf.constant(self.coefs, G.dtype), transpose_a=True)


def _step(loop, x, y, w):
    import tensorflow as tf

    features = x if isinstance(x, dict) else {"features": x}
    ds = tf.data.Dataset.from_tensors((features, y, w)).repeat()
    return loop.run(iter(ds), 1)


@pytest.mark.parametrize("mode", ["params", "representation"])
def test_one_step_with_explicit_coefficients_and_static_weights(mode):
    coefs = [1.0, 2.0, -0.5]
    task_weights = [2.0, 0.5, 1.0]
    model, loop, x, y, w = _setup(
        {"name": "static", "weights": dict(zip(NAMES, task_weights, strict=True))}, Rows(coefs), mode
    )
    assert loop.rep_grad == (mode == "representation")
    ref_losses, ref_after = _reference(model, x, y, w, task_weights, coefs)
    losses, finite = _step(loop, x, y, w)
    assert finite
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for got, ref in zip(model.get_weights(), ref_after, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
    assert int(loop.step.numpy()) == 1


def test_one_plain_sum_step_with_a_layer_loss():
    from mtlzoo.weighting.aggregators import build_aggregator

    model, loop, x, y, w = _setup({"name": "static", "weights": {"a": 3.0}}, build_aggregator({"name": "sum"}), l2=0.1)
    assert loop.plain_sum
    ref_losses, ref_after = _reference(model, x, y, w, [3.0, 1.0, 1.0], [1.0, 1.0, 1.0], l2=0.1)
    losses, _ = _step(loop, x, y, w)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for got, ref in zip(model.get_weights(), ref_after, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["params", "representation"])
def test_gradnorm_receives_the_per_task_norms_of_the_last_shared_kernel(mode):
    import tensorflow as tf

    from mtlzoo.models import split_variables
    from mtlzoo.weighting.aggregators import build_aggregator

    model, loop, x, y, w = _setup(
        {"name": "gradnorm", "alpha": 1.5, "lr": 0.01}, build_aggregator({"name": "sum"}), mode
    )
    # weights other than 1 before the step: the loop takes the jacobian of w_i L_i and must
    # hand GradNorm ||d L_i / d W||, i.e. divide by w_i (with w = 1 a product would pass too)
    start = np.array([0.5, 2.0, 0.5], np.float32)
    loop.weighting.w.assign(start)
    shared, _ = split_variables(model, NAMES)
    W = [v for v in shared if len(v.shape) >= 2][-1]
    with tf.GradientTape(persistent=True) as tape:
        preds = model({"features": x}, training=True)
        losses = []
        for t in NAMES:
            p = tf.cast(preds[t], tf.float64)
            yt = tf.constant(y[t], tf.float64)
            if TASKS[t]["kind"] == "binary":
                per = -(yt * tf.math.log(p) + (1 - yt) * tf.math.log(1 - p))
            else:
                per = tf.square(p - yt)
            losses.append(tf.reduce_sum(per * w[t]) / B)
    norms = np.array([np.linalg.norm(tape.gradient(L, W).numpy()) for L in losses])
    L = np.array([float(v) for v in losses])
    _step(loop, x, y, w)
    # GradNorm's first update (loss ratios 1, so the target is mean G): numpy, as in test_weightings
    G = start * norms
    new = np.maximum(start - 0.01 * np.sign(G - G.mean()) * norms, 1e-6)
    np.testing.assert_allclose(loop.weighting.weights(1).numpy(), new * 3 / new.sum(), rtol=1e-4)
    np.testing.assert_allclose(loop.weighting.initial.numpy(), L, rtol=1e-5)


@pytest.mark.parametrize("mode", ["params", "representation"])
def test_one_tagging_step_averages_over_the_real_tokens(mode):
    """Tagging losses: sum over real tokens (ids != 0) of the labelled examples, divided by
    the number of real tokens in the batch; reference from numpy masks, not the Keras mask.
    A sentence task on the pooled vector beside them: in ``representation`` mode the heads
    then take two representations (pooled and per token)."""
    import keras
    import tensorflow as tf

    import mtlzoo
    from mtlzoo.models import split_variables
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.weightings import build_weighting
    from tests.helpers import random_features, random_labels

    keras.utils.set_random_seed(2)
    tasks_cfg = {
        "pos": {"kind": "tagging", "num_classes": 4},
        "ner": {"kind": "tagging", "num_classes": 3},
        "sent": {"kind": "binary"},
    }
    tasks = tasks_from_config(tasks_cfg)
    names = [t.name for t in tasks]  # the loop's task order
    model = mtlzoo.build_model(
        {
            "tasks": tasks_cfg,
            "model": {"encoder": {"name": "tagger", "vocab_size": 50, "embedding_dim": 8, "hidden": 6}},
        }
    )
    coefs = [{"pos": 1.5, "ner": -0.5, "sent": 0.75}[t] for t in names]
    loop = TrainLoop(
        model,
        tasks,
        keras.optimizers.SGD(LR),
        build_weighting({"name": "ew"}, names),
        Rows(coefs),
        tf.distribute.get_strategy(),
        6,
        per_task_grads=mode,
    )
    if mode == "representation":
        assert len(loop.heads_part.inputs) == 2
    x = random_features("tagger", batch=6, time=7)
    y = random_labels(tasks_cfg, batch=6, time=7)
    w = {
        "pos": np.ones((6, 1), np.float32),
        "ner": np.array([[1], [1], [0], [1], [0], [1]], np.float32),
        "sent": np.array([[1], [0], [1], [1], [1], [0]], np.float32),
    }
    real = (x["tokens"] != 0).astype(np.float64)
    shared, own = split_variables(model, names)
    own = [v for vs in own.values() for v in vs]
    with tf.GradientTape(persistent=True) as tape:
        preds = model(x, training=True)
        losses = []
        for t in names:
            p = tf.clip_by_value(tf.cast(preds[t], tf.float64), 1e-7, 1 - 1e-7)
            if t == "sent":  # binary cross-entropy over the planned batch of 6
                yt = tf.constant(y[t], tf.float64)
                per = -(yt * tf.math.log(p) + (1 - yt) * tf.math.log(1 - p))
                losses.append(tf.reduce_sum(per * w[t]) / 6)
                continue
            per = -tf.math.log(tf.gather(p, y[t], axis=-1, batch_dims=2))  # [b, T]
            losses.append(tf.reduce_sum(per * real * w[t]) / real.sum())
        total = tf.add_n(losses)
    dense = tf.convert_to_tensor  # embedding gradients come as IndexedSlices
    g_shared = [sum(coefs[i] * dense(tape.gradient(losses[i], v)).numpy() for i in range(3)) for v in shared]
    g_own = [dense(tape.gradient(total, v)).numpy() for v in own]
    after = {id(v): v.numpy() - LR * g for v, g in zip(shared + own, g_shared + g_own, strict=True)}
    ref_after = [after[id(v)] for v in model.trainable_variables]
    got_losses, _ = _step(loop, x, y, w)
    np.testing.assert_allclose(got_losses, [float(v) for v in losses], rtol=1e-5)
    for got, ref in zip(model.get_weights(), ref_after, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["params", "representation"])
def test_the_step_runs_the_model_in_training_mode(mode):
    """Batch normalisation in the encoder: in training it normalises by the batch's own
    statistics, in inference by its moving ones (here still 0 and 1), so a step that ran the
    model with ``training=False`` lands elsewhere than the reference (which runs it with
    ``training=True``, like a user's ``model.fit``). Compared on the trainable weights: the
    moving statistics are updated by both calls."""
    coefs = [1.0, 1.0, 1.0]
    model, loop, x, y, w = _setup({"name": "ew"}, Rows(coefs), mode, batch_norm=True)
    assert "mlp_bn_0" in [layer.name for layer in model.layers]
    ref_losses, ref_after = _reference(model, x, y, w, [1.0, 1.0, 1.0], coefs)
    losses, finite = _step(loop, x, y, w)
    assert finite
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for got, ref in zip([v.numpy() for v in model.trainable_variables], ref_after, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["params", "representation"])
def test_the_step_runs_the_heads_in_training_mode(mode):
    """Dropout at rate 1 - 1e-6 in every task's tower: in training mode the towers hand their
    output layers zeros (with this seed not one of the 72 draws keeps a unit), in inference
    mode their real activations. In training mode nothing below the output layers gets a
    nonzero gradient, so only the output biases move, by the closed form: each output is
    act(b) with b = 0 at the start, so dL/db = sum_b w_b (sigmoid(0) - y_b) / B for the
    binary tasks (cross-entropy) and 2 sum_b w_b (0 - y_b) / B for the regression task.
    In ``representation`` mode the heads are called on their own (``heads_part``), so this
    also checks that call's mode. (At rate exactly 1 Keras returns constant zeros, which cut
    the heads off the representation: its jacobian is None, which this mode does not take.)"""
    import keras

    tower = {"units": [4], "dropout": 1 - 1e-6}
    model, loop, x, y, w = _setup({"name": "ew"}, Rows([1.0, 2.0, -0.5]), mode, tower=tower)
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]) == 3
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    losses, finite = _step(loop, x, y, w)
    assert finite
    d_bias = {
        "a": np.sum(w["a"] * (0.5 - y["a"])) / B,
        "b": np.sum(w["b"] * (0.5 - y["b"])) / B,
        "c": 2 * np.sum(w["c"] * (0.0 - y["c"])) / B,
    }
    ref_losses = [np.sum(w[t] * np.log(2.0)) / B for t in "ab"] + [np.sum(w["c"] * y["c"] ** 2) / B]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for v in model.trainable_variables:
        task = v.path.split("/")[0]
        if task in NAMES and v.path.endswith("bias"):  # an output layer's bias (the layer is named <task>)
            np.testing.assert_allclose(v.numpy(), [-LR * d_bias[task]], rtol=1e-5, err_msg=v.path)
        else:
            np.testing.assert_array_equal(v.numpy(), before[v.path], err_msg=v.path)


def test_uncertainty_weighting_adds_its_regulariser_once():
    """Uncertainty weighting (Kendall et al.): total = sum_i 0.5 exp(-s_i) L_i + 0.5 sum_i s_i,
    with s = 0 at the start. The model's weights move as with task weights 0.5; each s_i by
    SGD on d total / d s_i = 0.5 - 0.5 L_i (closed form)."""
    from mtlzoo.weighting.aggregators import build_aggregator

    model, loop, x, y, w = _setup({"name": "uncertainty"}, build_aggregator({"name": "sum"}))
    assert loop.plain_sum
    ref_losses, ref_after = _reference(model, x, y, w, [0.5, 0.5, 0.5], [1.0, 1.0, 1.0])
    losses, _ = _step(loop, x, y, w)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for got, ref in zip(model.get_weights(), ref_after, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(loop.weighting.log_vars.numpy(), -LR * (0.5 - 0.5 * ref_losses), rtol=1e-5)


def test_a_shared_variable_no_task_reads_gets_a_zero_jacobian():
    """A shared variable that no task's loss depends on (as a pooler that only tagging tasks
    sit beside): its jacobian is None, taken as zeros, so it stays put while every other weight
    lands on the reference step (computed before the variable was added)."""
    import keras
    import tensorflow as tf

    from mtlzoo.models import split_variables
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.weightings import build_weighting

    coefs = [1.0, 2.0, -0.5]
    model, _, x, y, w = _setup({"name": "ew"}, Rows(coefs))
    ref_losses, ref_after = _reference(model, x, y, w, [1.0, 1.0, 1.0], coefs)
    layer = next(layer for layer in model.layers if layer.name.startswith("mlp_dense"))
    layer._tracker.unlock()  # Keras locks a built layer's state; a test may add to it
    unused = layer.add_weight(shape=(2,), initializer="ones", trainable=True, name="unused")
    layer._tracker.lock()
    assert any(v is unused for v in split_variables(model, NAMES)[0])
    loop = TrainLoop(
        model,
        tasks_from_config(TASKS),
        keras.optimizers.SGD(LR),
        build_weighting({"name": "ew"}, NAMES),
        Rows(coefs),
        tf.distribute.get_strategy(),
        B,
    )
    losses, _ = _step(loop, x, y, w)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_array_equal(unused.numpy(), [1.0, 1.0])
    got = [v.numpy() for v in model.trainable_variables if v is not unused]
    for g, ref in zip(got, ref_after, strict=True):
        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-6)
