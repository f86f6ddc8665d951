"""helpers.run: selection, presets, parameter refusal, execution, failure reporting, summaries, compare."""

import json
import subprocess
import sys
import time

import nbformat
import pytest

from helpers import run


def _notebook(path, parameters, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def workbook(tmp_path):
    """Two tiny notebooks that record figures, plus presets, in the runner's expected layout."""
    folder = tmp_path / "notebooks"
    (folder / "params").mkdir(parents=True)
    _notebook(folder / "01_alpha.ipynb", "seed: int = 0  # the seed\nepochs: int = 2  # passes",
              "import helpers\nhelpers.params.validate({'epochs': epochs})\n"
              "helpers.record('double', epochs * 2)")
    _notebook(folder / "02_beta.ipynb", "seed: int = 0  # the seed\nname: str = 'x'  # a label",
              "import helpers, os\nhelpers.record('label', name)\nhelpers.record('cwd', os.getcwd())\n"
              "helpers.record('workdir', os.environ['HELPERS_WORKDIR'])")
    for preset in run.PRESETS:
        (folder / "params" / f"{preset}.yaml").write_text("01_alpha:\n  epochs: 3\n02_beta:\n")
    return folder


def test_list_shows_types_defaults_and_help(workbook, capsys):
    assert run.main(["--notebooks", str(workbook), "--list"]) == 0
    out = capsys.readouterr().out
    assert "01_alpha" in out and "epochs: int = 2  # passes" in out and "name: str = 'x'  # a label" in out


@pytest.mark.slow
def test_list_of_the_real_workbook_is_fast_and_imports_no_tensorflow():
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys; from helpers import run; run.main(['--list']);"
                           "assert 'tensorflow' not in sys.modules"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "01_custom_layers" in done.stdout and "epochs: int" in done.stdout
    assert time.perf_counter() - start < 20


def test_only_selects_by_number_or_name_and_refuses_unknown(workbook):
    notebooks = run.find_notebooks(workbook)
    assert [p.stem for p in run.select(notebooks, "2")] == ["02_beta"]
    assert [p.stem for p in run.select(notebooks, "01_alpha,02")] == ["01_alpha", "02_beta"]
    with pytest.raises(run.RunnerError, match="no notebook '09'.*01_alpha, 02_beta"):
        run.select(notebooks, "09")


def test_unknown_parameter_is_refused_before_running(workbook, tmp_path, capsys):
    out = tmp_path / "out"
    code = run.main(["--notebooks", str(workbook), "-p", "epoch", "3", "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "no selected notebook has a parameter named 'epoch'; accepted: epochs, name, seed" in capsys.readouterr().err


def test_unknown_preset_and_bad_preset_section(workbook, capsys):
    assert run.main(["--notebooks", str(workbook), "--preset", "huge"]) == 2
    assert "--preset must be one of ci, classroom, full; got 'huge'" in capsys.readouterr().err
    (workbook / "params" / "ci.yaml").write_text("01_alpha:\n  epoch: 3\n")
    assert run.main(["--notebooks", str(workbook)]) == 2
    assert "preset section '01_alpha' sets unknown parameter(s) ['epoch']" in capsys.readouterr().err


def test_parse_value_types():
    assert run.parse_value("3") == 3 and run.parse_value("0.5") == 0.5
    assert run.parse_value("true") is True and run.parse_value("digits") == "digits"


@pytest.mark.slow
def test_run_applies_preset_and_overrides_and_writes_summaries(workbook, tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)  # a relative --out must work although kernels run in the notebooks folder
    code = run.main(["--notebooks", str(workbook), "--preset", "classroom", "-p", "name", "yo", "--out", "run"])
    assert code == 0
    summary = {r["notebook"]: r for r in json.loads((out / "summary.json").read_text())}
    assert summary["01_alpha"]["parameters"] == {"epochs": 3} and summary["01_alpha"]["figures"] == {"double": 6}
    beta = summary["02_beta"]["figures"]
    assert beta["label"] == "yo" and beta["cwd"] == str(workbook)  # notebooks run in their own folder
    assert beta["workdir"] == str(out / "work" / "02_beta")  # a private folder per notebook
    assert (out / "01_alpha.ipynb").exists() and "| 01_alpha | passed |" in (out / "summary.md").read_text()
    assert not list(workbook.glob("kernel-*")), "the kernels' IPC socket files stay out of the notebooks folder"


@pytest.mark.slow
def test_bad_value_fails_in_the_notebook_and_is_reported(workbook, tmp_path, capsys):
    out = tmp_path / "run"
    code = run.main(["--notebooks", str(workbook), "--only", "01", "-p", "epochs", "0", "--out", str(out)])
    assert code == 1  # cell 3 of the executed notebook: papermill inserts the injected parameters as cell 2
    result = json.loads((out / "summary.json").read_text())[0]
    assert result["status"] == "failed"
    assert result["error"] == "cell 3: ValueError: epochs must be >= 1, got 0"
    assert "01_alpha | failed: cell 3: ValueError: epochs must be >= 1, got 0" in capsys.readouterr().out


def test_compare_puts_figures_side_by_side(tmp_path):
    for name, value in (("a", 2.0), ("b", 3.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(
            [{"notebook": "01_x", "figures": {"speed": value, "device": name}}]))
    table = run.compare(tmp_path / "a", tmp_path / "b")
    assert "| 01_x | speed | 2.0 | 3.0 | 1.5 |" in table and "| 01_x | device | a | b | - |" in table
    with pytest.raises(run.RunnerError, match="summary.json not found"):
        run.compare(tmp_path / "a", tmp_path / "missing")
