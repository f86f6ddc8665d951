"""Student copies of the notebooks: ``python -m helpers.student --out student`` (what ``make student`` calls).

Every code cell tagged ``solution`` becomes a stub that keeps the cell's first line (``# Hint: ...``) and
raises ``NotImplementedError`` with the exercise's title and hint (where the cell has nbgrader's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, only the lines between them are replaced, as nbgrader's
``generate_assignment`` does; ``make assignment`` writes nbgrader's own release versions); every other cell is
kept as it is;
outputs and execution counts are stripped. :func:`exercise_only` cuts a notebook down to its set-up
cells and its Exercises section, which is what the student-copy test executes (the notebook shape
promises that exercises use nothing else). Imports no TensorFlow.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from helpers.run import NOTEBOOKS, ROOT, find_notebooks

SOLUTION_TAG = "solution"
HINT_PREFIX = "# Hint:"
SETUP_CALL = "helpers.setup("
EXERCISES_HEADING = "## Exercises"


class StudentCopyError(ValueError):
    """A notebook that does not follow the exercise convention (no hint line, no set-up cell, ...)."""


@dataclass
class Exercise:
    """One exercise of a notebook: its title, hint, and the indices of its solution and check cells."""

    title: str
    hint: str
    solution: int  # index of the cell tagged ``solution``
    check: int | None  # index of the next code cell (the check), None when there is none


def is_solution(cell: NotebookNode) -> bool:
    """True for a code cell tagged ``solution``."""
    return cell.cell_type == "code" and SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def hint_of(cell: NotebookNode, where: str = "") -> str:
    """The hint text of a solution cell's first line ``# Hint: ...``; StudentCopyError when it is missing."""
    first = cell.source.lstrip("\n").split("\n", 1)[0].strip()
    if not first.startswith(HINT_PREFIX) or not first[len(HINT_PREFIX):].strip():
        raise StudentCopyError(
            f"{where}solution cell must start with '{HINT_PREFIX} <one-line hint>'; it starts with "
            f"{first[:80]!r}"
        )
    return first[len(HINT_PREFIX):].strip()


def _title_before(cells: list[NotebookNode], index: int) -> str:
    """The exercise's title, from the nearest markdown cell above ``index``: a heading naming an exercise
    (``### Exercise 2: ...``), else the last ``Exercise N`` it mentions, else its last heading other than
    ``Exercises``; ``cell N`` when there is none."""
    above = next((c for c in reversed(cells[:index]) if c.cell_type == "markdown"), None)
    if above is not None:
        found = re.finditer(r"(?m)^\s*#+\s+(.*\S)", above.source)
        headings = [m.group(1).strip(" *_").rstrip(" .:") for m in found]
        named = [h for h in headings if re.match(r"Exercise\s+\w", h)]
        if named:
            return named[-1]
        mentions = re.findall(r"Exercise\s+\d+[a-z]?", above.source)
        if mentions:
            return mentions[-1]
        others = [h for h in headings if h and h != "Exercises"]
        if others:
            return others[-1]
    return f"cell {index}"


def exercises(nb: NotebookNode, name: str = "") -> list[Exercise]:
    """Every exercise of a notebook, in order: each solution cell and the code cell after it (its check)."""
    where = f"{name}: " if name else ""
    found = []
    for i, cell in enumerate(nb.cells):
        if not is_solution(cell):
            continue
        check = next((j for j in range(i + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"), None)
        if check is not None and is_solution(nb.cells[check]):
            check = None  # two solution cells in a row: the first one has no check of its own
        found.append(Exercise(_title_before(nb.cells, i), hint_of(cell, f"{where}cell {i}: "), i, check))
    return found


def stub_source(cell: NotebookNode, title: str, where: str = "") -> str:
    """The student's version of a solution cell: what nbgrader's ``generate_assignment`` makes of it (the
    answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` replaced, the lines around the markers
    kept), with ``raise NotImplementedError('<title>: <hint>')`` as the stub; a cell without markers becomes
    its hint line and that ``raise``."""
    from helpers.grading.cells import split_solution

    hint = hint_of(cell, where)
    stub = f"raise NotImplementedError({f'{title}: {hint}'!r})"
    try:
        before, _, after = split_solution(cell.source)
    except ValueError:
        first = cell.source.lstrip("\n").split("\n", 1)[0].rstrip()
        return f"{first}\n{stub}\n"
    return "\n".join(part for part in (before.rstrip("\n"), stub, after.strip("\n")) if part) + "\n"


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


def strip_outputs(nb: NotebookNode) -> NotebookNode:
    """Remove outputs and execution counts from every code cell (in place); return the notebook."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def make_student(nb: NotebookNode, name: str = "") -> NotebookNode:
    """A copy of ``nb`` with every solution cell replaced by a stub raising NotImplementedError(hint)."""
    student = copy.deepcopy(nb)
    where = f"{name}: " if name else ""
    for i, cell in enumerate(student.cells):
        if is_solution(cell):
            cell.source = stub_source(cell, _title_before(student.cells, i), f"{where}cell {i}: ")
    return strip_outputs(student)


def exercise_only(nb: NotebookNode, name: str = "") -> NotebookNode:
    """The set-up cells (up to and including the first code cell calling ``helpers.setup(``) followed by
    every cell from the markdown cell starting with ``## Exercises`` to the end."""
    where = f"{name}: " if name else ""
    cells = nb.cells
    setup = next((i for i, c in enumerate(cells) if c.cell_type == "code" and SETUP_CALL in c.source), None)
    if setup is None:
        raise StudentCopyError(f"{where}no code cell calls {SETUP_CALL}...)")
    start = next(
        (i for i, c in enumerate(cells)
         if c.cell_type == "markdown" and c.source.lstrip().startswith(EXERCISES_HEADING)),
        None,
    )
    if start is None:
        raise StudentCopyError(f"{where}no markdown cell starts with {EXERCISES_HEADING!r}")
    if start <= setup:
        raise StudentCopyError(f"{where}the {EXERCISES_HEADING!r} cell comes before the set-up cell")
    short = copy.deepcopy(nb)
    short.cells = copy.deepcopy(cells[: setup + 1] + cells[start:])
    return short


def write_student_copies(notebooks: Path = NOTEBOOKS, out: Path = ROOT / "student") -> dict[Path, int]:
    """Write ``out/NN_topic.ipynb`` for every ``notebooks/NN_*.ipynb``; return {path written: exercises}.

    Every notebook is converted before anything is written, so a broken one leaves ``out`` untouched.
    """
    paths = find_notebooks(Path(notebooks))
    if not paths:
        raise StudentCopyError(f"no notebooks named NN_topic.ipynb in {notebooks}")
    copies = {p: make_student(nbformat.read(p, as_version=4), p.name) for p in paths}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for path, student in copies.items():
        target = out / path.name
        nbformat.write(student, target)
        written[target] = sum(is_solution(c) for c in student.cells)
    return written


@dataclass
class ExerciseRun:
    """What :func:`run_exercises` saw; each error is ``(ename, evalue)`` or None when the cell passed."""

    exercises: list[Exercise]
    first_stub: tuple[str, str] | None = None  # the student copy's first solution cell
    blank_checks: dict[int, tuple[str, str] | None] = field(default_factory=dict)  # by solution index
    wrong_checks: dict[tuple[int, int], tuple[str, str] | None] = field(default_factory=dict)  # (k, j): check
    cells: dict[int, tuple[str, str] | None] = field(default_factory=dict)  # the original cells, by index


def _error(cell: NotebookNode) -> tuple[str, str] | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename", ""), output.get("evalue", "")
    return None


def run_exercises(path: Path, timeout: int = 600, cwd: Path | None = None,
                  wrong: dict[int, list[str]] | None = None) -> ExerciseRun:
    """Execute the exercise-only cut of a notebook in one python3 kernel (cwd: the notebook's folder).

    In order: the set-up cells; the student stub of the first exercise; then for each exercise its
    blank answer (:func:`blank_source`) followed by its check, then each of its ``wrong`` answers (by
    exercise number k, from 1: the code put between the solution markers) followed by its check (recorded
    in ``wrong_checks[(k, j)]``), then the real solution and every other cell as written. Errors are
    recorded, not raised, so a test can say which part failed.
    """
    from nbclient import NotebookClient

    from helpers.grading.cells import replace_answer

    path = Path(path)
    short = exercise_only(nbformat.read(path, as_version=4), path.name)
    found = exercises(short, path.name)
    by_solution = {e.solution: e for e in found}
    result = ExerciseRun(found)
    client = NotebookClient(short, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd or path.parent)}})

    def run(source: str, index: int) -> tuple[str, str] | None:
        cell = nbformat.v4.new_code_cell(source)
        client.execute_cell(cell, index)
        return _error(cell)

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
            result.cells[i] = _error(cell)
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m helpers.student --out student [--notebooks notebooks]``."""
    parser = argparse.ArgumentParser(prog="python -m helpers.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "student", help="folder for the copies")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of NN_topic.ipynb files")
    args = parser.parse_args(argv)
    try:
        written = write_student_copies(args.notebooks, args.out)
    except StudentCopyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path, count in written.items():
        print(f"{path}: {count} exercise(s) stubbed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
