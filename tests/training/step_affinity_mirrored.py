"""The in-step affinity under MirroredStrategy over 2 logical CPU devices equals one device's.

Run as a script (``python -m tests.training.step_affinity_mirrored``): logical CPU devices must be
set before TensorFlow starts, so tests/training/test_step_affinity.py runs it in a subprocess. It
trains the quickstart (no dropout, so both runs train alike) through ``train()`` once on the
default strategy and once mirrored, with ``train.affinity`` every 3 steps, and prints one JSON line:
the largest differences of the mean matrices and of the weights.
"""

import json
import tempfile

if __name__ == "__main__":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np

    from configs.quickstart import get_config
    from mtlzoo.training import get_strategy, train

    c = get_config()
    c.train.epochs = 1
    c.train.steps_per_epoch = 7
    c.train.verbose = 0
    c.model.encoder.units = (16,)
    c.model.encoder.dropout = 0.0
    c.model.tower.units = (8,)
    c.train.affinity = {"every_steps": 3, "learning_rate": 0.05}
    out = {}
    for name in ("default", "mirrored"):
        with tempfile.TemporaryDirectory() as wd:
            out[name] = train(c, wd, strategy=get_strategy(name))
    a, b = out["default"], out["mirrored"]
    diff = {key: float(np.nanmax(np.abs(a.affinity[key] - b.affinity[key]))) for key in ("lookahead", "cosine")}
    diff["weights"] = max(
        float(np.max(np.abs(x.numpy() - y.numpy()))) for x, y in zip(a.model.weights, b.model.weights, strict=True)
    )
    diff["measurements"] = [a.affinity["measurements"], b.affinity["measurements"]]
    diff["replicas"] = [a.replicas, b.replicas]
    diff["scale"] = float(np.nanmax(np.abs(a.affinity["lookahead"])))
    print(json.dumps(diff), flush=True)
