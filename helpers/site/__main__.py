"""``python -m helpers.site`` (what ``make site`` calls): run the notebooks with a preset (or take a finished
run folder) and build the book into ``--out``."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

import nbformat

from helpers import run
from helpers.site import repository_url, with_install_cell
from helpers.site.build import SiteError, build
from helpers.workbook import ROOT, SETUP_CALL, find_notebooks


def write_install_cells() -> int:
    """Put :func:`helpers.site.with_install_cell` into every workbook notebook's set-up cell."""
    url = repository_url()
    for path in find_notebooks():
        nb = nbformat.read(path, as_version=4)
        setup = next(c for c in nb.cells if c.cell_type == "code" and SETUP_CALL in c.source)
        setup.source = with_install_cell(setup.source, url)
        nbformat.write(nb, path)
        print(f"{path}: install block written")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.site", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default="classroom", choices=run.PRESETS,
                        help="execute every notebook with this preset first (default classroom: the figures the "
                             "README quotes)")
    source.add_argument("--run", type=Path, help="a finished run folder (runs/<timestamp>) instead of a new run")
    parser.add_argument("--only", help="with --preset: only these notebooks, e.g. 01,07")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site", help="the book's folder")
    parser.add_argument("--install-cells", action="store_true",
                        help="only write the install block (the repository URL of pyproject.toml) at the top of "
                             "every notebook's set-up cell, then stop")
    args = parser.parse_args(argv)
    if args.install_cells:
        return write_install_cells()
    run_dir = args.run
    if run_dir is None:
        run_dir = ROOT / "runs" / f"site-{datetime.now():%Y%m%d-%H%M%S}"
        code = run.main(["--preset", args.preset, "--out", str(run_dir), *(["--only", args.only] if args.only else [])])
        if code != 0:
            print(f"error: the run failed (see {run_dir}); the book is built from passing runs only", file=sys.stderr)
            return code
    try:
        index = build(run_dir, args.out)
    except SiteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"the book: {index} (from {run_dir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
