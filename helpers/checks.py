"""Exercise checks: each raises AssertionError with a hint on a missing or wrong answer, and passes quietly
(printing a short confirmation) on a right one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class ExerciseError(AssertionError):
    """A wrong or missing exercise answer; the message says what to try."""


def _missing(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def check(condition: bool, hint: str) -> None:
    """Fail with ``hint`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseError(f"Not yet. Hint: {hint}")


def check_answer(answer: Any, expected: Any, hint: str) -> None:
    """An exact answer (a number, a string, a dict, a list)."""
    if _missing(answer):
        raise ExerciseError(f"No answer yet. Hint: {hint}")
    check(answer == expected, f"{hint} (got {answer!r})")
    print("Correct.")


def check_close(answer: Any, expected: Any, hint: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """A numeric answer (scalar or array) equal to ``expected`` within the tolerances."""
    if _missing(answer):
        raise ExerciseError(f"No answer yet. Hint: {hint}")
    got, want = np.asarray(answer, dtype="float64"), np.asarray(expected, dtype="float64")
    check(got.shape == want.shape, f"{hint} (shape {got.shape}, expected {want.shape})")
    check(np.allclose(got, want, rtol=rtol, atol=atol), f"{hint} (values differ from the expected ones)")
    print("Correct.")


def check_at_least(answer: Any, floor: float, hint: str, name: str = "value") -> None:
    """A measured figure (accuracy, speed-up) that must reach ``floor``."""
    if _missing(answer):
        raise ExerciseError(f"No answer yet. Hint: {hint}")
    check(float(answer) >= floor, f"{hint} ({name} is {float(answer):.4g}, needs >= {floor})")
    print(f"Correct: {name} = {float(answer):.4g} >= {floor}.")


def check_callable(answer: Any, cases: list[tuple[tuple, Any]], hint: str,
                   compare: Callable[[Any, Any], bool] | None = None) -> None:
    """A function: called on each ``(args, expected)`` case; ``compare`` defaults to ==."""
    if _missing(answer) or not callable(answer):
        raise ExerciseError(f"No function yet. Hint: {hint}")
    same = compare or (lambda a, b: a == b)
    for args, expected in cases:
        got = answer(*args)
        check(same(got, expected), f"{hint} ({answer.__name__}{args!r} gave {got!r})")
    print(f"Correct on {len(cases)} cases.")


def check_subclass(answer: Any, base: type, hint: str) -> None:
    """A class that must subclass ``base`` (a Layer, a Callback, a HyperModel...)."""
    if _missing(answer):
        raise ExerciseError(f"No class yet. Hint: {hint}")
    check(isinstance(answer, type) and issubclass(answer, base), f"{hint} (needs a subclass of {base.__name__})")


# Checks for the custom-layer exercises (01_custom_layers). Keras is imported only when they run.

def check_scale_layer(layer_class: Any) -> None:
    """Exercise: a layer with one trainable scalar weight ``scale`` (initially 1) multiplying its inputs."""
    import keras

    hint = "build() adds one trainable scalar weight named 'scale' (initializer 'ones'); call() returns inputs * scale"
    check_subclass(layer_class, keras.layers.Layer, hint)
    layer = layer_class()
    x = np.arange(6, dtype="float32").reshape(2, 3)
    out = np.asarray(layer(x))
    check(len(layer.trainable_weights) == 1, f"{hint} (found {len(layer.trainable_weights)} trainable weights)")
    weight = layer.trainable_weights[0]
    check(tuple(weight.shape) == () and weight.name == "scale", f"{hint} (weight {weight.name!r} {weight.shape})")
    check(np.allclose(out, x), f"{hint} (with scale=1 the output should equal the input)")
    weight.assign(3.0)
    check(np.allclose(np.asarray(layer(x)), 3 * x), f"{hint} (with scale=3 the output should be 3 * inputs)")
    print("Correct: Scale multiplies by its trainable weight.")


def check_call_counter(layer_class: Any) -> None:
    """Exercise: an identity layer counting its calls in a non-trainable scalar weight ``calls``."""
    import keras

    hint = "add a non-trainable scalar weight 'calls' and assign_add(1.0) to it in call(); return inputs unchanged"
    check_subclass(layer_class, keras.layers.Layer, hint)
    layer = layer_class()
    x = np.ones((2, 3), dtype="float32")
    for _ in range(3):
        out = np.asarray(layer(x))
    check(np.allclose(out, x), f"{hint} (the output must equal the input)")
    check(not layer.trainable_weights, f"{hint} (the counter must not be trainable)")
    calls = [w for w in layer.weights if w.name == "calls"]
    check(len(calls) == 1, f"{hint} (no weight named 'calls')")
    check(float(np.asarray(calls[0])) == 3.0, f"{hint} (after 3 calls 'calls' is {float(np.asarray(calls[0]))})")
    print("Correct: 3 calls counted, nothing trainable.")


def check_config_round_trip(layer_class: Any, **config: Any) -> None:
    """Exercise: ``layer_class.from_config(layer.get_config())`` rebuilds a layer with the same config."""
    import keras

    hint = "store every constructor argument in __init__ and return them from get_config() with super's config"
    check_subclass(layer_class, keras.layers.Layer, hint)
    layer = layer_class(**config)
    x = np.ones((2, 3), dtype="float32")
    out = np.asarray(layer(x))
    saved = layer.get_config()
    missing = [k for k in config if saved.get(k) != config[k]]
    check(not missing, f"{hint} (get_config() lacks {missing})")
    clone = layer_class.from_config(saved)
    check(np.allclose(np.asarray(clone(x)), out), f"{hint} (the rebuilt layer computes something else)")
    print(f"Correct: get_config/from_config keep {config}.")
