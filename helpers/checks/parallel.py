"""Checks of the model-parallelism exercises (``06_model_parallelism``)."""

from __future__ import annotations

from typing import Any

from helpers import parallel
from helpers.checks import check, check_answer, check_callable


def check_placement(placed_layer: Any, placed_output: Any, device: str) -> None:
    """Exercise: a Dense layer created and called on ``device``."""
    check(placed_output is not None and placed_layer is not None, "set placed_output and placed_layer")
    check(parallel.on_device(placed_layer.kernel, device), f"the kernel must live on {device}")
    check(parallel.on_device(placed_output, device), f"the output must be computed on {device}")
    print("Correct.")


def check_column_kernel(column_kernel: Any, num_devices: int) -> None:
    """Exercise: a (16, 8 x devices) DVariable sharded by columns over the ``model`` axis."""
    check(column_kernel is not None, "set column_kernel")
    check_answer(parallel.shard_shapes(column_kernel), [(16, 8)] * num_devices,
                 "each device should hold all 16 rows and 8 of the columns")


def check_bubble(bubble: Any, fewest_micro_batches: Any) -> None:
    """Exercise: GPipe's idle share, and the fewest micro-batches that keep 4 stages under 8 % idle."""
    check_callable(bubble, [((2, 1), 0.5), ((2, 4), 0.2), ((4, 8), 3 / 11), ((1, 5), 0.0)],
                   "idle share = (stages - 1) / (micro_batches + stages - 1)",
                   compare=lambda got, want: abs(got - want) < 1e-9)
    check_answer(fewest_micro_batches, 35, "the smallest M with 3 / (M + 3) < 0.08")
