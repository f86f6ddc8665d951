"""Grading with nbgrader (helpers.grading): the nbgrader format of every notebook, hints that are not answers,
the report files, the second hint; nbgrader's generate_assignment; and two grading runs through nbgrader's
autograde: a tiny notebook's class (the solution, a blank copy, a wrong answer, a hanging, a raising, an
unreadable submission and one with a deleted check cell), and every workbook notebook's own solutions, which
must score full marks. Whether each check is right (passes on its solution, fails on blank and wrong answers)
is the notebook tier's three-way test (tests/test_notebooks.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from helpers import checks, student, workbook
from helpers.grading import cells, course, grade, report
from tests.support.notebooks import copy_of, tiny_notebook, with_answer

NOTEBOOKS = workbook.find_notebooks()
notebooks = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


def _exercises(path: Path) -> list[tuple[str, workbook.Exercise]]:
    found = workbook.graded_exercises(nbformat.read(path, as_version=4), path.name)
    return [(f"{path.name[:2]}_ex{k}", e) for k, e in enumerate(found, start=1)]


# ---- the format ---------------------------------------------------------------------------------------

@notebooks
def test_notebook_is_in_nbgrader_format(path):
    nb = nbformat.read(path, as_version=4)
    problems = cells.problems(nb, path.name)
    assert problems == [], f"step 6: run `python -m helpers.grading format notebooks/{path.name}`: {problems}"
    again = cells.mark(nbformat.read(path, as_version=4), path.name)
    assert again.cells == nb.cells, "mark() changes nothing in a notebook that has the format"


@notebooks
def test_first_hint_is_not_the_answer(path):
    nb = nbformat.read(path, as_version=4)
    for grade_id, e in _exercises(path):
        hint = e.hint.replace(" ", "")
        _, answer, _ = workbook.split_solution(nb.cells[e.solution].source)
        for line in answer.splitlines():
            code = line.strip().replace(" ", "")
            if len(code) >= 12 and not code.startswith("#"):
                assert code not in hint, f"{grade_id}: the hint gives away the line {line.strip()!r}"


def tiny() -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import helpers  # helpers.setup(", metadata={}),
        nbformat.v4.new_markdown_cell("## Exercises\n\n### Exercise 1: two"),
        nbformat.v4.new_code_cell("# Hint: a number\nx = 2", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("assert x == 2"),
        nbformat.v4.new_markdown_cell("## Summary"),
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
    assert workbook.replace_answer(nb.cells[2].source, "x = 5\n") == \
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


# ---- nbgrader ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_generate_assignment_releases_without_solutions(tmp_path):
    path = workbook.NOTEBOOKS / "05_custom_callbacks.ipynb"
    written = course.release([path], tmp_path)
    target = tmp_path / "05_custom_callbacks" / "05_custom_callbacks.ipynb"
    assert written == {target: len(_exercises(path))}
    released, source = nbformat.read(target, as_version=4), nbformat.read(path, as_version=4)
    for grade_id, e in _exercises(path):
        cell = released.cells[e.solution]
        assert cell.source.startswith("# Hint: ") and "raise NotImplementedError()" in cell.source
        assert workbook.split_solution(source.cells[e.solution].source)[1] not in cell.source
        assert released.cells[e.check].metadata["editable"] is False, grade_id
    assert any(workbook.is_answer(c) for c in source.cells), "05 has review answers (cells tagged answer)"
    assert not any(workbook.is_answer(c) for c in released.cells), "the release leaves review answers out"


def _write(nb, folder: Path, student_id: str, name: str) -> None:
    (folder / student_id).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / student_id / name)


@pytest.mark.slow
def test_grading_a_class_of_a_tiny_notebook(tmp_path):
    name = "09_tiny.ipynb"
    source = cells.mark(tiny_notebook(), name)
    student.strip_outputs(source)
    (tmp_path / "notebooks").mkdir()
    nbformat.write(source, tmp_path / "notebooks" / name)
    (ex1, e1), (ex2, e2), (ex3, e3) = [(f"09_ex{k}", e) for k, e in
                                       enumerate(workbook.graded_exercises(source, name), 1)]
    subs = tmp_path / "class"
    _write(source, subs, "solution", name)
    _write(student.make_student(source, name), subs, "blank", name)
    _write(with_answer(source, e2.solution, "def inc(x):\n    return x + 2"), subs, "wrong", name)
    _write(with_answer(source, e1.solution, "import time\nwhile True:\n    time.sleep(1)"), subs, "hangs", name)
    _write(with_answer(source, e2.solution, "raise RuntimeError('my bug')"), subs, "raises", name)
    deleted = copy_of(source)
    del deleted.cells[e1.check]
    _write(deleted, subs, "deleted", name)
    (subs / "unreadable").mkdir()
    (subs / "unreadable" / name).write_text("{not json")
    noisy = "import sys\ndef inc(x):\n    print('a warning', file=sys.stderr)\n    return x + 1"
    _write(with_answer(source, e2.solution, noisy), subs, "noisy", name)  # right, but the check writes to stderr
    expected = {  # points of exercises 1, 2, 3 (exercise 3's check cannot fail: blank scores there)
        "solution": (1, 1, 1), "blank": (0, 0, 1), "wrong": (1, 0, 1), "hangs": (0, 1, 1), "raises": (1, 0, 1),
        "deleted": (0, 1, 1), "unreadable": (0, 0, 0), "noisy": (1, 0, 1),
    }

    said: list[str] = []
    rows = grade.grade(subs, tmp_path / "notebooks", timeout=120, cell_timeout=5, jobs=2, say=said.append)
    got = {(r.student, r.exercise): r for r in rows}
    points = {who: tuple(got[(who, ex)].points for ex in (ex1, ex2, ex3)) for who in expected}
    assert points == expected
    assert all(r.max_points == 1 for r in rows) and len(rows) == 3 * len(expected)
    assert got[("hangs", ex1)].message.startswith("the answer cell timed out: the cell ran past its time")
    assert "RuntimeError: my bug" in got[("raises", ex2)].message
    assert "ExerciseError" in got[("wrong", ex2)].message
    assert got[("deleted", ex1)].message == "the check cell was deleted from the submission"
    assert "could not be graded" in got[("unreadable", ex1)].message
    assert "NotImplementedError" in got[("blank", ex1)].message
    assert got[("noisy", ex2)].message.startswith("the check cell wrote to stderr") and "a warning" in \
        got[("noisy", ex2)].message
    assert all(r.message for r in rows if r.points < r.max_points), "every zero comes with its reason"
    assert report.read_csv(subs / "grades.csv") == rows
    page = (subs / "grades.html").read_text()
    assert page.count("<tr><th>") == 1 + len(expected) and "my bug" in page


@pytest.mark.notebook
def test_every_notebooks_own_solutions_score_full_marks(tmp_path):
    subs = tmp_path / "class"
    for path in NOTEBOOKS:
        _write(nbformat.read(path, as_version=4), subs, "instructor", path.name)
    rows = grade.grade(subs, timeout=300, cell_timeout=120, jobs=2, say=lambda _: None)
    lost = {r.exercise: (r.points, r.max_points, r.message) for r in rows if r.points != r.max_points}
    assert not lost, f"the instructor's own solutions lost points: {lost}"
    assert sorted(r.exercise for r in rows) == sorted(g for p in NOTEBOOKS for g, _ in _exercises(p))
