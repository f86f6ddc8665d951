"""A temporary nbgrader course folder, and the release versions nbgrader's ``generate_assignment`` writes.

One assignment per notebook, named by its stem: ``source/05_custom_callbacks/05_custom_callbacks.ipynb`` ->
``release/05_custom_callbacks/05_custom_callbacks.ipynb``, so an instructor can release topic by topic and
use nbgrader's ``autograde`` and formgrader on the same folders. ``python -m helpers.grading assign``
(``make assignment``) writes the release versions; the grader builds one such course from the
exercises-only cuts (:func:`helpers.student.exercise_only`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from helpers.grading import cells
from helpers.workbook import is_answer

COURSE_ID = "advanced-tf"
CONFIG = f'c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = "{COURSE_ID}"\n'


class CourseError(RuntimeError):
    """nbgrader failed (its log is in the message)."""


@contextmanager
def nbgrader_api(root: Path, cell_timeout: int | None = None, settings: dict | None = None) -> Iterator:
    """nbgrader's own API on the course folder ``root``, for the ``with`` block; ``settings``
    ({section: {name: value}}) is added to its config.

    A new gradebook records the head revision of nbgrader's database migrations, which nbgrader 0.9.6 asks
    for by running the ``alembic heads`` command (found on PATH, 2-20 s here, a process not started through
    :mod:`helpers.procs`) in its private ``nbgrader.api.get_alembic_version``. Inside the block that function
    is :func:`alembic_head`, which reads the same revision in-process from the same folder; the original is
    restored when the block ends.
    """
    import nbgrader.api
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    if cell_timeout is not None:
        config.Execute.timeout = int(cell_timeout)
    config.merge(Config(settings or {}))
    original = nbgrader.api.get_alembic_version
    nbgrader.api.get_alembic_version = alembic_head
    try:
        yield NbGraderAPI(config=config)
    finally:
        nbgrader.api.get_alembic_version = original


def alembic_head() -> str:
    """The head revision of nbgrader's migrations (what ``alembic -c <nbgrader's ini> heads`` prints)."""
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


def write_sources(root: Path, notebooks: dict[str, NotebookNode]) -> None:
    """``root/source/<stem>/<stem>.ipynb`` for each ``{file name: notebook}``, and an ``nbgrader_config.py``. The
    answers to review questions (markdown cells tagged ``answer``) stay out of the course: students never see
    them in a release."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    for name, nb in notebooks.items():
        problems = cells.problems(nb, name)
        if problems:
            raise CourseError("not in nbgrader's format:\n" + "\n".join(problems))
        stem = Path(name).stem
        (root / "source" / stem).mkdir(parents=True, exist_ok=True)
        released = nbformat.from_dict(dict(nb, cells=[c for c in nb.cells if not is_answer(c)]))
        nbformat.write(released, root / "source" / stem / name)


def generate(root: Path, assignments: list[str]) -> None:
    """nbgrader's ``generate_assignment`` for each assignment of the course ``root`` (into ``root/release``)."""
    with nbgrader_api(root) as api:
        for assignment in assignments:
            result = api.generate_assignment(assignment, force=True, create=True)
            if not result["success"]:
                raise CourseError(f"generate_assignment {assignment} failed:\n{result.get('log', '')}"
                                  f"\n{result.get('error', '')}")


def build(root: Path, notebooks: dict[str, NotebookNode]) -> list[str]:
    """A course in ``root`` with one generated assignment per notebook; returns the assignment names."""
    write_sources(root, notebooks)
    assignments = [Path(name).stem for name in notebooks]
    generate(root, assignments)
    return assignments


def release(paths: list[Path], out: Path) -> dict[Path, int]:
    """Release versions of the notebooks ``paths`` into ``out/<stem>/<stem>.ipynb`` (a temporary course;
    nothing is written to ``out`` unless every notebook is generated); returns {written: exercises}."""
    notebooks = {Path(p).name: nbformat.read(p, as_version=4) for p in paths}
    with tempfile.TemporaryDirectory(prefix="course-") as tmp:
        build(Path(tmp), notebooks)
        out = Path(out)
        written = {}
        for name in notebooks:
            stem = Path(name).stem
            target = out / stem / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / "release" / stem / name, target)
            nb = nbformat.read(target, as_version=4)
            written[target] = sum(cells.nbgrader_of(c).get("solution", False) for c in nb.cells)
    return written
