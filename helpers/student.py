"""Student copies of the notebooks: ``python -m helpers.student --out student`` (what ``make student`` calls).

Every code cell tagged ``solution`` becomes a stub that keeps the cell's first line (``# Hint: ...``) and
raises ``NotImplementedError`` with the exercise's title and hint (where the cell has nbgrader's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, only the lines between them are replaced, as nbgrader's
``generate_assignment`` does; ``make assignment`` writes nbgrader's own release versions); every other cell is
kept as it is; outputs and execution counts are stripped. The exercise format itself is
:mod:`helpers.workbook`. Imports no TensorFlow.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from helpers.workbook import (
    NOTEBOOKS,
    ROOT,
    NotebookFormatError,
    find_notebooks,
    hint_of,
    is_answer,
    is_solution,
    split_solution,
    title_before,
)


def stub_source(cell: NotebookNode, title: str, where: str = "") -> str:
    """The student's version of a solution cell: what nbgrader's ``generate_assignment`` makes of it (the
    answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` replaced, the lines around the markers
    kept), with ``raise NotImplementedError('<title>: <hint>')`` as the stub; a cell without markers becomes
    its hint line and that ``raise``."""
    hint = hint_of(cell, where)
    stub = f"raise NotImplementedError({f'{title}: {hint}'!r})"
    try:
        before, _, after = split_solution(cell.source)
    except ValueError:
        first = cell.source.lstrip("\n").split("\n", 1)[0].rstrip()
        return f"{first}\n{stub}\n"
    return "\n".join(part for part in (before.rstrip("\n"), stub, after.strip("\n")) if part) + "\n"


def strip_outputs(nb: NotebookNode) -> NotebookNode:
    """Remove outputs and execution counts from every code cell (in place); return the notebook."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def make_student(nb: NotebookNode, name: str = "") -> NotebookNode:
    """A copy of ``nb`` with every solution cell replaced by a stub raising NotImplementedError(hint) and the
    answers to review questions (markdown cells tagged ``answer``) left out."""
    student = copy.deepcopy(nb)
    student.cells = [cell for cell in student.cells if not is_answer(cell)]
    where = f"{name}: " if name else ""
    for i, cell in enumerate(student.cells):
        if is_solution(cell):
            cell.source = stub_source(cell, title_before(student.cells, i), f"{where}cell {i}: ")
    return strip_outputs(student)


def write_student_copies(notebooks: Path = NOTEBOOKS, out: Path = ROOT / "student") -> dict[Path, int]:
    """Write ``out/NN_topic.ipynb`` for every ``notebooks/NN_*.ipynb``; return {path written: exercises}.

    Every notebook is converted before anything is written, so a broken one leaves ``out`` untouched.
    """
    paths = find_notebooks(Path(notebooks))
    if not paths:
        raise NotebookFormatError(f"no notebooks named NN_topic.ipynb in {notebooks}")
    copies = {p: make_student(nbformat.read(p, as_version=4), p.name) for p in paths}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for path, student in copies.items():
        target = out / path.name
        nbformat.write(student, target)
        written[target] = sum(is_solution(c) for c in student.cells)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m helpers.student --out student [--notebooks notebooks]``."""
    parser = argparse.ArgumentParser(prog="python -m helpers.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "student", help="folder for the copies")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of NN_topic.ipynb files")
    args = parser.parse_args(argv)
    try:
        written = write_student_copies(args.notebooks, args.out)
    except NotebookFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path, count in written.items():
        print(f"{path}: {count} exercise(s) stubbed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
