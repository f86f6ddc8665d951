"""Real worker processes on 127.0.0.1, each with its own ``TF_CONFIG``: what a cluster manager (Kubernetes,
Slurm, a TPU pod) does for you. Every process is started through :mod:`helpers.procs`."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers import procs
from helpers.params import check_int

WORKER_MODULE = "helpers.distributed.worker"

# ----------------------------------------------------------------------------------------------- TF_CONFIG
def cluster_spec(workers: int, host: str = "127.0.0.1") -> dict[str, list[str]]:
    """A cluster of ``workers`` workers, each at a different free port on ``host``."""
    check_int("workers", workers, 1)
    ports = procs.free_ports(workers)
    return {"worker": [f"{host}:{port}" for port in ports]}


def tf_config(cluster: dict[str, list[str]], task_type: str, index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of one task: the whole cluster, and which task this process is."""
    if task_type not in cluster:
        raise ValueError(f"task type {task_type!r} is not in the cluster {sorted(cluster)}")
    check_int("index", index, 0, len(cluster[task_type]) - 1)
    return {"cluster": cluster, "task": {"type": task_type, "index": index}}


# ------------------------------------------------------------------------------------------------ launcher
class WorkerFailed(procs.ChildFailed):
    """A worker process exited with an error; the message holds its exit code and the end of its log."""

    def __init__(self, index: int, returncode: int, log_tail: str):
        self.index, self.name, self.returncode = index, f"worker {index}", returncode
        self.tail = self.log_tail = log_tail
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        RuntimeError.__init__(self, f"worker {index} failed ({how}); the other workers were stopped. "
                                    f"End of its log:\n{log_tail}")


class Cluster:
    """Real worker processes on 127.0.0.1, each with its own ``TF_CONFIG`` built from free ports.

    Each worker runs ``python -m <module> <args>`` through :func:`helpers.procs.start`; its stdout and
    stderr go to ``log_dir/worker-<i>.log``. :meth:`wait` returns when every worker has succeeded and
    fails fast (stopping the others) when one fails or the time is up. Use it as a context manager: every
    process is stopped on success, error and ``KeyboardInterrupt``, at interpreter exit at the latest, and
    by Linux if this process is killed.
    """

    def __init__(self, workers: int, args: Sequence[str] = (), log_dir: str | Path = ".",
                 module: str = WORKER_MODULE, env: dict[str, str] | None = None):
        self.workers = check_int("workers", workers, 1)
        self.args, self.module = list(args), module
        self.log_dir = Path(log_dir)
        self.env = dict(env or {})
        self.children: list[procs.Child] = []
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
        self.launches += 1
        self.children = []
        try:
            for index in range(self.workers):
                env = {**os.environ, **self.env, "TF_CONFIG": json.dumps(tf_config(self.spec, "worker", index))}
                self.children.append(procs.start(self.module, self.args, log=self.log_path(index),
                                                 name=f"worker {index}", env=env))
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
        self.children[index].kill(sig)

    def stop(self, grace: float = 5.0) -> None:
        """Stop every worker: SIGTERM, then SIGKILL after ``grace`` seconds; reaps them all."""
        procs.stop(self.children, grace)

    def wait(self, timeout: float = 120.0, poll: float = 0.2) -> list[int]:
        """Wait for every worker to exit 0; return their exit codes.

        Raises :class:`WorkerFailed` (with the failed worker's log) as soon as one worker fails, and
        ``TimeoutError`` (with every log's end) after ``timeout`` seconds; either way all workers are stopped.
        """
        try:
            return procs.wait_for_exit(self.children, timeout=timeout, poll=poll)
        except TimeoutError:
            self.stop()
            tails = "\n".join(f"--- worker {i}\n{self.tail(i)}" for i in range(self.workers))
            raise TimeoutError(f"the cluster did not finish within {timeout:.0f} s\n{tails}") from None
        except procs.ChildFailed as err:
            self.stop()
            raise WorkerFailed(self.children.index(next(c for c in self.children if c.name == err.name)),
                               err.returncode, err.tail) from None  # ChildFailed names the child
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
        return [i for i, child in enumerate(self.children) if child.alive()]

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self.children]

    def log_path(self, index: int) -> Path:
        return self.log_dir / f"worker-{index}.log"

    def log(self, index: int) -> str:
        """Worker ``index``'s whole log (stdout and stderr) of the latest launch."""
        path = self.log_path(index)
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, index: int, lines: int = 15) -> str:
        """The last ``lines`` lines of worker ``index``'s log, without TensorFlow's start-up noise."""
        return procs.log_tail(self.log_path(index), lines)

    def events(self, index: int) -> list[dict[str, Any]]:
        """The JSON events (lines starting with ``EVENT ``) worker ``index`` printed in the latest launch."""
        return [json.loads(line[6:]) for line in self.log(index).splitlines() if line.startswith("EVENT ")]
