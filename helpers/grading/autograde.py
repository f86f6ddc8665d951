"""Autograde ONE submission with nbgrader's own ``autograde``: ``python -m helpers.grading.autograde
--course TEMPLATE --student S --submission FILE --out RESULT.json [--cell-timeout N] [--full]
[--kernel-sandbox SETTINGS]``.

The grader (:mod:`helpers.grading.grade`) starts one of these per submission through :mod:`helpers.procs`,
with a per-notebook deadline. It copies the template course (sources and gradebook made by
``generate_assignment``) into a temporary folder of its own, puts the submission (cut to its set-up cells and
its Exercises section unless ``--full``) under ``submitted/<student>/<stem>/``, runs ``autograde`` there (each
cell has ``--cell-timeout`` seconds; nbgrader interrupts a cell that hangs and goes on), and writes
``{"grades": {grade_id: {"points", "max_points", "message"}}}``: the points from nbgrader's gradebook, the
message from the check cell's error output (``""`` when it passed). With ``--kernel-sandbox`` only the
submission's kernel runs in bubblewrap (:mod:`helpers.grading.kernel`); this process, nbgrader and the
gradebook stay out of its reach.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from helpers.grading import cells, kernel
from helpers.grading.course import COURSE_ID, nbgrader_api
from helpers.logs import strip_ansi
from helpers.workbook import NotebookFormatError, cell_error, exercise_only, stderr_text

DELETED = "the check cell was deleted from the submission"


def cut(nb: nbformat.NotebookNode, name: str, full: bool) -> nbformat.NotebookNode:
    """The part of a submission that is graded: the exercises-only cut, or all of it when ``full`` or when the
    cut cannot be made (its set-up cell or Exercises heading was removed)."""
    if full:
        return nb
    try:
        return exercise_only(nb, name)
    except NotebookFormatError:
        return nb


def message_of(cell: nbformat.NotebookNode) -> str:
    """``"ExerciseError: Not yet. Hint: ..."`` from a cell's error output, ``""`` when it has none."""
    error = cell_error(cell)
    if error is None:
        return ""
    if error.get("ename") == "KeyboardInterrupt":  # nbgrader interrupts a cell that outlives its limit
        return "timed out: the cell ran past its time limit and was interrupted"
    return strip_ansi(f"{error.get('ename', '')}: {error.get('evalue', '')}").strip()


def stderr_reason(cell: nbformat.NotebookNode) -> str:
    """Why nbgrader scored a check cell that raised nothing as failed: it wrote to stderr
    (``nbgrader.utils.determine_grade`` counts any stderr output as a failure); ``""`` when it wrote nothing."""
    text = strip_ansi(stderr_text(cell)).strip()
    if not text:
        return ""
    first = text.splitlines()[0][:200]
    return f"the check cell wrote to stderr, which nbgrader scores as a failure: {first}"


def _failed(message: str) -> str:
    """How an answer cell failed, as a phrase: "timed out: ..." or "raised RuntimeError: ..."."""
    return message if message.startswith("timed out") else f"raised {message}"


def autograde(course: Path, student_id: str, submission: Path, cell_timeout: int, full: bool = False,
              kernel_sandbox: Path | None = None) -> dict:
    """Grade ``submission`` (its file name names the notebook) in a temporary copy of ``course``; its kernel
    in the sandbox of the settings file ``kernel_sandbox`` (:mod:`helpers.grading.kernel`), the temporary
    course in that sandbox's job folder (never under a folder the kernel sees)."""
    from nbgrader.api import Gradebook, MissingEntry

    name = submission.name
    stem = submission.stem
    config, workdir = None, None
    if kernel_sandbox is not None:
        settings = kernel.Settings.load(kernel_sandbox)
        config, workdir = kernel.use(settings), settings.folder
    with tempfile.TemporaryDirectory(prefix=f"grade-{student_id}-{stem}-", dir=workdir) as tmp:
        root = Path(tmp) / "course"
        shutil.copytree(course, root)
        target = root / "submitted" / student_id / stem / name
        target.parent.mkdir(parents=True)
        nb = nbformat.read(submission, as_version=4)
        nbformat.write(cut(nb, name, full), target)
        with nbgrader_api(root, cell_timeout, config) as api:
            result = api.autograde(stem, student_id, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader autograde failed:\n{result.get('log', '')}\n{result.get('error', '')}")
        graded = nbformat.read(root / "autograded" / student_id / stem / name, as_version=4)
        messages = {}
        for c in graded.cells:
            grade_id = cells.nbgrader_of(c).get("grade_id", "")
            if cells.is_check(c):
                answer = messages.pop(grade_id.replace("_check", "_solution"), "")
                message = message_of(c) or stderr_reason(c)
                messages[grade_id] = f"the answer cell {_failed(answer)}; then {message}" if answer and message \
                    else message
            elif grade_id.endswith("_solution") and message_of(c):
                messages[grade_id] = message_of(c)
        grades = {}
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}", COURSE_ID) as gb:
            try:
                notebook = gb.find_submission_notebook(stem, stem, student_id)
            except MissingEntry as err:
                raise RuntimeError(f"nbgrader recorded no grades for {student_id}/{name}") from err
            for grade in notebook.grades:
                message = messages.get(grade.name, DELETED)
                if grade.auto_score is None and not message:
                    message = DELETED
                grades[grade.name] = {"points": float(grade.score or 0.0), "max_points": float(grade.max_score),
                                      "message": message}
    return {"grades": grades}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grading.autograde", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, required=True)
    parser.add_argument("--student", required=True)
    parser.add_argument("--submission", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cell-timeout", type=int, default=120)
    parser.add_argument("--full", action="store_true", help="grade the whole notebook, not the exercises-only cut")
    parser.add_argument("--kernel-sandbox", type=Path, metavar="SETTINGS",
                        help="run the kernel in this sandbox (settings written by helpers.grading.kernel.prepare)")
    args = parser.parse_args(argv)
    from helpers import procs
    from helpers.runtime import import_without_collecting

    procs.die_with_parent()
    import_without_collecting("nbgrader.apps")  # 0.7 instead of 1.1 CPU-s, in each of a class's submissions
    result = autograde(args.course, args.student, args.submission, args.cell_timeout, args.full,
                       args.kernel_sandbox)
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
