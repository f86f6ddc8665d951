"""The sandboxed kernel: a submission's own code runs in bubblewrap, nbgrader outside it.

The grading child (:mod:`helpers.grading.autograde`: nbgrader, the gradebook, the autograded notebook, the
result file) runs with the grader's rights. nbgrader's ``ExecutePreprocessor`` starts the submission's Jupyter
kernel from the kernelspec ``python3`` that :func:`prepare` writes into the job's folder; :func:`use` puts that
folder first on ``JUPYTER_PATH``, checks that the name resolves to it and pins the name in nbgrader's config
(a notebook's ``kernelspec`` metadata cannot pick another kernel). The kernelspec's command is
``python -m helpers.grading.kernel SETTINGS -f {connection_file} ...``: :func:`main` runs as the grader, copies
the notebook's folder (nbclient starts the kernel there) into the job's ``work`` folder, hands the copy, the
connection file and the socket folder to the job's uid, and replaces itself with ``bwrap`` around
``ipykernel_launcher``.

In the sandbox (:mod:`helpers.grading.sandbox`) the kernel sees the system, Python, the venv and the repository
read-only; its working folder :data:`WORKING_FOLDER` in its private ``/tmp`` (a size-limited tmpfs), with the
work copy's files read-only in it; the connection file read-only and the folder of its ZMQ sockets (IPC
transport: the sandbox has no network), both at their paths on the host. Nothing of the course, the gradebook,
the result file or the grader's other files is there. Its PID namespace and ``--die-with-parent`` end every
process it started when nbgrader shuts the kernel down or the grading child dies. Interrupts go as messages
(``interrupt_mode: message``): a signal to ``bwrap`` would not reach a kernel in a session of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from helpers.grading import sandbox

KERNEL_NAME = "python3"  # what the notebooks' metadata names; pinned in nbgrader's config anyway
WORKING_FOLDER = Path("/tmp/submission")  # the kernel's working folder, in its private /tmp
SOCKET_PATH_MAX = 100  # AF_UNIX paths hold 107 bytes; the longest socket is <sockets>/k-NN


class KernelSandboxError(sandbox.SandboxUnavailable):
    """The sandboxed kernel cannot be set up (a bad setting, a folder too long for its sockets, a kernelspec
    that is not ours)."""


@dataclass(frozen=True)
class Settings:
    """One job's kernel sandbox: its folder (kernelspec, connection file, sockets, work copy), the limits, the
    job's uid (None: the grader's) and the folders to hide inside the readable ones."""

    folder: Path
    limits: sandbox.Limits
    uid: int | None
    hidden: tuple[Path, ...]

    @property
    def file(self) -> Path:
        return self.folder / "kernel-sandbox.json"

    @property
    def jupyter_path(self) -> Path:
        return self.folder / "jupyter"

    @property
    def connection_file(self) -> Path:
        return self.folder / "k.json"

    @property
    def sockets(self) -> Path:
        return self.folder / "sockets"

    @property
    def work(self) -> Path:
        return self.folder / "work"

    def save(self) -> None:
        data = {"folder": str(self.folder), "limits": asdict(self.limits), "uid": self.uid,
                "hidden": [str(p) for p in self.hidden]}
        self.file.write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: Path) -> Settings:
        try:
            data = json.loads(Path(path).read_text())
            return cls(Path(data["folder"]), sandbox.Limits(**data["limits"]), data["uid"],
                       tuple(Path(p) for p in data["hidden"]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise KernelSandboxError(f"{path}: not the settings of a kernel sandbox ({err})") from err


def check_socket_path(folder: Path) -> None:
    """:class:`KernelSandboxError` when the job folder ``folder`` is too long a path for the kernel's sockets."""
    longest = len(os.fsencode(Settings(Path(folder).resolve(), sandbox.Limits(), None, ()).sockets / "k-99"))
    if longest > SOCKET_PATH_MAX:
        raise KernelSandboxError(f"the grading folder {folder} is too long a path for the kernel's sockets "
                                 f"({longest} > {SOCKET_PATH_MAX} bytes): set TMPDIR to a shorter folder")


def prepare(folder: Path, limits: sandbox.Limits, uid: int | None, hidden: list[Path]) -> Settings:
    """Write the kernelspec and the settings of a job's kernel sandbox into the job's ``folder``; returns them."""
    check_socket_path(folder)
    settings = Settings(Path(folder).resolve(), limits, uid, tuple(Path(p).resolve() for p in hidden))
    spec = settings.jupyter_path / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    settings.sockets.mkdir()
    argv = [sys.executable, "-m", "helpers.grading.kernel", str(settings.file), "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
        "interrupt_mode": "message", "metadata": {"debugger": False}}, indent=1))
    settings.save()
    return settings


def use(settings: Settings) -> dict:
    """In the grading child: put the kernelspec first on ``JUPYTER_PATH`` and return nbgrader's config for the
    sandboxed kernel (pinned name, IPC transport, the connection file and sockets in the job's folder);
    :class:`KernelSandboxError` when ``python3`` does not resolve to the job's kernelspec."""
    from jupyter_client.kernelspec import KernelSpecManager

    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(settings.jupyter_path),
                                                               os.environ.get("JUPYTER_PATH")]))
    found = Path(KernelSpecManager().get_kernel_spec(KERNEL_NAME).resource_dir)
    if found != settings.jupyter_path / "kernels" / KERNEL_NAME:
        raise KernelSandboxError(f"the kernel {KERNEL_NAME!r} resolves to {found}, not to the grading sandbox's")
    return {"Execute": {"kernel_name": KERNEL_NAME},
            "KernelManager": {"transport": "ipc", "connection_file": str(settings.connection_file),
                              "ip": str(settings.sockets / "k")}}


def _give(path: Path, uid: int | None) -> None:
    """Make ``path`` (and, for a folder, everything in it; links are not followed) the job uid's."""
    if uid is None:
        return
    os.chown(path, uid, uid, follow_symlinks=False)
    if path.is_dir() and not path.is_symlink():
        for root, folders, files in os.walk(path):
            for name in folders + files:
                os.chown(Path(root) / name, uid, uid, follow_symlinks=False)


def command(settings: Settings, kernel_args: list[str]) -> list[str]:
    """bwrap around ``ipykernel_launcher kernel_args``, started in :data:`WORKING_FOLDER` (the files of the work
    copy read-only in it)."""
    binds = {settings.connection_file: settings.connection_file,
             **{WORKING_FOLDER / entry.name: entry for entry in sorted(settings.work.iterdir())}}
    files = sandbox.filesystem(sandbox.readable_paths(), list(settings.hidden), binds,
                               {settings.sockets: settings.sockets}, settings.limits, tmp_folders=(WORKING_FOLDER,))
    inner = [sys.executable, "-m", "ipykernel_launcher", *kernel_args]
    return sandbox.command(inner, filesystem_args=files, limits=settings.limits, uid=settings.uid,
                           chdir=WORKING_FOLDER)


def main(argv: list[str] | None = None) -> None:
    """The kernelspec's command: set up the work copy, then ``exec`` bwrap (the same pid, which nbclient
    watches and signals)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or "-f" not in args[1:-1]:
        raise SystemExit("usage: python -m helpers.grading.kernel SETTINGS -f CONNECTION_FILE [kernel args]")
    settings, kernel_args = Settings.load(Path(args[0])), args[1:]
    connection = Path(kernel_args[kernel_args.index("-f") + 1]).resolve()
    if connection != settings.connection_file:
        raise SystemExit(f"the connection file {connection} is not the sandbox's {settings.connection_file}")
    shutil.rmtree(settings.work, ignore_errors=True)
    shutil.copytree(Path.cwd(), settings.work, symlinks=True)
    for path in (settings.work, settings.sockets, settings.connection_file):
        _give(path, settings.uid)
    argv_ = command(settings, kernel_args)
    os.execve(argv_[0], argv_, sandbox.environment(Path(sys.executable).parent))


if __name__ == "__main__":
    main()
