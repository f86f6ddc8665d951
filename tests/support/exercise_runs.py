"""One kernel per notebook for the exercise tests (tests/test_student.py, tests/test_grade.py): the
exercises-only cut run by :func:`helpers.student.run_exercises` with every wrong answer of
:mod:`tests.support.wrong_answers`."""

from __future__ import annotations

import functools
from pathlib import Path

from helpers import student
from tests.support.wrong_answers import WRONG

TIMEOUT = 600  # seconds per cell; exercises are meant to take a few seconds


def wrong_by_number(name: str) -> dict[int, list[str]]:
    """``{k: [answer, ...]}`` of a notebook's wrong answers (``name``: ``05_custom_callbacks.ipynb``)."""
    found: dict[int, list[str]] = {}
    for grade_id, wrongs in WRONG.items():
        if grade_id.startswith(name[:2] + "_ex"):
            found[int(grade_id.split("_ex")[1])] = [w.answer for w in wrongs]
    return found


@functools.cache
def run(path: Path) -> student.ExerciseRun:
    return student.run_exercises(path, timeout=TIMEOUT, wrong=wrong_by_number(path.name))
