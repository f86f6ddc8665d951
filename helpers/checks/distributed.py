"""Checks of the distributed-training exercises (``02_distributed_training``)."""

from __future__ import annotations

from typing import Any

from helpers.checks import check_answer, check_callable, check_close
from helpers.distributed import tf_config


def check_third_worker_config(answer: Any) -> None:
    """Exercise: the ``TF_CONFIG`` of the third of three workers at 10.0.0.1-3:2222."""
    check_answer(answer, tf_config({"worker": [f"10.0.0.{i}:2222" for i in (1, 2, 3)]}, "worker", 2),
                 "the whole cluster, then task type 'worker' and the third index")


def check_global_batch_size(global_batch_size: Any) -> None:
    """Exercise: the global batch of ``per_replica`` x devices per worker x workers."""
    check_callable(global_batch_size, [((32, 1, 1), 32), ((32, 4, 1), 128), ((64, 8, 2), 1024), ((16, 2, 3), 96)],
                   "multiply the per-replica batch by the total number of replicas")


def check_scaled_learning_rate(scaled_learning_rate: Any, exercise_lr: Any, replicas: int) -> None:
    """Exercise: the linear scaling rule, and its value for ``replicas`` replicas from a base of 0.05."""
    check_callable(scaled_learning_rate, [((0.1, 32, 32), 0.1), ((0.1, 32, 128), 0.4), ((0.2, 256, 64), 0.05)],
                   "base_lr times global_batch / base_batch", compare=lambda a, b: abs(a - b) < 1e-9)
    check_close(exercise_lr, 0.05 * replicas, "0.05 times the number of replicas in exercise_strategy")
