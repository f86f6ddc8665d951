"""Distributed training plumbing for ``02_distributed_training``: choosing a strategy, and a small cluster
launcher that runs real worker processes on 127.0.0.1.

The lesson itself (MirroredStrategy, the custom training loop, checkpoint-based resume) is visible in the
notebook and in :mod:`helpers.distributed_worker`, the script every worker runs. This module holds what a
real cluster manager (Kubernetes, Slurm, a TPU pod) would do for you: give each process its ``TF_CONFIG``,
start it, watch it, and stop every process when one fails.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers.runtime import check_choice, check_int, connect_tpu, free_port, is_tensorflow_noise, stop_processes

STRATEGIES = ("auto", "default", "mirrored", "tpu", "multiworker")
WORKER_MODULE = "helpers.distributed_worker"


# --------------------------------------------------------------------------------------------- strategies
def make_strategy(name: str = "auto", devices: Sequence[str] | None = None, tpu: str = ""):
    """Return the ``tf.distribute`` strategy called ``name`` (one of :data:`STRATEGIES`).

    - ``default``: the no-op default strategy (one device, what you get without any ``scope``).
    - ``mirrored``: ``MirroredStrategy`` over ``devices`` (logical CPUs or GPUs; all visible ones if None).
    - ``tpu``: ``TPUStrategy`` after connecting to the TPU; where there is none, it says so and falls back
      to ``mirrored`` (several devices) or ``default`` (one).
    - ``multiworker``: ``MultiWorkerMirroredStrategy``; one local worker unless ``TF_CONFIG`` names a cluster
      (and then it must be created before TensorFlow runs any op).
    - ``auto``: a TPU if one answers, else ``mirrored`` when there are several devices, else ``default``.
    """
    check_choice("strategy", name, STRATEGIES)
    import tensorflow as tf

    devices = list(devices) if devices is not None else None
    if name in ("tpu", "auto"):
        try:
            cores = connect_tpu(tpu)
        except RuntimeError as err:
            if name == "tpu":
                print(f"TPUStrategy unavailable: {err}. Falling back.")
        else:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            print(f"TPUStrategy over {len(cores)} TPU core(s)")
            return tf.distribute.TPUStrategy(resolver)
        name = "mirrored" if devices is None or len(devices) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MultiWorkerMirroredStrategy()


# ----------------------------------------------------------------------------------------------- TF_CONFIG
def cluster_spec(workers: int, host: str = "127.0.0.1") -> dict[str, list[str]]:
    """A cluster of ``workers`` workers, each at a different free port on ``host``."""
    check_int("workers", workers, 1)
    ports: list[int] = []
    while len(ports) < workers:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return {"worker": [f"{host}:{port}" for port in ports]}


def tf_config(cluster: dict[str, list[str]], task_type: str, index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of one task: the whole cluster, and which task this process is."""
    if task_type not in cluster:
        raise ValueError(f"task type {task_type!r} is not in the cluster {sorted(cluster)}")
    check_int("index", index, 0, len(cluster[task_type]) - 1)
    return {"cluster": cluster, "task": {"type": task_type, "index": index}}


# ------------------------------------------------------------------------------------------------ launcher
class WorkerFailed(RuntimeError):
    """A worker process exited with an error; the message holds its exit code and the end of its log."""

    def __init__(self, index: int, returncode: int, log_tail: str):
        self.index, self.returncode, self.log_tail = index, returncode, log_tail
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        super().__init__(f"worker {index} failed ({how}); the other workers were stopped. "
                         f"End of its log:\n{log_tail}")


_LIVE: set[Cluster] = set()


def _stop_all_live() -> None:
    for cluster in list(_LIVE):
        cluster.stop()


atexit.register(_stop_all_live)


class Cluster:
    """Real worker processes on 127.0.0.1, each with its own ``TF_CONFIG`` built from free ports.

    Each worker runs ``python -m <module> <args>``; its stdout and stderr go to ``log_dir/worker-<i>.log``.
    :meth:`wait` returns when every worker has succeeded and fails fast (stopping the others) when one
    fails or the time is up. Use it as a context manager: every process is stopped on success, error
    and ``KeyboardInterrupt``, and at interpreter exit at the latest.
    """

    def __init__(self, workers: int, args: Sequence[str] = (), log_dir: str | Path = ".",
                 module: str = WORKER_MODULE, env: dict[str, str] | None = None):
        self.workers = check_int("workers", workers, 1)
        self.args, self.module = list(args), module
        self.log_dir = Path(log_dir)
        self.env = dict(env or {})
        self.procs: list[subprocess.Popen] = []
        self.spec: dict[str, list[str]] = {}
        self.launches = 0

    # -- life cycle
    def start(self, args: Sequence[str] | None = None) -> Cluster:
        """Start every worker (fresh ports each time); ``args`` replaces the worker arguments if given."""
        if self.alive():
            raise RuntimeError("the cluster is already running; stop() it first")
        if args is not None:
            self.args = list(args)
        self.spec = cluster_spec(self.workers)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.launches += 1
        self.procs = []
        _LIVE.add(self)
        try:
            for index in range(self.workers):
                env = {**os.environ, **self.env,
                       "TF_CONFIG": json.dumps(tf_config(self.spec, "worker", index)),
                       "PYTHONUNBUFFERED": "1"}
                with open(self.log_path(index), "w") as log:
                    self.procs.append(subprocess.Popen(
                        [sys.executable, "-m", self.module, *self.args], stdout=log,
                        stderr=subprocess.STDOUT, env=env, start_new_session=True,
                        preexec_fn=_die_with_parent))
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, args: Sequence[str] | None = None) -> Cluster:
        """Stop whatever still runs and start every worker again, as a cluster manager does after a failure."""
        self.stop()
        return self.start(args)

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL: no clean-up, like a lost machine) to worker ``index``."""
        proc = self.procs[index]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)

    def stop(self, grace: float = 5.0) -> None:
        """Stop every worker: SIGTERM, then SIGKILL after ``grace`` seconds; reaps them all."""
        stop_processes(self.procs, grace)
        _LIVE.discard(self)

    def wait(self, timeout: float = 120.0, poll: float = 0.2) -> list[int]:
        """Wait for every worker to exit 0; return their exit codes.

        Raises :class:`WorkerFailed` (with the failed worker's log) as soon as one worker fails, and
        ``TimeoutError`` (with every log's end) after ``timeout`` seconds; either way all workers are stopped.
        """
        deadline = time.monotonic() + timeout
        try:
            while True:
                codes = [proc.poll() for proc in self.procs]
                for index, code in enumerate(codes):
                    if code not in (None, 0):
                        raise WorkerFailed(index, code, self.tail(index))
                if all(code == 0 for code in codes):
                    _LIVE.discard(self)
                    return codes
                if time.monotonic() > deadline:
                    tails = "\n".join(f"--- worker {i}\n{self.tail(i)}" for i in range(self.workers))
                    raise TimeoutError(f"the cluster did not finish within {timeout:.0f} s\n{tails}")
                time.sleep(poll)
        except BaseException:
            self.stop()
            raise

    def run(self, timeout: float = 120.0, args: Sequence[str] | None = None) -> list[int]:
        """``start`` then ``wait``: one whole training job."""
        return self.start(args).wait(timeout)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inspection
    def alive(self) -> list[int]:
        """Indices of the workers still running."""
        return [i for i, proc in enumerate(self.procs) if proc.poll() is None]

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def log_path(self, index: int) -> Path:
        return self.log_dir / f"worker-{index}.log"

    def log(self, index: int) -> str:
        """Worker ``index``'s whole log (stdout and stderr) of the latest launch."""
        path = self.log_path(index)
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, index: int, lines: int = 15) -> str:
        """The last ``lines`` lines of worker ``index``'s log, without TensorFlow's start-up noise."""
        kept = [line for line in self.log(index).splitlines() if not is_tensorflow_noise(line)]
        return "\n".join(kept[-lines:])

    def events(self, index: int) -> list[dict[str, Any]]:
        """The JSON events (lines starting with ``EVENT ``) worker ``index`` printed in the latest launch."""
        return [json.loads(line[6:]) for line in self.log(index).splitlines() if line.startswith("EVENT ")]


# Looked up once here: the child of a fork must not import anything (another thread may hold the import lock).
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child, before it runs: ask Linux to SIGKILL it when the launching process dies, so even a
    killed kernel (no atexit, no finally) leaves no worker behind. A no-op elsewhere."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG


def children_alive(pids: Sequence[int]) -> list[int]:
    """Which of ``pids`` still exist as running (not zombie) processes: the leftover-process check."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive
