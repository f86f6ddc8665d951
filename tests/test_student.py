"""Student copies: the conversion (on a tiny synthetic notebook) and, for every notebook of the workbook,
that its student copy stops at the first exercise with the hint, that each check rejects a blank answer,
and that the real solutions pass their checks."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import student
from helpers.student import StudentCopyError
from tests.support import exercise_runs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TIMEOUT = 600  # seconds per cell; exercises are meant to take a few seconds


def _solution(source: str):
    return new_code_cell(source, metadata={"tags": ["solution"]})


def tiny_notebook() -> nbformat.NotebookNode:
    """Set-up, a lesson cell, three exercises (the third with a check that cannot fail), a summary."""
    check = "from helpers.checks import check, check_answer, check_callable\n"
    cells = [
        new_markdown_cell("# Tiny\n\nA synthetic notebook."),
        new_code_cell("seed: int = 0  # random seed", metadata={"tags": ["parameters"]}),
        # a real notebook calls rt = helpers.setup(seed=seed) here (that imports TensorFlow: too slow)
        new_code_cell("import helpers  # rt = helpers.setup(seed=seed)\nbase = 10 + seed"),
        new_markdown_cell("## Lesson"),
        new_code_cell("lesson_value = 42\nlesson_value"),
        new_markdown_cell("## Exercises\n\n### Exercise 1: double it\n\nDouble `base`."),
        _solution("# Hint: multiply base by two\ndoubled: int = base * 2"),
        new_code_cell(check + "check_answer(doubled, 20, 'multiply base by two')"),
        new_markdown_cell("### Exercise 2: a function\n\nWrite `inc`."),
        _solution("# Hint: return x + 1\ndef inc(x):\n    return x + 1"),
        new_code_cell(check + "check_callable(inc, [((1,), 2), ((5,), 6)], 'return x + 1')"),
        new_markdown_cell("**Exercise 3**: a check that cannot fail."),
        _solution("# Hint: anything\nanswer = 1"),
        new_code_cell(check + "check(True, 'anything')"),
        new_markdown_cell("## Summary"),
    ]
    for cell in cells:
        if cell.cell_type == "code":  # as if it had been run: the copies must strip this
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="old output\n")]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})


def test_student_copy_replaces_only_solution_cells():
    nb = tiny_notebook()
    copy = student.make_student(nb)
    assert len(copy.cells) == len(nb.cells)
    for i, (a, b) in enumerate(zip(nb.cells, copy.cells, strict=True)):
        if b.cell_type == "code":
            assert b.outputs == [] and b.execution_count is None, i
        if student.is_solution(a):
            assert b.source.splitlines()[0] == a.source.splitlines()[0], i
            assert "raise NotImplementedError(" in b.source and a.source.splitlines()[1] not in b.source
        else:
            assert b.source == a.source and b.metadata == a.metadata, i
    assert nb.cells[6].outputs, "the original must be left alone"
    assert copy.cells[6].source == (
        "# Hint: multiply base by two\n"
        "raise NotImplementedError('Exercise 1: double it: multiply base by two')\n"
    )
    assert "Exercise 3: multiply" not in copy.cells[12].source
    assert "'Exercise 3: anything'" in copy.cells[12].source  # title from a bold first line


def test_stub_raises_with_title_and_hint():
    stub = student.make_student(tiny_notebook()).cells[9].source
    with pytest.raises(NotImplementedError, match=r"^Exercise 2: a function: return x \+ 1$"):
        exec(compile(stub, "stub", "exec"), {})


def test_exercise_only_keeps_setup_and_exercises():
    nb = tiny_notebook()
    short = student.exercise_only(nb)
    assert [c.source for c in short.cells] == [c.source for c in nb.cells[:3] + nb.cells[5:]]
    assert nb.metadata == short.metadata
    found = student.exercises(short)
    assert [(e.title, e.hint, e.solution, e.check) for e in found] == [
        ("Exercise 1: double it", "multiply base by two", 4, 5),
        ("Exercise 2: a function", "return x + 1", 7, 8),
        ("Exercise 3", "anything", 10, 11),
    ]


def test_blank_source_sets_defined_names_to_none():
    cell = _solution("# Hint: h\nimport math\nx, (y, z) = 1, (2, 3)\nw: int = 4\ndef f():\n    q = 1\n"
                     "class C:\n    pass\nx.attr = 5\n")
    blank = "# Hint: h\nx = None\ny = None\nz = None\nw = None\nf = None\nC = None\n"
    assert student.blank_source(cell) == blank


@pytest.mark.parametrize("first_line", ["doubled = base * 2", "# hint: lower case", "# Hint:   ", ""])
def test_missing_hint_is_a_clear_error(first_line):
    nb = tiny_notebook()
    nb.cells[6].source = first_line + "\ndoubled = base * 2"
    with pytest.raises(StudentCopyError, match=r"tiny.ipynb: cell 6: solution cell must start with '# Hint:"):
        student.make_student(nb, "tiny.ipynb")


def test_exercise_only_needs_setup_and_heading():
    nb = tiny_notebook()
    nb.cells[2].source = "base = 10"
    with pytest.raises(StudentCopyError, match=r"no code cell calls helpers\.setup\("):
        student.exercise_only(nb)
    nb = tiny_notebook()
    nb.cells[5].source = "# Exercises"
    with pytest.raises(StudentCopyError, match="no markdown cell starts with '## Exercises'"):
        student.exercise_only(nb)


def test_command_line_writes_copies(tmp_path, capsys):
    source, out = tmp_path / "notebooks", tmp_path / "student"
    source.mkdir()
    nb = tiny_notebook()
    nbformat.write(nb, source / "01_tiny.ipynb")
    nbformat.write(tiny_notebook(), source / "scratch.ipynb")  # not NN_topic: ignored
    assert student.main(["--out", str(out), "--notebooks", str(source)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["01_tiny.ipynb"]
    written = nbformat.read(out / "01_tiny.ipynb", as_version=4)
    nbformat.validate(written)
    assert written.cells == student.make_student(nb).cells
    assert "3 exercise(s)" in capsys.readouterr().out

    broken = tiny_notebook()
    broken.cells[9].source = "def inc(x):\n    return x + 1"
    nbformat.write(broken, source / "02_broken.ipynb")
    (out / "01_tiny.ipynb").unlink()
    assert student.main(["--out", str(out), "--notebooks", str(source)]) == 2
    assert "02_broken.ipynb: cell 9: solution cell must start with" in capsys.readouterr().err
    assert not (out / "01_tiny.ipynb").exists(), "nothing is written when one notebook is broken"
    assert student.main(["--out", str(out), "--notebooks", str(tmp_path / "none")]) == 2


def test_run_exercises_on_a_tiny_notebook(tmp_path):
    path = tmp_path / "01_tiny.ipynb"
    nbformat.write(tiny_notebook(), path)
    run = student.run_exercises(path, timeout=60)
    assert run.first_stub == ("NotImplementedError", "Exercise 1: double it: multiply base by two")
    assert run.blank_checks[4] == ("ExerciseError", "No answer yet. Hint: multiply base by two")
    assert run.blank_checks[7] == ("ExerciseError", "No function yet. Hint: return x + 1")
    assert run.blank_checks[10] is None, "a check that cannot fail is caught"
    assert run.cells == dict.fromkeys([1, 2, 4, 5, 7, 8, 10, 11])


# ---- the workbook's notebooks ------------------------------------------------------------------------

def _run(path: Path) -> student.ExerciseRun:
    """One kernel per notebook, shared by the three tests below and tests/test_grade.py's check tests."""
    return exercise_runs.run(path)


notebooks = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


@notebooks
def test_student_copy_differs_only_in_solution_cells(path):
    nb = nbformat.read(path, as_version=4)
    copy = student.make_student(nb, path.name)
    stubs = 0
    for i, (a, b) in enumerate(zip(nb.cells, copy.cells, strict=True)):
        assert (a.cell_type, a.metadata) == (b.cell_type, b.metadata), f"cell {i}"
        if student.is_solution(a):
            stubs += 1
            assert b.source != a.source and "raise NotImplementedError(" in b.source, f"cell {i}"
        else:
            assert a.source == b.source, f"cell {i}"
    assert stubs >= 1, f"{path.name} has no cell tagged 'solution'"


@notebooks
def test_notebook_has_two_checked_exercises(path):
    short = student.exercise_only(nbformat.read(path, as_version=4), path.name)
    found = student.exercises(short, path.name)
    assert len(found) >= 2, f"{path.name}: {len(found)} solution cell(s) after '## Exercises'; need >= 2"
    for e in found:
        assert e.check is not None, f"{path.name}: {e.title!r} has no check cell after its solution"
        check = short.cells[e.check].source
        assert "check" in check, f"{path.name}: the cell after {e.title!r} calls no check:\n{check}"


@pytest.mark.notebook
@notebooks
def test_student_copy_stops_at_first_exercise_with_its_hint(path):
    run = _run(path)
    assert run.exercises, f"{path.name} has no exercises"
    first = run.exercises[0]
    setup_errors = {i: e for i, e in run.cells.items() if i < first.solution and e}
    assert not setup_errors, f"set-up cells failed before the first exercise: {setup_errors}"
    assert run.first_stub == ("NotImplementedError", f"{first.title}: {first.hint}")


@pytest.mark.notebook
@notebooks
def test_checks_reject_blank_answers(path):
    run = _run(path)
    vacuous = [e.title for e in run.exercises if e.check is not None and not run.blank_checks.get(e.solution)]
    assert not vacuous, f"{path.name}: these checks pass with every answer name set to None: {vacuous}"
    for e in run.exercises:
        ename, evalue = run.blank_checks.get(e.solution) or ("", "")
        if ename == "ExerciseError":
            assert "Hint" in evalue, f"{path.name}: {e.title!r} check gives no hint: {evalue}"


@pytest.mark.notebook
@notebooks
def test_solutions_pass_their_checks(path):
    run = _run(path)
    failed = {i: e for i, e in run.cells.items() if e}
    assert not failed, f"{path.name}: exercise-only original failed in cell(s) {failed}"
