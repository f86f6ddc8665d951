"""Checks of the model-parallelism exercises (``06_model_parallelism``).

Exercise 1 places a layer with ``tf.device``; exercise 2 accumulates a two-stage model's gradients over
micro-batches, each stage's backward pass on its own device; exercise 3 computes when a GPipe schedule ends;
exercise 4 shards a two-layer MLP on its hidden dimension with DTensor (Megatron-style) and compares its loss
and gradients with the same MLP on one device. Every expected value is computed here from the learner's own
inputs, so the checks hold for any seed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from helpers import parallel
from helpers.checks import ExerciseError, call_learner, check, fuller_hint, is_missing

tf = parallel.tf
dtensor = parallel.dtensor


@contextlib.contextmanager
def _full_float32() -> Iterator[None]:
    """Matmuls in full float32 while a check runs: on GPUs, TensorFloat-32 (on by default) would make two
    correct gradients differ by more than the checks' 1e-5. The setting is restored afterwards."""
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(before)


def check_placement(placed_layer: Any, placed_output: Any, device: str) -> None:
    """Exercise 1: a Dense layer created and called on ``device``."""
    check(placed_output is not None and placed_layer is not None, "set placed_output and placed_layer")
    check(parallel.on_device(placed_layer.kernel, device), f"the kernel must live on {device}")
    check(parallel.on_device(placed_output, device), f"the output must be computed on {device}")
    print("Correct.")


# ---- Exercise 2: micro-batch gradients of a two-stage model -------------------------------------------


class RecordingDense(keras.layers.Dense):
    """A Dense layer that remembers, for each call, the rows it got and the device its output is on, so a
    check can tell whether a stage ran once per micro-batch and on its own device. Run it eagerly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[Any, str]] = []

    def call(self, inputs: Any, training: Any = None) -> Any:
        """Dense's call, recording ``(rows, short device of the output)``."""
        out = super().call(inputs, training=training)
        self.calls.append((inputs.shape[0], parallel.short_device(out.device)))
        return out


def pipeline_stages(devices: list[str], features: int, classes: int, hidden: int = 16,
                    seed: int = 0) -> list[RecordingDense]:
    """Exercise 2's two stages: a ReLU Dense layer (``features`` -> ``hidden``) built on ``devices[0]`` and a
    logits Dense layer (``hidden`` -> ``classes``) built on ``devices[1]``, with seeded initial weights."""
    init = {"kernel_initializer": keras.initializers.GlorotUniform(seed=seed),
            "bias_initializer": keras.initializers.RandomNormal(stddev=0.1, seed=seed + 1)}
    with tf.device(devices[0]):
        stage0 = RecordingDense(hidden, activation="relu", name="stage0", **init)
        stage0.build((None, features))
    with tf.device(devices[1]):
        stage1 = RecordingDense(classes, name="stage1", **init)
        stage1.build((None, hidden))
    return [stage0, stage1]


def _whole_batch_gradients(stages: list, x: Any, y: Any) -> list[np.ndarray]:
    """The reference: the mean loss's gradients over the whole batch, in one tape, no device scopes."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = stages[0].trainable_variables + stages[1].trainable_variables
    with tf.GradientTape() as tape:
        loss = loss_fn(y, stages[1](stages[0](x)))
    return [g.numpy() for g in tape.gradient(loss, variables)]


@fuller_hint("for each micro-batch slice: on a tape under devices[0], h = stage 0 of the slice; on a second "
             "tape under devices[1], the slice's loss summed, divided by len(x); under devices[1], the gradients "
             "of that loss for stage 1's variables and for h; under devices[0], stage 0's gradients from the "
             "first tape with output_gradients set to the gradient for h; add each into a running total under "
             "the device of its stage")
def check_micro_batch_gradients(micro_batch_gradients: Any, stages: list, devices: list[str], x: Any,
                                y: Any) -> None:
    """Exercise 2: ``micro_batch_gradients(stages, devices, x, y, micro_batches)`` returns the gradients of
    the whole batch's mean loss (stage 0's kernel and bias, then stage 1's), accumulated over micro-batches,
    each stage run once per micro-batch on its device, each gradient left on its stage's device."""
    with _full_float32():
        _check_micro_batch_gradients(micro_batch_gradients, stages, devices, x, y)


def _check_micro_batch_gradients(micro_batch_gradients: Any, stages: list, devices: list[str], x: Any,
                                 y: Any) -> None:
    """The checks of :func:`check_micro_batch_gradients`."""
    if is_missing(micro_batch_gradients) or not callable(micro_batch_gradients):
        raise ExerciseError("No function yet. Hint: define micro_batch_gradients(stages, devices, x, y, "
                            "micro_batches)")
    variables = stages[0].trainable_variables + stages[1].trainable_variables
    names = ["stage 0's kernel", "stage 0's bias", "stage 1's kernel", "stage 1's bias"]
    homes = [devices[0], devices[0], devices[1], devices[1]]
    before = [v.numpy() for v in variables]
    expected = _whole_batch_gradients(stages, x, y)
    for micro_batches in (1, 4, 7):
        for stage in stages:
            stage.calls.clear()
        got = micro_batch_gradients(stages, devices, x, y, micro_batches)
        check(isinstance(got, list | tuple) and len(got) == 4,
              "return a list of 4 gradients: stage 0's kernel and bias, then stage 1's kernel and bias "
              f"(got {type(got).__name__})")
        for s, stage in enumerate(stages):
            rows = [r for r, _ in stage.calls]
            check(len(rows) == micro_batches and all(isinstance(r, int) and r > 0 for r in rows)
                  and sum(rows) == len(x),
                  f"with micro_batches={micro_batches}, stage {s} was called on {rows} rows: call each stage "
                  f"once per micro-batch, eagerly, on slices that cover the {len(x)} rows once")
            away = sorted({d for _, d in stage.calls} - {parallel.short_device(devices[s])})
            check(not away, f"stage {s} ran on {away}: run it under tf.device(devices[{s}])")
        check(all(np.array_equal(v.numpy(), b) for v, b in zip(variables, before, strict=True)),
              "the weights changed: compute the gradients only, apply nothing")
        for name, grad, want, home in zip(names, got, expected, homes, strict=True):
            check(grad is not None and tuple(grad.shape) == want.shape,
                  f"the gradient of {name} must have the shape {want.shape}")
            gap = float(np.max(np.abs(np.asarray(grad) - want)))
            check(np.allclose(np.asarray(grad), want, rtol=1e-5, atol=1e-6),
                  f"with micro_batches={micro_batches} the gradient of {name} differs from the whole batch's by "
                  f"up to {gap:.2g}: the accumulated gradient must be the gradient of the mean loss over all "
                  f"{len(x)} rows (the micro-batches are not all the same size; how is each one's loss weighted?)")
            check(parallel.on_device(grad, home),
                  f"the gradient of {name} is on {parallel.short_device(grad.device)}, not on its stage's device "
                  f"{parallel.short_device(home)}: eager ops outside a tf.device scope run on the default "
                  "device; compute each stage's gradients, and add them up, under that stage's device")
    print(f"Correct: micro-batch gradients equal the whole batch's for 1, 4 and 7 micro-batches, each stage's on "
          f"{parallel.short_device(devices[0])} and {parallel.short_device(devices[1])}.")


# ---- Exercise 3: a GPipe schedule by hand ------------------------------------------------------------


def _makespan_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Schedules to test: one micro-batch, equal steps, one stage, and unequal steps (a slow stage)."""
    rng = np.random.default_rng(6)
    slow_last = np.ones((3, 4))
    slow_last[-1] = 3.0
    return [("2 stages, 1 micro-batch", np.ones((2, 1)), np.full((2, 1), 2.0)),
            ("4 stages, 8 equal micro-batches", np.ones((4, 8)), np.full((4, 8), 2.0)),
            ("1 stage, 5 micro-batches", np.ones((1, 5)), np.ones((1, 5))),
            ("3 stages, the last one 3x slower", slow_last, 2 * slow_last),
            ("3 stages, 5 micro-batches, random step times", rng.uniform(0.5, 2, (3, 5)), rng.uniform(0.5, 2, (3, 5)))]


def check_gpipe_makespan(gpipe_makespan: Any) -> None:
    """Exercise 3: the end time of a GPipe schedule from per-stage, per-micro-batch step times, against
    :func:`helpers.parallel.gpipe_schedule` (the schedule section 3 draws)."""
    if is_missing(gpipe_makespan) or not callable(gpipe_makespan):
        raise ExerciseError("No function yet. Hint: keep, for every stage, the time it is next free, and for every "
                            "step the time it ends; a step starts at the later of the two")
    for name, forward, backward in _makespan_cases():
        want = parallel.schedule_summary(parallel.gpipe_schedule(forward, backward))["makespan_s"]
        got = call_learner("gpipe_makespan", gpipe_makespan, forward.copy(), backward.copy())
        check(isinstance(got, int | float | np.floating | np.integer),
              f"gpipe_makespan returned {type(got).__name__}; return one number, the end of the last step")
        got = float(got)
        if abs(got - want) < 1e-9:
            continue
        total = float(forward.sum() + backward.sum())
        if abs(got - total) < 1e-9:
            raise ExerciseError(f"{name}: you returned {got:g}, every step's time added up, as if one device ran "
                                f"them all; the stages work at the same time (GPipe gives {want:g})")
        if got < want:
            raise ExerciseError(f"{name}: {got:g} is shorter than GPipe's {want:g}: a stage runs one step at a "
                                "time, so a step also waits until its stage is free, and each stage runs its "
                                "backwards from the last micro-batch to the first")
        raise ExerciseError(f"{name}: {got:g}, but GPipe's schedule ends at {want:g}: a forward waits for the "
                            "previous stage's forward of the same micro-batch, a backward for the next stage's "
                            "backward (the last stage: for its own forward), and the backwards run M-1, ..., 0")
    equal = parallel.schedule_summary(parallel.gpipe_schedule(np.ones((4, 8)), np.ones((4, 8))))
    print(f"Correct on {len(_makespan_cases())} schedules. With equal steps, 4 stages and 8 micro-batches idle for "
          f"{equal['bubble_fraction']:.3f} of the time: (S - 1)/(M + S - 1) = "
          f"{parallel.ideal_bubble_fraction(4, 8):.3f}.")


# ---- Exercise 4: a Megatron-style sharded MLP ---------------------------------------------------------

UNSHARDED = dtensor.UNSHARDED
MEGATRON_LAYOUTS = {"kernel1": [UNSHARDED, "model"], "bias1": ["model"],
                    "kernel2": ["model", UNSHARDED], "bias2": [UNSHARDED]}
_WHY = {"kernel1": "split its columns (output, hidden units) over 'model'",
        "bias1": "split it over 'model' like the hidden units it is added to",
        "kernel2": "split its rows (input, the hidden units) over 'model'",
        "bias2": "keep it replicated: it is added after the partial products are summed"}


def megatron_problem(seed: int, num_devices: int, features: int = 8, hidden_per_device: int = 4,
                     classes: int = 3, batch: int = 12) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Exercise 4's inputs: float32 initial values ``{"kernel1": (features, hidden), "bias1": (hidden,),
    "kernel2": (hidden, classes), "bias2": (classes,)}`` with ``hidden = hidden_per_device * num_devices``, a
    float32 batch ``x`` (batch, features) and int32 labels ``y`` (batch,), all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    hidden = hidden_per_device * num_devices
    shapes = {"kernel1": (features, hidden), "bias1": (hidden,), "kernel2": (hidden, classes), "bias2": (classes,)}
    values = {name: (rng.normal(size=shape) / np.sqrt(shape[0])).astype("float32") for name, shape in shapes.items()}
    x = rng.normal(size=(batch, features)).astype("float32")
    y = rng.integers(0, classes, size=batch).astype("int32")
    return values, x, y


def _one_device_loss_and_grads(values: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """The reference: the same MLP with ordinary tf.Variables on one device, eager GradientTape."""
    params = {name: tf.Variable(value) for name, value in values.items()}
    with tf.GradientTape() as tape:
        hidden = tf.nn.relu(tf.matmul(x, params["kernel1"]) + params["bias1"])
        logits = tf.matmul(hidden, params["kernel2"]) + params["bias2"]
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    grads = tape.gradient(loss, params)
    return float(loss), {name: g.numpy() for name, g in grads.items()}


def _layout_of(tensor: Any) -> Any:
    """The DTensor layout of a tensor or DVariable, None for anything that is not on a mesh."""
    try:
        value = tensor.read_value() if isinstance(tensor, tf.Variable) else tensor
        return dtensor.fetch_layout(value) if dtensor.is_dtensor(value) else None
    except (TypeError, ValueError, AttributeError):
        return None


@fuller_hint("kernel1 [UNSHARDED, 'model'], bias1 ['model'], kernel2 ['model', UNSHARDED], bias2 [UNSHARDED]: "
             "copy each value to the mesh replicated, relayout it to its Layout(specs, mesh), wrap it in a "
             "DVariable; copy x and y to the mesh replicated; then one @tf.function that runs the forward pass "
             "and the mean sparse softmax cross-entropy on a GradientTape and returns the loss and "
             "tape.gradient(loss, params)")
def check_megatron_step(megatron_step: Any, mesh: Any, values: dict, x: np.ndarray, y: np.ndarray) -> None:
    """Exercise 4: ``megatron_step(mesh, values, x, y)`` returns ``(params, loss, grads)``: the four
    DVariables with Megatron's layouts, and the mean cross-entropy and its gradients (dict by name), equal
    to the same MLP's on one device within 1e-5, each gradient with its parameter's layout and shards."""
    with _full_float32():
        _check_megatron_step(megatron_step, mesh, values, x, y)


def _check_megatron_step(megatron_step: Any, mesh: Any, values: dict, x: np.ndarray, y: np.ndarray) -> None:
    """The checks of :func:`check_megatron_step`."""
    if is_missing(megatron_step) or not callable(megatron_step):
        raise ExerciseError("No function yet. Hint: define megatron_step(mesh, values, x, y)")
    try:
        out = megatron_step(mesh, dict(values), x, y)
    except tf.errors.UnimplementedError as err:
        first = str(err).split(". ")[0]
        raise ExerciseError(f"Not yet. Hint: DTensor could not run your step ({first}): gradients through "
                            "DTensor ops need a tf.function in TF 2.21 (section 5); an eager GradientTape "
                            "fails") from None
    check(isinstance(out, tuple | list) and len(out) == 3, "return (params, loss, grads)")
    params, loss, grads = out
    for what, found in (("params", params), ("grads", grads)):
        check(isinstance(found, dict) and sorted(found) == sorted(MEGATRON_LAYOUTS),
              f"{what} must be a dict with the keys {sorted(MEGATRON_LAYOUTS)}")
    for name, specs in MEGATRON_LAYOUTS.items():
        param = params[name]
        check(isinstance(param, dtensor.DVariable), f"params[{name!r}] must be a dtensor.DVariable "
              f"(got {type(param).__name__})")
        layout = _layout_of(param)
        check(layout is not None and layout.mesh == mesh, f"params[{name!r}] must be on the mesh you were given")
        check(list(layout.sharding_specs) == specs,
              f"params[{name!r}] has the layout {list(layout.sharding_specs)}; {_WHY[name]}")
        check(np.allclose(parallel.to_numpy(param), values[name]), f"params[{name!r}] must start from values[{name!r}]")
    want_loss, want_grads = _one_device_loss_and_grads(values, x, y)
    got_loss = float(np.asarray(parallel.to_numpy(loss)).reshape(()))
    check(abs(got_loss - want_loss) <= 1e-5 * max(1.0, abs(want_loss)),
          f"the loss is {got_loss:.6g}, the same MLP on one device gives {want_loss:.6g}: the mean sparse "
          "softmax cross-entropy of relu(x @ kernel1 + bias1) @ kernel2 + bias2")
    for name, specs in MEGATRON_LAYOUTS.items():
        layout = _layout_of(grads[name])
        check(layout is not None, f"grads[{name!r}] is not a DTensor: take the gradient of the DVariables")
        check(list(layout.sharding_specs) == specs and parallel.shard_shapes(grads[name])
              == parallel.shard_shapes(params[name]),
              f"grads[{name!r}] has the layout {list(layout.sharding_specs)}, its parameter {specs}")
        got = parallel.to_numpy(grads[name])
        gap = float(np.max(np.abs(got - want_grads[name])))
        check(np.allclose(got, want_grads[name], rtol=1e-5, atol=1e-5),
              f"grads[{name!r}] differs from the one-device gradient by up to {gap:.2g}")
    shards = parallel.shard_shapes(params["kernel1"])
    print(f"Correct: loss and gradients equal the one-device MLP's; each of {len(shards)} devices holds a "
          f"{shards[0]} slice of kernel1 and its gradient.")
