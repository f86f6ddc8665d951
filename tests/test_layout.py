"""The layout the README describes, checked: import direction, one launcher, module sizes, no TensorFlow in
the tools."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "helpers"
BOTTOM = {"runtime", "params", "procs"}
TOPICS = {"distributed", "tuning", "serving", "callbacks", "parallel", "explain"}
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _helpers_imports(path: Path) -> set[str]:
    """The first component under ``helpers`` of every helpers module ``path`` imports (anywhere in it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "helpers":  # from helpers import procs
                names += [f"helpers.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "helpers" and len(parts) > 1:
                found.add(parts[1])
    return found


def _top(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_direction(path):
    own, imported = _top(path), _helpers_imports(path) - {_top(path)}
    if own in BOTTOM:
        assert imported <= BOTTOM, f"{path.name}: the bottom layer imports {imported - BOTTOM}"
    if own in TOPICS:
        assert not imported & (TOPICS - {own}), f"{path.name}: topic packages never import each other"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_the_size_limit(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_children_are_started_only_by_helpers_procs():
    offenders = [str(p.relative_to(PACKAGE)) for p in _modules() if p.name != "procs.py"
                 and any(call in p.read_text() for call in ("subprocess.Popen(", "subprocess.run(", "os.fork("))]
    assert offenders == []


def test_tools_and_bottom_import_no_tensorflow():
    code = ("import sys\nimport helpers, helpers.run, helpers.report, helpers.student, helpers.params, helpers.procs\n"
            "import helpers.tuning, helpers.serving, helpers.serving.local_server\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_test_doubles_live_in_tests_support():
    assert not list(PACKAGE.rglob("*probe*")) and not list(PACKAGE.rglob("*fake*"))
