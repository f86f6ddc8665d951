"""Autograde a class: ``python -m helpers.grading grade DIR`` (``make grade SUBMISSIONS=DIR``).

``DIR/<student>/<NN_topic>.ipynb`` (any subset of the notebooks per student) are each graded by nbgrader's own
``autograde`` in a child process (:mod:`helpers.grading.autograde`, started through :mod:`helpers.procs`, in a
temporary folder of its own) with a per-notebook deadline; results go to ``DIR/grades.csv`` and
``DIR/grades.html``. A submission that raises loses the exercises whose checks fail; one that hangs in a cell
loses that cell's exercise (nbgrader interrupts the cell after ``cell_timeout``); one that outlives the
per-notebook deadline, cannot be read, or crashes the grader scores zero on that notebook only; a deleted check
cell scores zero on its exercise. Nothing stops the grading of the other submissions.

By default only the set-up cells and the Exercises section are run (:func:`helpers.workbook.exercise_only`): the
notebook shape promises the exercises use nothing else, and a test runs every solution that way. ``--full``
runs whole submissions (20-90 s each here instead of a few seconds).
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from helpers import procs
from helpers.grading import cells, course
from helpers.grading.report import Row, write_csv, write_html
from helpers.workbook import NOTEBOOKS, exercise_only, exercises, find_notebooks


@dataclass
class Submission:
    student: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Exercise:
    id: str  # "05_ex2"
    max_points: float
    title: str


def find_submissions(folder: Path, known: set[str]) -> tuple[list[Submission], list[str]]:
    """Every ``folder/<student>/<NN_topic>.ipynb`` whose name is one of ``known``; and a warning for each other
    notebook file found there."""
    found, warnings = [], []
    for student_dir in sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(student_dir.glob("*.ipynb")):
            if path.name in known:
                found.append(Submission(student_dir.name, path))
            else:
                warnings.append(f"{path}: not a notebook of this workbook ({', '.join(sorted(known))}); skipped")
    return found, warnings


def exercises_of(nb: nbformat.NotebookNode, name: str) -> list[Exercise]:
    """The graded exercises of a source notebook, in order (from its check cells' nbgrader metadata)."""
    titles = {e.check: e.title for e in exercises(nb, name)}
    return [Exercise(cells.nbgrader_of(c)["grade_id"].removesuffix("_check"), cells.points_of(c), titles.get(i, ""))
            for i, c in enumerate(nb.cells) if cells.is_check(c)]


def _stop_tree(child: procs.Child) -> None:
    """Stop a grading child and everything under it (nbclient starts the kernel in a session of its own)."""
    below = procs.descendants(child.pid)
    procs.stop([child], grace=2.0)
    for pid in procs.alive(below):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rows(sub: Submission, expected: list[Exercise], grades: dict, failure: str) -> list[Row]:
    rows = []
    for e in expected:
        got = grades.get(f"{e.id}_check")
        if got is None:
            rows.append(Row(sub.student, sub.path.stem, e.id, 0.0, e.max_points, failure or "not graded"))
        else:
            rows.append(Row(sub.student, sub.path.stem, e.id, got["points"], got["max_points"], got["message"]))
    return rows


def grade(folder: Path, notebooks: Path = NOTEBOOKS, *, timeout: float = 600, cell_timeout: int = 120,
          full: bool = False, jobs: int = 1, say: Callable[[str], None] = print) -> list[Row]:
    """Grade every submission under ``folder``; write ``grades.csv`` and ``grades.html`` there; return the rows."""
    folder = Path(folder)
    sources = {p.name: nbformat.read(p, as_version=4) for p in find_notebooks(Path(notebooks))}
    submissions, warnings = find_submissions(folder, set(sources))
    for warning in warnings:
        say(f"warning: {warning}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        tmp = Path(tmp)
        needed = sorted({s.name for s in submissions})
        graded = {name: sources[name] if full else exercise_only(sources[name], name) for name in needed}
        if needed:
            course.build(tmp / "template", graded)
        expected = {name: exercises_of(nb, name) for name, nb in graded.items()}
        pending = list(enumerate(submissions))
        running: list[tuple[int, Submission, procs.Child, float, Path]] = []
        results: dict[int, list[Row]] = {}
        while pending or running:
            while pending and len(running) < max(1, jobs):
                i, sub = pending.pop(0)
                out = tmp / f"result-{i}.json"
                args = ["--course", tmp / "template", "--student", sub.student, "--submission", sub.path.resolve(),
                        "--out", out, "--cell-timeout", min(cell_timeout, int(timeout))]
                child = procs.start("helpers.grading.autograde", [*args, *(["--full"] if full else [])],
                                    log=tmp / f"log-{i}.txt", name=f"grade {sub.student}/{sub.name}")
                running.append((i, sub, child, time.monotonic() + timeout, out))
            time.sleep(0.2)
            for item in list(running):
                i, sub, child, deadline, out = item
                code = child.returncode
                if code is None and time.monotonic() < deadline:
                    continue
                running.remove(item)
                failure, grades = "", {}
                if code is None:
                    _stop_tree(child)
                    failure = f"timed out: the notebook ran longer than {timeout:g} s"
                elif code != 0 or not out.exists():
                    _stop_tree(child)
                    tail = child.tail(6).strip().splitlines()
                    failure = f"could not be graded (exit code {code}): {tail[-1] if tail else 'no log'}"
                else:
                    _stop_tree(child)
                    grades = json.loads(out.read_text())["grades"]
                results[i] = _rows(sub, expected[sub.name], grades, failure)
                got = sum(r.points for r in results[i])
                most = sum(r.max_points for r in results[i])
                say(f"{sub.student}/{sub.name}: {got:g}/{most:g}" + (f" ({failure})" if failure else ""))
        for i in sorted(results):
            rows.extend(results[i])
    write_csv(rows, folder / "grades.csv")
    write_html(rows, folder / "grades.html", f"Grades: {folder.name}")
    return rows
