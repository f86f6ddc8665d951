"""``python -m helpers.grading assign [--out release]`` (``make assignment``) and ``python -m helpers.grading grade
DIR`` (``make grade SUBMISSIONS=DIR``); see :mod:`helpers.grading`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.run import NOTEBOOKS, ROOT, find_notebooks


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
    args = parser.parse_args(argv)
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

    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder of <student>/<NN_topic>.ipynb", file=sys.stderr)
        return 2
    rows = run_grade(args.submissions, args.notebooks, timeout=args.timeout, cell_timeout=args.cell_timeout,
                     full=args.full, jobs=args.jobs)
    print(f"{len(rows)} grade(s) in {args.submissions / 'grades.csv'} and {args.submissions / 'grades.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
