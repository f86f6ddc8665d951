"""Choosing a ``tf.distribute`` strategy (``02_distributed_training``), with the TPU fallback."""

from __future__ import annotations

from collections.abc import Sequence

from helpers.params import STRATEGIES, check_choice
from helpers.runtime import connect_tpu


def make_strategy(name: str = "auto", devices: Sequence[str] | None = None, tpu: str = ""):
    """Return the ``tf.distribute`` strategy called ``name`` (one of :data:`STRATEGIES`).

    - ``default``: the no-op default strategy (one device, what you get without any ``scope``).
    - ``mirrored``: ``MirroredStrategy`` over ``devices`` (logical CPUs or GPUs; all visible ones if None).
    - ``tpu``: ``TPUStrategy`` after connecting to the TPU; where there is none, it says so and falls back
      to ``mirrored`` (several devices) or ``default`` (one).
    - ``multiworker``: ``MultiWorkerMirroredStrategy``; one local worker unless ``TF_CONFIG`` names a cluster
      (and then it must be created before TensorFlow runs any op).
    - ``auto``: a TPU if one answers, else ``mirrored`` when there are several devices, else ``default``.
    """
    check_choice("strategy", name, STRATEGIES)
    import tensorflow as tf

    devices = list(devices) if devices is not None else None
    if name in ("tpu", "auto"):
        try:
            cores = connect_tpu(tpu)
        except RuntimeError as err:
            if name == "tpu":
                print(f"TPUStrategy unavailable: {err}. Falling back.")
        else:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            print(f"TPUStrategy over {len(cores)} TPU core(s)")
            return tf.distribute.TPUStrategy(resolver)
        name = "mirrored" if devices is None or len(devices) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MultiWorkerMirroredStrategy()
