"""helpers.runtime: record(), orphaned work folders, and setup() in a fresh process."""

import json
import os
import subprocess
import sys

import pytest

from helpers import runtime


def test_record_writes_the_runner_file(tmp_path, monkeypatch, capsys):
    target = tmp_path / "figures.json"
    monkeypatch.setenv(runtime.RECORD_FILE_ENV, str(target))
    runtime.record("accuracy", 0.123456789)
    runtime.record("steps", 7)
    assert json.loads(target.read_text()) == {"accuracy": 0.123457, "steps": 7}
    assert capsys.readouterr() == ("", "")  # silent: the learner's view shows the lesson only
    with pytest.raises(TypeError):
        runtime.record("bad", object())


def test_record_keeps_small_values_visible(monkeypatch):
    monkeypatch.delenv(runtime.RECORD_FILE_ENV, raising=False)
    assert runtime.record("tiny", 4.04e-13) == pytest.approx(4.04e-13)


def _run(code: str, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_setup_in_a_fresh_process_makes_logical_devices_and_fails_clearly_when_late_or_without_a_gpu(tmp_path):
    code = (
        "import helpers\n"
        "try:\n"
        "    helpers.setup(accelerator='gpu')\n"
        "except RuntimeError as err:\n"
        "    print('NO GPU:', err)\n"
        "rt = helpers.setup(seed=3, devices=3, epochs=1)\n"
        "assert rt.accelerator == 'cpu' and rt.num_devices == 3, rt\n"
        f"assert rt.workdir.is_dir() and str(rt.workdir).startswith({str(tmp_path)!r})\n"
        "import gc, numpy as np, tensorflow as tf\n"
        "assert gc.isenabled() and gc.get_freeze_count() > 100_000, gc.get_freeze_count()  # TensorFlow's objects\n"
        "a = np.random.rand(); helpers.setup(seed=3, devices=3)\n"
        "assert np.random.rand() == a  # reseeded: the same stream again\n"
        "try:\n"
        "    helpers.setup(devices=2)\n"
        "except RuntimeError as err:\n"
        "    print('LATE:', err)\n"
    )
    done = _run(code, HELPERS_WORKDIR=str(tmp_path / "work"))
    assert done.returncode == 0, done.stderr
    # A GPU asked for where TensorFlow sees none stops with a clear error and leaves the runtime unconfigured.
    assert "NO GPU: accelerator='gpu' was asked for, but TensorFlow sees no GPU" in done.stdout
    assert "3 CPU device(s) in use" in done.stdout
    assert "LATE: helpers.setup(devices=2) came after TensorFlow had already started with 3" in done.stdout
    assert "absl::InitializeLog" not in done.stderr  # the start-up chatter is kept out


@pytest.mark.parametrize("collecting", [True, False])
def test_an_import_without_collecting_pauses_the_collector_then_freezes_what_it_made(tmp_path, collecting):
    # In a fresh process: a freeze in this test process would keep its garbage for the rest of the session.
    (tmp_path / "made_here.py").write_text("import gc\nCOLLECTING = gc.isenabled()\nMADE = [[i] for i in range(9)]\n")
    code = (
        "import gc\n"
        "from helpers.runtime import import_without_collecting\n"
        f"{'' if collecting else 'gc.disable()'}\n"
        "module = import_without_collecting('made_here')\n"
        "tracked = gc.get_objects()  # the collected generations only: frozen objects are not among them\n"
        "print(module.COLLECTING, gc.isenabled(), any(o is module.MADE for o in tracked), gc.get_freeze_count() > 0)\n"
        "print(import_without_collecting('made_here') is module)\n"
    )
    done = _run(code, PYTHONPATH=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", str(collecting), "False", "True", "True"]


def test_setup_rejects_bad_parameters_before_importing_tensorflow():
    code = (
        "import sys, helpers\n"
        "try:\n"
        "    helpers.setup('01', epochs=0)\n"
        "except ValueError as err:\n"
        "    print(err, 'tensorflow' in sys.modules)\n"
    )
    done = _run(code)
    assert done.stdout.strip() == "epochs must be >= 1, got 0 False"


def test_a_workdir_left_by_a_killed_process_is_removed_by_the_next_run(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"{runtime.WORKDIR_PREFIX}{dead.stdout.strip()}-abc"
    mine = tmp_path / f"{runtime.WORKDIR_PREFIX}{os.getpid()}-def"
    unrelated = tmp_path / f"{runtime.WORKDIR_PREFIX}old-style"
    for folder in (orphan, mine, unrelated):
        folder.mkdir()
    assert runtime.remove_orphaned_workdirs(tmp_path) == [orphan]
    assert not orphan.exists() and mine.exists() and unrelated.exists()
