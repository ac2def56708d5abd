"""tf.distribute strategies by name."""

from mtlzoo.registry import Registry

STRATEGIES = Registry("strategy")


@STRATEGIES.register("default")
def default_strategy():
    import tensorflow as tf

    return tf.distribute.get_strategy()


@STRATEGIES.register("one_device")
def one_device():
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


@STRATEGIES.register("mirrored")
def mirrored():
    """Data parallel over the local GPUs (or the logical CPU devices when there are none)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def get_strategy(name, field="--strategy"):
    return STRATEGIES.get(name, field)()
