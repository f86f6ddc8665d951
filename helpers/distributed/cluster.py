"""Real worker processes, each with its own ``TF_CONFIG``: what a cluster manager (Kubernetes, Slurm, Vertex
AI) does for you. By default every worker is on 127.0.0.1; given ``hosts`` (and ``netns``), each runs at its
own address. Every process is started through :mod:`helpers.procs`.

The functions here are the one source of ``TF_CONFIG``: the local launcher and the launch specs in
:mod:`helpers.distributed.specs` all take their cluster and task descriptions from them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from helpers import procs
from helpers.params import check_int

WORKER_MODULE = "helpers.distributed.worker"
TASK_TYPES = ("chief", "worker")  # MultiWorkerMirroredStrategy's task types, in rank order


# ----------------------------------------------------------------------------------------------- TF_CONFIG
def cluster_of(addresses: Sequence[str], chief: bool = False) -> dict[str, list[str]]:
    """The cluster of tasks at ``addresses`` ("host:port"), in launch order: all ``worker`` tasks, or with
    ``chief=True`` the first one as ``chief`` (the layout Vertex AI writes: its first worker pool is the chief)."""
    addresses = list(addresses)
    if not addresses:
        raise ValueError("a cluster needs at least one address")
    if any(address.rpartition(":")[0] == "" or not address.rpartition(":")[2].isdigit() for address in addresses):
        raise ValueError(f"every address must be host:port, got {addresses}")
    if len(set(addresses)) != len(addresses):
        raise ValueError(f"two tasks share an address: {addresses}")
    if chief:
        return {"chief": addresses[:1], "worker": addresses[1:]} if len(addresses) > 1 else {"chief": addresses}
    return {"worker": addresses}


def cluster_spec(workers: int, host: str = "127.0.0.1", *, hosts: Sequence[str] | None = None,
                 chief: bool = False) -> dict[str, list[str]]:
    """A cluster of ``workers`` tasks, each at a free port: all on ``host``, or task ``i`` on ``hosts[i]``
    (addresses of hosts of their own, such as network namespaces, where any port is free)."""
    check_int("workers", workers, 1)
    hosts = [host] * workers if hosts is None else list(hosts)
    if len(hosts) != workers:
        raise ValueError(f"hosts must list one address per worker ({workers}), got {len(hosts)}")
    return cluster_of([f"{h}:{port}" for h, port in zip(hosts, procs.free_ports(workers), strict=True)], chief)


def tasks(cluster: dict[str, list[str]]) -> list[tuple[str, int]]:
    """Every task of ``cluster`` as (type, index), in launch order: the chief first, then the workers."""
    unknown = sorted(set(cluster) - set(TASK_TYPES))
    if unknown:
        raise ValueError(f"task types {unknown} are not used by MultiWorkerMirroredStrategy; use {TASK_TYPES}")
    return [(kind, index) for kind in TASK_TYPES for index in range(len(cluster.get(kind, [])))]


def tf_config(cluster: dict[str, list[str]], task_type: str, index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of one task: the whole cluster, and which task this process is."""
    if task_type not in cluster:
        raise ValueError(f"task type {task_type!r} is not in the cluster {sorted(cluster)}")
    check_int("index", index, 0, len(cluster[task_type]) - 1)
    return {"cluster": cluster, "task": {"type": task_type, "index": index}}


def task_configs(cluster: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The ``TF_CONFIG`` of every task, in launch order (what :class:`Cluster` gives its processes)."""
    return [tf_config(cluster, kind, index) for kind, index in tasks(cluster)]


def is_chief(task_type: str, index: int, cluster: dict[str, list[str]]) -> bool:
    """True for the task that writes the checkpoints and the model: the ``chief``, or worker 0 when the
    cluster has no chief (TensorFlow's rule for MultiWorkerMirroredStrategy)."""
    return task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)


# ------------------------------------------------------------------------------------------------ launcher
class WorkerFailed(procs.ChildFailed):
    """A worker process exited with an error; the message holds its exit code and the end of its log.
    ``index`` is its launch position; ``name`` its task ("worker 1", or "chief 0")."""

    def __init__(self, index: int, returncode: int, log_tail: str, name: str | None = None):
        self.index, self.name, self.returncode = index, name or f"worker {index}", returncode
        self.tail = self.log_tail = log_tail
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        RuntimeError.__init__(self, f"{self.name} failed ({how}); the other workers were stopped. "
                                    f"End of its log:\n{log_tail}")


class Cluster:
    """Real worker processes, each with its own ``TF_CONFIG`` built from free ports.

    Worker ``i`` runs ``python -m <module> <args>`` through :func:`helpers.procs.start`, at 127.0.0.1 or at
    ``hosts[i]``, inside network namespace ``netns[i]`` when given (a host of its own on this machine, made
    by the caller); with ``chief=True`` the first task is the ``chief`` (Vertex AI's layout). Its stdout and
    stderr go to ``log_dir/worker-<i>.log`` (``i``: the launch position, the chief's being 0).
    :meth:`wait` returns when every worker has succeeded and fails fast (stopping the others) when one
    fails or the time is up. Use it as a context manager: every
    process is stopped on success, error and ``KeyboardInterrupt``, at interpreter exit at the latest, and
    by Linux if this process is killed.

    ``launch`` hands the starting over to the caller (notebook 02 starts its own worker script, with the
    ``TF_CONFIG`` it builds, in a cell): ``launch(args)`` starts every worker through :func:`helpers.procs.start`
    (each with a distinct ``name``) and returns their :class:`~helpers.procs.Child` objects, in task order; the
    cluster keeps the harness (wait, kill, restart, stop, logs, events). ``module``, ``env``, ``hosts``, ``netns``
    and ``chief`` then mean nothing, and :attr:`spec` stays empty.
    """

    def __init__(self, workers: int, args: Sequence[str] = (), log_dir: str | Path = ".",
                 module: str = WORKER_MODULE, env: dict[str, str] | None = None, *,
                 hosts: Sequence[str] | None = None, netns: Sequence[str] | None = None, chief: bool = False,
                 launch: Callable[[list[str]], Sequence[procs.Child]] | None = None):
        self.workers = check_int("workers", workers, 1)
        self.launch = launch
        self.hosts = None if hosts is None else list(hosts)
        self.netns = None if netns is None else list(netns)
        for what, given in (("hosts", self.hosts), ("netns", self.netns)):
            if given is not None and len(given) != workers:
                raise ValueError(f"{what} must list one entry per worker ({workers}), got {len(given)}")
        self.chief = chief
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
        self.launches += 1
        self.children = []
        if self.launch is not None:
            return self._start_with_launch()
        self.spec = cluster_spec(self.workers, hosts=self.hosts, chief=self.chief)
        try:
            for index, config in enumerate(task_configs(self.spec)):
                env = {**os.environ, **self.env, "TF_CONFIG": json.dumps(config)}
                task = config["task"]
                self.children.append(procs.start(self.module, self.args, log=self.log_path(index),
                                                 name=f"{task['type']} {task['index']}", env=env,
                                                 netns=None if self.netns is None else self.netns[index]))
        except BaseException:
            self.stop()
            raise
        return self

    def _start_with_launch(self) -> Cluster:
        """Start the workers with the caller's ``launch``; whatever it started is stopped if it fails."""
        before = {child.pid for child in procs.running()}
        try:
            self.children = list(self.launch(list(self.args)))
            if len(self.children) != self.workers:
                raise ValueError(f"launch started {len(self.children)} worker(s); the cluster has {self.workers}")
            if len({child.name for child in self.children}) != self.workers:
                raise ValueError(f"launch must name every worker differently, got {[c.name for c in self.children]}")
        except BaseException:
            procs.stop([child for child in procs.running() if child.pid not in before])
            raise
        return self

    def restart(self, args: Sequence[str] | None = None) -> Cluster:
        """Stop whatever still runs and start every worker again, as a cluster manager does after a failure."""
        self.stop()
        return self.start(args)

    def kill(self, index: int, sig: int | None = None) -> None:
        """Send ``sig`` (default SIGKILL: no clean-up, like a lost machine) to worker ``index``."""
        self.children[index].kill(sig)

    def stop(self, grace: float = 5.0) -> None:
        """Stop every worker: SIGTERM, then SIGKILL after ``grace`` seconds; reaps them all."""
        procs.stop(self.children, grace)

    def wait(self, timeout: float = 120.0, poll: float = 0.2, settle: float = 0.0) -> list[int]:
        """Wait for every worker to exit 0; return their exit codes.

        Raises :class:`WorkerFailed` (with the failed worker's log) as soon as one worker fails, and
        ``TimeoutError`` (with every log's end) after ``timeout`` seconds; either way all workers are stopped.
        ``settle`` > 0 gives the other workers that many seconds after a failure to end on their own before
        they are stopped, so their logs show how a lost peer looks to them.
        """
        try:
            return procs.wait_for_exit(self.children, timeout=timeout, poll=poll)
        except TimeoutError:
            self.stop()
            tails = "\n".join(f"--- worker {i}\n{self.tail(i)}" for i in range(len(self.children)))
            raise TimeoutError(f"the cluster did not finish within {timeout:.0f} s\n{tails}") from None
        except procs.ChildFailed as err:
            deadline = time.monotonic() + settle
            while self.alive() and time.monotonic() < deadline:
                time.sleep(poll)
            self.stop()
            index = next(i for i, c in enumerate(self.children) if c.name == err.name)  # ChildFailed names it
            raise WorkerFailed(index, err.returncode, err.tail, err.name) from None
        except BaseException:
            self.stop()
            raise

    def run(self, timeout: float = 120.0, args: Sequence[str] | None = None, settle: float = 0.0) -> list[int]:
        """``start`` then ``wait``: one whole training job."""
        return self.start(args).wait(timeout, settle=settle)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inspection
    def alive(self) -> list[int]:
        """Indices of the workers still running."""
        return [i for i, child in enumerate(self.children) if child.is_running()]

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self.children]

    def log_path(self, index: int) -> Path:
        """Worker ``index``'s log file (the launched child's own, once started)."""
        if index < len(self.children):
            return self.children[index].log_path
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
