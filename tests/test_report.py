"""The HTML run report, on a tiny fake run (hand-made executed notebooks) and on a real tiny run of the
runner (papermill, one passing and one failing notebook)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers import report, run
from helpers.run import Result

TRACEBACK = [
    "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
    "\x1b[31mValueError\x1b[39m                                Traceback (most recent call last)",
    "Cell \x1b[32mIn[2]\x1b[39m, line 1\n----> 1 check(x < 0)",
    "\x1b[31mValueError\x1b[39m: x must be < 0, got 3",
]


def executed_notebook(fail: bool) -> nbformat.NotebookNode:
    """A small notebook as papermill leaves it: outputs, execution counts, an error output if ``fail``."""
    first = new_code_cell("x = 3\nprint(x)", execution_count=1,
                          outputs=[new_output("stream", name="stdout", text="3\n")])
    second = new_code_cell("check(x < 0)", execution_count=2)
    if fail:
        second.outputs = [new_output("error", ename="ValueError", evalue="x must be < 0, got 3",
                                     traceback=TRACEBACK)]
        second.metadata["papermill"] = {"status": "failed"}
    else:
        second.outputs = [new_output("execute_result", data={"text/plain": "True"}, execution_count=2)]
    third = new_code_cell("y = 1", execution_count=None if fail else 3)
    return new_notebook(cells=[new_markdown_cell("# Tiny run"), first, second, third])


def fake_run(tmp_path: Path) -> tuple[Path, list[Result]]:
    run_dir = tmp_path / "20260101-000000"
    run_dir.mkdir()
    nbformat.write(executed_notebook(False), run_dir / "01_ok.ipynb")
    nbformat.write(executed_notebook(True), run_dir / "02_bad.ipynb")
    results = [
        Result("01_ok", "passed", 12.34, {"seed": 0}, {"accuracy": 0.9512, "seconds_per_epoch": 1.5},
               output="01_ok.ipynb"),
        Result("02_bad", "failed", 3.0, {"seed": 1, "epochs": 2}, {}, "cell 2: ValueError: x must be < 0, got 3",
               "02_bad.ipynb"),
        Result("03_lost", "failed", 0.5, {}, {}, "cell ?: DeadKernelError: Kernel died", "03_lost.ipynb"),
    ]
    return run_dir, results


def rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tbody id="([^"]+)">(.*?)</tbody>', page, flags=re.S))


def test_failing_cell_is_found_and_cleaned():
    failure = report.failing_cell(executed_notebook(True))
    assert (failure.index, failure.execution_count, failure.source) == (2, 2, "check(x < 0)")
    assert failure.error == "ValueError: x must be < 0, got 3"
    assert "\x1b" not in failure.traceback and "Traceback (most recent call last)" in failure.traceback
    assert report.failing_cell(executed_notebook(False)) is None


def test_report_of_a_fake_run(tmp_path):
    run_dir, results = fake_run(tmp_path)
    index = report.write_report(run_dir, results)
    assert index == run_dir / "index.html"
    page = index.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert not re.search(r"<link|<script|src=", page), "index.html must be self-contained"
    assert "1/3 passed in 15.8 s" in page
    by_name = rows(page)
    assert list(by_name) == ["01_ok", "02_bad", "03_lost"]

    ok = by_name["01_ok"]
    assert '<a href="01_ok.html">01_ok</a>' in ok and '<a href="01_ok.ipynb">' in ok
    assert 'class="status passed"' in ok and ">12.3<" in ok
    assert "<code>accuracy</code> = 0.9512" in ok and "<code>seconds_per_epoch</code> = 1.5" in ok
    assert "failure" not in ok

    bad = by_name["02_bad"]
    assert bad.index('class="failure"') < bad.index('class="status failed"'), "failure comes first in the row"
    assert "02_bad failed in <a href=\"02_bad.html#papermill-error-cell\">cell 2 [2]</a>:" in bad
    assert "ValueError: x must be &lt; 0, got 3" in bad and "<pre>check(x &lt; 0)</pre>" in bad
    assert "Traceback (most recent call last)" in bad and "\x1b" not in bad
    assert "<code>epochs</code> = 2" in bad

    lost = by_name["03_lost"]
    assert "no executed notebook" in lost and "DeadKernelError: Kernel died" in lost

    for name in ("01_ok", "02_bad"):
        rendered = (run_dir / f"{name}.html").read_text()
        assert 'id="Tiny-run"' in rendered and "jp-OutputArea-output" in rendered
    assert "x must be &lt; 0, got 3" in (run_dir / "02_bad.html").read_text()


def test_report_from_summary_json(tmp_path, capsys):
    run_dir, results = fake_run(tmp_path)
    (run_dir / "summary.json").write_text(json.dumps([asdict(r) for r in results]))
    assert report.main([str(run_dir)]) == 0
    assert list(rows((run_dir / "index.html").read_text())) == ["01_ok", "02_bad", "03_lost"]
    assert report.main([str(tmp_path / "nowhere")]) == 2
    assert "summary.json not found" in capsys.readouterr().err


def test_unreadable_notebook_still_gets_a_row(tmp_path):
    run_dir, results = fake_run(tmp_path)
    (run_dir / "02_bad.ipynb").write_text("{not json")
    page = report.write_report(run_dir, results).read_text()
    bad = rows(page)["02_bad"]
    assert "could not render" in bad and "cell 2: ValueError: x must be &lt; 0, got 3" in bad


@pytest.mark.slow
def test_runner_writes_the_report(tmp_path, capsys):
    """helpers.run executes a passing and a failing notebook with papermill and links the report."""
    notebooks = tmp_path / "notebooks"
    (notebooks / "params").mkdir(parents=True)
    (notebooks / "params" / "ci.yaml").write_text("01_pass:\n  seed: 3\n")
    params = new_code_cell("seed: int = 0  # random seed", metadata={"tags": ["parameters"]})
    good = [new_code_cell("import helpers\nhelpers.record('twice_seed', 2 * seed)")]
    bad = [new_code_cell("value = 1"), new_code_cell("raise ValueError(f'seed was {seed}')"),
           new_code_cell("never = True")]
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=[params, *good], metadata=kernel), notebooks / "01_pass.ipynb")
    nbformat.write(new_notebook(cells=[params, *bad], metadata=kernel), notebooks / "02_fail.ipynb")
    out = tmp_path / "runs" / "now"

    assert run.main(["--notebooks", str(notebooks), "--out", str(out), "--timeout", "120"]) == 1
    assert f"report: {out / 'index.html'}" in capsys.readouterr().out
    by_name = rows((out / "index.html").read_text())
    assert "<code>twice_seed</code> = 6" in by_name["01_pass"] and "failure" not in by_name["01_pass"]
    failed = by_name["02_fail"]
    assert "raise ValueError(f&#x27;seed was {seed}&#x27;)" in failed
    assert "ValueError: seed was 0" in failed
    assert (out / "02_fail.html").is_file()
    assert 'id="papermill-error-cell"' in (out / "02_fail.html").read_text()
