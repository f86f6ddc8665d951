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
