"""helpers.seeds and ``helpers.run --seeds``: seed lists, the min/median/max table, the sweep's plumbing
(notebooks faked), and the committed table against the floors the notebooks assert."""

import json

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


def test_source_sha_ignores_floors_and_asserts_but_not_the_set_up():
    cells = ["x = train(lr=1e-3)\nFLOOR = 0.8\nassert x >= FLOOR"]
    assert seeds.source_sha(cells) == seeds.source_sha(["x = train(lr=1e-3)\nFLOOR = 0.7\nassert x > FLOOR"])
    assert seeds.source_sha(cells) != seeds.source_sha(["x = train(lr=3e-3)\nFLOOR = 0.8\nassert x >= FLOOR"])


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
# The committed table against the notebooks' floors and bounds
# ---------------------------------------------------------------------------------------------------------
# (notebook, figure, comparison, limit expression, the assert's text in the notebook). The limit is evaluated
# with the notebook's parameter defaults and its UPPER_CASE constants, read from its source, so that moving a
# floor in the notebook moves it here; the assert text ties the row to the line that really asserts it.
FLOORS = [
    ("01_custom_layers", "custom_dense_test_accuracy", ">=", "accuracy_floor", "test_accuracy >= accuracy_floor"),
    ("01_custom_layers", "residual_gradient_max_error", "<", "1e-6", "gradient_error < 1e-6"),
    ("02_distributed_training", "mirrored_test_accuracy", ">", "0.5", "mirrored_accuracy > 0.5"),
    ("02_distributed_training", "custom_loop_test_accuracy", ">", "0.5", "loop_accuracy > 0.5"),
    ("02_distributed_training", "resume_replay_max_weight_gap", "<", "1e-4", "replay_gap < 1e-4"),
    ("03_serving", "serving_batching_cpu_saving", ">", "CPU_SAVING_FLOOR", 'figures["cpu_saving"] > CPU_SAVING_FLOOR'),
    ("03_serving", "serving_ab_canary_share", "<", "0.1 + 4 * (0.09 / ab_requests) ** 0.5",
     'abs(share["stable"] - 0.9) < tolerance'),
    ("03_serving", "serving_ab_canary_share", ">", "0.1 - 4 * (0.09 / ab_requests) ** 0.5",
     'abs(share["stable"] - 0.9) < tolerance'),
    ("06_model_parallelism", "two_stage_test_accuracy", ">", "0.8", 'runs["two devices"]["test accuracy"] > 0.8'),
    ("06_model_parallelism", "two_stage_max_weight_gap", "<", "1e-4", "weight_gap < 1e-4"),
    ("04_hyperparameter_tuning", "grid_test_accuracy", ">=", "accuracy_floor",
     "grid_test_accuracy >= accuracy_floor"),
    ("04_hyperparameter_tuning", "random_test_accuracy", ">=", "accuracy_floor",
     "random_test_accuracy >= accuracy_floor"),
    ("04_hyperparameter_tuning", "snippet_tuner_test_accuracy", ">=", "accuracy_floor",
     "snippet_test_accuracy >= accuracy_floor"),
    ("04_hyperparameter_tuning", "hyperband_best_val_accuracy", ">=", "accuracy_floor - 0.1",
     "hyperband_best >= accuracy_floor - 0.1"),
    ("04_hyperparameter_tuning", "bayesian_best_val_accuracy", ">=", "accuracy_floor - 0.1",
     "bayesian_best >= accuracy_floor - 0.1"),
    ("05_custom_callbacks", "early_stopping_val_rise", ">", "VISIBLE_RISE", "rise > VISIBLE_RISE"),
    ("05_custom_callbacks", "early_stopping_epochs_run", "<", "epochs", "epochs_run < epochs"),
    ("05_custom_callbacks", "plateau_lr_reductions", ">=", "1", "reductions >= 1"),
    ("05_custom_callbacks", "target_accuracy_stop_epoch", "<", "epoch_limit - 1", "< epoch_limit - 1"),
    ("05_custom_callbacks", "terminate_on_nan_batches", "<", "nan_steps", "counter.batches < nan_steps"),
    ("07_interpretability", "cancer_test_accuracy", ">=", "CANCER_ACCURACY_FLOOR",
     "cancer_accuracy >= CANCER_ACCURACY_FLOOR"),
    ("07_interpretability", f"lime_top5_overlap_{10 * 500}_samples", ">=", "LIME_OVERLAP_FLOOR",
     "stability[large] >= LIME_OVERLAP_FLOOR"),
    *[("07_interpretability", f"shap_additivity_gap_{name}", "<", "ADDITIVITY_TOLERANCE",
       f'gaps["{name}"] < ADDITIVITY_TOLERANCE') for name in ("kernel", "deep")],
    ("07_interpretability", "shapes_test_accuracy", ">=", "SHAPES_ACCURACY_FLOOR",
     "shapes_accuracy >= SHAPES_ACCURACY_FLOOR"),
    ("07_interpretability", "synthetic_tabular_test_accuracy", ">=", "TABULAR_ACCURACY_FLOOR",
     "tabular_accuracy >= TABULAR_ACCURACY_FLOOR"),
    *[("07_interpretability", f"sanity_rank_correlation_{name}", "<", "SANITY_BOUND", "assert rho < SANITY_BOUND")
      for name in ("lime", "kernel_shap", "deep_shap", "smoothgrad", "occlusion")],
    ("07_interpretability", "shap_additivity_gap_permutation", "<", "ADDITIVITY_TOLERANCE",
     "permutation_gap < ADDITIVITY_TOLERANCE"),
    ("07_interpretability", "ig_gradient_at_image_over_peak", "<", "SATURATION_BOUND",
     "saturation < SATURATION_BOUND"),
]
SWEPT = sorted({row[0] for row in FLOORS})
MIN_SEEDS = 10  # a floor comes from the distribution over at least 10 seeds (README, "Seeds and floors")


def _notebook_names(stem):
    """A notebook's parameter defaults and its UPPER_CASE = <number> constants, from its source."""
    import ast

    names = {}
    for source in workbook.code_cells(workbook.NOTEBOOKS / f"{stem}.ipynb"):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign | ast.AnnAssign):
                continue
            target = node.target if isinstance(node, ast.AnnAssign) else (
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
            if node.value is None or not isinstance(target, ast.Name | ast.Tuple):
                continue
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            if isinstance(target, ast.Name):
                names.setdefault(target.id, value)
            elif isinstance(value, tuple) and len(value) == len(target.elts):  # a, b = 3, 8
                for element, item in zip(target.elts, value, strict=True):
                    if isinstance(element, ast.Name):
                        names.setdefault(element.id, item)
    return names


@pytest.fixture(scope="module")
def committed():
    table = seeds.load()
    assert table, f"no committed seed table at {seeds.TABLE}: run make seeds"
    return table


@pytest.mark.parametrize("stem", SWEPT)
def test_swept_notebooks_have_ten_seeds_and_no_failures(committed, stem):
    entry = committed.get(stem)
    assert entry, f"{stem} is not in {seeds.TABLE.name}: run make seeds ONLY={stem[:2]}"
    assert entry["failed"] == {}, f"{stem} failed on seeds {entry['failed']}"
    assert len(entry["seeds"]) >= MIN_SEEDS, \
        f"{stem}: {len(entry['seeds'])} of {MIN_SEEDS} seeds swept; run make seeds ONLY={stem[:2]}"


@pytest.mark.parametrize("stem", SWEPT)
def test_the_seed_figures_come_from_the_notebooks_current_code(committed, stem):
    swept = committed[stem]["source_sha"]
    now = seeds.source_sha(workbook.code_cells(workbook.NOTEBOOKS / f"{stem}.ipynb"))
    assert swept == now, (f"{stem}: its code changed since its seed sweep ({swept} swept, {now} now): "
                          f"run make seeds ONLY={stem[:2]}")


def test_a_changed_code_cell_is_seen_as_unswept(committed, tmp_path):
    """The check above on a copy of a notebook whose one code cell changed without a new sweep."""
    stem = SWEPT[0]
    cells = workbook.code_cells(workbook.NOTEBOOKS / f"{stem}.ipynb")
    changed = [*cells[:-1], cells[-1] + "\nprint('changed')"]
    assert seeds.source_sha(cells) == committed[stem]["source_sha"] != seeds.source_sha(changed)


@pytest.mark.parametrize("stem, figure, op, limit, assert_text", FLOORS, ids=[f"{r[0][:2]}-{r[1]}" for r in FLOORS])
def test_each_floor_sits_below_the_worst_seed(committed, stem, figure, op, limit, assert_text):
    sources = "\n".join(workbook.code_cells(workbook.NOTEBOOKS / f"{stem}.ipynb"))
    assert assert_text in sources, f"{stem} no longer asserts {assert_text!r}: update FLOORS"
    value = eval(limit, {}, _notebook_names(stem))  # noqa: S307 (our own expressions, names from the notebook)
    stats = committed[stem]["figures"][figure]
    if op in (">=", ">"):
        worst = stats["min"]
        ok = worst >= value if op == ">=" else worst > value
    else:
        worst = stats["max"]
        ok = worst < value if op == "<" else worst <= value
    assert ok, (f"{stem}: {figure} {op} {limit} = {value:g}, but the worst of {stats['n']} seeds is {worst:g}: "
                "fix the set-up, or move the limit past the worst seed with a stated margin")
