"""The run report: ``runs/<timestamp>/index.html``, written by ``python -m helpers.run`` after a run.

One self-contained HTML page: every notebook's status, seconds, parameters and recorded figures, with a
link to the executed notebook rendered to HTML by nbconvert (written next to it). A notebook that failed
shows the failing cell's source and error at the top of its row, read from the executed notebook.
``python -m helpers.report runs/<timestamp>`` rebuilds the page from the run's ``summary.json``.
Imports no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from html import escape as esc
from pathlib import Path
from typing import Any

import nbformat

from helpers.logs import strip_ansi
from helpers.workbook import cell_error

MAX_TRACEBACK_LINES = 40

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #1d1d1f; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
.meta { color: #666; margin-bottom: 1.2em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .45em .7em; border-bottom: 1px solid #ddd; }
th { background: #f4f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { font-weight: 600; padding: .1em .5em; border-radius: .3em; white-space: nowrap; }
.passed { background: #e3f5e6; color: #17652a; }
.failed { background: #fde5e5; color: #9b1c1c; }
tbody { border-top: 2px solid #c8c8d0; }
tr.failure td { background: #fff6f6; border-bottom: none; }
pre { background: #f7f7f9; border: 1px solid #e3e3e8; padding: .6em; overflow-x: auto; margin: .3em 0;
      font-size: 12.5px; white-space: pre-wrap; }
pre.error { background: #fff0f0; border-color: #f3c2c2; }
.kv { margin: 0; padding: 0; list-style: none; font-size: 13px; }
.kv code { color: #444; }
a { color: #0b62c4; }
"""


@dataclass
class Failure:
    """The cell a notebook failed in: its position, source and error text (ANSI colours removed)."""

    index: int | None  # position in the executed notebook; None when no cell says so
    execution_count: int | None
    source: str
    error: str  # "ErrorName: message"
    traceback: str


def _get(result: Any, name: str, default: Any = None) -> Any:
    """A field of a ``helpers.run.Result`` or of its dict form in summary.json."""
    if isinstance(result, dict):
        return result.get(name, default)
    return getattr(result, name, default)


def failing_cell(nb: nbformat.NotebookNode) -> Failure | None:
    """The first code cell with an error output; else the cell papermill marked ``failed``; else None."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        output = cell_error(cell)
        if output is not None:
            lines = strip_ansi("\n".join(output.get("traceback", []))).splitlines()
            if len(lines) > MAX_TRACEBACK_LINES:
                lines = ["..."] + lines[-MAX_TRACEBACK_LINES:]
            error = f"{output.get('ename', 'Error')}: {strip_ansi(output.get('evalue', ''))}"
            return Failure(i, cell.get("execution_count"), cell.source, error, "\n".join(lines))
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "failed":
            return Failure(i, cell.get("execution_count"), cell.source, "failed (no error output)", "")
    return None


def render_notebook(path: Path, target: Path | None = None) -> Path:
    """Render an executed notebook to HTML with nbconvert's HTMLExporter; return the HTML file."""
    from nbconvert import HTMLExporter

    path = Path(path)
    target = target or path.with_suffix(".html")
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(path, as_version=4))
    target.write_text(body, encoding="utf-8")
    return target


def _list(values: dict[str, Any]) -> str:
    if not values:
        return "-"
    items = "".join(f"<li><code>{esc(str(k))}</code> = {esc(str(v))}</li>" for k, v in values.items())
    return f'<ul class="kv">{items}</ul>'


def _failure_block(name: str, failure: Failure | None, error: str, link: str | None) -> str:
    """The failing cell and its error, for the top of a failed notebook's row."""
    parts = []
    if failure is not None:
        where = f"cell {failure.index}" + (f" [{failure.execution_count}]" if failure.execution_count else "")
        if link:
            where = f'<a href="{esc(link)}#papermill-error-cell">{where}</a>'
        parts.append(f"<strong>{esc(name)} failed in {where}:</strong> {esc(failure.error)}")
        parts.append(f"<pre>{esc(failure.source)}</pre>")
        if failure.traceback:
            parts.append(f'<details><summary>traceback</summary><pre class="error">{esc(failure.traceback)}</pre>'
                         "</details>")
    if error and (failure is None or failure.error not in error):
        if failure is None:
            parts.append(f"<strong>{esc(name)} failed:</strong>")
        parts.append(f'<pre class="error">{esc(error)}</pre>')
    if not parts:
        parts.append(f"<strong>{esc(name)} failed</strong> (no failing cell recorded)")
    return "".join(parts)


def _row(run_dir: Path, result: Any) -> str:
    """The rows of one notebook: a failure row on top when it failed, then its status and figures."""
    name = str(_get(result, "notebook", "?"))
    status = str(_get(result, "status", "failed"))
    output = _get(result, "output", "") or ""
    executed = run_dir / output if output else None
    first, page, failure = esc(name), None, None
    if executed is not None and executed.is_file():
        try:
            page = render_notebook(executed, executed.with_suffix(".html"))
            first = f'<a href="{esc(page.name)}">{esc(name)}</a>'
        except Exception as err:  # a broken notebook file must not take the whole report down
            first += f"<br><small>could not render: {esc(type(err).__name__)}: {esc(str(err))}</small>"
        first += f' <small>(<a href="{esc(executed.name)}">ipynb</a>)</small>'
        if status != "passed":
            try:
                failure = failing_cell(nbformat.read(executed, as_version=4))
            except Exception:  # unreadable: the runner's error text still shows
                failure = None
    else:
        first += "<br><small>no executed notebook</small>"
    rows = []
    if status != "passed":
        block = _failure_block(name, failure, str(_get(result, "error", "") or ""), page.name if page else None)
        rows.append(f'<tr class="failure"><td colspan="5">{block}</td></tr>')
    kind = "passed" if status == "passed" else "failed"
    seconds = float(_get(result, "seconds", 0.0) or 0.0)
    cells = [first, f'<span class="status {kind}">{esc(status)}</span>', f"{seconds:.1f}",
             _list(_get(result, "parameters", {}) or {}), _list(_get(result, "figures", {}) or {})]
    rows.append("<tr>" + "".join(f'<td class="num">{c}</td>' if i == 2 else f"<td>{c}</td>"
                                 for i, c in enumerate(cells)) + "</tr>")
    return f'<tbody id="{esc(name)}">{"".join(rows)}</tbody>'


def write_report(run_dir: Path, results: list) -> Path:
    """Write ``run_dir/index.html`` (and each executed notebook as HTML next to it); return its path."""
    run_dir = Path(run_dir)
    passed = sum(_get(r, "status") == "passed" for r in results)
    total = sum(float(_get(r, "seconds", 0) or 0) for r in results)
    failed = [str(_get(r, "notebook")) for r in results if _get(r, "status") != "passed"]
    failed_links = ", ".join(f'<a href="#{esc(n)}">{esc(n)}</a>' for n in failed)
    title = f"Run {run_dir.name}"
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<div class="meta">{passed}/{len(results)} passed in {total:.1f} s'
        + (f" &middot; failed: {failed_links}" if failed else "")
        + f" &middot; report written {datetime.now():%Y-%m-%d %H:%M:%S}</div>",
        "<table><thead><tr><th>notebook</th><th>status</th><th>seconds</th><th>parameters</th>"
        "<th>recorded figures</th></tr></thead>",
        *(_row(run_dir, r) for r in results),
        "</table>",
    ]
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    target = run_dir / "index.html"
    target.write_text(page, encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m helpers.report RUN_DIR`` rebuilds RUN_DIR/index.html from summary.json."""
    parser = argparse.ArgumentParser(prog="python -m helpers.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a run folder of helpers.run (has summary.json)")
    args = parser.parse_args(argv)
    summary = args.run_dir / "summary.json"
    if not summary.is_file():
        print(f"error: {summary} not found: give a run folder of helpers.run", file=sys.stderr)
        return 2
    print(write_report(args.run_dir, json.loads(summary.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
