"""The per-test durations of a pytest run as a markdown table (what ``--durations-file`` writes)."""

from __future__ import annotations

import os
import platform
from collections import defaultdict
from datetime import datetime
from pathlib import Path


def write(path: str | Path, reports: list, exitstatus: int, worker_count: int | None = None) -> Path:
    """Sum setup, call and teardown of each test id and write them, slowest first, with the run's context."""
    seconds: dict[str, float] = defaultdict(float)
    outcome: dict[str, str] = {}
    for report in reports:
        seconds[report.nodeid] += report.duration
        if report.when == "call" or report.outcome != "passed":
            outcome[report.nodeid] = report.outcome
    rows = sorted(seconds.items(), key=lambda item: -item[1])
    lines = [
        f"# Test durations ({datetime.now():%Y-%m-%d %H:%M})",
        "",
        f"Python {platform.python_version()}, {os.cpu_count()} CPU(s), pytest workers: {worker_count or 1}, "
        f"exit status {exitstatus}; {len(rows)} tests, {sum(seconds.values()):.0f} s of test time in all "
        "(with several workers, more than the wall time).",
        "",
        "| seconds | outcome | test |",
        "|---:|---|---|",
        *(f"| {s:.2f} | {outcome.get(nodeid, '?')} | `{nodeid}` |" for nodeid, s in rows),
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_id(nodeid: str) -> str:
    """A test's id without the ``@group`` suffix xdist's loadgroup adds in its workers (in the reports, not yet
    while tests/conftest.py orders the tests)."""
    return nodeid.split("@")[0]


def read(path: str | Path) -> dict[str, float]:
    """``{nodeid: seconds}`` from a table :func:`write` made (the ``@group`` suffix of xdist left out); ``{}``
    when the file is missing."""
    path = Path(path)
    if not path.exists():
        return {}
    found: dict[str, float] = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2].startswith("`"):
            try:
                found[test_id(cells[2].strip("`"))] = float(cells[0])
            except ValueError:
                continue
    return found


def longest_first(items: list, recorded: dict[str, float], block_of) -> list:
    """``items`` in blocks (the tests with the same ``block_of(item)``, in their order), the blocks ordered by
    their recorded seconds, longest first, so that with ``--dist loadgroup --no-loadscope-reorder`` a worker that
    runs low takes the longest work left (the longest-processing-time rule, roughly: xdist hands a worker its
    next group when it has two tests or fewer pending, not when it is idle). Blocks with no record keep their
    order, after the rest."""
    seconds: dict[str, float] = defaultdict(float)
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        unit = block_of(item)
        seconds[unit] += recorded.get(test_id(item.nodeid), 0.0)
        first.setdefault(unit, index)
    return sorted(items, key=lambda item: (-seconds[block_of(item)], first[block_of(item)]))
