"""Set-up shared by every notebook: quiet logs, seeds, (simulated) devices, parameter checks, figures.

The bottom of the package: it imports nothing else from ``helpers``. TensorFlow is imported inside the
functions that need it, so ``import helpers`` stays fast and the runner never loads TensorFlow.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Environment variables the runner sets for each notebook it executes.
RECORD_FILE_ENV = "HELPERS_RECORD_FILE"  # JSON file collecting helpers.record() figures
WORKDIR_ENV = "HELPERS_WORKDIR"  # a folder of this notebook's own (never shared between notebooks)

ACCELERATORS = ("auto", "cpu", "gpu", "tpu")

# Parameters that several notebooks share, with what is allowed. A notebook's own parameters are checked
# with check_int / check_float / check_choice from its first cell.
_INT_MINIMUMS = {
    "seed": 0,
    "epochs": 1,
    "devices": 1,
    "workers": 2,
    "patience": 0,
    "max_trials": 1,
    "batch_size": 1,
    "samples": 1,
    "num_samples": 10,
    "clients": 1,
    "requests": 1,
    "train_size": 10,
}

RECORDED: dict[str, Any] = {}


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


def validate_params(params: dict[str, Any]) -> dict[str, Any]:
    """Check the parameters every notebook shares (seed, epochs, devices, workers, ...) and return them."""
    for name, value in params.items():
        if name in _INT_MINIMUMS:
            check_int(name, value, _INT_MINIMUMS[name])
    return params


@dataclass
class Runtime:
    """What :func:`setup` found and made: devices, seed, a private work folder, the parameters."""

    seed: int
    accelerator: str  # "cpu", "gpu" or "tpu": what the notebook actually runs on
    devices: list[str]  # logical device names that strategies and tf.device should use
    workdir: Path
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def num_devices(self) -> int:
        return len(self.devices)

    def path(self, *parts: str) -> Path:
        """A path inside this notebook's private work folder (parent folders created)."""
        p = self.workdir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def quiet() -> None:
    """Silence TensorFlow's C++ and Python log noise; must run before TensorFlow is imported to fully work."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*input_shape.*")  # taught explicitly in the notebooks
    warnings.filterwarnings("ignore", message=".*oneDNN.*")


def import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up chatter (absl's pre-init lines, CUDA probes) kept out of
    the notebook: stderr's file descriptor points at /dev/null for the import only."""
    import sys

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel("ERROR")  # e.g. "INFO:tensorflow:Assets written to ..." on every export
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
    return tf


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras (``keras.utils.set_random_seed`` covers all four)."""
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)


def connect_tpu(tpu: str = "") -> list[str]:
    """Connect to and initialise a TPU (Cloud TPU VM: ``tpu="local"``); raise RuntimeError if there is none."""
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise RuntimeError(f"no TPU found ({type(err).__name__}: {err})") from err
    return [d.name for d in tf.config.list_logical_devices("TPU")]


def _configure_devices(devices: int | None, accelerator: str) -> tuple[str, list[str]]:
    """Make ``devices`` logical CPUs, or use real GPUs/TPU where asked and present."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if accelerator == "tpu":
        return "tpu", connect_tpu()
    if accelerator == "gpu" and not gpus:
        raise RuntimeError("accelerator='gpu' was asked for, but TensorFlow sees no GPU; use 'auto' or 'cpu'")
    if gpus and accelerator in ("auto", "gpu"):
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass  # already initialised: growth is set once per process
        names = [d.name for d in tf.config.list_logical_devices("GPU")]
        if devices is not None:
            names = names[:devices]
        return "gpu", names

    if devices is None:  # leave the device configuration as it is (one CPU unless set before)
        return "cpu", [d.name for d in tf.config.list_logical_devices("CPU")]
    cpus = tf.config.list_physical_devices("CPU")
    wanted = devices
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(wanted)]
        )
    except RuntimeError as err:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != wanted:
            raise RuntimeError(
                f"helpers.setup(devices={wanted}) came after TensorFlow had already started with {have} "
                "logical CPU(s): logical devices must be configured before any TensorFlow op. "
                "Restart the kernel and run helpers.setup first."
            ) from err
    return "cpu", [d.name for d in tf.config.list_logical_devices("CPU")]


def _make_workdir() -> Path:
    """This notebook's private folder: the runner's (per notebook) or a fresh temporary one."""
    given = os.environ.get(WORKDIR_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="advanced-tf-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def setup(seed: int = 0, devices: int | None = None, accelerator: str = "auto", **params: Any) -> Runtime:
    """Prepare a notebook: validate parameters, quiet logs, seed everything, configure devices.

    ``devices=N`` gives N logical CPUs (enough for MirroredStrategy, ``tf.device`` and DTensor meshes)
    unless real GPUs are present and ``accelerator`` is ``auto`` or ``gpu``. Call it before any other
    TensorFlow code; a bad parameter raises ``ValueError`` naming the value and what is allowed.
    """
    validate_params({"seed": seed, **params})
    if devices is not None:
        check_int("devices", devices, 1, 64)
    check_choice("accelerator", accelerator, ACCELERATORS)
    quiet()
    tf = import_tensorflow_quietly()
    import keras

    kind, names = _configure_devices(devices, accelerator)
    seed_everything(seed)
    runtime = Runtime(seed=seed, accelerator=kind, devices=names, workdir=_make_workdir(), params=params)
    gpus = len(tf.config.list_physical_devices("GPU"))
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__} | {len(names)} {kind.upper()} device(s) "
        f"in use ({os.cpu_count()} CPU cores, {gpus} GPU(s) visible) | seed {seed}"
    )
    return runtime


def record(name: str, value: Any) -> Any:
    """Record a figure the notebook measured; the runner collects them into summary.json. Returns value."""
    if hasattr(value, "item"):  # numpy / tensor scalars
        value = value.item()
    if isinstance(value, float):
        value = float(f"{value:.6g}")  # six significant digits: small errors stay visible
    json.dumps(value)  # fail here, not in the runner, if it cannot be stored
    RECORDED[name] = value
    target = os.environ.get(RECORD_FILE_ENV)
    if target:
        path = Path(target)
        figures = json.loads(path.read_text()) if path.exists() else {}
        figures[name] = value
        path.write_text(json.dumps(figures, indent=2))
    print(f"recorded {name} = {value}")
    return value


def is_tensorflow_noise(line: str) -> bool:
    """True for the log lines TensorFlow's C++ runtime prints at start-up (``I0000 ...``, the absl notice):
    they never explain a failure, so log tails shown in errors leave them out."""
    return line.startswith(("WARNING: All log messages before absl", "I0000", "W0000", "E0000"))


def log_tail(path: str | Path, lines: int = 12) -> str:
    """The last ``lines`` lines of the log file ``path`` without TensorFlow's start-up noise; "(no log)" if
    the file does not exist."""
    path = Path(path)
    if not path.exists():
        return "(no log)"
    kept = [line for line in path.read_text(errors="replace").splitlines() if not is_tensorflow_noise(line)]
    return "\n".join(kept[-lines:])


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process's group (it was started with ``start_new_session=True``), else to it."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            pass


def stop_processes(processes: list[subprocess.Popen], grace: float = 5.0) -> None:
    """Stop worker/server processes: SIGTERM to every group at once, SIGKILL to what still runs after
    ``grace`` seconds, and reap them all (no zombies, nothing left behind)."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)
