"""Student copies and the exercise format: the conversion (on a tiny synthetic notebook) and, for every notebook
of the workbook, that its copy differs only in solution cells and that it has checked exercises. Running the
copies is the notebook tier's job (tests/test_notebooks.py)."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from helpers import student, workbook
from helpers.workbook import NotebookFormatError
from tests.support import exercise_runs
from tests.support.notebooks import solution_cell, tiny_notebook

NOTEBOOKS = workbook.find_notebooks()


def test_student_copy_replaces_only_solution_cells():
    nb = tiny_notebook()
    copy = student.make_student(nb)
    assert len(copy.cells) == len(nb.cells)
    for i, (a, b) in enumerate(zip(nb.cells, copy.cells, strict=True)):
        if b.cell_type == "code":
            assert b.outputs == [] and b.execution_count is None, i
        if workbook.is_solution(a):
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


def test_review_answers_are_left_out_of_the_student_copy():
    nb = tiny_notebook()
    nb.cells.insert(-1, new_markdown_cell("**Why?** Because.", metadata={"tags": ["answer"]}))
    copy = student.make_student(nb)
    assert len(copy.cells) == len(nb.cells) - 1 and all("Because" not in c.source for c in copy.cells)


def test_stub_raises_with_title_and_hint():
    stub = student.make_student(tiny_notebook()).cells[9].source
    with pytest.raises(NotImplementedError, match=r"^Exercise 2: a function: return x \+ 1$"):
        exec(compile(stub, "stub", "exec"), {})


def test_exercise_only_keeps_setup_and_exercises():
    nb = tiny_notebook()
    short = workbook.exercise_only(nb)
    assert [c.source for c in short.cells] == [c.source for c in nb.cells[:3] + nb.cells[5:]]
    assert nb.metadata == short.metadata
    found = workbook.exercises(short)
    assert [(e.title, e.hint, e.solution, e.check) for e in found] == [
        ("Exercise 1: double it", "multiply base by two", 4, 5),
        ("Exercise 2: a function", "return x + 1", 7, 8),
        ("Exercise 3", "anything", 10, 11),
    ]


def test_blank_source_sets_defined_names_to_none():
    cell = solution_cell("# Hint: h\nimport math\nx, (y, z) = 1, (2, 3)\nw: int = 4\ndef f():\n    q = 1\n"
                     "class C:\n    pass\nx.attr = 5\n")
    blank = "# Hint: h\nx = None\ny = None\nz = None\nw = None\nf = None\nC = None\n"
    assert exercise_runs.blank_source(cell) == blank


@pytest.mark.parametrize("first_line", ["doubled = base * 2", "# hint: lower case", "# Hint:   ", ""])
def test_missing_hint_is_a_clear_error(first_line):
    nb = tiny_notebook()
    nb.cells[6].source = first_line + "\ndoubled = base * 2"
    with pytest.raises(NotebookFormatError, match=r"tiny.ipynb: cell 6: solution cell must start with '# Hint:"):
        student.make_student(nb, "tiny.ipynb")


def test_exercise_only_needs_setup_and_heading():
    nb = tiny_notebook()
    nb.cells[2].source = "base = 10"
    with pytest.raises(NotebookFormatError, match=r"no code cell calls helpers\.setup\("):
        workbook.exercise_only(nb)
    nb = tiny_notebook()
    nb.cells[5].source = "# Exercises"
    with pytest.raises(NotebookFormatError, match="no markdown cell starts with '## Exercises'"):
        workbook.exercise_only(nb)


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


# ---- the workbook's notebooks ------------------------------------------------------------------------

notebooks = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


@notebooks
def test_student_copy_differs_only_in_solution_cells(path):
    nb = nbformat.read(path, as_version=4)
    copy = student.make_student(nb, path.name)
    kept = [cell for cell in nb.cells if not workbook.is_answer(cell)]  # review answers are left out
    stubs = 0
    for i, (a, b) in enumerate(zip(kept, copy.cells, strict=True)):
        assert (a.cell_type, a.metadata) == (b.cell_type, b.metadata), f"cell {i}"
        if workbook.is_solution(a):
            stubs += 1
            assert b.source != a.source and "raise NotImplementedError(" in b.source, f"cell {i}"
        else:
            assert a.source == b.source, f"cell {i}"
    assert stubs >= 1, f"{path.name} has no cell tagged 'solution'"


@notebooks
def test_notebook_has_two_checked_exercises(path):
    short = workbook.exercise_only(nbformat.read(path, as_version=4), path.name)
    found = workbook.exercises(short, path.name)
    assert len(found) >= 2, f"{path.name}: {len(found)} solution cell(s) after '## Exercises'; need >= 2"
    for e in found:
        assert e.check is not None, f"{path.name}: {e.title!r} has no check cell after its solution"
        check = short.cells[e.check].source
        assert "check" in check, f"{path.name}: the cell after {e.title!r} calls no check:\n{check}"


