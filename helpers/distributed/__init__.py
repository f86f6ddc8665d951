"""Distributed training for ``02_distributed_training``.

* ``strategies``: ``make_strategy`` (MirroredStrategy, TPUStrategy with a fallback, MultiWorkerMirroredStrategy)
* ``cluster``: ``TF_CONFIG`` and :class:`Cluster`, real worker processes on 127.0.0.1 or on hosts of their own
  (through ``helpers.procs``), or the harness (wait, kill, restart, logs) around workers the notebook starts
* ``specs``: launch specs for Vertex AI, Kubernetes (indexed Job; legacy TFJob) and Slurm, from the same
  cluster description
* ``worker``: the full worker script (``python -m helpers.distributed.worker``, what the launch specs run), and
  the building blocks the notebook's own worker script imports; it imports TensorFlow

The lesson itself (MirroredStrategy, the custom training loop, the worker script with ``TF_CONFIG`` and the
launch of each worker, checkpoint-based resume) is written in the notebook; this package holds what a cluster
manager would do for you.
"""

from helpers.distributed.cluster import (
    WORKER_MODULE,
    Cluster,
    WorkerFailed,
    cluster_of,
    cluster_spec,
    is_chief,
    task_configs,
    tasks,
    tf_config,
)
from helpers.distributed.strategies import STRATEGIES, make_strategy

__all__ = ["STRATEGIES", "WORKER_MODULE", "Cluster", "WorkerFailed", "cluster_of", "cluster_spec", "is_chief",
           "make_strategy", "task_configs", "tasks", "tf_config"]
