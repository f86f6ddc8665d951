"""The workbook on the supported Pythons that .venv does not have (``make other-pythons``; CI runs it after
``make test``): for each, the package is built as a wheel and installed (not editable, with its pins) into a
fresh virtual environment; the fast tier runs there; and one notebook, copied alone into an empty folder, runs
there with the installed package (its data found through the package). One pytest-xdist worker per Python, so
both run at once. Each step's seconds go to runs/other-pythons-<version>.json.

Where a Python is looked for: ``pythonX.Y`` on PATH, then pyenv's ``versions/X.Y.*``. Missing one is a skip,
and a failure under CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from helpers import procs

pytestmark = [pytest.mark.other_pythons, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ("3.11", "3.12", "3.13")
THIS = f"{sys.version_info.major}.{sys.version_info.minor}"
# The notebook each Python runs alone: the quickest (CI's time). Notebook 07's data files are loaded from the
# installed package below without running 07 (about a minute more on these two cores).
NOTEBOOK = {"3.11": "01_custom_layers", "3.12": "01_custom_layers", "3.13": "01_custom_layers"}
FAST_TIER = "not notebook and not slow and not browser"
TIMEOUT = {"build": 120, "venv": 60, "cached install": 120, "install": 600, "fast tier": 600, "notebook": 600,
           "installed": 60}


def find_python(version: str) -> str | None:
    """A Python ``version`` (``"3.13"``) interpreter that runs: ``pythonX.Y`` on PATH, else pyenv's."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}"),
                  *sorted(map(str, pyenv.glob(f"versions/{version}.*/bin/python{version}")))]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def uv() -> str:
    """The uv that `make` installs into .venv (or one on PATH)."""
    found = Path(sys.executable).parent / "uv"
    path = str(found) if found.exists() else shutil.which("uv")
    if not path:
        pytest.fail("uv is missing: `make` installs it into .venv (pip install uv)")
    return path


class Steps:
    """Runs each step as a child process (through helpers.procs) with its own log and deadline; keeps times."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env, self.seconds = folder, env, {}

    def run(self, step: str, command: list[str], required: bool = True) -> str | None:
        """The step's log; on failure the test fails, or, when not ``required``, this returns None."""
        start = time.monotonic()
        log = self.folder / f"{step.replace(' ', '-')}.log"
        child = procs.start(step, log=log, program=command, env=self.env)
        failure = None
        try:
            procs.wait_for_exit([child], timeout=TIMEOUT[step])
        except (procs.ChildFailed, TimeoutError) as err:
            failure = err
        finally:
            child.stop()
            self.seconds[step] = round(time.monotonic() - start, 1)
        if failure and required:
            pytest.fail(f"{step} failed: {' '.join(command)}\n{failure}\n(full log: {log})")
        return None if failure else child.log()


@pytest.mark.parametrize("version", [v for v in SUPPORTED if v != THIS])
def test_installed_wheel_fast_tier_and_a_notebook_alone(version, tmp_path):
    python = find_python(version)
    if python is None:
        reason = f"Python {version} not found (pythonX.Y on PATH or pyenv's versions/{version}.*)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip")
        pytest.skip(reason)
    # A clean environment: no bytecode suppression (the first import writes .pyc, later ones read them), and
    # private Jupyter folders so the kernel is the new environment's own python3.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(JUPYTER_DATA_DIR=str(tmp_path / "jupyter"), JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               IPYTHONDIR=str(tmp_path / "ipython"), MPLCONFIGDIR=str(tmp_path / "matplotlib"))
    steps = Steps(tmp_path, env)
    started = time.monotonic()
    try:
        steps.run("build", [uv(), "build", "--quiet", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)])
        wheel = next((tmp_path / "dist").glob("advanced_tf_helpers-*.whl"))
        venv = tmp_path / "venv"
        steps.run("venv", [uv(), "venv", "--quiet", "--python", python, str(venv)])
        bin_python = str(venv / "bin" / "python")
        # From uv's cache when it holds every pin (no index round trips: 3 to 14 s here, as the network goes), else
        # from the index (a new machine). The pins are exact either way (requirements.txt, the wheel's metadata).
        install = [uv(), "pip", "install", "--quiet", "--python", bin_python, str(wheel)]
        if steps.run("cached install", [*install, "--offline"], required=False) is None:
            steps.run("install", install)

        stem = NOTEBOOK[version]
        alone = tmp_path / "alone"
        alone.mkdir()
        shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", alone)
        steps.run("notebook", [bin_python, "-m", "papermill", "--cwd", str(alone), "-k", "python3", "--no-progress-bar",
                               str(alone / f"{stem}.ipynb"), str(alone / f"{stem}.out.ipynb")])
        executed = nbformat.read(alone / f"{stem}.out.ipynb", as_version=4)
        assert executed.metadata.language_info.version.startswith(f"{version}.")
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert errors == []
        # Outside the repository (-I: no current folder, no PYTHON* variables) helpers is the installed wheel's,
        # and its data files are there too.
        where = steps.run("installed", [bin_python, "-I", "-c", "import helpers.synthetic as s; print(s.__file__); "
                                        "print(s.load_synthetic_shapes().num_classes)"]).split()
        assert Path(where[0]).is_relative_to(venv / "lib" / f"python{version}" / "site-packages"), where
        assert where[-1] == "3"

        # The repository's tests import the repository's helpers (pytest puts the root first): the fast tier checks
        # this Python against the code; the notebook above checked the installed package.
        steps.run("fast tier", [bin_python, "-m", "pytest", str(ROOT / "tests"), "-q", "-p", "no:cacheprovider",
                                "-m", FAST_TIER, "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")])
    finally:  # the times of the steps that ran, also when one failed
        record = {"python": version, "interpreter": python, "notebook file": NOTEBOOK[version], **steps.seconds,
                  "total": round(time.monotonic() - started, 1)}
        (ROOT / "runs").mkdir(exist_ok=True)
        (ROOT / "runs" / f"other-pythons-{version}.json").write_text(json.dumps(record, indent=1))
