"""The one way this package starts a child process (servers, workers), and joblib's pool bound to it.

Every child is ``python -m <module>`` (or, for the real ``tensorflow_model_server``, that program), started
by :func:`start` so that it

* runs in its own session (``start_new_session``): a stop signals its whole process group;
* gets ``PR_SET_PDEATHSIG`` = SIGKILL: Linux kills it when the thread that started it dies, so a kernel
  killed with SIGKILL (no ``atexit``, no ``finally``) leaves nothing behind;
* is in a registry that an ``atexit`` hook stops, and is stopped in bounded time (TERM, grace, KILL);
* writes stdout and stderr to a log file whose tail (without TensorFlow's start-up noise) goes into errors.

:func:`bind_process_pool` gives joblib's loky pool (scikit-learn's ``n_jobs``) the same death signal.
The bottom of the package: imports nothing else from ``helpers`` and no TensorFlow.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
# start() passes a preexec_fn (the death signal), so CPython forks with fork(), not vfork(), and gRPC's atfork
# handlers run in the child: they restart gRPC's poller there, which aborts the child (SIGABRT) when it closes
# file descriptors before exec (grpc/grpc#43055, reported for 1.81.1; 1.85.3 here: 16 children of 200). A fork
# that only execs needs no fork support. It is read when grpc is imported: ``import helpers`` comes first in
# every notebook and entry point. Children inherit "false"; a user's own setting is kept (and with it the risk).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
# Looked up once here: the child of a fork must not import anything (another thread may hold the import lock).
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
# Off POSIX (native Windows) there is no SIGKILL and no process group: importing works, starting a child does not.
_SIGKILL = getattr(signal, "SIGKILL", None)


class NeedsLinux(RuntimeError):
    """Starting a child process (a server, a worker) on a platform without POSIX process groups and SIGKILL."""


def require_process_groups(what: str) -> None:
    """Raise :class:`NeedsLinux` naming ``what`` where child processes cannot be managed as described above
    (native Windows: no ``os.killpg``, no ``signal.SIGKILL``). Linux has it all; macOS lacks only the death
    signal; on Windows, WSL2 is Linux."""
    if not (hasattr(os, "killpg") and hasattr(signal, "SIGKILL")):
        raise NeedsLinux(
            f"{what} needs Linux (on Windows: WSL2): the workbook starts its servers and worker processes in "
            f"process groups it can SIGKILL, which {sys.platform} does not have. Everything that runs in the "
            "notebook's own process works here."
        )


class ChildFailed(RuntimeError):
    """A child process exited with an error (or too early); the message has its exit code and log tail."""

    def __init__(self, name: str, returncode: int | None, tail: str, what: str = ""):
        self.name, self.returncode, self.tail = name, returncode, tail
        if returncode is None:
            how = "still running"
        elif returncode < 0:
            how = f"killed by signal {-returncode}"
        else:
            how = f"exit code {returncode}"
        super().__init__(f"{name} {what or 'failed'} ({how}). End of its log:\n{tail}")


def is_tensorflow_noise(line: str) -> bool:
    """True for the log lines TensorFlow's C++ runtime prints at start-up (``I0000 ...``, the absl notice):
    they never explain a failure, so log tails shown in errors leave them out."""
    return line.startswith(("WARNING: All log messages before absl", "I0000", "W0000", "E0000"))


def log_tail(path: str | Path, lines: int = 15) -> str:
    """The last ``lines`` lines of the log file ``path`` without TensorFlow's start-up noise; "(no log)" if
    the file does not exist."""
    path = Path(path)
    if not path.exists():
        return "(no log)"
    kept = [line for line in path.read_text(errors="replace").splitlines() if not is_tensorflow_noise(line)]
    return "\n".join(kept[-lines:])


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """``count`` different free ports on 127.0.0.1."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when its parent (the thread that started it) dies; exit at once
    if the parent is already gone (``parent_pid`` given and no longer our parent). A no-op off Linux."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(_SIGKILL))
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


@dataclass(eq=False)
class Child:
    """A started child process: its name, command line, log file and the ``Popen`` behind it."""

    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def is_running(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def log(self) -> str:
        """Everything the child wrote (stdout and stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of its log, without TensorFlow's start-up noise."""
        return log_tail(self.log_path, lines)

    def kill(self, sig: int | None = None) -> None:
        """Send ``sig`` (default SIGKILL: no clean-up, like a lost machine) to its process group, and reap it."""
        if self.is_running():
            _signal_group(self.process, _SIGKILL if sig is None else sig)
            self.process.wait(timeout=10)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
        stop([self], grace)
        return self.process.returncode


_LIVE: dict[int, Child] = {}


def start(module: str, args: Sequence[str] = (), *, log: str | Path, name: str | None = None,
          env: dict[str, str] | None = None, program: Sequence[str] | None = None,
          netns: str | None = None) -> Child:
    """Start ``python -m module args`` (or ``program args`` for a non-Python server) as described above.

    ``env`` replaces the environment (default: this process's, with ``PYTHONUNBUFFERED=1``); stdout and
    stderr go to ``log``. ``netns`` runs the child inside that network namespace (``ip netns exec NAME``,
    which needs root): ``ip`` enters the namespace and execs the command in the same process, so the pid,
    the session and the death signal stay as described. The caller must keep its thread alive while the
    child runs (the death signal follows the starting thread): start children from the main thread.
    """
    require_process_groups(f"starting {name or module}")
    command = [*(program or [sys.executable, "-m", module]), *map(str, args)]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ if env is None else env)
    environment.setdefault("PYTHONUNBUFFERED", "1")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=environment, start_new_session=True, preexec_fn=die_with_parent)
    child = Child(name or module, command, log, process)
    _LIVE[process.pid] = child
    return child


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process's group (it was started in its own session), else to the process."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            pass


def stop(children: Iterable[Child], grace: float = 5.0) -> None:
    """Stop children: SIGTERM to every group at once, SIGKILL to what still runs after ``grace`` seconds,
    and reap them all (no zombies). Their groups are signalled even if the leader has exited, so
    grandchildren go too."""
    children = list(children)
    for child in children:
        if child.is_running():
            _signal_group(child.process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(child.process, signal.SIGKILL)
            child.process.wait(timeout=10)
        _kill_group_leftovers(child)
        _LIVE.pop(child.pid, None)


def _kill_group_leftovers(child: Child) -> None:
    """A leader that exited may leave its process group behind (a worker's own children): kill them."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def stop_all(grace: float = 5.0) -> None:
    """Stop every child started here that still runs (also at interpreter exit)."""
    stop(list(_LIVE.values()), grace)


def running() -> list[Child]:
    """The children started here that still run."""
    return [child for child in _LIVE.values() if child.is_running()]


def wait_until(ready: Callable[[], bool], *, timeout: float, what: str, watch: Sequence[Child] = (),
               poll: float = 0.2) -> None:
    """Return once ``ready()`` is true; raise :class:`ChildFailed` as soon as a ``watch``ed child exits
    (with its log tail) and ``TimeoutError`` after ``timeout`` seconds (with every watched log's tail)."""
    deadline = time.monotonic() + timeout
    while True:
        for child in watch:
            if not child.is_running():
                raise ChildFailed(child.name, child.returncode, child.tail(), f"exited before {what}")
        if ready():
            return
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {child.name}\n{child.tail()}" for child in watch)
            raise TimeoutError(f"not {what} after {timeout:.0f} s\n{tails}".rstrip())
        time.sleep(poll)


def wait_for_exit(children: Sequence[Child], *, timeout: float, also_watch: Sequence[Child] = (),
                  poll: float = 0.2) -> list[int]:
    """Wait for every child to exit 0 and return the exit codes. Fails fast with :class:`ChildFailed` when
    one of ``children`` or ``also_watch`` exits non-zero, and with ``TimeoutError`` at ``timeout``; the
    caller stops the rest (a context manager or ``finally``)."""
    def done() -> bool:
        for child in [*children, *also_watch]:
            code = child.returncode
            if code not in (None, 0):
                raise ChildFailed(child.name, code, child.tail())
        return all(child.returncode == 0 for child in children)

    wait_until(done, timeout=timeout, what="finished", poll=poll)
    return [child.returncode for child in children]


def _stat_fields(stat_file: Path) -> list[str] | None:
    """The fields of a ``/proc/<pid>/stat`` file after the command name (state first), None when the process
    is gone."""
    try:
        return stat_file.read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pids: Iterable[int]) -> list[int]:
    """Which of ``pids`` still exist as running (not zombie) processes: the leftover-process check."""
    return [pid for pid in pids if (fields := _stat_fields(Path(f"/proc/{pid}/stat"))) and fields[0] != "Z"]


def descendants(pid: int | None = None) -> list[int]:
    """Every running descendant of ``pid`` (default: this process), read from ``/proc``."""
    root = os.getpid() if pid is None else pid
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        if fields and fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def processes_with(marker: str) -> list[int]:
    """The running descendants of this process whose command line contains ``marker``."""
    found = []
    for pid in descendants():
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "):
                found.append(pid)
        except OSError:
            continue
    return found


def _start_pool_worker(parent_pid: int, then: Callable[[], object] | None) -> None:
    """The initializer of a bound pool worker: :func:`die_with_parent`, then ``then()`` if given."""
    die_with_parent(parent_pid)
    if then is not None:
        then()


def bind_process_pool(initializer: Callable[[], object] | None = None) -> None:
    """Make joblib's default process pool (loky, what scikit-learn's ``n_jobs`` uses) start its workers with
    :func:`die_with_parent`, so a killed kernel takes them down too, and then run ``initializer()`` in each
    (a module-level function: it is pickled by name). Uses joblib's public ``register_parallel_backend`` with
    the ``initializer`` its loky executor accepts (joblib 1.6)."""
    from functools import partial

    from joblib import parallel, register_parallel_backend

    register_parallel_backend("loky-bound", partial(parallel.LokyBackend, initializer=_start_pool_worker,
                                                    initargs=(os.getpid(), initializer)), make_default=True)


def pool_workers() -> list[int]:
    """The pids of joblib's loky pool workers under this process (not loky's resource tracker, which lives
    as long as this process and exits with it)."""
    return processes_with("joblib.externals.loky.backend.popen_loky_posix")


def stop_process_pool() -> list[int]:
    """Shut joblib's reusable loky pool down, killing its workers, and return their pids; starts none
    (loky starts workers on the first task, and ``kill_workers=True`` ends the previous pool at once)."""
    before = pool_workers()
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor(kill_workers=True).shutdown(wait=True, kill_workers=True)
    return before
