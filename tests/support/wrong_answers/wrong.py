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
