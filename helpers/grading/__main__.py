"""``python -m helpers.grading assign [--out release]`` (``make assignment``), ``python -m helpers.grading grade
DIR`` (``make grade SUBMISSIONS=DIR``) and ``python -m helpers.grading format NOTEBOOK...`` (gives a notebook's
exercises nbgrader's cell metadata, in place); see :mod:`helpers.grading`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from helpers.workbook import NOTEBOOKS, ROOT, NotebookFormatError, find_notebooks, graded_exercises


def format_notebooks(paths: list[Path]) -> int:
    """Apply :func:`helpers.grading.cells.mark` to each notebook and write it back; 2 (and nothing written) when
    one is missing or breaks the exercise format."""
    from helpers.grading import cells

    marked = {}
    for path in paths:
        if not path.is_file():
            print(f"error: {path} not found", file=sys.stderr)
            return 2
        try:
            marked[path] = cells.mark(nbformat.read(path, as_version=4), path.name)
            problems = cells.problems(marked[path], path.name)
        except NotebookFormatError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if problems:
            print("error: " + "\n".join(problems), file=sys.stderr)
            return 2
    for path, nb in marked.items():
        nbformat.write(nb, path)
        print(f"{path}: {len(graded_exercises(nb, path.name))} exercise(s) in nbgrader's format")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grading", description="nbgrader releases and grading")
    commands = parser.add_subparsers(dest="command", required=True)
    assign = commands.add_parser("assign", help="release versions with nbgrader's generate_assignment")
    assign.add_argument("--out", type=Path, default=ROOT / "release", help="folder for <stem>/<stem>.ipynb")
    assign.add_argument("--notebooks", type=Path, default=NOTEBOOKS)
    grade = commands.add_parser("grade", help="autograde DIR/<student>/<NN_topic>.ipynb with nbgrader's autograde")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--notebooks", type=Path, default=NOTEBOOKS)
    grade.add_argument("--timeout", type=float, default=600, help="seconds per notebook (default 600)")
    grade.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell (default 120)")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--full", action="store_true", help="run whole notebooks, not only their exercises")
    grade.add_argument("--trusted", action="store_true",
                       help="run the submissions WITHOUT a sandbox, with your rights (only for code you trust)")
    grade.add_argument("--memory-gb", type=float, default=16, help="address space per process (default 16)")
    grade.add_argument("--max-tasks", type=int, default=512,
                       help="processes and threads per submission (default 512)")
    fmt = commands.add_parser("format", help="give each exercise of NOTEBOOK nbgrader's cell metadata (in place)")
    fmt.add_argument("notebooks", type=Path, nargs="+", metavar="NOTEBOOK")
    args = parser.parse_args(argv)
    if args.command == "format":
        return format_notebooks(args.notebooks)
    if args.command == "assign":
        from helpers.grading import course

        paths = find_notebooks(args.notebooks)
        if not paths:
            print(f"error: no notebooks named NN_topic.ipynb in {args.notebooks}", file=sys.stderr)
            return 2
        try:
            written = course.release(paths, args.out)
        except course.CourseError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for path, count in written.items():
            print(f"{path}: {count} exercise(s)")
        return 0
    from helpers.grading.grade import grade as run_grade
    from helpers.grading.sandbox import Limits, SandboxUnavailable

    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder of <student>/<NN_topic>.ipynb", file=sys.stderr)
        return 2
    if args.memory_gb <= 0 or args.max_tasks < 16:
        print(f"error: --memory-gb must be > 0 and --max-tasks >= 16, got {args.memory_gb:g} and {args.max_tasks}",
              file=sys.stderr)
        return 2
    limits = Limits(memory_bytes=int(args.memory_gb * (1 << 30)), tasks=args.max_tasks)
    try:
        rows = run_grade(args.submissions, args.notebooks, timeout=args.timeout, cell_timeout=args.cell_timeout,
                         full=args.full, jobs=args.jobs, trusted=args.trusted, limits=limits)
    except SandboxUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.submissions
    print(f"{len(rows)} grade(s) in {out / 'grades.csv'}, {out / 'grades.html'} and {out / 'canvas.csv'}; "
          f"feedback for each student in {out / 'feedback'}/<student>/<NN_topic>.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
