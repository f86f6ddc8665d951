"""Autograde a class: ``python -m helpers.grading grade DIR`` (``make grade SUBMISSIONS=DIR``).

``DIR/<student>/<NN_topic>.ipynb`` (any subset of the notebooks per student) are each graded by nbgrader's own
``autograde`` in a child process (:mod:`helpers.grading.autograde`, started through :mod:`helpers.procs`, in a
temporary folder of its own) with a per-notebook deadline. The submission's kernel runs in a sandbox
(:mod:`helpers.grading.kernel`, :mod:`helpers.grading.sandbox`: read-only system, private /tmp, no network,
memory and task limits, its own PID namespace; nbgrader and the gradebook stay outside, out of its reach),
unless the instructor says the submissions are trusted; grading refuses to start when the sandbox cannot.
Results go to ``DIR/grades.csv``, ``DIR/grades.html``, ``DIR/canvas.csv`` and
``DIR/feedback/<student>/<NN_topic>.html``. A submission that raises loses the exercises whose checks fail
(with what the sandbox refused, when it did); one that hangs in a cell loses that cell's exercise (nbgrader
interrupts the cell after ``cell_timeout``); one that outlives the per-notebook deadline, cannot be read, or
crashes the grader scores zero on that notebook only; a deleted check cell scores zero on its exercise.
Nothing stops the grading of the other submissions.

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
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat

from helpers import procs
from helpers.grading import cells, course, kernel, sandbox
from helpers.grading.report import Row, write_canvas_csv, write_csv, write_feedback, write_html
from helpers.workbook import NOTEBOOKS, exercise_only, exercises, find_notebooks


@dataclass
class Submission:
    student: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class GradedExercise:
    """An exercise as the grader sees it: its id (``"05_ex2"``), points and title."""

    id: str
    max_points: float
    title: str


AUTOGRADE = "helpers.grading.autograde"
POLL_S = 0.05  # how often the grader looks for finished jobs


def find_submissions(folder: Path, known: set[str]) -> tuple[list[Submission], list[str]]:
    """Every ``folder/<student>/<NN_topic>.ipynb`` whose name is one of ``known``; and a warning for each other
    notebook file found there."""
    found, warnings = [], []
    for student_dir in sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(student_dir.glob("*.ipynb")):
            if path.is_symlink():  # the grader would read what it points to with its own rights
                warnings.append(f"{path}: a symbolic link, not a submitted file; skipped")
            elif path.name in known:
                found.append(Submission(student_dir.name, path))
            else:
                warnings.append(f"{path}: not a notebook of this workbook ({', '.join(sorted(known))}); skipped")
    return found, warnings


def exercises_of(nb: nbformat.NotebookNode, name: str) -> list[GradedExercise]:
    """The graded exercises of a source notebook, in order (from its check cells' nbgrader metadata)."""
    titles = {e.check: e.title for e in exercises(nb, name)}
    return [GradedExercise(cells.nbgrader_of(c)["grade_id"].removesuffix("_check"), cells.points_of(c),
                           titles.get(i, "")) for i, c in enumerate(nb.cells) if cells.is_check(c)]


def _stop_tree(child: procs.Child) -> None:
    """Stop a grading child and everything under it (nbclient starts the kernel in a session of its own; a
    sandboxed kernel's ``bwrap`` ends its PID namespace when it is stopped or its parent dies)."""
    below = procs.descendants(child.pid)
    procs.stop([child], grace=2.0)
    for pid in procs.alive(below):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class _Job:
    """One submission being graded: its child, its deadline and the file the child writes its grades to."""

    index: int
    submission: Submission
    child: procs.Child
    deadline: float
    result: Path

    def done(self) -> bool:
        return self.child.returncode is not None or time.monotonic() >= self.deadline

    def outcome(self, timeout: float) -> tuple[dict, str]:
        """Stop the child and everything under it; return (grades, "") or ({}, why it has none)."""
        code = self.child.returncode
        _stop_tree(self.child)
        if code is None:
            return {}, f"timed out: the notebook ran longer than {timeout:g} s"
        try:  # written by the grading child; read defensively all the same
            grades = json.loads(self.result.read_text())["grades"] if code == 0 else None
        except (OSError, ValueError, KeyError, TypeError):
            grades = None
        if not isinstance(grades, dict):
            tail = self.child.tail(6).strip().splitlines()
            return {}, f"could not be graded (exit code {code}): {tail[-1] if tail else 'no log'}"
        return grades, ""


def _grade_of(got: object, e: GradedExercise) -> tuple[float, str] | None:
    """(points, message) of a well-formed grade entry, capped at the exercise's points; None otherwise."""
    if not isinstance(got, dict) or not isinstance(got.get("points"), int | float):
        return None
    return min(float(got["points"]), e.max_points), str(got.get("message", ""))


def _rows(sub: Submission, expected: list[GradedExercise], grades: dict, failure: str) -> list[Row]:
    rows = []
    for e in expected:
        got = _grade_of(grades.get(f"{e.id}_check"), e)
        if got is None:
            rows.append(Row(sub.student, sub.path.stem, e.id, 0.0, e.max_points, failure or "not graded"))
        else:
            rows.append(Row(sub.student, sub.path.stem, e.id, got[0], e.max_points, got[1]))
    return rows


@dataclass
class _Launcher:
    """Starts the grading child of one submission, its kernel sandboxed unless ``limits`` is None (trusted)."""

    tmp: Path
    hidden: list[Path]
    timeout: float
    cell_timeout: int
    full: bool
    limits: sandbox.Limits | None

    def start(self, index: int, sub: Submission) -> _Job:
        job_dir = self.tmp / f"job-{index}"
        job_dir.mkdir()
        result = job_dir / "result.json"
        args = ["--student", sub.student, "--cell-timeout", min(self.cell_timeout, int(self.timeout)),
                "--course", self.tmp / "template", "--submission", sub.path.resolve(), "--out", result,
                *(["--full"] if self.full else [])]
        if self.limits is not None:
            settings = kernel.prepare(job_dir, self.limits, sandbox.job_uid(index), self.hidden)
            args += ["--kernel-sandbox", settings.file]
        child = procs.start(AUTOGRADE, args, log=job_dir / "log.txt", name=f"grade {sub.student}/{sub.name}")
        return _Job(index, sub, child, time.monotonic() + self.timeout, result)


def _run(submissions: list[Submission], start: Callable[[int, Submission], _Job], finish: Callable[[_Job], None],
         jobs: int) -> None:
    """Grade the submissions, at most ``jobs`` at once, in order; ``finish`` each job as it ends (on an error
    or interrupt, the running ones are stopped)."""
    pending = list(enumerate(submissions))
    running: list[_Job] = []
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                running.append(start(*pending.pop(0)))
            time.sleep(POLL_S)
            for job in [j for j in running if j.done()]:
                running.remove(job)
                finish(job)
    finally:
        for job in running:
            _stop_tree(job.child)


def grade(folder: Path, notebooks: Path = NOTEBOOKS, *, timeout: float = 600, cell_timeout: int = 120,
          full: bool = False, jobs: int = 1, trusted: bool = False, limits: sandbox.Limits | None = None,
          say: Callable[[str], None] = print) -> list[Row]:
    """Grade every submission under ``folder``, each in its own sandbox (:mod:`helpers.grading.sandbox`, with
    ``limits``), or unsandboxed when ``trusted``; write ``grades.csv``, ``grades.html``, ``canvas.csv`` and
    ``feedback/<student>/<NN_topic>.html`` there; return the rows. Raises
    :class:`~helpers.grading.sandbox.SandboxUnavailable` (before running anything) when the sandbox cannot
    start and ``trusted`` is false."""
    folder = Path(folder)
    sources = {p.name: nbformat.read(p, as_version=4) for p in find_notebooks(Path(notebooks))}
    submissions, warnings = find_submissions(folder, set(sources))
    for warning in warnings:
        say(f"warning: {warning}")
    results: dict[int, list[Row]] = {}
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        tmp = Path(tmp)
        if not trusted:
            sandbox.check(tmp)
            kernel.check_socket_path(tmp / f"job-{len(submissions)}")
        needed = sorted({s.name for s in submissions})
        graded = {name: sources[name] if full else exercise_only(sources[name], name) for name in needed}
        if needed:
            course.build(tmp / "template", graded)
        expected = {name: exercises_of(nb, name) for name, nb in graded.items()}
        used = None if trusted else (limits or sandbox.Limits())
        hidden = [folder.resolve(), Path.home().resolve(), tmp.resolve()]
        launcher = _Launcher(tmp, hidden, timeout, cell_timeout, full, used)

        def finish(job: _Job) -> None:
            grades, failure = job.outcome(timeout)
            rows = _rows(job.submission, expected[job.submission.name], grades, failure)
            if used is not None:
                rows = [replace(r, message=sandbox.explain(r.message, used)) for r in rows]
            results[job.index] = rows
            got, most = sum(r.points for r in rows), sum(r.max_points for r in rows)
            note = f" ({failure})" if failure else ""
            say(f"{job.submission.student}/{job.submission.name}: {got:g}/{most:g}{note}")

        _run(submissions, launcher.start, finish, jobs)
    rows = [row for i in sorted(results) for row in results[i]]
    write_csv(rows, folder / "grades.csv")
    write_html(rows, folder / "grades.html", f"Grades: {folder.name}")
    write_canvas_csv(rows, folder / "canvas.csv")
    write_feedback(rows, folder / "feedback")
    return rows
