"""The sandbox a submission's code runs in: bubblewrap (``bwrap``, Debian's ``bubblewrap`` package).

:func:`command` wraps the submission's Jupyter kernel (:mod:`helpers.grading.kernel`; nbgrader, the gradebook
and the result file stay outside) so that it and everything it starts see

* a root file system made of read-only binds only: ``/usr``, a short list of ``/etc`` files (no ``shadow``,
  no ``ssh``), the Python installation, the virtual environment and the repository (so the kernel imports
  ``helpers`` and the pinned packages), and the few files the caller binds; the grader's home, the class
  folder, the other submissions and the gradebook are not there (a bound folder that contains one of them
  gets an empty ``tmpfs`` over it);
* a private ``/tmp`` (a ``tmpfs`` of :attr:`Limits.tmp_bytes`) as the writable place, besides the folders the
  caller binds read-write (the kernel's socket folder);
* its own network namespace (nothing outside is reachable), PID, IPC and UTS namespaces, a new terminal
  session, no capabilities, and a cleaned environment (none of the grader's tokens);
* ``RLIMIT_AS`` (address space per process, set with util-linux's ``prlimit``) and ``RLIMIT_NPROC`` (tasks,
  threads included). Linux does not apply ``RLIMIT_NPROC`` to uid 0, so a grader running as root runs each
  job as an unprivileged uid of its own (util-linux's ``setpriv``, the only capabilities kept for it);
  a normal user's ``bwrap`` makes a user namespace, where the count is per namespace.

``--unshare-pid`` with ``--die-with-parent`` ends every process of a submission with its sandbox: when the
kernel exits, the namespace's PID 1 exits and Linux kills everything left in it; when the process that
started ``bwrap`` dies, the death signal reaches ``bwrap`` and then that PID 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers import procs

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`),"
                " or pass --trusted (grade(..., trusted=True)) to run submissions you trust without a sandbox")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "hosts", "nsswitch.conf",
             "localtime", "timezone", "os-release", "alternatives", "mime.types", "fonts", "ssl/openssl.cnf")
# The grader's settings the sandbox keeps; by name, not by a bare "TF_" (Terraform's TF_VAR_/TF_TOKEN_ hold secrets).
PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_VISIBLE_DEVICES", "KERAS_BACKEND", "TF_DETERMINISTIC_OPS",
              "TF_FORCE_GPU_ALLOW_GROWTH", "TF_USE_LEGACY_KERAS")
PASSED_ENV_PREFIXES = ("TF_CPP_", "TF_ENABLE_", "TF_NUM_", "TF_XLA_", "TF_GPU_", "XLA_", "OMP_")
JOB_UID_BASE = 200_000  # uids of the jobs when grading as root (unused by any account on a normal system)


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot make its namespaces here."""


@dataclass(frozen=True)
class Limits:
    """What one submission's sandbox may use."""

    memory_bytes: int = 16 << 30  # RLIMIT_AS of each process (TensorFlow's kernels reserve about 3 GiB)
    tasks: int = 512  # RLIMIT_NPROC: processes and threads together
    tmp_bytes: int = 2 << 30  # the private /tmp (a tmpfs, held in memory)


def bwrap() -> str:
    """The path of ``bwrap``; :class:`SandboxUnavailable` naming what to install when it is missing."""
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(f"bwrap was not found on PATH: {INSTALL_HINT}")
    return found


def readable_paths() -> list[Path]:
    """What the grading child needs to read: the Python installation, the venv and the repository."""
    from helpers.workbook import ROOT

    return sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), ROOT.resolve()})


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class _Mounts:
    """bwrap's file-system arguments, built in order; every folder it creates on the way to a mount point is
    made searchable (0755), whatever the host's mode (``/root`` is 0700 and bwrap copies it)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.made: set[Path] = set()

    def add(self, option: str, source: str | Path | None, target: str | Path, perms: str | None = None) -> None:
        for parent in reversed(Path(target).parents[:-1]):
            if parent not in self.made:
                self.args += ["--perms", "0755", "--dir", str(parent)]
                self.made.add(parent)
        self.args += [*(["--perms", perms] if perms else []), option, *([str(source)] if source is not None else []),
                      str(target)]


def filesystem(readable: list[Path], hidden: list[Path], binds: dict[Path, Path], writable: dict[Path, Path],
               limits: Limits, tmp_folders: tuple[Path, ...] = ()) -> list[str]:
    """bwrap's file-system arguments: ``readable`` folders read-only at their own paths, each of ``hidden``
    under one of them covered by an empty tmpfs, a private /tmp with the empty ``tmp_folders`` in it (writable
    by every process of the sandbox), ``binds`` {inside: host} read-only and ``writable`` {inside: host}
    read-write."""
    mounts = _Mounts()
    mounts.args += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
                    "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    mounts.made.add(Path("/tmp"))  # a mount point under /tmp must not make it 0755: the job's uid writes there
    for link in ("bin", "lib", "lib64", "sbin"):
        host = Path("/") / link
        if host.is_symlink():
            mounts.args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            mounts.add("--ro-bind", host, host)
    for name in ETC_FILES:
        mounts.add("--ro-bind-try", f"/etc/{name}", f"/etc/{name}")
    mounts.add("--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu")  # CPU counts for TF
    for folder in readable:
        if not _under(folder, Path("/usr")):
            mounts.add("--ro-bind", folder, folder)
    for folder in hidden:
        if any(_under(folder, r) for r in readable) and folder.exists():
            mounts.add("--tmpfs", None, folder)
    for folder in tmp_folders:
        if not _under(folder, Path("/tmp")) or folder == Path("/tmp"):
            raise ValueError(f"{folder}: a writable folder of the sandbox must be inside its /tmp")
        mounts.add("--dir", None, folder, perms="1777")
        mounts.made.add(folder)
    for inside, host in binds.items():
        mounts.add("--ro-bind", host, inside)
    for inside, host in writable.items():
        mounts.add("--bind", host, inside)
    return mounts.args


def job_uid(slot: int) -> int | None:
    """The uid a job runs as: its own unprivileged one when grading as root, else the grader's (None)."""
    return JOB_UID_BASE + slot if os.geteuid() == 0 else None


def command(inner: list[str], *, filesystem_args: list[str], limits: Limits, uid: int | None,
            chdir: str | Path = "/tmp") -> list[str]:
    """The full command line: bwrap with the namespaces above, then (as root) setpriv to ``uid``, then
    prlimit with the limits, then ``inner``, started in ``chdir``."""
    namespaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                  "--die-with-parent", "--new-session", "--hostname", "grading", "--chdir", str(chdir)]
    drop: list[str] = []
    if uid is not None:
        namespaces += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--"]
    else:
        namespaces += ["--unshare-user"]
    limit = ["prlimit", f"--as={limits.memory_bytes}", f"--nproc={limits.tasks}", "--"]
    return [bwrap(), *namespaces, *filesystem_args, "--", *drop, *limit, *inner]


def environment(venv_bin: Path) -> dict[str, str]:
    """The sandbox's environment: a fresh one (HOME and TMPDIR in the private /tmp, the venv first on PATH)
    plus locale, time zone and TensorFlow/XLA/OpenMP/Keras settings of the grader's; nothing else."""
    env = {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp/home", "TMPDIR": "/tmp",
           "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"}
    for name, value in os.environ.items():
        if name in PASSED_ENV or name.startswith(PASSED_ENV_PREFIXES):
            env[name] = value
    return env


def check(scratch: Path, timeout: float = 30) -> None:
    """Start one empty sandbox like the graders' (through :mod:`helpers.procs`); :class:`SandboxUnavailable`
    with bwrap's own message and :data:`INSTALL_HINT` when it cannot start."""
    readable = readable_paths()
    probe = [sys.executable, "-c", "import helpers"]
    argv = command(probe, filesystem_args=filesystem(readable, [], {}, {}, Limits()), limits=Limits(),
                   uid=job_uid(0))
    child = procs.start("sandbox-check", program=argv, log=scratch / "sandbox-check.log", name="sandbox check",
                        env=environment(Path(sys.executable).parent))
    try:
        code = child.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # a hung probe: stopped below, reported like a failed start
        code = None
    finally:
        procs.stop([child], grace=1.0)
    if code != 0:
        raise SandboxUnavailable(f"the grading sandbox (bwrap) cannot start here: {child.tail(5).strip()}\n"
                                 f"{INSTALL_HINT}")


def _gib(size: int) -> str:
    return f"{size / (1 << 30):g} GiB"


def refusals(limits: Limits) -> list[tuple[tuple[str, ...], str]]:
    """(error texts, what the sandbox refused) for each kind of refusal a submission can run into."""
    return [
        (("Read-only file system", "Permission denied"),
         "the grading sandbox lets a submission write only in its own /tmp"),
        (("No such file or directory",),
         "the grading sandbox shows a submission only its own notebook, /tmp and the workbook's code"),
        (("ConnectionRefusedError", "Network is unreachable", "gaierror", "Cannot assign requested address"),
         "the grading sandbox has no network"),
        (("MemoryError", "Unable to allocate", "Cannot allocate memory"),
         f"the grading sandbox limits each process to {_gib(limits.memory_bytes)} of memory"),
        (("Resource temporarily unavailable", "can't start new thread"),
         f"the grading sandbox allows {limits.tasks} processes and threads"),
    ]


def explain(message: str, limits: Limits) -> str:
    """``message`` followed by what the sandbox refused, when it shows one of :func:`refusals`."""
    notes = [note for texts, note in refusals(limits) if any(text in message for text in texts)]
    return message + "".join(f" ({note})" for note in notes)
