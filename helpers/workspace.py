"""The learner's workspace: ``python -m helpers.workspace`` (what ``make lab`` runs before JupyterLab).

``workspace/NN_topic.ipynb`` is the learner's copy of ``notebooks/NN_topic.ipynb``: the lesson as it is,
each exercise with its task, its hint and an answer cell to fill in (:func:`helpers.student.make_student`'s
stub), and the instructor's solutions collected in a ``## Solutions`` section at the end. A copy is made
once and never overwritten, so the learner's answers survive ``make lab`` and an update of the repository;
``--refresh NN`` takes the workbook's new version of a notebook and keeps the learner's copy beside it
(``workspace/replaced/``). ``make lab`` tells the learner when the workbook's version of a notebook changed.

``workspace/.jupyter`` is the JupyterLab configuration of the learner's view (``JUPYTER_CONFIG_DIR``):
nbgrader's lab extension and server extensions are off (no instructor menu, Validate button or Create
Assignment sidebar), and so are Jupyter's news prompt and update check. The instructor's notebooks stay in
``notebooks/`` (``make lab-instructor``). Imports no TensorFlow.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell

from helpers.student import make_student
from helpers.workbook import (
    BEGIN,
    END,
    NOTEBOOKS,
    ROOT,
    NotebookFormatError,
    exercises,
    find_notebooks,
    is_answer,
)

WORKSPACE = ROOT / "workspace"
CONFIG_DIR = ".jupyter"  # inside the workspace: the JUPYTER_CONFIG_DIR of the learner's JupyterLab
REPLACED_DIR = "replaced"  # inside the workspace: learners' copies that --refresh replaced
SOLUTIONS_HEADING = "## Solutions"
METADATA_KEY = "workbook"  # notebook metadata: {"copy_of": "NN_topic.ipynb", "source_sha256": "..."}

# nbgrader 0.9.6's JupyterLab extension (its menu, Validate button and Create Assignment sidebar) and
# JupyterLab 4's news and update notifications (plugin @jupyterlab/apputils-extension:announcements).
DISABLED_LAB_EXTENSIONS = ("@jupyter/nbgrader", "@jupyterlab/apputils-extension:announcements")
# nbgrader 0.9.6's server extensions (formgrader, validation, assignment and course lists).
DISABLED_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader",
                              "nbgrader.server_extensions.validate_assignment",
                              "nbgrader.server_extensions.assignment_list",
                              "nbgrader.server_extensions.course_list")


def source_sha(path: Path) -> str:
    """The SHA-256 of an instructor notebook's file: a learner's copy remembers the version it came from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _solution_code(source: str) -> str:
    """A solution cell's code as the Solutions section shows it: without the hint line and the markers."""
    lines = source.lstrip("\n").split("\n")[1:]  # the first line is the hint, which the exercise shows
    return "\n".join(line for line in lines if line.strip() not in (BEGIN, END)).strip("\n")


def learner_copy(nb: NotebookNode, name: str = "") -> NotebookNode:
    """The learner's copy of an instructor notebook: every solution cell replaced by its stub (hint and
    ``raise NotImplementedError``, as ``make student`` makes it), outputs stripped, and a ``## Solutions``
    section appended with each exercise's solution under the exercise's title, then the answers to the review
questions (markdown cells tagged ``answer``, which the exercises leave out). The solutions are plain code
    cells (no ``solution`` tag, no nbgrader metadata): running one defines what the exercise asked for."""
    found = exercises(nb, name)
    if not found:
        raise NotebookFormatError(f"{name or 'notebook'}: no exercise (a code cell tagged 'solution')")
    copy = make_student(nb, name)
    copy.cells.append(new_markdown_cell(
        f"{SOLUTIONS_HEADING}\n\nTry each exercise, and run its check, before you read its solution here. "
        "Running a solution cell defines what the exercise asked for, replacing your own answer."))
    for exercise in found:
        copy.cells.append(new_markdown_cell(f"### {exercise.title}"))
        copy.cells.append(new_code_cell(_solution_code(nb.cells[exercise.solution].source)))
    answers = [cell.source for cell in nb.cells if is_answer(cell)]
    if answers:
        copy.cells.append(new_markdown_cell("### Review questions\n\n" + "\n\n".join(answers)))
    return copy


def write_config(workspace: Path) -> Path:
    """Write the learner's JupyterLab configuration into ``workspace/.jupyter`` (rewritten every time: it is
    the workbook's, not the learner's) and return that folder."""
    config = Path(workspace) / CONFIG_DIR
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    page = {"disabledExtensions": {name: True for name in DISABLED_LAB_EXTENSIONS}}
    (config / "labconfig" / "page_config.json").write_text(json.dumps(page, indent=2) + "\n")
    server = {
        "ServerApp": {"jpserver_extensions": {name: False for name in DISABLED_SERVER_EXTENSIONS}},
        # no request to fetch news, no update check (JupyterLab 4 documentation, "Announcements")
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }
    (config / "jupyter_server_config.json").write_text(json.dumps(server, indent=2) + "\n")
    return config


def _make_copy(source: Path) -> NotebookNode:
    """The learner's copy of the notebook file ``source``, stamped with the version it came from."""
    copy = learner_copy(nbformat.read(source, as_version=4), source.name)
    copy.metadata[METADATA_KEY] = {"copy_of": source.name, "source_sha256": source_sha(source)}
    return copy


def _select(paths: list[Path], wanted: list[str]) -> list[Path]:
    """The notebooks named by number or name (``05``, ``05_custom_callbacks``); ValueError for an unknown one."""
    chosen = []
    for want in wanted:
        match = [p for p in paths if p.stem == want or p.stem.split("_", 1)[0] == want or p.name == want]
        if not match:
            raise ValueError(f"no notebook {want!r}; the workbook has {', '.join(p.stem for p in paths)}")
        chosen.extend(p for p in match if p not in chosen)
    return chosen


def prepare(workspace: Path = WORKSPACE, notebooks: Path = NOTEBOOKS, refresh: list[str] | None = None
            ) -> dict[Path, str]:
    """Make the learner's workspace: a copy of every notebook that has none yet, the JupyterLab config, and
    for each notebook named in ``refresh`` a fresh copy, the learner's old one moved to ``replaced/``.

    Returns {copy: what happened}: ``created``, ``kept``, ``kept (the workbook's version changed: ...)`` or
    ``refreshed (yours is now ...)``. Every copy to write is made before anything is written, so a broken
    notebook leaves the workspace as it was. A learner's copy is never overwritten.
    """
    paths = find_notebooks(Path(notebooks))
    if not paths:
        raise NotebookFormatError(f"no notebooks named NN_topic.ipynb in {notebooks}")
    workspace = Path(workspace)
    renew = _select(paths, refresh or [])
    todo = [p for p in paths if p in renew or not (workspace / p.name).exists()]
    copies = {p: _make_copy(p) for p in todo}
    workspace.mkdir(parents=True, exist_ok=True)
    write_config(workspace)
    done: dict[Path, str] = {}
    for path in paths:
        target = workspace / path.name
        if path in copies and target.exists():
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            kept = workspace / REPLACED_DIR / f"{path.stem}.{stamp}.ipynb"
            kept.parent.mkdir(exist_ok=True)
            target.rename(kept)
            nbformat.write(copies[path], target)
            done[target] = f"refreshed (yours is now {kept.relative_to(workspace)})"
        elif path in copies:
            nbformat.write(copies[path], target)
            done[target] = "created"
        else:
            done[target] = _kept_status(target, path)
    return done


def _kept_status(copy: Path, source: Path) -> str:
    """``kept``, or ``kept`` with a note when the workbook's version of the notebook is not the copy's."""
    try:
        stamp = json.loads(copy.read_text()).get("metadata", {}).get(METADATA_KEY, {})
    except (OSError, ValueError):
        return "kept (not a notebook JupyterLab can read: rename it to get a fresh copy)"
    if stamp.get("source_sha256") and stamp["source_sha256"] != source_sha(source):
        number = source.stem.split("_", 1)[0]
        return (f"kept (the workbook's version changed: python -m helpers.workspace --refresh {number} "
                f"gets it and keeps yours in {REPLACED_DIR}/)")
    return "kept"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m helpers.workspace [--out workspace] [--refresh 05,07]``."""
    parser = argparse.ArgumentParser(prog="python -m helpers.workspace", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=WORKSPACE, help="the learner's workspace folder")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of NN_topic.ipynb files")
    parser.add_argument("--refresh", default="", help="comma-separated notebooks to take afresh, e.g. 05,07 "
                        "(your copies are kept in <out>/replaced/)")
    args = parser.parse_args(argv)
    try:
        done = prepare(args.out, args.notebooks, [n.strip() for n in args.refresh.split(",") if n.strip()])
    except (NotebookFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path, what in done.items():
        print(f"{path}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
