"""Model parallelism plumbing for ``06_model_parallelism``: which devices the stages use, where variables
and tensors live, GPipe micro-batch schedules, and DTensor meshes, layouts and per-device bytes.

The lesson itself (placing layers with ``tf.device``, the two-stage model, the pipeline loop, the sharded
layer) stays in the notebook; this module only holds what would otherwise be repeated or distracting.
Importing it imports TensorFlow, quietly (``helpers.runtime.import_tensorflow_quietly``); it may be
imported before ``helpers.setup``, to pick the accelerator.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from helpers.runtime import import_tensorflow_quietly, quiet

quiet()  # this module may be imported before helpers.setup
tf = import_tensorflow_quietly()

from tensorflow.experimental import dtensor

# ---------------------------------------------------------------------------------------------------
# Devices: which ones, and where things are
# ---------------------------------------------------------------------------------------------------


def choose_accelerator(min_gpus: int = 2) -> str:
    """``"auto"`` when at least ``min_gpus`` real GPUs are visible, else ``"cpu"`` (simulated devices).

    Call it before :func:`helpers.setup` and pass the result as ``accelerator``: with a single GPU the
    notebook simulates its devices as logical CPUs instead (a two-device lesson needs two devices).
    Listing physical devices does not start TensorFlow, so logical devices can still be configured.
    """
    return "auto" if len(tf.config.list_physical_devices("GPU")) >= min_gpus else "cpu"


def pick_devices(gpu_names: list[str], cpu_names: list[str], count: int) -> list[str]:
    """The first ``count`` GPUs when there are that many, else the first ``count`` (logical) CPUs.

    Raises ValueError when neither list is long enough.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if len(gpu_names) >= count:
        return list(gpu_names[:count])
    if len(cpu_names) >= count:
        return list(cpu_names[:count])
    raise ValueError(
        f"{count} devices needed, but only {len(gpu_names)} GPU(s) and {len(cpu_names)} logical CPU(s) "
        "exist; run helpers.setup(devices=N) with N >= count first"
    )


def device_map(count: int = 2) -> list[str]:
    """Device names for ``count`` model stages: ``/device:GPU:0..`` where present, else logical CPUs."""
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return pick_devices(gpus, cpus, count)


def short_device(name: str) -> str:
    """``'/job:localhost/replica:0/task:0/device:CPU:1'`` -> ``'CPU:1'`` (``''`` stays ``''``)."""
    if not name:
        return ""
    spec = tf.DeviceSpec.from_string(name)
    return f"{spec.device_type}:{spec.device_index}"


def device_of(obj) -> str:
    """The full device name of a tensor, a ``tf.Variable`` or a Keras 3 variable (via ``.value``)."""
    if hasattr(obj, "value") and not isinstance(obj, tf.Tensor | tf.Variable):
        obj = obj.value  # keras.Variable wraps a tf.Variable
    return obj.device


def on_device(obj, device: str) -> bool:
    """True when ``obj`` (tensor or variable) lives on ``device`` (names compared as ``TYPE:index``)."""
    return short_device(device_of(obj)) == short_device(device)


def placement_table(variables) -> list[dict]:
    """One row per variable: its path (or name), shape and short device, for a pandas DataFrame."""
    rows = []
    for var in variables:
        rows.append({
            "variable": getattr(var, "path", var.name),
            "shape": tuple(var.shape),
            "device": short_device(device_of(var)),
        })
    return rows


@contextlib.contextmanager
def native_stdout() -> Iterator[list[str]]:
    """Collect what native code writes to this process's standard output (file descriptor 1) while the block
    runs; the yielded list is filled when the block ends.

    ``tf.debugging.set_log_device_placement(True)`` makes TensorFlow's C++ runtime print one line per op it
    places, straight to descriptor 1, past Python's ``sys.stdout``: a notebook would show them in the
    kernel's terminal or in a later cell. Captured here, the lesson prints the lines it discusses.
    """
    lines: list[str] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield lines
        finally:
            ctypes.CDLL(None).fflush(None)  # C stdio buffers, if any, go to the sink before it is detached
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode(errors="replace").splitlines())


def sync() -> None:
    """Wait until queued work on the devices is done (GPU ops are asynchronous), so timings are real."""
    tf.test.experimental.sync_devices()


# ---------------------------------------------------------------------------------------------------
# Pipelines: micro-batches and the GPipe schedule
# ---------------------------------------------------------------------------------------------------


def micro_batch_slices(batch: int, micro_batches: int) -> list[slice]:
    """Split ``batch`` rows into ``micro_batches`` contiguous slices whose sizes differ by at most one."""
    if micro_batches < 1 or micro_batches > batch:
        raise ValueError(f"micro_batches must be in 1..{batch} (the batch size), got {micro_batches}")
    bounds = np.linspace(0, batch, micro_batches + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass(frozen=True)
class Task:
    """One box of a pipeline timeline: ``stage`` runs ``phase`` ('F' or 'B') of ``micro`` in [start, end)."""

    stage: int
    micro: int
    phase: str
    start: float
    end: float


def gpipe_schedule(forward, backward) -> list[Task]:
    """The GPipe schedule for measured durations ``forward[s][m]`` and ``backward[s][m]`` (seconds).

    Each stage runs the forward passes of micro-batches 0..M-1, then (after the pipeline flush) the
    backward passes of M-1..0. A forward needs the previous stage's forward of the same micro-batch; a
    backward needs the next stage's backward of the same micro-batch (the last stage: its own forward).
    A stage runs one task at a time. Returns the tasks in the order they were scheduled.
    """
    fwd, bwd = np.asarray(forward, dtype=float), np.asarray(backward, dtype=float)
    if fwd.ndim != 2 or fwd.shape != bwd.shape:
        raise ValueError(f"forward and backward must be (stages, micro_batches) arrays; got {fwd.shape}, "
                         f"{bwd.shape}")
    stages, micros = fwd.shape
    free = [0.0] * stages  # when each stage is next idle
    f_end = np.zeros((stages, micros))
    b_end = np.zeros((stages, micros))
    tasks = []
    for m in range(micros):
        for s in range(stages):
            start = max(free[s], f_end[s - 1, m] if s else 0.0)
            f_end[s, m] = free[s] = start + fwd[s, m]
            tasks.append(Task(s, m, "F", start, f_end[s, m]))
    for m in reversed(range(micros)):
        for s in reversed(range(stages)):
            ready = b_end[s + 1, m] if s < stages - 1 else f_end[s, m]
            start = max(free[s], ready)
            b_end[s, m] = free[s] = start + bwd[s, m]
            tasks.append(Task(s, m, "B", start, b_end[s, m]))
    return tasks


def schedule_summary(tasks: list[Task]) -> dict:
    """Makespan, busy time per stage and the bubble fraction (idle share of stages x makespan)."""
    stages = 1 + max(t.stage for t in tasks)
    makespan = max(t.end for t in tasks) - min(t.start for t in tasks)
    busy = [sum(t.end - t.start for t in tasks if t.stage == s) for s in range(stages)]
    return {
        "stages": stages,
        "micro_batches": 1 + max(t.micro for t in tasks),
        "makespan_s": makespan,
        "busy_s": busy,
        "bubble_fraction": 1.0 - sum(busy) / (stages * makespan) if makespan > 0 else 0.0,
    }


def ideal_bubble_fraction(stages: int, micro_batches: int) -> float:
    """GPipe's bubble with equal stage times: ``(S - 1) / (M + S - 1)`` (forward and backward alike)."""
    return (stages - 1) / (micro_batches + stages - 1)


def timeline_bars(tasks: list[Task]) -> dict[int, list[tuple[float, float, str, str]]]:
    """Per stage: ``(start, width, label, phase)`` boxes for ``matplotlib``'s ``broken_barh``."""
    bars: dict[int, list] = {}
    for t in tasks:
        bars.setdefault(t.stage, []).append((t.start, t.end - t.start, f"{t.phase}{t.micro}", t.phase))
    return bars


# ---------------------------------------------------------------------------------------------------
# DTensor: meshes, layouts, shards and bytes per device
# ---------------------------------------------------------------------------------------------------


def make_mesh(devices: list[str], axis: str = "model") -> dtensor.Mesh:
    """A 1-D DTensor mesh named ``axis`` over ``devices`` (single client: ``dtensor.create_mesh``)."""
    return dtensor.create_mesh([(axis, len(devices))], devices=list(devices))


def _unwrap(obj):
    """A Keras 3 variable's backing ``tf.Variable`` (its ``.value``); anything else unchanged."""
    if not isinstance(obj, tf.Variable | tf.Tensor) and hasattr(obj, "value"):
        return obj.value
    return obj


def _as_tensor(obj):
    """A variable's current value (``dtensor.unpack`` wants a tensor); a tensor unchanged."""
    obj = _unwrap(obj)
    return obj.read_value() if isinstance(obj, tf.Variable) else obj


def to_numpy(obj) -> np.ndarray:
    """The full (global) value of a DTensor, gathered by relayout to replicated; plain tensors too."""
    value = _as_tensor(obj)
    if not dtensor.is_dtensor(value):
        return np.asarray(value)
    layout = dtensor.fetch_layout(value)
    full = dtensor.relayout(value, dtensor.Layout.replicated(layout.mesh, rank=layout.rank))
    return dtensor.unpack(full)[0].numpy()


def shard_shapes(obj) -> list[tuple[int, ...]]:
    """The shape of each device's component of a DTensor (or DVariable), in mesh device order."""
    return [tuple(part.shape) for part in dtensor.unpack(_as_tensor(obj))]


def components(var) -> list:
    """The pieces of ``var`` that really exist, one per device holding it.

    DTensors/DVariables: ``dtensor.unpack`` (one component per mesh device); tf.distribute mirrored
    variables: ``.values`` (one copy per replica); ordinary tensors and variables: themselves.
    """
    var = _unwrap(var)
    values = getattr(var, "values", None)
    if isinstance(values, tuple | list):
        return list(values)
    value = _as_tensor(var)
    if dtensor.is_dtensor(value):
        return dtensor.unpack(value)
    return [var]


def bytes_per_device(variables) -> dict[str, int]:
    """Bytes of ``variables`` held by each device (``'CPU:0'``...), summed over their :func:`components`."""
    held: dict[str, int] = {}
    for var in variables:
        for part in components(var):
            name = short_device(part.device)
            held[name] = held.get(name, 0) + int(np.prod(part.shape)) * part.dtype.size
    return dict(sorted(held.items(), key=lambda kv: (kv[0].split(":")[0], int(kv[0].split(":")[1]))))


def is_sharded(var) -> bool:
    """True when ``var`` is a DTensor/DVariable whose layout splits at least one dimension."""
    value = _as_tensor(var)
    if not isinstance(value, tf.Tensor) or not dtensor.is_dtensor(value):
        return False
    return any(spec != dtensor.UNSHARDED for spec in dtensor.fetch_layout(value).sharding_specs)


# ---------------------------------------------------------------------------------------------------
# DTensor's supported start-up, in a fresh process: ``python -m helpers.parallel --devices 4 --out r.json``
# ---------------------------------------------------------------------------------------------------


def dtensor_fresh_process(devices: int, list_devices_first: bool = False) -> dict:
    """What ``dtensor.initialize_accelerator_system`` + ``create_distributed_mesh`` give in a fresh process:
    the mesh, the client set-up DTensor read from its environment, and one sharded matmul checked against NumPy.

    Without ``list_devices_first`` the start-up is the process's first TensorFlow call, as documented. With it,
    the process first asks for the mesh too early and calls ``tf.config.list_logical_devices()`` (no op, but it
    initializes TensorFlow's runtime), records both refusals, and then starts DTensor with
    ``experimental_reset_context=True``, the documented escape hatch (TF 2.21 ``accelerator_util.py``).
    """
    from tensorflow.dtensor.python import config as dtensor_config

    refusals, reset = {}, False
    if list_devices_first:
        try:
            dtensor.create_distributed_mesh([("model", devices)], device_type="CPU")
        except ValueError as err:
            refusals["create_distributed_mesh before start-up"] = str(err)
        tf.config.list_logical_devices()
        try:
            dtensor.initialize_accelerator_system("CPU", num_logical_cpu_devices=devices)
        except ValueError as err:
            refusals["initialize_accelerator_system after list_logical_devices"] = str(err)
        reset = True
    dtensor.initialize_accelerator_system("CPU", num_logical_cpu_devices=devices, experimental_reset_context=reset)
    mesh = dtensor.create_distributed_mesh([("model", devices)], device_type="CPU")
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(8, 16)).astype("float32"), rng.normal(size=(16, 4 * devices)).astype("float32")
    x_mesh = dtensor.copy_to_mesh(tf.constant(x), dtensor.Layout.replicated(mesh, rank=2))
    replicated = dtensor.copy_to_mesh(tf.constant(kernel), dtensor.Layout.replicated(mesh, rank=2))
    kernel_mesh = dtensor.relayout(replicated, dtensor.Layout([dtensor.UNSHARDED, "model"], mesh))
    product = tf.matmul(x_mesh, kernel_mesh)
    result = {
        "mesh_shape": dict(zip(mesh.dim_names, mesh.shape(), strict=True)),
        "mesh_devices": [short_device(d) for d in mesh.local_devices()],
        "kernel_shards": [list(s) for s in shard_shapes(kernel_mesh)],
        "product_layout": list(dtensor.fetch_layout(product).sharding_specs),
        "max_gap_vs_numpy": float(np.max(np.abs(to_numpy(product) - x @ kernel))),
        "num_clients": dtensor.num_clients(),
        "client_id": dtensor.client_id(),
        "job_name": dtensor.job_name(),
        "local_mode": dtensor_config.is_local_mode(),
        "DTENSOR_JOBS": os.environ.get("DTENSOR_JOBS"),
        "refusals": refusals,
        "experimental_reset_context": reset,
    }
    dtensor.shutdown_accelerator_system()
    return result


def starter_snippet_placement(features: int = 64) -> list[str]:
    """The placement lines TensorFlow prints for the starter snippet of notebook 06 (two ``Dense`` layers under
    ``tf.device('/device:GPU:0')`` and ``'/device:GPU:1'``, built and called once) when
    ``tf.debugging.set_log_device_placement(True)`` is the process's first TensorFlow call: set after the
    runtime has started, it prints nothing (TF 2.21), so a notebook kernel cannot show them."""
    tf.debugging.set_log_device_placement(True)
    import keras

    with native_stdout() as lines:
        inputs = keras.Input(shape=(features,))
        with tf.device("/device:GPU:0"):
            hidden = keras.layers.Dense(64, activation="relu")(inputs)
        with tf.device("/device:GPU:1"):
            output = keras.layers.Dense(10, activation="softmax")(hidden)
        keras.Model(inputs, output)(np.ones((2, features), "float32"))
    return lines


if __name__ == "__main__":
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m helpers.parallel", description=dtensor_fresh_process.__doc__)
    parser.add_argument("--devices", type=int, default=4, help="logical CPUs of the mesh")
    parser.add_argument("--out", required=True, help="JSON file for the result")
    parser.add_argument("--list-devices-first", action="store_true",
                        help="initialize the runtime before DTensor's start-up, then use experimental_reset_context")
    parser.add_argument("--placement-log", action="store_true",
                        help="instead of DTensor: the starter snippet's placement lines (starter_snippet_placement)")
    args = parser.parse_args()
    if args.placement_log:
        found = {"placement_lines": starter_snippet_placement()}
    else:
        found = dtensor_fresh_process(args.devices, list_devices_first=args.list_devices_first)
    with open(args.out, "w") as f:
        json.dump(found, f, indent=1)
    sys.exit(0)
