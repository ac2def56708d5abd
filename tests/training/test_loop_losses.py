"""TrainLoop's reported per-task losses: a task absent from a batch does not count as a loss of 0."""

import numpy as np


def test_mean_loss_is_over_the_steps_that_held_the_task():
    import keras
    import tensorflow as tf

    import mtlzoo
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting

    keras.utils.set_random_seed(0)
    tasks_cfg = {"a": {"kind": "binary"}, "b": {"kind": "binary"}}
    model = mtlzoo.build_model(
        {"tasks": tasks_cfg, "model": {"encoder": {"name": "mlp", "input_dim": 3, "units": [4]}}}
    )
    model({"features": np.zeros((1, 3), np.float32)})
    tasks = tasks_from_config(tasks_cfg)
    loop = TrainLoop(
        model,
        tasks,
        keras.optimizers.SGD(0.0),  # no update: every step sees the same model
        build_weighting({"name": "ew"}, ["a", "b"]),
        build_aggregator({"name": "sum"}),
        tf.distribute.get_strategy(),
        4,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = {t: rng.integers(0, 2, size=(4, 1)).astype(np.float32) for t in tasks_cfg}
    ones, zeros = np.ones((4, 1), np.float32), np.zeros((4, 1), np.float32)
    # step 1 holds both tasks, step 2 only task a, steps 3-4 only task a
    batches = [({"features": x}, y, {"a": ones, "b": wb}) for wb in (ones, zeros, zeros, zeros)]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(batches),
        output_signature=(
            {"features": tf.TensorSpec((4, 3), tf.float32)},
            {t: tf.TensorSpec((4, 1), tf.float32) for t in tasks_cfg},
            {t: tf.TensorSpec((4, 1), tf.float32) for t in tasks_cfg},
        ),
    )
    losses, finite = loop.run(iter(ds), 4)
    p = {t: np.asarray(model({"features": x})[t], np.float64) for t in tasks_cfg}
    bce = {t: float(np.mean(-(y[t] * np.log(p[t]) + (1 - y[t]) * np.log(1 - p[t])))) for t in tasks_cfg}
    assert finite
    np.testing.assert_allclose(losses, [bce["a"], bce["b"]], rtol=1e-4)  # b: its one step, not a quarter of it
    np.testing.assert_array_equal(loop.present, [4, 1])
    losses, _ = loop.run(iter(ds.skip(1)), 3)  # b absent from every step: 0, and present says so
    assert losses[1] == 0 and loop.present[1] == 0


def test_a_tagging_loss_over_one_real_token_is_that_tokens_loss():
    """The tagging mean divides by max(global count of real tokens, 1): with one real token
    in the whole batch the loss is that token's cross-entropy (numpy), with none it is 0."""
    import types

    import keras
    import tensorflow as tf

    from mtlzoo.tasks import build_loss, tasks_from_config
    from mtlzoo.training.loop import TrainLoop

    tasks = tasks_from_config({"pos": {"kind": "tagging", "num_classes": 3}})
    # task_losses needs only the tasks, their losses and the batch denominator
    loop = types.SimpleNamespace(tasks=tasks, loss_fns=[build_loss(tasks[0], reduction=None)])
    p = np.array([[[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], [[0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]], np.float32)
    y = np.array([[1, 0], [2, 2]], np.int32)
    for mask, want in [([[True, False], [False, False]], -np.log(0.5)), ([[False, False], [False, False]], 0.0)]:
        pred = tf.constant(p)
        keras.src.backend.set_keras_mask(pred, tf.constant(mask))
        got = TrainLoop.task_losses(loop, {"pos": y}, {"pos": pred}, {"pos": np.ones((2, 1), np.float32)})
        np.testing.assert_allclose(got.numpy(), [want], rtol=1e-6)
