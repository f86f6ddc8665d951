"""Grading with nbgrader (helpers.grading) and the three-way test of every exercise check.

Fast: the nbgrader format of every notebook, hints that are not answers, the report files, the second hint.
Notebook-marked: every check passes on its solution, fails on the blank answer and fails on each typical
wrong answer of tests/support/wrong_answers.py with its message (one kernel per notebook, shared with
tests/test_student.py); nbgrader's generate_assignment; and one grading run (nbgrader's autograde) over
synthetic submissions of every notebook: the solution, the blank student copy, one typical wrong answer, plus
a hanging, a raising, an unreadable submission and one with a deleted check cell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import checks, student
from helpers.grading import cells, course, grade, report
from tests.support import exercise_runs
from tests.support.wrong_answers import WRONG

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _exercises(path: Path) -> list[tuple[str, student.Exercise]]:
    nb = nbformat.read(path, as_version=4)
    start = cells._exercises_start(nb, path.name)
    found = [e for e in student.exercises(nb, path.name) if e.solution > start]
    return [(f"{path.name[:2]}_ex{k}", e) for k, e in enumerate(found, start=1)]


EXERCISES = [(path, k, grade_id) for path in NOTEBOOKS for k, (grade_id, _) in enumerate(_exercises(path), 1)]
notebooks = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


# ---- the format ---------------------------------------------------------------------------------------

@notebooks
def test_notebook_is_in_nbgrader_format(path):
    nb = nbformat.read(path, as_version=4)
    assert cells.problems(nb, path.name) == []
    again = cells.mark(nbformat.read(path, as_version=4), path.name)
    assert again.cells == nb.cells, "mark() changes nothing in a notebook that has the format"


@notebooks
def test_first_hint_is_not_the_answer(path):
    nb = nbformat.read(path, as_version=4)
    for grade_id, e in _exercises(path):
        hint = e.hint.replace(" ", "")
        _, answer, _ = cells.split_solution(nb.cells[e.solution].source)
        for line in answer.splitlines():
            code = line.strip().replace(" ", "")
            if len(code) >= 12 and not code.startswith("#"):
                assert code not in hint, f"{grade_id}: the hint gives away the line {line.strip()!r}"


def test_every_exercise_has_a_typical_wrong_answer():
    assert sorted(WRONG) == sorted(grade_id for _, _, grade_id in EXERCISES)
    assert all(WRONG[g] for g in WRONG)


def tiny() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_code_cell("import helpers  # helpers.setup(", metadata={}),
        new_markdown_cell("## Exercises\n\n### Exercise 1: two"),
        new_code_cell("# Hint: a number\nx = 2", metadata={"tags": ["solution"]}),
        new_code_cell("assert x == 2"),
        new_markdown_cell("## Summary"),
    ])


def test_mark_gives_the_format_and_is_idempotent():
    nb = cells.mark(tiny(), "09_tiny.ipynb", points={1: 3})
    assert nb.cells[2].source == "# Hint: a number\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION"
    assert nb.cells[2].metadata["tags"] == ["solution"]
    assert nb.cells[2].metadata["nbgrader"]["grade_id"] == "09_ex1_solution"
    assert nb.cells[3].metadata["nbgrader"] == {"solution": False, "grade": True, "locked": True, "points": 3,
                                                "grade_id": "09_ex1_check", "schema_version": 3}
    assert cells.problems(nb, "09_tiny.ipynb") == []
    assert cells.mark(nbformat.from_dict(json.loads(json.dumps(nb))), "09_tiny.ipynb").cells == nb.cells
    assert cells.replace_answer(nb.cells[2].source, "x = 5\n") == \
        "# Hint: a number\n### BEGIN SOLUTION\nx = 5\n### END SOLUTION"
    stub = student.stub_source(nb.cells[2], "Exercise 1: two")
    assert stub == "# Hint: a number\nraise NotImplementedError('Exercise 1: two: a number')\n"
    del nb.cells[3].metadata["nbgrader"]
    assert any("locked grade cell" in p for p in cells.problems(nb, "09_tiny.ipynb"))


def test_fuller_hint_on_the_second_failure():
    @checks.fuller_hint("look at the sign")
    def check_positive(x):
        checks.check(x > 0, "a positive number")

    with pytest.raises(checks.ExerciseError) as first:
        check_positive(-1)
    assert "Fuller hint" not in str(first.value) and "a positive number" in str(first.value)
    with pytest.raises(checks.ExerciseError, match=r"a positive number\nFuller hint: look at the sign"):
        check_positive(-2)
    check_positive(1)


def test_report_files(tmp_path):
    rows = [report.Row("ann", "05_custom_callbacks", "05_ex1", 1, 1),
            report.Row("ann", "05_custom_callbacks", "05_ex2", 0, 2, "ExerciseError: Not yet <b>"),
            report.Row("bo", "01_custom_layers", "01_ex1", 1, 1)]
    report.write_csv(rows, tmp_path / "g.csv")
    assert report.read_csv(tmp_path / "g.csv") == rows
    page = report.html_table(rows)
    assert "Not yet &lt;b&gt;" in page and "<th>01_ex1</th><th>05_ex1</th><th>05_ex2</th>" in page
    assert "not submitted" in page and "1 / 3" in page


def test_find_submissions(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "05_custom_callbacks.ipynb").write_text("{}")
    (tmp_path / "ann" / "notes.ipynb").write_text("{}")
    found, warnings = grade.find_submissions(tmp_path, {"05_custom_callbacks.ipynb"})
    assert [(s.student, s.name) for s in found] == [("ann", "05_custom_callbacks.ipynb")]
    assert len(warnings) == 1 and "notes.ipynb" in warnings[0]


# ---- every check, three ways (one kernel per notebook) ------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("path, k, grade_id", EXERCISES, ids=[g for _, _, g in EXERCISES])
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


# ---- nbgrader ------------------------------------------------------------------------------------------

@pytest.mark.notebook
def test_generate_assignment_releases_without_solutions(tmp_path):
    path = ROOT / "notebooks" / "05_custom_callbacks.ipynb"
    written = course.release([path], tmp_path)
    target = tmp_path / "05_custom_callbacks" / "05_custom_callbacks.ipynb"
    assert written == {target: len(_exercises(path))}
    released, source = nbformat.read(target, as_version=4), nbformat.read(path, as_version=4)
    for grade_id, e in _exercises(path):
        cell = released.cells[e.solution]
        assert cell.source.startswith("# Hint: ") and "raise NotImplementedError()" in cell.source
        assert cells.split_solution(source.cells[e.solution].source)[1] not in cell.source
        assert released.cells[e.check].metadata["editable"] is False, grade_id


def _write(nb, folder: Path, student_id: str, name: str) -> None:
    (folder / student_id).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / student_id / name)


def _with_answer(nb, e: student.Exercise, answer: str):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells[e.solution].source = cells.replace_answer(nb.cells[e.solution].source, answer)
    return nb


@pytest.mark.notebook
def test_grading_a_class(tmp_path):
    subs = tmp_path / "class"
    expected: dict[tuple[str, str], float] = {}  # (student, exercise) -> points; max is 1 a check here
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        found = _exercises(path)
        _write(nb, subs, "solution", path.name)
        _write(student.make_student(nb, path.name), subs, "blank", path.name)
        wrong_id, wrong_ex = found[-1]
        _write(_with_answer(nb, wrong_ex, WRONG[wrong_id][0].answer), subs, "wrong", path.name)
        for grade_id, _ in found:
            expected[("solution", grade_id)] = 1
            expected[("blank", grade_id)] = 0
            expected[("wrong", grade_id)] = 0 if grade_id == wrong_id else 1
    path = ROOT / "notebooks" / "05_custom_callbacks.ipynb"
    nb = nbformat.read(path, as_version=4)
    (ex1, e1), (ex2, e2), *others = _exercises(path)
    _write(_with_answer(nb, e1, "import time\nwhile True:\n    time.sleep(1)"), subs, "hangs", path.name)
    _write(_with_answer(nb, e2, "raise RuntimeError('my bug')"), subs, "raises", path.name)
    deleted = nbformat.from_dict(json.loads(json.dumps(nb)))
    del deleted.cells[e1.check]
    _write(deleted, subs, "deleted", path.name)
    (subs / "unreadable").mkdir()
    (subs / "unreadable" / path.name).write_text("{not json")
    expected.update({("hangs", ex1): 0, ("hangs", ex2): 1, ("raises", ex1): 1, ("raises", ex2): 0,
                     ("deleted", ex1): 0, ("deleted", ex2): 1, ("unreadable", ex1): 0, ("unreadable", ex2): 0})
    for grade_id, _ in others:  # the other exercises of those submissions are the solution's
        expected.update({("hangs", grade_id): 1, ("raises", grade_id): 1, ("deleted", grade_id): 1,
                         ("unreadable", grade_id): 0})

    said: list[str] = []
    # 60 s a cell: the hanging cell costs that much; shorter limits cut real checks when the 2 cores are busy
    rows = grade.grade(subs, timeout=300, cell_timeout=60, jobs=2, say=said.append)
    got = {(r.student, r.exercise): r for r in rows}
    wrong = {k: (got[k].points, got[k].message) for k in expected if k in got and got[k].points != expected[k]}
    assert not wrong, f"points differ from the expected ones: {wrong}"
    assert set(got) == set(expected)
    assert all(r.max_points == 1 for r in rows)
    assert got[("hangs", ex1)].message.startswith("the answer cell timed out: the cell ran past its time")
    assert "RuntimeError: my bug" in got[("raises", ex2)].message
    assert got[("deleted", ex1)].message == "the check cell was deleted from the submission"
    assert "could not be graded" in got[("unreadable", ex1)].message
    assert "NotImplementedError" in got[("blank", "05_ex1")].message
    last_05 = others[-1][0] if others else ex2  # the "wrong" submission errs in the last exercise
    assert re.search(WRONG[last_05][0].message, got[("wrong", last_05)].message), got[("wrong", last_05)].message
    assert report.read_csv(subs / "grades.csv") == rows
    page = (subs / "grades.html").read_text()
    assert page.count("<tr><th>") == 1 + 7 and "my bug" in page  # the header row and 7 students
