"""The learner's view of the notebooks' text (DESIGN.md, "The learner's view"): "seed" is the random seed
only, the starter-snippet idea is named, run times come from the README's one table, no development
history, checks are marked as checks, and the claims register is one collapsed block at the end whose
floors agree with the committed seed table. Reads the notebooks as JSON: no kernel, no TensorFlow."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from helpers import seeds
from helpers.workbook import NOTEBOOKS, ROOT, SETUP_CALL, exercises_start, find_notebooks
from tests.support.output_noise import ends_in_record

PATHS = find_notebooks(NOTEBOOKS)
README = ROOT / "README.md"
CHECK_MARK = "# check"
RUN_TIME_LINK = "../README.md#the-topics"
# "seed" used for a starter snippet rather than for the random seed
NOT_RANDOM_SEED = re.compile(r"\b[Tt]he seed's|\b[Tt]he seed\b(?! (?:of|value|parameter|table|changes))|"
                             r"Beyond the seed|seed snippet|seed tuner|make_seed_model|"
                             r"\bseed_(?:error|model|tuner|trials|seconds|test_accuracy|strategy|tpu_error|example|"
                             r"as_written)\b")
HISTORY = ("(sic", "an earlier space", "this round", "previous round", "in no release yet", "(2, for one)",
           "every seed tried", "re-measured", "fixed on Keras master")
TYPED_RUN_TIME = re.compile(r"\b\d+(?:[-–]\d+)?\s*(?:s|min|minutes?|seconds?)\b(?![\w-])|about a minute")


def _read(path):
    return nbformat.read(path, as_version=4)


def _readme_section(heading: str) -> str:
    text = README.read_text()
    start = text.index(f"\n{heading}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_seed_means_the_random_seed_only(path):
    found = [(i, m.group(0)) for i, cell in enumerate(_read(path).cells)
             for m in NOT_RANDOM_SEED.finditer(cell.source)]
    assert not found, f"'seed' for the starter snippet (cell, text): {found}"


def test_readme_learner_sections_name_the_starter_snippet_and_use_seed_for_the_random_seed_only():
    text = README.read_text()
    assert not NOT_RANDOM_SEED.findall(text)
    quick_start = _readme_section("## Quick start")
    assert "starter snippet" in quick_start and "workspace/" in quick_start and "--refresh" in quick_start
    assert not any(h in _readme_section("## The topics") + quick_start for h in HISTORY)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_introduction_names_the_starter_snippet_and_links_the_measured_run_times(path):
    intro = _read(path).cells[0].source
    assert "starter snippet" in intro
    assert RUN_TIME_LINK in intro, "the run time comes from the README's table, linked"
    assert not TYPED_RUN_TIME.findall(intro), f"a run time typed by hand: {TYPED_RUN_TIME.findall(intro)}"
    assert "\n## The topics" in README.read_text(), "the link's target"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_development_history_in_the_text(path):
    found = [(i, h) for i, cell in enumerate(_read(path).cells) for h in HISTORY if h in cell.source]
    assert not found, f"development history (cell, text): {found}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_the_claims_register_is_one_collapsed_block_at_the_end(path):
    cells = _read(path).cells
    audit = [i for i, c in enumerate(cells) if "Claims register" in c.source or "Floors and bounds" in c.source]
    assert audit == [len(cells) - 1], f"the audit text sits in cells {audit}, not only in the last one"
    block = cells[-1].source.strip()
    assert cells[-1].cell_type == "markdown" and block.startswith("<details>") and block.endswith("</details>")
    assert block.count("<details>") == 1 and "<summary>" in block


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_floors_in_the_block_are_the_committed_seed_table(path):
    """The floors paragraph is generated from the table (``make seeds`` rewrites it): it must read as generated."""
    block = _read(path).cells[-1].source
    entry = seeds.load().get(path.stem)
    assert entry is not None, f"{path.stem} has no sweep in the seed table: run make seeds ONLY={path.stem[:2]}"
    assert seeds.floors_block(entry, seeds.shown_names(block)) in block, (
        f"{path.stem}: the audit block's floors paragraph is not the seed table's; "
        f"python -m helpers.seeds --write-floors rewrites it")


def _is_check(node) -> bool:
    """An assert, an ``np.testing.assert_*`` or ``helpers.check_floor`` call, or an ``if``/``for`` whose body is
    only checks."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return ast.unparse(node.value.func).startswith(
            ("np.testing.assert", "tf.debugging.assert", "helpers.check_floor"))
    if isinstance(node, ast.For | ast.If):
        return all(_is_check(n) for n in node.body) and not node.orelse
    return False


def _lesson_code(nb):
    """(index, source) of the code cells between the set-up cell and the Exercises section, except cell magics
    (``%%writefile``: their body is a file's text, not code the kernel runs)."""
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and SETUP_CALL in c.source)
    return [(i, c.source) for i, c in enumerate(nb.cells[:exercises_start(nb)])
            if c.cell_type == "code" and i > setup and not c.source.startswith("%%")]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_check_block_is_marked_and_no_cell_echoes_a_record(path):
    unmarked = []
    for index, source in _lesson_code(_read(path)):
        assert not ends_in_record(source), f"cell {index} ends in helpers.record(...): its value shows as Out[]"
        lines, previous = source.split("\n"), False
        for node in ast.parse(source).body:
            check = _is_check(node)
            if check and not previous:
                above = node.lineno - 1
                while above > 0 and lines[above - 1].startswith("#") and lines[above - 1] != CHECK_MARK:
                    above -= 1  # comment lines attached to the check
                if above == 0 or lines[above - 1] != CHECK_MARK:
                    unmarked.append((index, node.lineno))
            is_record = isinstance(node, ast.Expr) and ast.unparse(node).startswith("helpers.record(")
            previous = check or (previous and is_record)
    assert not unmarked, f"checks without a '{CHECK_MARK}' line above them (cell, line): {unmarked}"
