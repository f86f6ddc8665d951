"""Tiny synthetic notebooks in the workbook's exercise format, for the tests of the student copies and the
grader (they need no TensorFlow: the set-up cell only imports ``helpers``)."""

from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.workbook import replace_answer


def solution_cell(source: str):
    """A code cell tagged ``solution``."""
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
        solution_cell("# Hint: multiply base by two\ndoubled: int = base * 2"),
        new_code_cell(check + "check_answer(doubled, 20, 'multiply base by two')"),
        new_markdown_cell("### Exercise 2: a function\n\nWrite `inc`."),
        solution_cell("# Hint: return x + 1\ndef inc(x):\n    return x + 1"),
        new_code_cell(check + "check_callable(inc, [((1,), 2), ((5,), 6)], 'return x + 1')"),
        new_markdown_cell("**Exercise 3**: a check that cannot fail."),
        solution_cell("# Hint: anything\nanswer = 1"),
        new_code_cell(check + "check(True, 'anything')"),
        new_markdown_cell("## Summary"),
    ]
    for cell in cells:
        if cell.cell_type == "code":  # as if it had been run: the copies must strip this
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="old output\n")]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})


def copy_of(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A deep copy of a notebook."""
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def with_answer(nb: nbformat.NotebookNode, solution: int, answer: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` with ``answer`` between the markers of its solution cell ``solution``."""
    nb = copy_of(nb)
    nb.cells[solution].source = replace_answer(nb.cells[solution].source, answer)
    return nb
