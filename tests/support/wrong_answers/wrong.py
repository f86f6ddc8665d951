"""One typical wrong answer of an exercise and the message its check must give."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wrong:
    """``answer``: the code put between the solution cell's ``### BEGIN SOLUTION`` / ``### END SOLUTION``
    markers; ``message``: a regular expression the check's error must match (``re.search``); ``error``: the
    error's class name; ``why``: the mistake, in a few words."""

    answer: str
    message: str
    error: str = "ExerciseError"
    why: str = ""


def variant(answer: str, *edits: tuple[str, str]) -> str:
    """``answer`` with each ``(old, new)`` edit made, where ``old`` occurs exactly once: a typical wrong answer
    written as the one thing it changes in a right one."""
    for old, new in edits:
        if answer.count(old) != 1:
            raise ValueError(f"{old!r} occurs {answer.count(old)} times in the answer, not once")
        answer = answer.replace(old, new)
    return answer
