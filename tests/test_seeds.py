"""helpers.seeds and ``helpers.run --seeds``: seed lists, the min/median/max table, the sweep's plumbing
(notebooks faked), and the committed table against the floors the notebooks assert."""

import json
import re

import pytest

from helpers import run, seeds, workbook


@pytest.mark.parametrize("spec, expected", [
    ("0-9", list(range(10))),
    ("3", [3]),
    ("0-2,7, 2027", [0, 1, 2, 7, 2027]),
    ("5,0-5", [5, 0, 1, 2, 3, 4]),  # in the order given, no repeats
])
def test_parse_seeds(spec, expected):
    assert seeds.parse_seeds(spec) == expected


@pytest.mark.parametrize("spec", ["", ",", "a", "9-0", "-3", "1-x", "1.5"])
def test_parse_seeds_refuses_what_is_not_a_seed_list(spec):
    with pytest.raises(seeds.SeedSpecError, match="--seeds"):
        seeds.parse_seeds(spec)


def _result(notebook, status="passed", seconds=1.0, error="", floors=None, **figures):
    return {"notebook": notebook, "status": status, "seconds": seconds, "figures": figures, "error": error,
            "floors": floors or {}}


def test_aggregate_min_median_max_per_figure_and_failures():
    runs = {
        0: [_result("04_t", accuracy=0.9, label="x", ok=True), _result("05_c", seconds=3.0, epochs=7)],
        1: [_result("04_t", accuracy=0.7, seconds=2.0), _result("05_c", "failed", 5.0, "cell 3: boom", epochs=4)],
        2: [_result("04_t", accuracy=0.8, seconds=4.0), _result("05_c", seconds=4.0)],
    }
    table = seeds.aggregate(runs)
    acc = table["04_t"]["figures"]["accuracy"]
    assert (acc["min"], acc["median"], acc["max"], acc["n"]) == (0.7, 0.8, 0.9, 3)
    assert acc["by_seed"] == {"0": 0.9, "1": 0.7, "2": 0.8}
    assert set(table["04_t"]["figures"]) == {"accuracy", "seconds"}  # text and booleans are not bounded
    assert table["04_t"]["seeds"] == [0, 1, 2]
    assert table["04_t"]["failed"] == {}
    # a failed run is listed, and the figures it recorded still count; a missing figure is just fewer values
    assert table["05_c"]["failed"] == {"1": "cell 3: boom"}
    assert table["05_c"]["figures"]["epochs"] == {"min": 4.0, "median": 5.5, "max": 7.0, "n": 2,
                                                  "by_seed": {"0": 7.0, "1": 4.0}}
    assert table["05_c"]["figures"]["seconds"]["median"] == 4.0


def test_markdown_merge_and_write(tmp_path):
    new = seeds.describe(seeds.aggregate({s: [_result("04_t", accuracy=0.5 + s / 10)] for s in (0, 1, 2, 3, 7)}),
                         "ci", {"04_t": {"seed": 0, "epochs": 2}})
    assert new["04_t"]["preset"] == "ci" and new["04_t"]["parameters"] == {"epochs": 2}
    assert new["04_t"]["date"] and "CPU cores" in new["04_t"]["machine"]
    text = seeds.markdown(new)
    assert "5 seeds (0-3, 7), preset `ci`" in text and "All 5 runs passed." in text
    assert "| accuracy | 0.5 | 0.7 | 1.2 | 5 |" in text
    old = {"05_c": {"seeds": [0], "figures": {}}, "04_t": {"seeds": [9], "figures": {}}}
    merged = seeds.merge(old, new)
    assert list(merged) == ["04_t", "05_c"] and merged["04_t"]["seeds"] == [0, 1, 2, 3, 7]
    md = seeds.write(merged, tmp_path / "t.json")
    assert md == tmp_path / "t.md" and "## 05_c" in md.read_text()
    assert seeds.load(tmp_path / "t.json") == merged and seeds.load(tmp_path / "none.json") == {}


def test_merge_unites_seeds_of_the_same_set_up_and_replaces_another():
    def sweep(seed_list, sha="abc", epochs=2, failed_seed=None):
        runs = {s: [_result("04_t", "failed" if s == failed_seed else "passed", error="boom", acc=s / 10)]
                for s in seed_list}
        return seeds.describe(seeds.aggregate(runs), "ci", {"04_t": {"epochs": epochs}}, {"04_t": sha})

    first = sweep(range(5), failed_seed=3)
    united = seeds.merge(first, sweep(range(3, 10)))  # seed 3 again, now passing: the new run wins
    entry = united["04_t"]
    assert entry["seeds"] == list(range(10)) and entry["failed"] == {}
    assert entry["figures"]["acc"]["n"] == 10 and entry["figures"]["acc"]["max"] == 0.9
    assert list(entry["figures"]["acc"]["by_seed"]) == [str(s) for s in range(10)]
    assert seeds.merge(first, sweep([7], sha="other"))["04_t"]["seeds"] == [7]  # another set-up: replaced
    assert seeds.merge(first, sweep([7], epochs=3))["04_t"]["seeds"] == [7]


def test_source_sha_ignores_plain_asserts_but_not_the_set_up_or_a_floor():
    cells = ["x = train(lr=1e-3)\nFLOOR = 0.8\nassert x.shape == (3,)\nhelpers.check_floor('x', x, '>=', FLOOR)"]
    same = ["x = train(lr=1e-3)\nFLOOR = 0.8\nassert x.shape == (3, 1)\nhelpers.check_floor('x', x, '>=', FLOOR)"]
    assert seeds.source_sha(cells) == seeds.source_sha(same)
    for changed in (cells[0].replace("1e-3", "3e-3"), cells[0].replace("0.8", "0.7"), cells[0].replace(">=", ">")):
        assert seeds.source_sha(cells) != seeds.source_sha([changed]), changed  # a moved floor needs a new sweep


def _floors(**limits):
    return {"floors": {name: {"op": op, "limit": limit} for name, (op, limit) in limits.items()}}


def test_aggregate_keeps_each_declared_floor_with_its_limit_on_every_seed():
    runs = {s: [_result("07_i", acc=0.9 + s / 100, gap=s / 10, **_floors(acc=(">=", 0.85), gap=("<", 0.25 + s / 10)))]
            for s in range(3)}
    entry = seeds.aggregate(runs)["07_i"]
    assert entry["floors"] == {"acc": {"op": ">=", "limits": {"0": 0.85, "1": 0.85, "2": 0.85}},
                               "gap": {"op": "<", "limits": {"0": 0.25, "1": 0.35, "2": 0.45}}}
    assert seeds.floor_margins(entry, "acc") == pytest.approx({"0": 0.05, "1": 0.06, "2": 0.07})
    # a bound whose limit is computed from each run: each seed against its own limit
    assert seeds.floor_margins(entry, "gap") == pytest.approx({"0": 0.25, "1": 0.25, "2": 0.25})
    entry = seeds.describe({"07_i": entry}, "ci", {})["07_i"]
    assert seeds.floor_lines(entry) == [
        "- `acc` >= 0.85: worst 0.9, median 0.91, best 0.92; margin 0.05",
        "- `gap` < 0.25 to 0.45 (by seed): worst 0.2, median 0.1, best 0; margin 0.25"]
    united = seeds.merge({"07_i": entry}, seeds.describe(seeds.aggregate({5: [_result("07_i", acc=0.8, **_floors(
        acc=(">=", 0.85)))]}), "ci", {}))["07_i"]
    assert united["floors"]["acc"]["limits"]["5"] == 0.85 and seeds.floor_margins(united, "acc")["5"] < 0


def test_check_floor_asserts_records_and_names_the_figure(monkeypatch, tmp_path):
    import helpers
    from helpers import runtime

    record_file = tmp_path / "figures.json"
    monkeypatch.setenv(runtime.RECORD_FILE_ENV, str(record_file))
    monkeypatch.setattr(runtime, "RECORDED", {})
    assert helpers.check_floor("accuracy", 0.91, ">=", 0.85) == 0.91
    with pytest.raises(AssertionError, match=r"^gap = 0.3, needs < 0.25: the same math$"):
        helpers.check_floor("gap", 0.3, "<", 0.25, "the same math")
    with pytest.raises(ValueError, match="op must be one of"):
        helpers.check_floor("gap", 0.3, "=<", 0.25)
    written = json.loads(record_file.read_text())
    assert written["accuracy"] == 0.91 and written["gap"] == 0.3  # a failed floor is recorded too
    assert written["floors"] == {"accuracy": {"op": ">=", "limit": 0.85}, "gap": {"op": "<", "limit": 0.25}}


def test_the_sweep_rewrites_each_notebooks_floors_paragraph(tmp_path):
    import nbformat

    entry = seeds.describe(seeds.aggregate({s: [_result("01_a", acc=0.9, **_floors(acc=(">=", 0.8)))]
                                            for s in range(10)}), "ci", {})["01_a"]
    audit = f"<details>\n<summary>audit</summary>\n\n{seeds.FLOORS_BLOCK_START} (old):\n\n- stale\n\n</details>"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell(audit)])
    nbformat.write(nb, tmp_path / "01_a.ipynb")
    assert seeds.write_floors({"01_a": entry, "02_none": entry}, tmp_path) == [tmp_path / "01_a.ipynb"]
    text = nbformat.read(tmp_path / "01_a.ipynb", as_version=4).cells[-1].source
    assert text == audit.replace(f"{seeds.FLOORS_BLOCK_START} (old):\n\n- stale", seeds.floors_block(entry))
    assert "10 seeds, 0-9" in text and "- `acc` >= 0.8: worst 0.9" in text
    assert seeds.write_floors({"01_a": entry}, tmp_path) == []  # nothing to change the second time
    # figures shown but not asserted keep their place, their spread regenerated
    nb = nbformat.read(tmp_path / "01_a.ipynb", as_version=4)
    nb.cells[-1].source = nb.cells[-1].source.replace("\n\n</details>",
                                                      f"\n\n{seeds.SHOWN_START}\n\n- `acc` (refit): old\n\n</details>")
    nbformat.write(nb, tmp_path / "01_a.ipynb")
    assert seeds.write_floors({"01_a": entry}, tmp_path) == [tmp_path / "01_a.ipynb"]
    text = nbformat.read(tmp_path / "01_a.ipynb", as_version=4).cells[-1].source
    assert text.endswith(f"{seeds.SHOWN_START}\n\n- `acc` (refit): 0.9 / 0.9 / 0.9\n\n</details>")
    assert seeds.shown_names(text) == [("acc", "refit")]


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0-1", "-p", "seed", "3"], "drop -p seed"),
    (["--seeds", "x"], "--seeds: 'x'"),
    (["--table"], "--table only goes with --seeds"),
])
def test_run_refuses_bad_seed_arguments(argv, message, capsys, tmp_path):
    assert run.main(["--out", str(tmp_path / "out"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_sweep_runs_each_notebook_once_per_seed_and_writes_the_table(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "notebooks"
    (folder / "params").mkdir(parents=True)
    for stem in ("01_alpha", "02_beta"):
        (folder / f"{stem}.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": stem}]}))
    (folder / "params" / "ci.yaml").write_text("01_alpha:\n  epochs: 3\n02_beta:\n")
    monkeypatch.setattr(run, "notebook_parameters", lambda nb: {"seed": {}, "epochs": {}})
    calls = []

    def fake_execute(nb, parameters, out_dir, timeout):
        calls.append((nb.stem, dict(parameters), out_dir.name))
        status = "failed" if (nb.stem, parameters["seed"]) == ("02_beta", 2) else "passed"
        return run.Result(nb.stem, status, 1.5, parameters, {"score": parameters["seed"] * 2}, "", nb.name)

    monkeypatch.setattr(run, "execute", fake_execute)
    table = tmp_path / "committed.json"
    out = tmp_path / "out"
    assert run.main(["--notebooks", str(folder), "--seeds", "0-2", "--out", str(out), "--table", str(table),
                     "-p", "epochs", "5"]) == 1  # one run failed
    assert calls == [(nb, {"epochs": 5, "seed": s}, f"seed-{s}") for s in (0, 1, 2) for nb in ("01_alpha", "02_beta")]
    written = json.loads((out / "seeds.json").read_text())
    assert written["01_alpha"]["figures"]["score"]["max"] == 4.0
    assert written["02_beta"]["failed"] == {"2": "failed"}
    assert written["01_alpha"]["parameters"] == {"epochs": 5}
    assert json.loads(table.read_text()) == written and table.with_suffix(".md").exists()
    assert (out / "seed-1" / "summary.json").exists() and json.loads((out / "runs.json").read_text())["2"]
    assert "1 failed run(s) of 6" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------
# The committed table against the notebooks: swept on their current code, ten seeds, every floor held
# ---------------------------------------------------------------------------------------------------------
MIN_SEEDS = 10  # a floor comes from the distribution over at least 10 seeds (README, "Seeds and floors")
NOTEBOOKS = workbook.find_notebooks()
STEMS = [path.stem for path in NOTEBOOKS]
# a check_floor call's name as written: a plain string, or an f-string whose {fields} match any name
DECLARED = re.compile(r"check_floor\(\s*(f?)([\"'])(.+?)\2")


@pytest.fixture(scope="module")
def committed():
    table = seeds.load()
    assert table, f"no committed seed table at {seeds.TABLE}: run make seeds"
    return table


def unswept(path, table) -> str | None:
    """Why the table's figures for notebook ``path`` are not those of its current code, or None."""
    entry = table.get(path.stem)
    if entry is None:
        return f"{path.stem} is not in {seeds.TABLE.name}: run make seeds ONLY={path.stem[:2]}"
    now = seeds.source_sha(workbook.code_cells(path))
    if entry.get("source_sha") != now:
        return (f"{path.stem}: its code changed since its seed sweep ({entry.get('source_sha')} swept, {now} now): "
                f"run make seeds ONLY={path.stem[:2]}")
    return None


@pytest.mark.parametrize("stem", STEMS)
def test_every_notebook_is_swept_over_ten_seeds_without_a_failure(committed, stem):
    entry = committed.get(stem)
    assert entry, f"{stem} is not in {seeds.TABLE.name}: run make seeds ONLY={stem[:2]}"
    assert entry["failed"] == {}, f"{stem} failed on seeds {entry['failed']}"
    assert len(entry["seeds"]) >= MIN_SEEDS, \
        f"{stem}: {len(entry['seeds'])} of {MIN_SEEDS} seeds swept; run make seeds ONLY={stem[:2]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_seed_figures_come_from_the_notebooks_current_code(committed, path):
    why = unswept(path, committed)
    assert why is None, why


def test_a_changed_code_cell_is_seen_as_unswept(committed, tmp_path):
    """The check above on a copy of a notebook whose last code cell changed without a new sweep."""
    import nbformat

    source = NOTEBOOKS[0]
    nb = nbformat.read(source, as_version=4)
    copy = tmp_path / source.name
    nbformat.write(nb, copy)
    assert unswept(copy, committed) is None
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    last.source += "\nprint('changed')"
    nbformat.write(nb, copy)
    assert "its code changed since its seed sweep" in unswept(copy, committed)


@pytest.mark.parametrize("stem", STEMS)
def test_every_floor_holds_on_every_swept_seed(committed, stem):
    entry = committed[stem]
    assert entry.get("floors"), f"{stem} declares no floor with helpers.check_floor, or its sweep predates them"
    for name, floor in entry["floors"].items():
        margins = seeds.floor_margins(entry, name)
        assert sorted(margins, key=int) == [str(s) for s in entry["seeds"]], \
            f"{stem}: {name} was not checked on every swept seed ({sorted(margins, key=int)})"
        worst_seed = min(margins, key=margins.get)
        strict = floor["op"] in (">", "<")
        assert margins[worst_seed] > 0 or (not strict and margins[worst_seed] == 0), (
            f"{stem}: {name} {floor['op']} {floor['limits'][worst_seed]:g} fails on seed {worst_seed} "
            f"({entry['figures'][name]['by_seed'][worst_seed]:g}): fix the set-up, or move the limit past the "
            "worst seed with a stated margin")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_floor_the_notebook_declares_is_in_the_table(committed, path):
    declared = [m.groups() for cell in workbook.code_cells(path) for m in DECLARED.finditer(cell)]
    assert declared, f"{path.stem} checks no floor with helpers.check_floor"
    swept = committed.get(path.stem, {}).get("floors", {})
    for is_f, _, name in declared:
        pattern = re.sub(r"\\{.*?\\}", ".+", re.escape(name)) if is_f else re.escape(name)
        assert any(re.fullmatch(pattern, s) for s in swept), \
            f"{path.stem}: floor {name!r} is not in the seed table (never reached in the sweep?)"
