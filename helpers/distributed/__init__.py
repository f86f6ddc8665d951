"""Distributed training for ``02_distributed_training``.

* ``strategies``: ``make_strategy`` (MirroredStrategy, TPUStrategy with a fallback, MultiWorkerMirroredStrategy)
* ``cluster``: ``TF_CONFIG`` and :class:`Cluster`, real worker processes on 127.0.0.1 (through ``helpers.procs``)
* ``worker``: the script every worker runs (``python -m helpers.distributed.worker``); it imports TensorFlow

The lesson itself (MirroredStrategy, the custom training loop, checkpoint-based resume) is visible in the
notebook and in the worker script; this package holds what a cluster manager would do for you.
"""

from helpers.distributed.cluster import WORKER_MODULE, Cluster, WorkerFailed, cluster_spec, tf_config
from helpers.distributed.strategies import STRATEGIES, make_strategy

__all__ = ["STRATEGIES", "WORKER_MODULE", "Cluster", "WorkerFailed", "cluster_spec", "make_strategy", "tf_config"]
