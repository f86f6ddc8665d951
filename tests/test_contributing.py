"""The steps of CONTRIBUTING.md's "Adding a notebook" that no other test checks, one test a step, each failing
with a message that names the step and what to do. (The others: the notebook's shape and its ci preset,
tests/test_project.py; its parameters' limits, tests/test_params.py; its topic package, tests/test_layout.py;
its nbgrader format, tests/test_grade.py; its wrong answers, tests/test_notebooks.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import workbook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = workbook.find_notebooks()
notebooks = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


@notebooks
def test_step_5_the_exercise_checks_have_their_module(path):
    imported = set(re.findall(r"from helpers\.checks import (\w+) as exercise", "\n".join(workbook.code_cells(path))))
    assert len(imported) == 1, (f"step 5: {path.name} imports its checks once, as "
                                f"`from helpers.checks import <topic> as exercise` (found {sorted(imported)})")
    module = ROOT / "helpers" / "checks" / f"{imported.pop()}.py"
    assert module.exists(), f"step 5: write the exercise checks of {path.name} in {module.relative_to(ROOT)}"


@notebooks
def test_step_7_the_wrong_answers_have_their_module(path):
    module = ROOT / "tests" / "support" / "wrong_answers" / f"nb{path.name[:2]}.py"
    assert module.exists(), (f"step 7: write typical wrong answers of {path.name}'s exercises in "
                             f"{module.relative_to(ROOT)} (a WRONG dict by grade id; found automatically)")


@notebooks
def test_step_8_the_readme_tables_list_the_notebook(path):
    readme = (ROOT / "README.md").read_text()
    assert f"[{path.stem}](notebooks/{path.name})" in readme, \
        f"step 8: add {path.stem} to the README's topic table as [{path.stem}](notebooks/{path.name})"
    number = path.name[:2]
    assert re.search(rf"(?m)^\| {number} \w[^|]*\|", readme), \
        f"step 8: add a row '| {number} <topic> | <warm-up> | <real tasks> |' to the README's exercises table"


@notebooks
def test_step_9_the_notebook_is_swept_over_seeds(path):
    table = json.loads((ROOT / "notebooks" / "params" / "seed_figures.json").read_text())
    assert path.stem in table, (f"step 9: sweep {path.name} over ten seeds: make seeds ONLY={path.name[:2]} "
                                "(writes notebooks/params/seed_figures.json)")
