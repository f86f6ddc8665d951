"""helpers.params: one table of limits, checked once per notebook; the notebooks use it for every parameter."""

import ast

import pytest

from helpers import params, run, workbook


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("epochs", 0, "epochs must be >= 1, got 0"),
        ("devices", 0, "devices must be >= 1, got 0"),
        ("workers", 1, "workers must be >= 2, got 1"),
        ("seed", -1, "seed must be >= 0, got -1"),
        ("epochs", 2.5, "epochs must be an integer, got 2.5"),
        ("epochs", True, "epochs must be an integer"),
        ("max_trials", 0, "max_trials must be >= 1, got 0"),
        ("num_samples", 10, "num_samples must be >= 100, got 10"),
        ("clients", 1, "clients must be >= 8, got 1"),
        ("strategy", "ring", "strategy must be one of 'auto', 'default'"),
        ("grid_epochs", [], "grid_epochs must be a non-empty list"),
        ("grid_epochs", [2, 0], r"grid_epochs\[...\] must be >= 1, got 0"),
    ],
)
def test_validate_names_the_bad_value(name, value, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.") if "[" not in message else message):
        params.validate({name: value})


def test_unknown_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown parameter 'learning_rat'"):
        params.validate({"learning_rat": 0.1})


def test_notebook_bounds_and_rules():
    assert params.validate({"units": 8}, "01") == {"units": 8}
    with pytest.raises(ValueError, match="units must be >= 16, got 8"):
        params.validate({"units": 8}, "05")
    with pytest.raises(ValueError, match="devices must be >= 2, got 1"):
        params.validate({"devices": 1}, "06")
    with pytest.raises(ValueError, match="units must be a multiple of devices = 4"):
        params.validate({"units": 30, "devices": 4}, "06")
    with pytest.raises(ValueError, match="crash_after_epoch must be <= worker_epochs - 1"):
        params.validate({"crash_after_epoch": 3, "worker_epochs": 3}, "02")
    with pytest.raises(ValueError, match="micro_batches must be <= batch_size = 4"):
        params.validate({"micro_batches": 5, "batch_size": 4}, "06")


def test_check_helpers():
    assert params.check_float("lr", 1, 0.0) == 1.0
    with pytest.raises(ValueError, match="lr must be <= 1"):
        params.check_float("lr", 2, 0, 1)
    with pytest.raises(ValueError, match="lr must be a number"):
        params.check_float("lr", "fast")
    with pytest.raises(ValueError, match="strategy must be one of 'a', 'b'; got 'c'"):
        params.check_choice("strategy", "c", ("a", "b"))
    assert params.check_int("n", 5, 1, 5) == 5


@pytest.mark.parametrize("notebook", workbook.find_notebooks(), ids=lambda p: p.stem)
def test_every_notebook_parameter_has_a_limit_its_default_meets_and_setup_gets_them_all(notebook):
    number = notebook.name[:2]
    defaults = {name: ast.literal_eval(spec["default"]) for name, spec in run.notebook_parameters(notebook).items()}
    assert params.validate(defaults, number) == defaults
    setup_cell = next(src for src in workbook.code_cells(notebook) if "helpers.setup(" in src)
    assert f'helpers.setup("{number}"' in setup_cell
    missing = [name for name in defaults if f"{name}={name}" not in setup_cell]
    assert missing == [], f"{notebook.name}: setup() does not validate {missing}"
