"""Static checks of the project's files: pins, environment.yml, presets against the notebooks' own defaults."""

import ast
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers import run, workbook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = workbook.find_notebooks()


def _requirements():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    return [line for line in lines if line]


def test_every_requirement_is_pinned_exactly():
    loose = [line for line in _requirements() if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line)]
    assert not loose, f"pin these with ==: {loose}"
    names = {line.split("==")[0].lower() for line in _requirements()}
    assert "tensorflow" in names and "tensorflow-cpu" not in names  # serving-api and tf-keras need tensorflow
    assert {"tensorboard", "opencv-python-headless", "shap"} <= names


def test_environment_yml_installs_the_same_pins_through_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-r requirements.txt" in pip and "-e ." in pip
    conda_pins = [d for d in deps if isinstance(d, str) and d not in ("python=3.11", "pip")]
    assert not conda_pins, f"conda-installed packages would diverge from requirements.txt: {conda_pins}"


def test_python_version_is_pinned_consistently():
    assert 'requires-python = ">=3.11,<3.14"' in (ROOT / "pyproject.toml").read_text()
    assert "SUPPORTED_PYTHONS := 3.13 3.12 3.11" in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_ci_preset_equals_the_notebook_defaults(notebook):
    ci = run.load_preset("ci")
    defaults = {k: ast.literal_eval(v["default"]) for k, v in run.notebook_parameters(notebook).items()}
    section = ci.get(notebook.stem)
    assert section is not None, f"notebooks/params/ci.yaml has no section {notebook.stem}"
    assert section == defaults, "the ci preset must be the notebook's defaults"


@pytest.mark.parametrize("preset", run.PRESETS)
def test_presets_name_only_real_notebooks_and_parameters(preset):
    sections = run.load_preset(preset)
    stems = {nb.stem for nb in NOTEBOOKS}
    assert set(sections) <= stems, f"{preset}.yaml names notebooks that do not exist: {set(sections) - stems}"
    run.plan(NOTEBOOKS, sections, {})  # raises on a parameter a notebook does not have


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs (nbstripout)"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0] is code[0], "one parameters cell, the first code cell"
    assert re.search(r"^seed: int = \d+  # ", params[0].source, re.M), "every notebook has a typed, commented seed"
    for line in params[0].source.splitlines():
        if line.strip():
            assert re.match(r"^\w+: [\w\[\], ]+ = .+  # .+", line), f"parameter without type or comment: {line}"
    declared = [line for line in params[0].source.splitlines() if line.strip()]
    parsed = run.notebook_parameters(notebook)
    assert len(parsed) == len(declared), f"papermill parses {sorted(parsed)} of {len(declared)} lines"
    assert all(info["help"] for info in parsed.values()), "every parameter's comment reaches --list"
    source = "\n".join(c.source for c in code)
    assert "helpers.setup(" in code[1].source, "the cell after the parameters calls helpers.setup"
    assert "sys.path" not in source and "%run" not in source
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"]
    assert any(h.startswith("## Exercises") for h in headings) and any(h.startswith("## Summary") for h in headings)
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_set_up_cell_installs_the_package_where_it_is_missing(notebook):
    from helpers import site

    setup = next(src for src in workbook.code_cells(notebook) if "helpers.setup(" in src)
    assert setup.startswith(site.install_cell(site.repository_url()).rstrip("\n")), \
        f"{notebook.name}: the set-up cell starts with the install block: python -m helpers.site --install-cells"


def test_installed_packages_have_compiled_bytecode():
    # Without .pyc files (none written at install, and PYTHONDONTWRITEBYTECODE set) every process compiles
    # TensorFlow from source when it imports it: twice the import time, in every worker process. make's install
    # writes them (its warm-up imports) before it touches .venv/.installed; a .pyc newer than that was written by a
    # later process, which a run with PYTHONDONTWRITEBYTECODE set would have paid for in every process.
    import importlib.util

    import keras
    import tensorflow as tf

    stamp = ROOT / ".venv" / ".installed"
    installed_by_make = stamp.exists() and Path(sys.prefix).resolve() == stamp.parent.resolve()
    for module in (tf, keras):
        cached = Path(importlib.util.cache_from_source(module.__file__))
        assert cached.exists(), f"{module.__name__} has no compiled bytecode ({cached}): reinstall with bytecode"
        if installed_by_make:
            assert cached.stat().st_mtime <= stamp.stat().st_mtime, \
                f"{cached} was written after the install: make's warm-up imports no longer import {module.__name__}"


def test_recorded_durations_order_the_longest_blocks_first(tmp_path):
    from types import SimpleNamespace

    from tests.support import durations

    reports = [SimpleNamespace(nodeid=n, duration=s, when="call", outcome="passed")
               for n, s in [("a.py::x@g", 5.0), ("a.py::y@g", 1.0), ("b.py::z", 2.0), ("c.py::w", 9.0)]]
    path = durations.write(tmp_path / "d.md", reports, 0, worker_count=2)
    assert durations.read(path) == {"a.py::x": 5.0, "a.py::y": 1.0, "b.py::z": 2.0, "c.py::w": 9.0}
    assert durations.read(tmp_path / "missing.md") == {}
    # in xdist's workers a grouped test's id carries its group: it still finds its record
    items = [SimpleNamespace(nodeid=n) for n in ["a.py::x@g", "b.py::z", "a.py::y@g", "c.py::w", "d.py::new"]]
    block = {"a.py::x@g": "g", "a.py::y@g": "g"}
    ordered = durations.longest_first(items, durations.read(path), lambda i: block.get(i.nodeid, i.nodeid))
    assert [i.nodeid for i in ordered] == ["c.py::w", "a.py::x@g", "a.py::y@g", "b.py::z", "d.py::new"]


@pytest.mark.slow  # starts pytest with two workers
def test_one_worker_runs_a_module_and_sets_up_its_module_fixture_once(tmp_path):
    # Without the module's group xdist would deal the six tests out to both workers, each setting the fixture up.
    import subprocess

    pids = tmp_path / "pids"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", "--dist", "loadgroup",
               "tests/support/module_fixture_sample.py"]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "MODULE_FIXTURE_PIDS": str(pids)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
    assert len(pids.read_text().split()) == 1


def test_the_committed_durations_cover_the_long_tests():
    from tests.conftest import RECORDED_DURATIONS
    from tests.support import durations

    recorded = durations.read(RECORDED_DURATIONS)
    assert len(recorded) > 500, "docs/test-durations.md: copy runs/test-durations.md of a fresh-clone make test"
    assert any("test_notebook_runs_top_to_bottom" in n for n in recorded)
