"""The workbook's notebook format, in one place: where the notebooks are, their code cells, the exercises
(a code cell tagged ``solution`` that starts with ``# Hint: ...`` and holds its answer between nbgrader's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, followed by its check), the Exercises section, the
exercises-only cut, and a cell's error output.

The runner (:mod:`helpers.run`), the student copies (:mod:`helpers.student`), the grader
(:mod:`helpers.grading`) and the report (:mod:`helpers.report`) all read notebooks through this module.
It imports no TensorFlow and no Jupyter server code.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

SOLUTION_TAG = "solution"
ANSWER_TAG = "answer"  # a markdown cell answering a review question: the learner's copies move it to Solutions
HINT_PREFIX = "# Hint:"
SETUP_CALL = "helpers.setup("
EXERCISES_HEADING = "## Exercises"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


class NotebookFormatError(ValueError):
    """A notebook that does not follow the exercise convention (no hint line, no set-up cell, ...)."""


def find_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The workbook's notebooks (``NN_topic.ipynb``), in order."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))


def code_cells(path: Path) -> list[str]:
    """The sources of a notebook's code cells, in order (read as JSON: no Jupyter import)."""
    cells = json.loads(Path(path).read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


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
    """The hint text of a solution cell's first line ``# Hint: ...``; NotebookFormatError when it is missing."""
    first = cell.source.lstrip("\n").split("\n", 1)[0].strip()
    if not first.startswith(HINT_PREFIX) or not first[len(HINT_PREFIX):].strip():
        raise NotebookFormatError(
            f"{where}solution cell must start with '{HINT_PREFIX} <one-line hint>'; it starts with "
            f"{first[:80]!r}"
        )
    return first[len(HINT_PREFIX):].strip()


def title_before(cells: list[NotebookNode], index: int) -> str:
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
        found.append(Exercise(title_before(nb.cells, i), hint_of(cell, f"{where}cell {i}: "), i, check))
    return found


def is_answer(cell: NotebookNode) -> bool:
    """True for a markdown cell tagged ``answer`` (the answer to a review question)."""
    return cell.cell_type == "markdown" and ANSWER_TAG in cell.get("metadata", {}).get("tags", [])


def exercises_start(nb: NotebookNode, name: str = "") -> int:
    """The index of the markdown cell that starts with ``## Exercises``; NotebookFormatError when none does."""
    start = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                  and c.source.lstrip().startswith(EXERCISES_HEADING)), None)
    if start is None:
        where = f"{name}: " if name else ""
        raise NotebookFormatError(f"{where}no markdown cell starts with {EXERCISES_HEADING!r}")
    return start


def graded_exercises(nb: NotebookNode, name: str = "") -> list[Exercise]:
    """The exercises of the Exercises section (solution cells after ``## Exercises``), in order: exercise k
    of the notebook is ``graded_exercises(nb)[k - 1]``, its grade id ``NN_ex<k>``."""
    start = exercises_start(nb, name)
    return [e for e in exercises(nb, name) if e.solution > start]


def exercise_only(nb: NotebookNode, name: str = "") -> NotebookNode:
    """The set-up cells (up to and including the first code cell calling ``helpers.setup(``) followed by
    every cell from the markdown cell starting with ``## Exercises`` to the end."""
    where = f"{name}: " if name else ""
    cells = nb.cells
    setup = next((i for i, c in enumerate(cells) if c.cell_type == "code" and SETUP_CALL in c.source), None)
    if setup is None:
        raise NotebookFormatError(f"{where}no code cell calls {SETUP_CALL}...)")
    start = exercises_start(nb, name)
    if start <= setup:
        raise NotebookFormatError(f"{where}the {EXERCISES_HEADING!r} cell comes before the set-up cell")
    short = copy.deepcopy(nb)
    short.cells = copy.deepcopy(cells[: setup + 1] + cells[start:])
    return short


def split_solution(source: str) -> tuple[str, str, str]:
    """``(before, answer, after)`` around the markers; ValueError when a marker is missing or out of order."""
    lines = source.split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"needs one {BEGIN!r} line and, after it, one {END!r} line")
    b, e = starts[0], ends[0]
    return "\n".join(lines[:b]), "\n".join(lines[b + 1:e]), "\n".join(lines[e + 1:])


def replace_answer(source: str, answer: str) -> str:
    """A solution cell's source with ``answer`` between its markers (the lines around them kept)."""
    before, _, after = split_solution(source)
    return "\n".join(part for part in (before, BEGIN, answer.strip("\n"), END, after) if part)


def with_markers(source: str) -> str:
    """A solution cell's source with the markers around everything after its first (hint) line; unchanged
    when it has them already."""
    try:
        split_solution(source)
        return source
    except ValueError:
        pass
    hint, _, answer = source.lstrip("\n").partition("\n")
    return f"{hint}\n{BEGIN}\n{answer.strip(chr(10))}\n{END}"


def cell_error(cell: NotebookNode) -> NotebookNode | None:
    """The first ``error`` output of an executed code cell (with ``ename``, ``evalue``, ``traceback``), or
    None when it has none."""
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def stderr_text(cell: NotebookNode) -> str:
    """Everything an executed code cell wrote to stderr ("" when nothing)."""
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")
