"""Distributed Keras Tuner search on one machine, for ``04_hyperparameter_tuning``.

:func:`run_distributed_search` starts a chief (the oracle) and N worker processes on 127.0.0.1, each
``python -m helpers.tuning.worker`` with its ``KERASTUNER_TUNER_ID`` / ``KERASTUNER_ORACLE_IP`` /
``KERASTUNER_ORACLE_PORT``, waits for them with a time limit, and stops every process it started on
success, failure, timeout and interrupt. On a real cluster a job scheduler starts the same script on
each machine with the same three variables (the chief's address instead of 127.0.0.1).

:func:`run_pooled_search` runs the same search without starting anything: this process is the chief (a
thread serves its oracle) and the workers are tasks in joblib's process pool, the one scikit-learn's
``n_jobs`` uses, whose processes have imported TensorFlow already.

This module imports no TensorFlow at import time: the processes (or the pool) do.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import procs
from helpers.params import TUNER_NAMES, check_choice, check_int
from helpers.runtime import RECORD_FILE_ENV, WORKER, quiet_worker

WORKER_MODULE = "helpers.tuning.worker"


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

    @classmethod
    def of(cls, workers: int, wall_s: float, project_dir: Path, reports: dict[str, dict[str, Any]]) -> DistributedRun:
        """The run, its search time taken from the workers' reports."""
        search_s = max(r["search_end"] for r in reports.values()) - min(r["search_start"] for r in reports.values())
        return cls(workers, wall_s, search_s, project_dir, reports)

    def assignments(self) -> list[dict[str, Any]]:
        """Every trial a worker ran: tuner_id, trial_id, start, end (seconds from the first start), status."""
        rows = [dict(entry, tuner_id=tid) for tid, report in self.reports.items() for entry in report["trials"]]
        if not rows:
            return []
        t0 = min(report["search_start"] for report in self.reports.values())
        for row in rows:
            row["start"], row["end"] = row["start"] - t0, row["end"] - t0
        return sorted(rows, key=lambda r: r["start"])


def run_distributed_search(workdir: str | Path, *, workers: int = 2, tuner: str = "random",
                           max_trials: int = 5, epochs: int = 2, seed: int = 0, timeout_s: float = 300,
                           name: str | None = None) -> DistributedRun:
    """Run one distributed search: a chief and ``workers`` worker processes on 127.0.0.1.

    The tuner's folder is ``workdir/<name>`` (made fresh); the processes' logs go next to it. Raises
    :class:`SearchFailed` (with the log tail) if a process fails or the whole search takes longer than
    ``timeout_s``; every process is stopped before this function returns or raises.
    """
    base = _fresh_search_folder(workdir, name, workers=workers, tuner=tuner, max_trials=max_trials,
                                epochs=epochs)
    env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(procs.free_port()),
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env.pop(RECORD_FILE_ENV, None)  # figures are recorded by the notebook, not by its workers
    common = ["--directory", str(base), "--project", "search", "--tuner", tuner,
              "--max-trials", str(max_trials), "--epochs", str(epochs), "--seed", str(seed),
              "--timeout", str(timeout_s)]
    started = time.monotonic()
    children: list[procs.Child] = []
    try:
        chief = procs.start(WORKER_MODULE, common, name="chief", log=base / "chief.log",
                            env=dict(env, KERASTUNER_TUNER_ID="chief"))
        children.append(chief)
        for i in range(workers):
            tid = f"tuner{i}"
            children.append(procs.start(WORKER_MODULE, [*common, "--log", str(base / f"{tid}.json"),
                                                        "--barrier", str(workers)],
                                        name=tid, log=base / f"{tid}.log", env=dict(env, KERASTUNER_TUNER_ID=tid)))
        # The chief is watched too: if it dies, the workers would wait for it (keras-tuner's clients retry
        # for up to an hour), so its failure ends the wait at once.
        _wait(children[1:], [chief], timeout_s)
        wall = time.monotonic() - started
        _wait([chief], [], 30)  # the chief exits once all workers said goodbye
    finally:
        procs.stop(children)
    reports = {f"tuner{i}": json.loads((base / f"tuner{i}.json").read_text()) for i in range(workers)}
    return DistributedRun.of(workers, wall, base / "search", reports)


def warm_pool_process() -> None:
    """The pool's initializer: runs once in every process of joblib's pool, before its first task.

    :func:`helpers.runtime.quiet_worker` (quiet logs, TensorFlow imported), then what the searches import,
    no progress bars (``predict`` in scikit-learn's scoring would print them), and ``gc.freeze()`` (see the
    notebook's appendix). Its seconds go into ``WORKER["import_s"]``.
    """
    started = time.perf_counter()
    quiet_worker()
    import gc

    import keras
    import keras_tuner  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    import helpers.tuning.worker  # noqa: F401

    keras.config.disable_interactive_logging()
    gc.collect()
    gc.freeze()
    WORKER["import_s"] = time.perf_counter() - started


def warm_worker() -> dict[str, Any]:
    """A task for a pool process: what its start-up did (:func:`warm_pool_process`). Returns the process id,
    how long the imports took there, and the thread settings the process got: ``OMP_NUM_THREADS`` (joblib's
    cores // n_jobs, or the parent's value when the parent has one) and TensorFlow's intra-op setting."""
    import tensorflow as tf

    return {"pid": os.getpid(), "import_s": WORKER.get("import_s", 0.0),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}


def start_worker_pool(n_jobs: int):
    """Start joblib's process pool of ``n_jobs`` processes (the one ``n_jobs=`` in scikit-learn uses), each
    warmed by :func:`warm_pool_process`, in the background: this returns at once, and iterating the result
    (``list(...)``) waits for ``n_jobs`` reports of :func:`warm_worker` (one process may send two, if it was
    ready first). Nothing is dispatched to the pool for n_jobs=1: joblib then runs tasks in this process."""
    from joblib import Parallel, delayed

    check_int("n_jobs", n_jobs, 1)
    # its processes die with this one, even if it is killed, and import TensorFlow without C++ start-up lines
    procs.bind_process_pool(initializer=warm_pool_process)
    return Parallel(n_jobs=n_jobs, return_as="generator")(delayed(warm_worker)() for _ in range(n_jobs))


def stop_worker_pool() -> list[int]:
    """Shut joblib's process pool down and wait for its processes; returns their pids (none if no pool)."""
    return procs.stop_process_pool()


def _fresh_search_folder(workdir: str | Path, name: str | None, *, workers: int, tuner: str, max_trials: int,
                         epochs: int) -> Path:
    """Check a search's arguments, then make ``workdir/<name>`` afresh (name from tuner and workers)."""
    check_int("workers", workers, 1)
    check_int("max_trials", max_trials, 1)
    check_int("epochs", epochs, 1)
    check_choice("tuner", tuner, TUNER_NAMES)
    base = Path(workdir) / (name or f"distributed_{tuner}_{workers}w")
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    return base


def run_pooled_search(workdir: str | Path, *, workers: int = 2, tuner: str = "random", max_trials: int = 5,
                      epochs: int = 2, seed: int = 0, timeout_s: float = 300, name: str | None = None,
                      pool_size: int = 2) -> DistributedRun:
    """The same distributed search as :func:`run_distributed_search`, with no process to start.

    This process is the chief: it builds the tuner (no environment variables: a local oracle) and a
    thread serves its oracle on 127.0.0.1. Each worker is :func:`helpers.tuning.worker.run_worker`, run
    as a task in joblib's process pool of ``max(workers, pool_size, 2)`` processes, the pool that
    scikit-learn's ``n_jobs`` uses: once a search with ``n_jobs`` has started it, its processes have
    imported TensorFlow, so a search starts in well under a second instead of several seconds.
    ``wall_s`` runs from the chief's start to the end of the last worker.

    Raises :class:`SearchFailed` if a worker fails or the search outlives ``timeout_s``; joblib then
    stops the pool's processes (a later search starts new ones), and the chief's port is closed.
    """
    from joblib import Parallel, delayed

    from helpers.tuning.worker import OracleServer, make_chief_tuner, run_worker

    base = _fresh_search_folder(workdir, name, workers=workers, tuner=tuner, max_trials=max_trials,
                                epochs=epochs)
    check_int("pool_size", pool_size, 1)
    address = f"127.0.0.1:{procs.free_port()}"
    started = time.monotonic()
    chief_tuner = make_chief_tuner(directory=base, project="search", tuner=tuner, max_trials=max_trials,
                                   epochs=epochs, seed=seed)
    chief = OracleServer(chief_tuner, address).start()
    cancel, chief_error = threading.Event(), []

    def serve() -> None:
        try:
            chief.wait(timeout_s, cancel=cancel)
        except Exception as err:  # reported by the launcher below, not lost in a thread
            chief_error.append(err)

    thread = threading.Thread(target=serve, name="keras-tuner-chief", daemon=True)
    thread.start()
    options = dict(directory=str(base), project="search", tuner=tuner, max_trials=max_trials, epochs=epochs,
                   seed=seed, barrier=workers, timeout_s=timeout_s)
    try:
        # At least 2: joblib runs n_jobs=1 in this process, and a worker must not be the chief's process.
        results = Parallel(n_jobs=max(workers, pool_size, 2), timeout=timeout_s)(
            delayed(run_worker)(f"tuner{i}", address, **options) for i in range(workers))
    except BaseException as err:
        cancel.set()
        if isinstance(err, Exception):
            raise SearchFailed(f"a pooled worker failed: {type(err).__name__}: {err}") from err
        raise  # KeyboardInterrupt: joblib has stopped the pool's processes already
    finally:
        thread.join(30)
    wall = time.monotonic() - started
    if chief_error:
        raise SearchFailed(f"the chief failed: {chief_error[0]}")
    reports = {report["tuner_id"]: report for report in results}
    return DistributedRun.of(workers, wall, base / "search", reports)


def _wait(children: list[procs.Child], also_watch: list[procs.Child], timeout_s: float) -> None:
    """Wait until ``children`` exit 0; raise SearchFailed (with the log tail) on a failure or timeout."""
    try:
        procs.wait_for_exit(children, timeout=timeout_s, also_watch=also_watch)
    except procs.ChildFailed as err:
        raise SearchFailed(f"{err.name} exited with code {err.returncode}:\n{err.tail}") from None
    except TimeoutError as err:
        raise SearchFailed(f"timed out waiting for {[c.name for c in children if c.is_running()]}; {err}") from None
