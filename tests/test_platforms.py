"""Platforms and Pythons. ``import helpers`` off Linux: a platform without ``signal.SIGKILL``, ``os.killpg`` and
``prctl`` (native Windows) is simulated in this process; the package imports, and starting a server or worker
says it needs Linux (or WSL2) and starts nothing. ``make`` takes the newest supported Python and says which."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _helpers_modules() -> dict:
    return {name: module for name, module in sys.modules.items() if name == "helpers" or name.startswith("helpers.")}


@pytest.fixture
def without_posix_processes(monkeypatch):
    """This process as native Windows sees it, and ``helpers`` not yet imported. Afterwards the modules imported
    meanwhile are dropped and the earlier ones put back, so no other test sees the simulated package."""
    monkeypatch.delattr(signal, "SIGKILL")
    monkeypatch.delattr(os, "killpg")
    monkeypatch.setattr(sys, "platform", "win32")
    before = _helpers_modules()
    for name in before:
        del sys.modules[name]
    yield
    for name in _helpers_modules():
        del sys.modules[name]
    sys.modules.update(before)


def test_import_helpers_works_without_sigkill_or_prctl(without_posix_processes):
    helpers = importlib.import_module("helpers")
    procs = importlib.import_module("helpers.procs")
    assert helpers.procs is procs and procs._PRCTL is None
    assert not hasattr(signal, "SIGKILL")  # the simulation holds while the package was imported
    assert helpers.free_port() > 0  # what needs no child process works
    procs.die_with_parent()  # a no-op without prctl


def test_starting_a_child_says_it_needs_linux_and_starts_nothing(without_posix_processes, tmp_path):
    procs = importlib.import_module("helpers.procs")
    with pytest.raises(procs.NeedsLinux, match=r"starting the model server needs Linux \(on Windows: WSL2\)"):
        procs.start("http.server", ["0"], log=tmp_path / "server.log", name="the model server")
    assert procs.running() == [] and not (tmp_path / "server.log").exists()


def test_linux_has_what_children_need():
    from helpers import procs

    procs.require_process_groups("starting a worker")  # no error here: this machine is Linux
    assert procs._SIGKILL == signal.SIGKILL


def _fake_python(folder: Path, name: str, version: str | None) -> None:
    """An executable ``name`` that answers like Python ``version`` (None: fails like a pyenv shim)."""
    folder.mkdir(parents=True, exist_ok=True)
    minor = version.rsplit(".", 1)[0] if version else ""
    body = (f'case "$2" in *"[:3]"*) echo {version};; *"[:2]"*) echo {minor};; esac\n' if version
            else 'echo "pyenv: $0: command not found" >&2; exit 127\n')
    (folder / name).write_text("#!/bin/sh\n" + body)
    (folder / name).chmod(0o755)


def _make_python(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(["make", "-s", "--no-print-directory", "-C", str(ROOT), "python", *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.slow
def test_make_takes_the_newest_supported_python_and_says_which(tmp_path):
    _fake_python(tmp_path / "bin", "python3.13", None)  # on PATH but not runnable: skipped
    _fake_python(tmp_path / "bin", "python3.12", "3.12.7")
    _fake_python(tmp_path / "bin", "python3.11", "3.11.9")
    venv = f"VENV={tmp_path / 'venv'}"
    done = _make_python(tmp_path, venv)
    assert done.returncode == 0 and "Python 3.12.7, python3.12 (the newest supported Python on PATH)" in done.stdout
    done = _make_python(tmp_path, venv, "PYTHON=python3.11")
    assert done.returncode == 0 and "Python 3.11.9, python3.11 (PYTHON=python3.11)" in done.stdout
    _fake_python(tmp_path / "bin", "python3.10", "3.10.4")
    done = _make_python(tmp_path, venv, "PYTHON=python3.10")
    assert done.returncode != 0 and "Python 3.10.4 (python3.10) is not supported" in done.stdout
    _fake_python(tmp_path / "venv" / "bin", "python", "3.11.9")  # an existing venv keeps its Python
    done = _make_python(tmp_path, venv)
    assert done.returncode == 0 and f"Python 3.11.9 ({tmp_path / 'venv'})" in done.stdout
    done = _make_python(tmp_path, venv, "PYTHON=python3.12")
    assert done.returncode != 0 and "has Python 3.11, PYTHON=python3.12 is 3.12: rm -rf" in done.stderr
