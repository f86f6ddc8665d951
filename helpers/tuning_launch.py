"""Distributed Keras Tuner search on one machine, for ``04_hyperparameter_tuning``.

:func:`run_distributed_search` starts a chief (the oracle) and N worker processes on 127.0.0.1, each
``python -m helpers.tuning_worker`` with its ``KERASTUNER_TUNER_ID`` / ``KERASTUNER_ORACLE_IP`` /
``KERASTUNER_ORACLE_PORT``, waits for them with a time limit, and stops every process it started on
success, failure, timeout and interrupt. On a real cluster a job scheduler starts the same script on
each machine with the same three variables (the chief's address instead of 127.0.0.1).

This module imports no TensorFlow: the processes do.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.runtime import check_choice, check_int, free_port, log_tail, stop_processes

WORKER_MODULE = "helpers.tuning_worker"
TUNER_NAMES = ("random", "hyperband", "bayesian")  # also helpers.tuning.TUNER_NAMES (imported from here)


class SearchFailed(RuntimeError):
    """A chief or worker process failed or ran out of time; the message carries its log's last lines."""


@dataclass
class DistributedRun:
    """What one distributed search did: timings, who ran which trial, and the folder it left."""

    workers: int
    wall_s: float  # from starting the processes to the last worker's exit (includes importing TensorFlow)
    search_s: float  # from the first worker's search start to the last worker's search end
    project_dir: Path
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # tuner_id -> the worker's --log

    def assignments(self) -> list[dict[str, Any]]:
        """Every trial a worker ran: tuner_id, trial_id, start, end (seconds from the first start), status."""
        rows = [dict(entry, tuner_id=tid) for tid, report in self.reports.items() for entry in report["trials"]]
        if not rows:
            return []
        t0 = min(report["search_start"] for report in self.reports.values())
        for row in rows:
            row["start"], row["end"] = row["start"] - t0, row["end"] - t0
        return sorted(rows, key=lambda r: r["start"])


class ProcessGroup:
    """Processes started together and always stopped together (context manager, and at exit).

    ``stop`` sends SIGTERM, waits ``grace`` seconds, then SIGKILL: nothing is left behind, whether the
    block ends normally, raises, or is interrupted (KeyboardInterrupt is an exception like any other).
    """

    def __init__(self, grace: float = 5.0) -> None:
        self.grace = grace
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        """Start ``python -m <args>`` as ``name``, stdout and stderr into ``log``."""
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.procs[name], self.logs[name] = proc, log
        return proc

    def alive(self) -> list[str]:
        """Names of the processes still running."""
        return [name for name, proc in self.procs.items() if proc.poll() is None]

    def stop(self) -> None:
        """Terminate, then kill, every process still running; wait for all of them."""
        stop_processes(list(self.procs.values()), self.grace)

    def __enter__(self) -> ProcessGroup:
        atexit.register(self.stop)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        atexit.unregister(self.stop)


def running_processes(marker: str) -> list[str]:
    """Processes whose full command line contains ``marker`` (``ps -ww``), as "pid command" lines."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if marker in line and "ps -ww" not in line]


def run_distributed_search(workdir: str | Path, *, workers: int = 2, tuner: str = "random",
                           max_trials: int = 5, epochs: int = 2, seed: int = 0, timeout_s: float = 300,
                           name: str | None = None) -> DistributedRun:
    """Run one distributed search: a chief and ``workers`` worker processes on 127.0.0.1.

    The tuner's folder is ``workdir/<name>`` (made fresh); the processes' logs go next to it. Raises
    :class:`SearchFailed` (with the log tail) if a process fails or the whole search takes longer than
    ``timeout_s``; every process is stopped before this function returns or raises.
    """
    check_int("workers", workers, 1)
    check_int("max_trials", max_trials, 1)
    check_int("epochs", epochs, 1)
    check_choice("tuner", tuner, TUNER_NAMES)
    name = name or f"distributed_{tuner}_{workers}w"
    base = Path(workdir) / name
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(free_port()),
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env.pop("HELPERS_RECORD_FILE", None)  # figures are recorded by the notebook, not by its workers
    common = [WORKER_MODULE, "--directory", str(base), "--project", "search", "--tuner", tuner,
              "--max-trials", str(max_trials), "--epochs", str(epochs), "--seed", str(seed),
              "--timeout", str(timeout_s)]
    started = time.monotonic()
    with ProcessGroup() as group:
        group.start("chief", common, dict(env, KERASTUNER_TUNER_ID="chief"), base / "chief.log")
        for i in range(workers):
            tid = f"tuner{i}"
            group.start(tid, [*common, "--log", str(base / f"{tid}.json"), "--barrier", str(workers)],
                        dict(env, KERASTUNER_TUNER_ID=tid), base / f"{tid}.log")
        _wait(group, [f"tuner{i}" for i in range(workers)], started + timeout_s)
        wall = time.monotonic() - started
        _wait(group, ["chief"], time.monotonic() + 30)  # the chief exits once all workers said goodbye
    reports = {f"tuner{i}": json.loads((base / f"tuner{i}.json").read_text()) for i in range(workers)}
    search_s = max(r["search_end"] for r in reports.values()) - min(r["search_start"] for r in reports.values())
    return DistributedRun(workers, wall, search_s, base / "search", reports)


def _wait(group: ProcessGroup, names: list[str], deadline: float) -> None:
    """Wait until the processes ``names`` exit; raise SearchFailed on a non-zero exit or at ``deadline``.

    The chief is watched too: if it dies, the workers would wait for it (keras-tuner's clients retry
    for up to an hour), so its failure ends the wait at once.
    """
    while True:
        for watched in set(names) | {"chief"}:
            code = group.procs[watched].poll()
            if code not in (None, 0):
                raise SearchFailed(f"{watched} exited with code {code}:\n{log_tail(group.logs[watched])}")
        if all(group.procs[n].poll() == 0 for n in names):
            return
        if time.monotonic() > deadline:
            still = [n for n in names if group.procs[n].poll() is None]
            raise SearchFailed(f"timed out waiting for {still}; last lines of {still[0]}'s log:\n"
                               f"{log_tail(group.logs[still[0]])}")
        time.sleep(0.2)
