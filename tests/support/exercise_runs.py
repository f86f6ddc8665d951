"""One kernel per notebook for the notebook tier (tests/test_notebooks.py): the whole notebook run top to
bottom as a learner runs it (cwd: its folder, its default parameters) and, at each exercise, before its
solution, the three-way test of its check: the student stub (first exercise), the blank answer and every wrong
answer of :mod:`tests.support.wrong_answers`, each followed by the exercise's check.

The exercises-only cut that ``make grade`` runs is exercised separately, by grading every notebook's own
solutions through nbgrader (tests/test_grade.py)."""

from __future__ import annotations

import ast
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from helpers.student import stub_source
from helpers.workbook import Exercise, cell_error, exercise_only, graded_exercises, replace_answer
from tests.support.wrong_answers import WRONG

TIMEOUT = 600  # seconds per cell; exercises are meant to take a few seconds

Error = tuple[str, str] | None  # (ename, evalue), None when the cell passed


@dataclass
class ExerciseRun:
    """What :func:`run_exercises` saw; each error is ``(ename, evalue)`` or None when the cell passed."""

    exercises: list[Exercise]
    first_stub: Error = None  # the student copy's first solution cell
    blank_checks: dict[int, Error] = field(default_factory=dict)  # by solution index
    wrong_checks: dict[tuple[int, int], Error] = field(default_factory=dict)  # (k, j): check after wrong answer j
    cells: dict[int, Error] = field(default_factory=dict)  # the original cells, by index
    executed: NotebookNode | None = None  # the notebook with the outputs of its own cells
    seconds: float = 0.0  # wall time of the whole run


def error_of(cell: NotebookNode) -> Error:
    """``(ename, evalue)`` of an executed cell's error output, None when it has none."""
    error = cell_error(cell)
    return None if error is None else (error.get("ename", ""), error.get("evalue", ""))


def blank_source(cell: NotebookNode) -> str:
    """A solution cell with its answer left out: every top-level name it defines is set to None.

    Used to show that a check is not vacuous: the check after it must fail on the blank answer.
    """
    tree = ast.parse(cell.source)
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.extend(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    first = cell.source.lstrip("\n").split("\n", 1)[0].rstrip()
    unique = list(dict.fromkeys(names))
    return first + "\n" + "".join(f"{n} = None\n" for n in unique)


def run_exercises(path: Path, timeout: int = TIMEOUT, cwd: Path | None = None,
                  wrong: dict[int, list[str]] | None = None, cut: bool = False) -> ExerciseRun:
    """Execute a notebook (its exercises-only cut when ``cut``) in one python3 kernel (cwd: its folder).

    In order: every cell as written and, before each exercise's solution cell, the student stub (first exercise
    only), its blank answer (:func:`blank_source`) followed by its check, then each of its ``wrong`` answers
    (by exercise number k, from 1: the code put between the solution markers) followed by its check
    (recorded in ``wrong_checks[(k, j)]``). Errors are recorded, not raised, so a test can say which part
    failed.
    """
    from nbclient import NotebookClient

    path = Path(path)
    short = nbformat.read(path, as_version=4)
    if cut:
        short = exercise_only(short, path.name)
    found = graded_exercises(short, path.name)
    by_solution = {e.solution: e for e in found}
    result = ExerciseRun(found)
    client = NotebookClient(short, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd or path.parent)}})

    def run(source: str, index: int) -> Error:
        cell = nbformat.v4.new_code_cell(source)
        client.execute_cell(cell, index)
        return error_of(cell)

    began = time.monotonic()
    with client.setup_kernel():
        for i, cell in enumerate(short.cells):
            if cell.cell_type != "code":
                continue
            exercise = by_solution.get(i)
            if exercise is not None:
                if exercise is found[0]:
                    result.first_stub = run(stub_source(cell, exercise.title), i)
                if exercise.check is not None:
                    run(blank_source(cell), i)
                    result.blank_checks[i] = run(short.cells[exercise.check].source, exercise.check)
                    k = found.index(exercise) + 1
                    for j, answer in enumerate((wrong or {}).get(k, [])):
                        run(replace_answer(cell.source, answer), i)
                        result.wrong_checks[(k, j)] = run(short.cells[exercise.check].source, exercise.check)
            client.execute_cell(cell, i)
            result.cells[i] = error_of(cell)
    result.executed, result.seconds = short, time.monotonic() - began
    return result


def wrong_by_number(name: str) -> dict[int, list[str]]:
    """``{k: [answer, ...]}`` of a notebook's wrong answers (``name``: ``05_custom_callbacks.ipynb``)."""
    found: dict[int, list[str]] = {}
    for grade_id, wrongs in WRONG.items():
        if grade_id.startswith(name[:2] + "_ex"):
            found[int(grade_id.split("_ex")[1])] = [w.answer for w in wrongs]
    return found


@functools.cache
def run(path: Path) -> ExerciseRun:
    """The three-way run of one notebook, once per test process."""
    return run_exercises(path, timeout=TIMEOUT, wrong=wrong_by_number(path.name))
