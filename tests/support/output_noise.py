"""What an executed notebook shows that its lesson does not: the learner's-view test of its outputs.

:func:`unwanted_output` lists every output line of these kinds:

* ``recorded``: a ``recorded name = value`` line (``helpers.record`` prints nothing);
* ``TF C++ log``: a line of TensorFlow's C++ runtime or absl (``I0000 00:00:... port.cc:153] ...``, the absl
  pre-initialisation notice), from the kernel or from any process it started;
* ``echoed record``: the ``Out[]`` value of a cell whose last statement is a ``helpers.record(...)`` call;
* ``warning``: a Python warning as ``warnings`` prints it (``path:line: SomeWarning: message`` and the
  source line under it);
* ``stderr``: any other line on stderr (the lessons print to stdout; nbgrader fails a grade cell that wrote
  to stderr).

Only outputs are read, never re-run: pass a notebook executed by the runner or by nbmake.
"""

from __future__ import annotations

import ast
import re

from nbformat import NotebookNode

RECORDED = re.compile(r"^recorded \S+ = ")
# glog / absl line prefix: severity, MMDD or 0000, time, thread id, file:line]
TF_CPP_LOG = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] ")
ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
WARNING_LINE = re.compile(r"^\S.*:\d+: [A-Za-z_.]*Warning: ")
RECORD_CALLS = ("helpers.record", "record")


def _call_name(node: ast.AST) -> str:
    """The dotted name of a call's function (``helpers.record``), "" for anything else."""
    if not isinstance(node, ast.Call):
        return ""
    func, parts = node.func, []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
        return ".".join(reversed(parts))
    return ""


def ends_in_record(source: str) -> bool:
    """True when the cell's last top-level statement is a bare ``helpers.record(...)`` expression, whose
    value IPython would show as ``Out[]`` (not after a trailing ``;``). IPython magics and unparsable cells
    count as not."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    if "\n".join(lines).rstrip().endswith(";"):
        return False
    try:
        body = ast.parse("\n".join(lines)).body
    except SyntaxError:
        return False
    return bool(body) and isinstance(body[-1], ast.Expr) and _call_name(body[-1].value) in RECORD_CALLS


def classify(line: str, stream: str) -> str | None:
    """The kind of unwanted output ``line`` of ``stream`` ("stdout" or "stderr") is, or None when it is
    lesson output."""
    stripped = line.strip()
    if not stripped:
        return None
    if RECORDED.match(stripped):
        return "recorded"
    if stripped == ABSL_NOTICE or TF_CPP_LOG.match(stripped):
        return "TF C++ log"
    if WARNING_LINE.match(stripped):
        return "warning"
    if stream == "stderr":
        return "stderr"
    return None


def unwanted_output(executed_notebook: NotebookNode) -> list[str]:
    """Every output line of ``executed_notebook`` that is not part of the lesson, as
    ``"cell <index>: <kind>: <line>"`` (cell indices are 0-based into ``cells``); empty when clean."""
    found = []
    for index, cell in enumerate(executed_notebook.cells):
        if cell.cell_type != "code":
            continue
        echoes = ends_in_record(cell.source)
        for output in cell.get("outputs", []):
            if echoes and output.get("output_type") == "execute_result":
                value = output.get("data", {}).get("text/plain", "")
                found.append(f"cell {index}: echoed record: {value}")
            if output.get("output_type") != "stream":
                continue
            previous = None
            for line in output.get("text", "").splitlines():
                kind = classify(line, output.get("name", "stdout"))
                if previous == "warning" and kind == "stderr" and line.startswith(" "):
                    kind = "warning"  # the source line that warnings.showwarning prints under the message
                previous = kind
                if kind is not None:
                    found.append(f"cell {index}: {kind}: {line.rstrip()}")
    return found
