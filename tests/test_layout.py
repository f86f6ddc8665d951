"""The layout the README describes, checked over the whole import graph of ``helpers`` (every import, at any
depth and in any place, function-level ones included): four layers, imports only downwards or within a layer,
topics never importing each other, no cycle; one launcher; module sizes; no TensorFlow in the tools; test
doubles only in tests/support."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import imports

PACKAGE = Path(__file__).resolve().parents[1] / "helpers"
MAX_LINES = 400

# Layer of each top-level name under helpers; every name not listed is a topic (a package or module of one
# notebook's topic), found from the files, so a new topic is checked without editing this table.
BOTTOM, SHARED, TOPIC, TOP = 0, 1, 2, 3
LAYER_NAMES = {BOTTOM: "bottom", SHARED: "shared", TOPIC: "topic", TOP: "checks/tools/grading"}
DECLARED = {
    "": BOTTOM, "runtime": BOTTOM, "params": BOTTOM, "procs": BOTTOM, "logs": BOTTOM, "workbook": BOTTOM,
    "data": SHARED, "synthetic": SHARED, "models": SHARED, "plots": SHARED,
    "checks": TOP, "grading": TOP, "run": TOP, "report": TOP, "student": TOP, "seeds": TOP, "workspace": TOP,
    "site": TOP,
}


def top_name(module: str) -> str:
    """``serving`` for ``helpers.serving.local_server.rest``; ``""`` for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    return DECLARED.get(top_name(module), TOPIC)


def topics(package: Path = PACKAGE) -> set[str]:
    """The topic names, from the files: every top-level package or module under helpers not declared above."""
    names = {p.stem for p in package.glob("*.py")} | {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    return {n for n in names if n not in DECLARED and n != "__init__"}


def violations(package: Path) -> list[str]:
    """Every import that breaks the layers, every import between two topics, and every cycle."""
    edges = imports.graph(package)
    found = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            a, b = layer(source), layer(target)
            if b > a:
                found.append(f"{source} -> {target}: the {LAYER_NAMES[a]} layer imports the {LAYER_NAMES[b]} layer")
            elif a == b == TOPIC and top_name(source) != top_name(target):
                found.append(f"{source} -> {target}: topics never import each other")
    found += [f"import cycle: {' <-> '.join(component)}" for component in imports.cycles(edges)]
    return found


def test_the_import_graph_follows_the_layers_and_has_no_cycle():
    assert violations(PACKAGE) == []


def test_topics_are_found_from_the_files():
    assert {"distributed", "tuning", "serving", "callbacks", "parallel", "explain"} <= topics()


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "helpers"
    for name, source in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    return package


def test_a_planted_function_level_cycle_is_found(tmp_path):
    package = _plant(tmp_path, {
        "grading/__init__.py": "", "student.py": "def f():\n    from helpers.grading import cells\n",
        "grading/cells.py": "def g():\n    from helpers import student\n",
    })
    assert violations(package) == ["import cycle: helpers.grading.cells <-> helpers.student"]


def test_a_planted_upward_import_and_topic_import_are_found(tmp_path):
    package = _plant(tmp_path, {
        "procs.py": "from helpers.run import ROOT\n", "run.py": "",
        "tuning/__init__.py": "", "tuning/worker.py": "def f():\n    from ..serving import client\n",
        "serving/__init__.py": "", "serving/client.py": "",
    })
    assert violations(package) == [
        "helpers.procs -> helpers.run: the bottom layer imports the checks/tools/grading layer",
        "helpers.tuning.worker -> helpers.serving: topics never import each other",
        "helpers.tuning.worker -> helpers.serving.client: topics never import each other",
    ]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_the_size_limit(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_children_are_started_only_by_helpers_procs():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "procs.py"
                 and any(call in p.read_text() for call in ("subprocess.Popen(", "subprocess.run(", "os.fork("))]
    assert offenders == []


@pytest.mark.slow
def test_tools_and_bottom_import_no_tensorflow():
    code = ("import sys\nimport helpers, helpers.run, helpers.report, helpers.student, helpers.params, helpers.procs\n"
            "import helpers.workbook, helpers.grading.grade, helpers.grading.cells\n"
            "import helpers.tuning, helpers.serving, helpers.serving.local_server\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


DOUBLE = re.compile(r"^_*(Fake|Mock|Stub|Dummy|Probe)|^_*(fake|mock|dummy|probe)_|(Fake|Mock|Dummy|Probe)$")


def test_test_doubles_live_in_tests_support():
    """No class or function in the package is named as a test double (FakeX, MockX, fake_x, ...)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and DOUBLE.search(node.name):
                found.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert found == []
