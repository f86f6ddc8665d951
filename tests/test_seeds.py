"""helpers.seeds and ``helpers.run --seeds``: seed lists, the min/median/max table, the sweep's plumbing
(notebooks faked), and the committed table against the floors the notebooks assert."""

import json

import pytest

from helpers import run, seeds


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


def _result(notebook, status="passed", seconds=1.0, error="", **figures):
    return {"notebook": notebook, "status": status, "seconds": seconds, "figures": figures, "error": error}


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
        (folder / f"{stem}.ipynb").write_text("{}")
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
