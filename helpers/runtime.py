"""Set-up shared by every notebook: quiet logs, seeds, (simulated) devices, a private folder, figures.

The bottom of the package with :mod:`helpers.params` (parameter limits) and :mod:`helpers.procs` (child
processes). TensorFlow is imported inside the functions that need it, so ``import helpers`` stays fast and
the runner never loads TensorFlow.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import random
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from helpers.params import validate

# Environment variables the runner sets for each notebook it executes.
RECORD_FILE_ENV = "HELPERS_RECORD_FILE"  # JSON file collecting helpers.record() figures
WORKDIR_ENV = "HELPERS_WORKDIR"  # a folder of this notebook's own (never shared between notebooks)

RECORDED: dict[str, Any] = {}
FLOORS_KEY = "floors"  # RECORDED[FLOORS_KEY]: {name: {"op": ..., "limit": ...}} of every check_floor call
WORKER: dict[str, float] = {}  # what quiet_worker() measured in this (worker) process
WORKDIR_PREFIX = "advanced-tf-"  # + the pid of the process that made it


@dataclass
class Runtime:
    """What :func:`setup` found and made: devices, seed, a private work folder, the parameters."""

    seed: int
    accelerator: str  # "cpu", "gpu" or "tpu": what the notebook actually runs on
    devices: list[str]  # logical device names that strategies and tf.device should use
    workdir: Path

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
    # Keras Tuner's Hyperband continues a promoted trial from its checkpoint with a new optimizer
    # (keras-tuner 1.4.8, Hyperband._build_hypermodel); Keras then says it skipped the saved optimizer's state.
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer",
                            module=r"keras\.src\.saving")
    # BayesianOptimization fits a Gaussian process to a handful of trials, so its length scale often ends at
    # a bound (keras-tuner 1.4.8 oracle, scikit-learn's ConvergenceWarning): expected with few trials.
    warnings.filterwarnings("ignore", message="The optimal value found for dimension",
                            module=r"sklearn\.gaussian_process")
    # shap 0.51's DeepExplainer warns on every TensorFlow >= 2.4 that its graph mode is gone; notebook 07 runs
    # it eagerly on a Keras model, the supported path, and checks its additivity itself.
    warnings.filterwarnings("ignore", message="Your TensorFlow version is newer than 2.4.0",
                            module=r"shap\.explainers")


def import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up chatter (absl's pre-init lines, CUDA probes) kept out of
    the notebook: stderr's file descriptor points at /dev/null for the import only. The import runs with
    the garbage collector set aside (:func:`import_without_collecting`)."""
    import sys

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        tf = import_without_collecting("tensorflow")
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


def import_without_collecting(name: str) -> ModuleType:
    """Import module ``name`` with Python's cyclic garbage collector paused, then freeze every object alive in
    the process (``gc.freeze``: the collector no longer visits them). TensorFlow's import leaves about 670,000
    objects the collector tracks, nearly all alive until the process ends: without this, the collections the
    import triggers, every later full collection (0.3 s each) and the one at interpreter exit walk them all.
    A process that imports TensorFlow and exits takes 2.9 CPU-seconds here instead of 4.0 (docs/measurements.md).
    The cost is memory: a frozen object is still freed when its reference count drops to zero, but a garbage
    cycle that holds one is never collected, and the import's own cyclic garbage (about 3,900 objects, 1.6 MB
    for TensorFlow) stays. A no-op returning the module where ``name`` is imported already; the collector's
    on/off state is as before afterwards."""
    import importlib
    import sys

    if name in sys.modules:
        return sys.modules[name]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


# Keras 3 imports scikit-learn, pandas and matplotlib at start-up when they are installed, every module-level import
# of them in keras/src behind ``try: ... except ImportError`` (keras 3.15.1: wrappers/, trainers/data_adapters/
# array_slicing.py, visualization/): about 1.0 of the 2.9 CPU-seconds :func:`import_tensorflow_quietly` takes here.
KERAS_OPTIONAL_LIBRARIES = ("sklearn", "pandas", "matplotlib")


def import_tensorflow_without_keras_extras():
    """Import TensorFlow with Keras's optional scikit-learn, pandas and matplotlib integrations off, for a
    process that never gives Keras a DataFrame, a scikit-learn estimator or a figure to draw: the serving
    stand-in (it then starts about 1 CPU-second sooner) and the training workers (pandas and matplotlib
    only: they read the digits through scikit-learn right after). In that process ``keras.wrappers``'
    scikit-learn classes say scikit-learn is missing, DataFrames are not among Keras's array types and
    ``keras.visualization`` cannot draw; the libraries themselves stay importable. It changes ``sys.modules``
    for the whole process: call it at start-up, before other threads run. A no-op where TensorFlow is
    already imported."""
    import sys

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    hidden = [name for name in KERAS_OPTIONAL_LIBRARIES if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # the import system's "not installed": Keras's ImportError branch
    try:
        tf = import_without_collecting("tensorflow")
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return tf


def quiet_worker() -> None:
    """Quiet a worker process that a notebook starts (joblib's pool: :func:`helpers.procs.bind_process_pool`
    runs this in each; notebook 02's worker scripts call it first): the log settings and warning filters of
    :func:`quiet`, and TensorFlow imported by :func:`import_tensorflow_quietly`. Its C++ start-up lines would
    otherwise reach the notebook, since the pool shares the kernel's stderr; ``TF_CPP_MIN_LOG_LEVEL`` does not
    hide the lines absl prints before its ``InitializeLog`` (TensorFlow 2.19 to 2.21,
    tensorflow/tensorflow#100442). The import's seconds go into ``WORKER["tensorflow_import_s"]``."""
    started = time.perf_counter()
    quiet()
    import_tensorflow_quietly()
    WORKER["tensorflow_import_s"] = time.perf_counter() - started


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


def remove_orphaned_workdirs(folder: str | Path | None = None) -> list[Path]:
    """Remove the temporary folders that notebooks whose process no longer runs left behind (a kernel
    killed with SIGKILL runs no ``atexit``); return what was removed. Called by every :func:`setup`."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        owner = path.name[len(WORKDIR_PREFIX):].split("-", 1)[0]
        if path.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _make_workdir() -> Path:
    """This notebook's private folder: the runner's (per notebook) or a fresh temporary one, removed at
    exit (or by the next run, if this process is killed)."""
    given = os.environ.get(WORKDIR_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        return path
    remove_orphaned_workdirs()
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def setup(notebook: str | None = None, *, seed: int = 0, devices: int | None = None, accelerator: str = "auto",
          **params: Any) -> Runtime:
    """Prepare a notebook: validate all its parameters, quiet logs, seed everything, configure devices.

    Pass every parameter of the notebook (``notebook`` is its two-digit number): each is checked against
    :data:`helpers.params.LIMITS` before anything else runs, and a bad one raises ``ValueError`` naming the
    value and what is allowed. ``devices=N`` gives N logical CPUs (enough for MirroredStrategy,
    ``tf.device`` and DTensor meshes) unless real GPUs are present and ``accelerator`` is ``auto`` or
    ``gpu``. Call it before any other TensorFlow code.
    """
    given = {"seed": seed, "accelerator": accelerator, **params}
    if devices is not None:
        given["devices"] = devices
    validate(given, notebook)
    quiet()
    tf = import_tensorflow_quietly()
    import keras

    kind, names = _configure_devices(devices, accelerator)
    seed_everything(seed)
    runtime = Runtime(seed=seed, accelerator=kind, devices=names, workdir=_make_workdir())
    gpus = len(tf.config.list_physical_devices("GPU"))
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__} | {len(names)} {kind.upper()} device(s) "
        f"in use ({os.cpu_count()} CPU cores, {gpus} GPU(s) visible) | seed {seed}"
    )
    return runtime


def record(name: str, value: Any) -> Any:
    """Record a figure the notebook measured and return it. Prints nothing: the learner sees the lesson's
    own output only; the runner (``HELPERS_RECORD_FILE``) collects every figure into summary.json."""
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
    return value


_COMPARE = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__}


def record_floor(name: str, value: Any, op: str, limit: float) -> bool:
    """Record a figure and the floor (``>=``, ``>``) or bound (``<=``, ``<``) it is held to; return whether it
    holds. For checks that raise their own error; a notebook calls :func:`check_floor`.

    The runner's seed sweep (``make seeds``) reads every declared floor from here, with its figure on each seed,
    so the committed table knows each floor's worst seed without a hand-kept list.
    """
    if op not in _COMPARE:
        raise ValueError(f"check_floor({name!r}): op must be one of {', '.join(_COMPARE)}, not {op!r}")
    value, limit = float(record(name, value)), float(limit)
    floors = {**RECORDED.get(FLOORS_KEY, {}), name: {"op": op, "limit": float(f"{limit:.6g}")}}
    record(FLOORS_KEY, floors)
    return _COMPARE[op](value, limit)


def check_floor(name: str, value: Any, op: str, limit: float, why: str = "") -> float:
    """Assert ``value op limit`` (a floor with ``>=``/``>``, a bound with ``<=``/``<``) and record both.

    ``name`` is the figure's name in the seed table; ``why`` says what a failure means. Returns the value.
    Raises ``AssertionError`` naming the figure, its value and the limit when it does not hold.
    """
    if not record_floor(name, value, op, limit):
        reason = f": {why}" if why else ""
        raise AssertionError(f"{name} = {float(value):.4g}, needs {op} {float(limit):.4g}{reason}")
    return float(value)
