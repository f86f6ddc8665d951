"""The grades of a class: ``grades.csv`` (one row per student and exercise) and ``grades.html`` (student x
exercise, points, the failing check's message)."""

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
