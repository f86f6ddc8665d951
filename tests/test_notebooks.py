"""The notebook tier: every notebook run top to bottom in one kernel, as a learner runs it, with the three-way test
of each exercise's check in the same kernel (tests/support/exercise_runs.py).

For each notebook: every cell passes; its outputs show the lesson and nothing else; the student stub of the
first exercise stops with its title and hint; and for each exercise, its check passes on the solution, fails on
the blank answer (with a hint) and fails on each typical wrong answer of tests/support/wrong_answers with the
message that answer must get. Tests of one notebook share its run (one xdist group a notebook).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from helpers import workbook
from tests.support import exercise_runs
from tests.support.notebooks import tiny_notebook
from tests.support.output_noise import unwanted_output
from tests.support.wrong_answers import WRONG

NOTEBOOKS = workbook.find_notebooks()


def _exercise_ids(path) -> list[str]:
    found = workbook.graded_exercises(nbformat.read(path, as_version=4), path.name)
    return [f"{path.name[:2]}_ex{k}" for k in range(1, len(found) + 1)]


def _grouped(path, *values):
    """A parameter of a test of notebook ``path``, in that notebook's xdist group (its kernel is shared)."""
    return pytest.param(path, *values, marks=pytest.mark.xdist_group(path.stem),
                        id="-".join([path.stem, *map(str, values[1:])]))


EXERCISES = [(path, k, grade_id) for path in NOTEBOOKS for k, grade_id in enumerate(_exercise_ids(path), 1)]
notebooks = pytest.mark.parametrize("path", [_grouped(p) for p in NOTEBOOKS])


@pytest.mark.slow
@pytest.mark.parametrize("cut", [False, True], ids=["whole", "exercises-only"])
def test_the_harness_on_a_tiny_notebook(tmp_path, cut):
    path = tmp_path / "01_tiny.ipynb"
    nbformat.write(tiny_notebook(), path)
    run = exercise_runs.run_exercises(path, timeout=60, cut=cut)
    first, second, third = (e.solution for e in run.exercises)
    assert (first, second, third) == ((4, 7, 10) if cut else (6, 9, 12))
    assert run.first_stub == ("NotImplementedError", "Exercise 1: double it: multiply base by two")
    assert run.blank_checks[first] == ("ExerciseError", "No answer yet. Hint: multiply base by two")
    assert run.blank_checks[second] == ("ExerciseError", "No function yet. Hint: return x + 1")
    assert run.blank_checks[third] is None, "a check that cannot fail is caught"
    code = [i for i, c in enumerate(run.executed.cells) if c.cell_type == "code"]
    assert run.cells == dict.fromkeys(code)


@pytest.mark.notebook
@notebooks
def test_notebook_runs_top_to_bottom(path):
    run = exercise_runs.run(path)
    failed = {i: e for i, e in run.cells.items() if e}
    assert not failed, f"{path.name}: cell(s) failed: {failed}"


@pytest.mark.notebook
@notebooks
def test_outputs_show_only_the_lesson(path):
    """No ``recorded`` line, TensorFlow C++ log, echoed record value, warning or stray stderr in any output."""
    unwanted = unwanted_output(exercise_runs.run(path).executed)
    assert unwanted == [], f"{path.name} shows what its lesson does not discuss: {unwanted[:10]}"


@pytest.mark.notebook
@notebooks
def test_student_copy_stops_at_first_exercise_with_its_hint(path):
    run = exercise_runs.run(path)
    assert run.exercises, f"{path.name} has no exercises"
    first = run.exercises[0]
    assert run.first_stub == ("NotImplementedError", f"{first.title}: {first.hint}")


@pytest.mark.notebook
@notebooks
def test_checks_reject_blank_answers_with_a_hint(path):
    run = exercise_runs.run(path)
    vacuous = [e.title for e in run.exercises if e.check is not None and not run.blank_checks.get(e.solution)]
    assert not vacuous, f"{path.name}: these checks pass with every answer name set to None: {vacuous}"
    for e in run.exercises:
        ename, evalue = run.blank_checks.get(e.solution) or ("", "")
        if ename == "ExerciseError":
            assert "Hint" in evalue, f"{path.name}: {e.title!r} check gives no hint: {evalue}"


@pytest.mark.notebook
@pytest.mark.parametrize("path, k, grade_id", [_grouped(*e) for e in EXERCISES])
def test_check_passes_on_solution_fails_on_blank_and_wrong(path, k, grade_id):
    run = exercise_runs.run(path)
    e = run.exercises[k - 1]
    assert run.cells.get(e.solution) is None and run.cells.get(e.check) is None, \
        f"{grade_id}: the solution or its check failed: {run.cells.get(e.solution) or run.cells.get(e.check)}"
    assert run.blank_checks.get(e.solution), f"{grade_id}: the check passes on the blank answer"
    for j, wrong in enumerate(WRONG[grade_id]):
        got = run.wrong_checks.get((k, j))
        assert got, f"{grade_id}: the check passes on the wrong answer ({wrong.why})"
        ename, evalue = got
        assert ename == wrong.error and re.search(wrong.message, evalue, re.S), \
            f"{grade_id} ({wrong.why}): expected {wrong.error} matching {wrong.message!r}, got {ename}: {evalue}"


def test_every_exercise_has_a_typical_wrong_answer():
    missing = sorted({grade_id for _, _, grade_id in EXERCISES} - {g for g in WRONG if WRONG[g]})
    assert not missing, f"step 7: add typical wrong answers for {missing} in tests/support/wrong_answers/nbNN.py"
    assert sorted(WRONG) == sorted(grade_id for _, _, grade_id in EXERCISES), "wrong answers of no exercise"
