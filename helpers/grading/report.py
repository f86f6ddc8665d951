"""The grades of a class: ``grades.csv`` (one row per student and exercise), ``grades.html`` (student x
exercise, points, the failing check's message), ``canvas.csv`` (Canvas's gradebook import) and one feedback
page per student and notebook (``feedback/<student>/<NN_topic>.html``)."""

from __future__ import annotations

import csv
import html
from dataclasses import asdict, dataclass
from pathlib import Path

FIELDS = ["student", "notebook", "exercise", "points", "max_points", "message"]


@dataclass
class Row:
    student: str
    notebook: str  # NN_topic
    exercise: str  # the check's grade id without "_check": "05_ex2"
    points: float
    max_points: float
    message: str = ""  # the failing check's error, why it was not run, or "" when it passed


def _number(value: float) -> str:
    return f"{value:g}"


def write_csv(rows: list[Row], path: Path) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**asdict(row), "points": _number(row.points), "max_points": _number(row.max_points)})


def read_csv(path: Path) -> list[Row]:
    with open(path, newline="") as source:
        return [Row(r["student"], r["notebook"], r["exercise"], float(r["points"]), float(r["max_points"]),
                    r["message"]) for r in csv.DictReader(source)]


STYLE = """body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;
vertical-align:top}td.full{background:#e3f4e3}td.zero{background:#f8e0e0}td.part{background:#fff3cd}
td.none{background:#eee}small{display:block;max-width:28em;color:#444;white-space:pre-wrap}"""


def html_table(rows: list[Row], title: str = "Grades") -> str:
    """One row per student, one column per exercise (in notebook order), then the total."""
    students = sorted({r.student for r in rows})
    exercises = list(dict.fromkeys(r.exercise for r in sorted(rows, key=lambda r: (r.notebook, r.exercise))))
    cell = {(r.student, r.exercise): r for r in rows}
    head = "".join(f"<th>{html.escape(e)}</th>" for e in exercises)
    lines = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<table><tr><th>student</th>{head}<th>total</th></tr>"]
    for s in students:
        tds, got, most = [], 0.0, 0.0
        for e in exercises:
            r = cell.get((s, e))
            if r is None:
                tds.append("<td class='none'>not submitted</td>")
                continue
            got, most = got + r.points, most + r.max_points
            kind = "full" if r.points >= r.max_points else "zero" if r.points == 0 else "part"
            note = f"<small>{html.escape(r.message)}</small>" if r.message else ""
            tds.append(f"<td class='{kind}'>{_number(r.points)} / {_number(r.max_points)}{note}</td>")
        lines.append(f"<tr><th>{html.escape(s)}</th>{''.join(tds)}<td>{_number(got)} / {_number(most)}</td></tr>")
    lines.append("</table></body></html>")
    return "\n".join(lines) + "\n"


def write_html(rows: list[Row], path: Path, title: str = "Grades") -> None:
    Path(path).write_text(html_table(rows, title))


# Canvas's gradebook import ("How do I import grades in the Gradebook?", Canvas Instructor Guide): the columns
# Student, ID, SIS User ID, SIS Login ID and Section identify the student (Canvas matches on ID, SIS User ID or
# SIS Login ID), every further column is an assignment, and a row whose Student is "Points Possible" gives
# each assignment's maximum.
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "Points Possible"


def notebook_totals(rows: list[Row]) -> tuple[list[str], dict[tuple[str, str], float], dict[str, float]]:
    """(notebooks in order, {(student, notebook): points}, {notebook: max points of its exercises})."""
    notebooks = sorted({r.notebook for r in rows})
    got: dict[tuple[str, str], float] = {}
    most: dict[tuple[str, str], float] = {}
    for r in rows:
        got[(r.student, r.notebook)] = got.get((r.student, r.notebook), 0.0) + r.points
        most[(r.student, r.notebook)] = most.get((r.student, r.notebook), 0.0) + r.max_points
    possible = {nb: max(m for (_, n), m in most.items() if n == nb) for nb in notebooks}
    return notebooks, got, possible


def write_canvas_csv(rows: list[Row], path: Path) -> None:
    """One row per student (the submission folder's name as Student and SIS Login ID), one column per
    notebook with the student's points; a notebook a student did not submit is left empty."""
    notebooks, got, possible = notebook_totals(rows)
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*CANVAS_IDENTITY, *notebooks])
        writer.writerow([CANVAS_POINTS_POSSIBLE, "", "", "", "", *(_number(possible[nb]) for nb in notebooks)])
        for student in sorted({r.student for r in rows}):
            points = [_number(got[(student, nb)]) if (student, nb) in got else "" for nb in notebooks]
            writer.writerow([student, "", "", student, "", *points])


def feedback_page(student: str, notebook: str, rows: list[Row]) -> str:
    """One student's feedback on one notebook: each exercise's points and the check's message."""
    got, most = sum(r.points for r in rows), sum(r.max_points for r in rows)
    title = f"{notebook}: feedback for {student}"
    lines = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>Total: {_number(got)} / {_number(most)}</p>",
             "<table><tr><th>exercise</th><th>points</th><th>message</th></tr>"]
    for r in rows:
        kind = "full" if r.points >= r.max_points else "zero" if r.points == 0 else "part"
        message = html.escape(r.message) if r.message else "passed"
        lines.append(f"<tr><th>{html.escape(r.exercise)}</th><td class='{kind}'>{_number(r.points)} / "
                     f"{_number(r.max_points)}</td><td><small>{message}</small></td></tr>")
    lines.append("</table></body></html>")
    return "\n".join(lines) + "\n"


def write_feedback(rows: list[Row], folder: Path) -> list[Path]:
    """``folder/<student>/<notebook>.html`` for every student and notebook graded; returns the files."""
    by_page: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        by_page.setdefault((r.student, r.notebook), []).append(r)
    written = []
    for (student, notebook), page_rows in sorted(by_page.items()):
        target = Path(folder) / student / f"{notebook}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(feedback_page(student, notebook, page_rows))
        written.append(target)
    return written
