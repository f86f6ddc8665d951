"""helpers.runtime: parameter checks, record(), free ports, and setup() in a fresh process."""

import json
import os
import socket
import subprocess
import sys

import pytest

from helpers import runtime


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
    ],
)
def test_validate_params_names_the_bad_value(name, value, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        runtime.validate_params({name: value})


def test_validate_params_accepts_good_and_unknown_names():
    params = {"epochs": 3, "devices": 4, "seed": 0, "learning_rate": 0.1}
    assert runtime.validate_params(params) == params


def test_check_helpers():
    assert runtime.check_float("lr", 1, 0.0) == 1.0
    with pytest.raises(ValueError, match="lr must be <= 1"):
        runtime.check_float("lr", 2, 0, 1)
    with pytest.raises(ValueError, match="lr must be a number"):
        runtime.check_float("lr", "fast")
    with pytest.raises(ValueError, match="strategy must be one of 'a', 'b'; got 'c'"):
        runtime.check_choice("strategy", "c", ("a", "b"))
    assert runtime.check_int("n", 5, 1, 5) == 5


def test_record_writes_the_runner_file(tmp_path, monkeypatch, capsys):
    target = tmp_path / "figures.json"
    monkeypatch.setenv(runtime.RECORD_FILE_ENV, str(target))
    runtime.record("accuracy", 0.123456789)
    runtime.record("steps", 7)
    assert json.loads(target.read_text()) == {"accuracy": 0.123457, "steps": 7}
    assert "recorded accuracy = 0.123457" in capsys.readouterr().out
    with pytest.raises(TypeError):
        runtime.record("bad", object())


def test_record_keeps_small_values_visible(monkeypatch):
    monkeypatch.delenv(runtime.RECORD_FILE_ENV, raising=False)
    assert runtime.record("tiny", 4.04e-13) == pytest.approx(4.04e-13)


def test_free_port_is_bindable_on_loopback():
    port = runtime.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def _run(code: str, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_setup_in_a_fresh_process_makes_logical_devices_and_fails_clearly_when_late(tmp_path):
    code = (
        "import helpers\n"
        "rt = helpers.setup(seed=3, devices=3, epochs=1)\n"
        "assert rt.accelerator == 'cpu' and rt.num_devices == 3, rt\n"
        f"assert rt.workdir.is_dir() and str(rt.workdir).startswith({str(tmp_path)!r})\n"
        "import numpy as np, tensorflow as tf\n"
        "a = np.random.rand(); helpers.setup(seed=3, devices=3)\n"
        "assert np.random.rand() == a  # reseeded: the same stream again\n"
        "try:\n"
        "    helpers.setup(devices=2)\n"
        "except RuntimeError as err:\n"
        "    print('LATE:', err)\n"
    )
    done = _run(code, HELPERS_WORKDIR=str(tmp_path / "work"))
    assert done.returncode == 0, done.stderr
    assert "3 CPU device(s) in use" in done.stdout
    assert "LATE: helpers.setup(devices=2) came after TensorFlow had already started with 3" in done.stdout
    assert "absl::InitializeLog" not in done.stderr  # the start-up chatter is kept out


def test_setup_rejects_bad_parameters_before_importing_tensorflow():
    code = (
        "import sys, helpers\n"
        "try:\n"
        "    helpers.setup(epochs=0)\n"
        "except ValueError as err:\n"
        "    print(err, 'tensorflow' in sys.modules)\n"
    )
    done = _run(code)
    assert done.stdout.strip() == "epochs must be >= 1, got 0 False"


def test_gpu_requested_without_gpu_is_a_clear_error():
    done = _run("import helpers\nhelpers.setup(accelerator='gpu')")
    assert done.returncode != 0
    assert "accelerator='gpu' was asked for, but TensorFlow sees no GPU" in done.stderr


def test_stop_processes_terminates_then_kills_stubborn_groups():
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                               "print('ready', flush=True); time.sleep(60)"],
        start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout.readline().strip() == "ready"  # its SIGTERM handler is in place
    runtime.stop_processes([polite, stubborn], grace=1.0)
    assert polite.returncode == -15 and stubborn.returncode == -9
    runtime.stop_processes([polite, stubborn])  # stopping what already ended is a no-op


def test_log_tail_leaves_out_tensorflow_start_up_noise(tmp_path):
    log = tmp_path / "worker.log"
    assert runtime.log_tail(log) == "(no log)"
    log.write_text("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                   "I0000 00:00:1795707586.164915   31370 cudart_stub.cc:31] Could not find cuda drivers\n"
                   "step 1\nTraceback (most recent call last):\nValueError: bad shape\n")
    assert runtime.log_tail(log) == "step 1\nTraceback (most recent call last):\nValueError: bad shape"
    assert runtime.log_tail(log, lines=1) == "ValueError: bad shape"
