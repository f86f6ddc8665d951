"""The nbgrader metadata of the exercise cells (the format itself: :mod:`helpers.workbook`), applied
(:func:`mark`, ``python -m helpers.grading format``) and checked (:func:`problems`).

After ``## Exercises`` every exercise is a code cell tagged ``solution`` (the tag stays: helpers.student and
the tests find exercises by it) that reads::

    # Hint: <what to look at; never the answer>
    ### BEGIN SOLUTION
    <the answer>
    ### END SOLUTION

with ``metadata.nbgrader = {"solution": true, "grade": false, "locked": false, "grade_id": "<nn>_ex<k>_solution",
"schema_version": 3}``, followed by its check: a code cell calling ``exercise.check_...`` that is a locked
autograded test cell, ``{"solution": false, "grade": true, "locked": true, "points": N,
"grade_id": "<nn>_ex<k>_check", "schema_version": 3}``. nbgrader's ``generate_assignment`` replaces what is
between the markers with ``raise NotImplementedError()`` and keeps the hint line above them; ``autograde``
restores the locked check cells from the source and gives a check cell its points when it raises nothing.
"""

from __future__ import annotations

from nbformat import NotebookNode

from helpers.workbook import EXERCISES_HEADING, graded_exercises, split_solution, with_markers

SCHEMA_VERSION = 3


def prefix(name: str) -> str:
    """The grade-id prefix of a notebook: ``"05"`` for ``05_custom_callbacks.ipynb``."""
    return name[:2]


def solution_id(name: str, k: int) -> str:
    return f"{prefix(name)}_ex{k}_solution"


def check_id(name: str, k: int) -> str:
    return f"{prefix(name)}_ex{k}_check"


def nbgrader_of(cell: NotebookNode) -> dict:
    """The cell's nbgrader metadata ({} when it has none)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def is_check(cell: NotebookNode) -> bool:
    """True for an autograded test cell (nbgrader ``grade`` true, ``solution`` false)."""
    meta = nbgrader_of(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def points_of(cell: NotebookNode) -> float:
    return float(nbgrader_of(cell).get("points", 0))


def mark(nb: NotebookNode, name: str, points: dict[int, float] | None = None) -> NotebookNode:
    """Give every exercise of ``nb`` (after ``## Exercises``) the nbgrader format, in place; idempotent.
    ``points`` maps an exercise number (1-based) to its points; default: what the check cell has, else 1.
    The ``solution`` tag stays."""
    for k, exercise in enumerate(graded_exercises(nb, name), start=1):
        cell = nb.cells[exercise.solution]
        cell.source = with_markers(cell.source)
        cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False,
                                     "grade_id": solution_id(name, k), "schema_version": SCHEMA_VERSION}
        if exercise.check is not None:
            check = nb.cells[exercise.check]
            old = points_of(check) or 1.0
            value = float((points or {}).get(k, old))
            check.metadata["nbgrader"] = {"solution": False, "grade": True, "locked": True,
                                          "points": int(value) if value.is_integer() else value,
                                          "grade_id": check_id(name, k), "schema_version": SCHEMA_VERSION}
    return nb


def problems(nb: NotebookNode, name: str) -> list[str]:
    """Everything in ``nb`` that breaks the format above (empty when it is right)."""
    found = []
    exercises = graded_exercises(nb, name)
    if not exercises:
        found.append(f"{name}: no exercise after {EXERCISES_HEADING!r}")
    ids = []
    for k, exercise in enumerate(exercises, start=1):
        cell = nb.cells[exercise.solution]
        where = f"{name} cell {exercise.solution} ({exercise.title})"
        try:
            split_solution(cell.source)
        except ValueError as err:
            found.append(f"{where}: {err}")
        meta = nbgrader_of(cell)
        want = {"solution": True, "grade": False, "locked": False, "grade_id": solution_id(name, k),
                "schema_version": SCHEMA_VERSION}
        if meta != want:
            found.append(f"{where}: nbgrader metadata {meta} should be {want}")
        if exercise.check is None:
            found.append(f"{where}: no check cell after it")
            continue
        check = nb.cells[exercise.check]
        meta = nbgrader_of(check)
        if not is_check(check) or not meta.get("locked") or meta.get("grade_id") != check_id(name, k) \
                or points_of(check) <= 0:
            found.append(f"{name} cell {exercise.check}: the check of {exercise.title!r} must be a locked grade "
                         f"cell with points > 0 and grade_id {check_id(name, k)!r}; it has {meta}")
        ids += [solution_id(name, k), check_id(name, k)]
    every = [nbgrader_of(c).get("grade_id") for c in nb.cells if nbgrader_of(c)]
    if len(every) != len(set(every)):
        found.append(f"{name}: grade ids repeat: {every}")
    return found
