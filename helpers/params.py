"""Every notebook parameter and what it allows, in one table; :func:`validate` checks a notebook's parameters.

The bottom of the package with :mod:`helpers.runtime` and :mod:`helpers.procs`: it imports nothing else
from ``helpers`` and no TensorFlow, so the runner (``python -m helpers.run``) can answer a bad parameter at
once. Choice lists that a topic also needs (strategies, tuners, servers, data sets) are defined here and
imported by the topic, so the table and the code can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STRATEGIES = ("auto", "default", "mirrored", "tpu", "multiworker")  # helpers.distributed.make_strategy
TUNER_NAMES = ("random", "hyperband", "bayesian")  # helpers.tuning
SERVER_CHOICES = ("auto", "local", "binary")  # helpers.serving.client
OFFLINE_DATASETS = ("digits", "breast_cancer")  # helpers.data
ONLINE_DATASETS = ("mnist", "fashion_mnist")
ACCELERATORS = ("auto", "cpu", "gpu", "tpu")
DIGITS_TRAIN_ROWS = 1347  # load_digits: 1,797 images, 25 % held out


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int within [minimum, maximum], else raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_float(name: str, value: Any, minimum: float | None = None, maximum: float | None = None) -> float:
    """Return ``value`` as float if it is a number within [minimum, maximum], else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return float(value)


def check_choice(name: str, value: Any, allowed: tuple | list) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ValueError listing what is allowed."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


@dataclass(frozen=True)
class Limit:
    """What one parameter allows: an int or float range, a choice, or a non-empty list of ints."""

    kind: str  # "int", "float", "choice", "int_list"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    why: str = ""  # shown by nothing, read by whoever changes a bound

    def check(self, name: str, value: Any) -> Any:
        if self.kind == "int":
            return check_int(name, value, self.minimum, self.maximum)
        if self.kind == "float":
            return check_float(name, value, self.minimum, self.maximum)
        if self.kind == "choice":
            return check_choice(name, value, self.choices)
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f"{name} must be a non-empty list of integers, got {value!r}")
        for item in value:
            check_int(f"{name}[...]", item, self.minimum, self.maximum)
        return value


def _int(minimum: int | None = None, maximum: int | None = None, why: str = "") -> Limit:
    return Limit("int", minimum, maximum, why=why)


def _float(minimum: float | None = None, maximum: float | None = None, why: str = "") -> Limit:
    return Limit("float", minimum, maximum, why=why)


def _choice(*choices: Any) -> Limit:
    return Limit("choice", choices=choices)


# Every parameter of every notebook. A name means the same thing wherever it appears; where one notebook
# needs a tighter bound, NOTEBOOK_LIMITS says so beside it.
LIMITS: dict[str, Limit] = {
    "seed": _int(0),
    "epochs": _int(1),
    "devices": _int(1, 64),
    "accelerator": _choice(*ACCELERATORS),
    "units": _int(1, 4096),
    "batch_size": _int(1),
    # 01
    "dataset": _choice(*OFFLINE_DATASETS, *ONLINE_DATASETS),
    "accuracy_floor": _float(0.0, 1.0),
    # 02
    "workers": _int(2, 16, "a multi-worker job needs two workers; every worker imports TensorFlow"),
    "strategy": _choice(*STRATEGIES),
    "worker_epochs": _int(2, why="the crash happens after an epoch and the job must have one left"),
    "crash_after_epoch": _int(1),
    "steps_per_epoch": _int(2),
    # 03
    "clients": _int(8, 256, "the batching benchmark needs enough concurrent clients to fill a batch"),
    "requests": _int(1),
    "ab_requests": _int(20, why="fewer and the canary share is mostly noise"),
    "server": _choice(*SERVER_CHOICES),
    # 04
    "max_trials": _int(1),
    "max_epochs": _int(3, why="with factor 3, Hyperband needs 3 epochs for a round to continue a trial"),
    "bayesian_trials": _int(3, why="the first 2 trials are random; the Gaussian process chooses from the 3rd"),
    "tuner": _choice(*TUNER_NAMES),
    "n_jobs": _int(1, 64),
    "cv": _int(2, 10),
    "grid_epochs": Limit("int_list", 1),
    "n_iter": _int(1),
    "timeout_s": _int(30),
    # 05
    "patience": _int(0),
    "train_size": _int(10, DIGITS_TRAIN_ROWS),
    "target_accuracy": _float(0.2, 0.97),
    "backup_epochs": _int(2, 50),
    "interrupt_epoch": _int(1),
    # 06
    "micro_batches": _int(1),
    "learning_rate": _float(1e-6, 1.0),
    "dtensor_steps": _int(1),
    # 07
    "cnn_epochs": _int(1),
    "num_samples": _int(100, why="fewer and LIME's local fit is mostly noise"),
    "shap_nsamples": _int(50),
    "background_size": _int(5, 500),
    "explain_count": _int(10, 300, "Kernel SHAP and LIME cost model calls per explained row"),
    "image_count": _int(10, 300, "the shapes test set has 300 images"),
}

NOTEBOOK_LIMITS: dict[str, dict[str, Limit]] = {
    "05": {"units": _int(16, 4096, "the model must be large enough to over-fit 100 rows")},
    "06": {"devices": _int(2, 64, "a two-stage model needs two devices")},
}


def _pair(first: str, second: str, ok: Callable[[Any, Any], bool], message: str):
    """A rule between two parameters, checked when a notebook has both."""

    def rule(params: dict[str, Any], notebook: str | None) -> None:
        if first in params and second in params and not ok(params[first], params[second]):
            raise ValueError(message.format(**params))

    return rule


RULES = [
    _pair("crash_after_epoch", "worker_epochs", lambda crash, total: crash <= total - 1,
          "crash_after_epoch must be <= worker_epochs - 1 = {worker_epochs} - 1, got {crash_after_epoch}"),
    _pair("interrupt_epoch", "backup_epochs", lambda epoch, total: epoch <= total - 1,
          "interrupt_epoch must be <= backup_epochs - 1 = {backup_epochs} - 1, got {interrupt_epoch}"),
    _pair("micro_batches", "batch_size", lambda micro, batch: micro <= batch,
          "micro_batches must be <= batch_size = {batch_size}, got {micro_batches}"),
]
NOTEBOOK_RULES = {
    "06": [_pair("units", "devices", lambda units, devices: units % devices == 0,
                 "units must be a multiple of devices = {devices} (DTensor shards it), got {units}")],
}


def limit_of(name: str, notebook: str | None = None) -> Limit | None:
    """The limit of parameter ``name`` in ``notebook`` (its two-digit number), or None if it has none."""
    return NOTEBOOK_LIMITS.get(notebook or "", {}).get(name) or LIMITS.get(name)


def validate(params: dict[str, Any], notebook: str | None = None) -> dict[str, Any]:
    """Check every parameter against :data:`LIMITS` (and ``notebook``'s own bounds and rules); return them.

    A name the table does not know is an error too: every notebook parameter must have a limit.
    """
    for name, value in params.items():
        limit = limit_of(name, notebook)
        if limit is None:
            raise ValueError(f"unknown parameter {name!r}: helpers.params.LIMITS has no limit for it")
        limit.check(name, value)
    for rule in RULES + NOTEBOOK_RULES.get(notebook or "", []):
        rule(params, notebook)
    return params
