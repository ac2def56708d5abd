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
