"""tf.distribute strategies by name, and who the chief is.

* ``default``: no distribution (the default strategy).
* ``one_device``: the first GPU, else the CPU.
* ``mirrored``: data parallel over the local GPUs, else the logical CPU devices
  (split the CPU with :func:`configure_cpu_devices` before TensorFlow starts).
* ``multi_worker_mirrored``: synchronous data parallel over the workers named in
  ``TF_CONFIG`` (collective all-reduce); every worker runs the same command.
* ``tpu``: a TPU found by ``TPUClusterResolver`` (``TPU_NAME`` or the local TPU).
"""

import json
import os

from mtlzoo.errors import ConfigError
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
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


@STRATEGIES.register("multi_worker_mirrored")
def multi_worker_mirrored():
    import tensorflow as tf

    if "TF_CONFIG" not in os.environ:
        raise ConfigError(
            "--strategy", "multi_worker_mirrored needs the TF_CONFIG environment variable (cluster and task)"
        )
    try:
        json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as e:
        raise ConfigError("--strategy", f"TF_CONFIG is not valid JSON ({e})") from e
    return tf.distribute.MultiWorkerMirroredStrategy()


@STRATEGIES.register("tpu")
def tpu():
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
    except (ValueError, RuntimeError) as e:  # "Please provide a TPU Name to connect to." and kin
        raise ConfigError("--strategy", f"tpu: no TPU found ({str(e).strip().splitlines()[0]})") from e
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def get_strategy(name, field="--strategy"):
    return STRATEGIES.get(name, field)()


def configure_cpu_devices(n):
    """Splits the physical CPU into ``n`` logical devices (call before TensorFlow starts)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def worker_info(strategy):
    """``(is_chief, worker_index)`` of this process under ``strategy``."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
    return chief, task_id
