"""Exercise checks: each raises :class:`ExerciseError` (an AssertionError) with a hint on a missing or wrong
answer, and prints a short confirmation on a right one.

This module holds the generic checks; each notebook's exercises have a module of their own beside it:
``custom_layers`` (01), ``distributed`` (02), ``serving`` (03), ``tuning`` (04), ``callbacks`` (05),
``parallel`` (06), ``explain`` (07). A notebook imports its module: ``from helpers.checks import tuning``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


class ExerciseError(AssertionError):
    """A wrong or missing exercise answer; the message says what to try."""


def is_missing(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def check(condition: bool, hint: str) -> None:
    """Fail with ``hint`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseError(f"Not yet. Hint: {hint}")


def check_answer(answer: Any, expected: Any, hint: str) -> None:
    """An exact answer (a number, a string, a dict, a list)."""
    if is_missing(answer):
        raise ExerciseError(f"No answer yet. Hint: {hint}")
    check(answer == expected, f"{hint} (got {answer!r})")
    print("Correct.")


def check_close(answer: Any, expected: Any, hint: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """A numeric answer (scalar or array) equal to ``expected`` within the tolerances."""
    if is_missing(answer):
        raise ExerciseError(f"No answer yet. Hint: {hint}")
    got, want = np.asarray(answer, dtype="float64"), np.asarray(expected, dtype="float64")
    check(got.shape == want.shape, f"{hint} (shape {got.shape}, expected {want.shape})")
    check(np.allclose(got, want, rtol=rtol, atol=atol), f"{hint} (values differ from the expected ones)")
    print("Correct.")


def check_at_least(answer: Any, floor: float, hint: str, name: str = "value") -> None:
    """A measured figure (accuracy, speed-up) that must reach ``floor``."""
    if is_missing(answer):
        raise ExerciseError(f"No answer yet. Hint: {hint}")
    check(float(answer) >= floor, f"{hint} ({name} is {float(answer):.4g}, needs >= {floor})")
    print(f"Correct: {name} = {float(answer):.4g} >= {floor}.")


def check_callable(answer: Any, cases: list[tuple[tuple, Any]], hint: str,
                   compare: Callable[[Any, Any], bool] | None = None) -> None:
    """A function: called on each ``(args, expected)`` case; ``compare`` defaults to ==."""
    if is_missing(answer) or not callable(answer):
        raise ExerciseError(f"No function yet. Hint: {hint}")
    same = compare or (lambda a, b: a == b)
    for args, expected in cases:
        got = answer(*args)
        check(same(got, expected), f"{hint} ({answer.__name__}{args!r} gave {got!r})")
    print(f"Correct on {len(cases)} cases.")


def check_subclass(answer: Any, base: type, hint: str) -> None:
    """A class that must subclass ``base`` (a Layer, a Callback, a HyperModel...)."""
    if is_missing(answer):
        raise ExerciseError(f"No class yet. Hint: {hint}")
    check(isinstance(answer, type) and issubclass(answer, base), f"{hint} (needs a subclass of {base.__name__})")


# lines of a TensorFlow error text that say where, not what (node names, stack frames)
_NOISE = ("Graph execution error", "Detected at node", "<stack traces", "[[", "File ", "Traceback")


def essential_line(text: str) -> str:
    """The first line of an error text that says what went wrong (TensorFlow's node and stack lines skipped)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    useful = [line for line in lines if line and not any(noise in line for noise in _NOISE)]
    return (useful or lines or [""])[0][:240]


def error_line(err: BaseException) -> str:
    """``"ValueError: <essential line>"`` of an exception raised by the learner's code."""
    return f"{type(err).__name__}: {essential_line(getattr(err, 'message', None) or str(err))}"


@contextlib.contextmanager
def raised_by_learner(message: Callable[[str], ExerciseError]) -> Iterator[None]:
    """Run the learner's code in the ``with`` block: its own error (anything but an ExerciseError) becomes
    ``message(error_line(err))``, an ExerciseError that says what was called and what it raised."""
    try:
        yield
    except ExerciseError:
        raise
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything; say where
        raise message(error_line(err)) from None


def call_learner(what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``: the learner's code, whose own error (anything but an ExerciseError) becomes an
    ExerciseError naming ``what`` was called and what it raised."""
    with raised_by_learner(lambda raised: ExerciseError(f"Not yet: {what} raised {raised}")):
        return fn(*args, **kwargs)


_FAILURES: dict[str, int] = {}


def fuller_hint(hint: str) -> Callable[[Callable], Callable]:
    """Decorate an exercise check: its first failure in a kernel raises the check's own message (hint 1);
    every later failure of the same check adds ``Fuller hint: <hint>`` (hint 2). A pass resets nothing.

    ``@fuller_hint("the schedule is ...")`` above ``def check_...``; failures are counted per check in this
    process (the learner's kernel), so a fresh kernel, and a grader, see hint 1 first.
    """
    def decorate(check_fn: Callable) -> Callable:
        key = f"{check_fn.__module__}.{check_fn.__qualname__}"

        @functools.wraps(check_fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return check_fn(*args, **kwargs)
            except ExerciseError as err:
                _FAILURES[key] = _FAILURES.get(key, 0) + 1
                if _FAILURES[key] > 1:
                    raise ExerciseError(f"{err}\nFuller hint: {hint}") from None
                raise

        return checked

    return decorate
