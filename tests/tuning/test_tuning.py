"""Unit tests of helpers.tuning, helpers.tuning.launch and helpers.tuning.worker (notebook 04)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import loguniform

from helpers import procs
from helpers.checks import ExerciseError
from helpers.checks import tuning as exercise
from helpers.runtime import quiet
from helpers.tuning import launch, tuners
from tests.support.output_noise import classify

quiet()

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402

pytestmark = pytest.mark.usefixtures("tf_runtime")  # TensorFlow in-process: 4 logical CPUs

FEATURES, CLASSES = 8, 3


class TinyHyperModel(kt.HyperModel):
    """A very small model on 8 features and 3 classes; ``fail=True`` makes every trial fail in fit."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail

    def build(self, hp):
        model = keras.Sequential([keras.Input(shape=(FEATURES,)),
                                  keras.layers.Dense(hp.Int("units", 4, 8, step=4), activation="relu"),
                                  keras.layers.Dense(CLASSES, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        if self.fail:
            raise ModuleNotFoundError("No module named 'a_missing_dependency'")
        return model.fit(*args, **kwargs)


@pytest.fixture(scope="module")
def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, FEATURES)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")
    return x[:45], y[:45], x[45:], y[45:]


def _search(name, tmp_path, data, max_trials=2, hypermodel=None, **kwargs):
    x, y, xv, yv = data
    tuner = tuners.make_tuner(name, hypermodel or TinyHyperModel(), directory=tmp_path, project_name=name,
                              max_trials=max_trials, epochs=1, seed=0, **kwargs)
    tuner.search(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    return tuner


# ------------------------------------------------------------------------------------------- make_tuner
@pytest.mark.parametrize("bad, match", [(0, "max_trials must be >= 1, got 0"), (-3, "max_trials"),
                                        (2.5, "max_trials must be an integer")])
def test_make_tuner_rejects_bad_max_trials(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        tuners.make_tuner("random", TinyHyperModel(), directory=tmp_path, project_name="p", max_trials=bad)


def test_make_tuner_rejects_unknown_name(tmp_path):
    with pytest.raises(ValueError, match=r"tuner must be one of 'random', 'hyperband', 'bayesian'; got 'grid'"):
        tuners.make_tuner("grid", TinyHyperModel(), directory=tmp_path, project_name="p", max_trials=2)
    assert not any(tmp_path.iterdir())  # nothing was created


@pytest.mark.slow
@pytest.mark.parametrize("name", tuners.TUNER_NAMES)
def test_each_tuner_runs_exactly_max_trials_and_logs_them(tmp_path, tiny_data, name):
    trials = 4 if name == "hyperband" else 2
    tuner = _search(name, tmp_path, tiny_data, max_trials=trials)
    frame = tuners.assert_no_failed_trials(tuner, expected=trials)
    assert list(frame["trial_id"]) == sorted(frame["trial_id"], key=int)
    assert [e["trial_id"] for e in tuner.trial_log] == list(frame["trial_id"])
    assert all(e["end"] >= e["start"] and e["status"] == "COMPLETED" for e in tuner.trial_log)
    assert (tmp_path / name).is_dir()  # the tuner wrote under the directory it was given
    if name == "hyperband":  # 3 candidates for 1 epoch, the best continued from epoch 1 to 3; capped at 4
        assert tuner.oracle.max_trials == 4 and tuner.oracle.max_epochs == 3
        epochs = [(t.hyperparameters.values["tuner/initial_epoch"], t.hyperparameters.values["tuner/epochs"])
                  for t in (tuner.oracle.trials[k] for k in sorted(tuner.oracle.trials))]
        assert epochs == [(0, 1), (0, 1), (0, 1), (1, 3)]
    if name == "bayesian":  # 2 random starting points (make_tuner's), capped at max_trials
        assert tuner.oracle.num_initial_points == 2


# ------------------------------------------------------------------------------------------- failures
@pytest.mark.slow
def test_a_fit_problem_the_check_sees_stops_the_search_before_it_trains(tmp_path):
    """Exercise 3's check reads what the first trial's fit is given before it trains: a wrong search ends at once;
    a right one runs, and a refit through ``hypermodel.fit`` afterwards (keras.io's way) is not judged by it."""
    def problem(fit):
        return None if fit["epochs_asked"] == 2 else f"asked for {fit['epochs_asked']} epochs"

    x, y = np.zeros((8, 64), "float32"), np.zeros(8, "int64")
    hypermodel = exercise.RecordingMLP(find_fit_problem=problem)
    tuner = kt.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, directory=tmp_path, project_name="p")
    with pytest.raises(kt.errors.FatalError, match="asked for 3 epochs"):
        tuner.search(x, y, epochs=3, validation_data=(x, y), verbose=0)
    assert hypermodel.fits == [] and len(tuner.oracle.trials) == 1  # nothing trained; the first trial ended it

    hypermodel = exercise.RecordingMLP(find_fit_problem=problem)
    tuner = kt.RandomSearch(hypermodel, objective="val_accuracy", max_trials=1, directory=tmp_path, project_name="q")
    tuner.search(x, y, epochs=2, validation_data=(x, y), verbose=0)
    best = tuner.get_best_hyperparameters(1)[0]
    hypermodel.fit(best, hypermodel.build(best), x, y, epochs=1, verbose=0)
    assert [fit["epochs_run"] for fit in hypermodel.fits] == [2, 1]


@pytest.mark.slow
def test_failed_trials_are_found_although_search_returns(tmp_path, tiny_data, capsys):
    tuner = _search("random", tmp_path, tiny_data, max_trials=2, hypermodel=TinyHyperModel(fail=True))
    failed = tuners.failed_trials(tuner)
    assert list(failed["status"]) == ["FAILED", "FAILED"]
    assert failed["error"].str.contains("ModuleNotFoundError: No module named 'a_missing_dependency'").all()
    with pytest.raises(RuntimeError, match="2 of 2 trials did not complete; trial 0 is FAILED: ModuleNotFound"):
        tuners.assert_no_failed_trials(tuner)
    # the same records, read back from the project folder (as for a distributed search)
    assert len(tuners.failed_trials(tmp_path / "random")) == 2


def test_assert_no_failed_trials_on_an_empty_or_missing_folder(tmp_path):
    with pytest.raises(RuntimeError, match="no trial at all"):
        tuners.assert_no_failed_trials(tmp_path)
    with pytest.raises(FileNotFoundError, match="no tuner project folder"):
        tuners.trials_frame(tmp_path / "missing")


def test_error_line_finds_the_exception_line():
    message = ("Traceback (most recent call last):\n  File 'x.py', line 1\nValueError: Exception encountered "
               "when calling Sequential.call().\n\n\x1b[1mInput 0 is incompatible\x1b[0m\n\n"
               "Arguments received by Sequential.call():\n  • inputs=tf.Tensor(shape=(None, 64))\n")
    assert tuners.error_line(message) == ("ValueError: Exception encountered when calling Sequential.call(). "
                                          "Input 0 is incompatible")
    assert tuners.error_line("just text\n") == "just text"
    assert tuners.error_line(None) == ""


@pytest.mark.slow
def test_resume_does_not_rerun_finished_trials(tmp_path, tiny_data):
    first = _search("random", tmp_path, tiny_data, max_trials=2)
    with pytest.raises(RuntimeError, match="expected 3 completed trials, found 2"):
        tuners.assert_no_failed_trials(first, expected=3)
    second = _search("random", tmp_path, tiny_data, max_trials=3, overwrite=False)
    assert [e["trial_id"] for e in first.trial_log] == ["0", "1"]
    assert [e["trial_id"] for e in second.trial_log] == ["2"]  # only the new trial ran
    tuners.assert_no_failed_trials(second, expected=3)


# ------------------------------------------------------------------------------------------- sklearn
def test_cv_results_frame_spreads_dict_params():
    class FakeSearch:
        cv_results_ = {
            "params": [{"model_kwargs": {"units": 32}, "fit_kwargs": {"epochs": 1, "verbose": 0}},
                       {"model_kwargs": {"units": 64}, "fit_kwargs": {"epochs": 2, "verbose": 0}}],
            "mean_test_score": np.array([0.5, 0.9]), "std_test_score": np.array([0.1, 0.05]),
            "rank_test_score": np.array([2, 1]), "mean_fit_time": np.array([1.0, 2.0]),
        }

    frame = tuners.cv_results_frame(FakeSearch())
    assert list(frame.columns) == ["units", "epochs", "mean_test_score", "std_test_score", "rank_test_score",
                                   "mean_fit_time"]
    assert list(frame["units"]) == [64, 32]  # best rank first


# ------------------------------------------------------------------------------------------- exercise checks
def _conditional(hp):
    model = keras.Sequential([keras.Input(shape=(64,))])
    for i in range(hp.Int("num_layers", 1, 3)):
        with hp.conditional_scope("num_layers", list(range(i + 1, 4))):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 32, 128, step=32), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def _unconditional(hp):
    model = keras.Sequential([keras.Input(shape=(64,))])
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 32, 128, step=32), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def test_check_conditional_space():
    exercise.check_conditional_space(_conditional)
    with pytest.raises(ExerciseError, match="conditional_scope"):
        exercise.check_conditional_space(_unconditional)
    with pytest.raises(ExerciseError, match="No function yet"):
        exercise.check_conditional_space(None)


class _DictOf:
    """A distribution over dicts, as exercise 2 asks for: each entry a list or a scipy.stats distribution."""

    def __init__(self, **space):
        self.space = space

    def rvs(self, random_state=None):
        from sklearn.utils import check_random_state

        rng = check_random_state(random_state)
        return {k: v.rvs(random_state=rng) if hasattr(v, "rvs") else v[rng.randint(len(v))]
                for k, v in self.space.items()}


def test_check_param_distributions():
    from scipy.stats import uniform

    good = {"model_kwargs": _DictOf(units=[32, 64], learning_rate=loguniform(1e-4, 1e-1)),
            "fit_kwargs": [{"epochs": 1, "verbose": 0}, {"epochs": 2, "verbose": 0}]}
    exercise.check_param_distributions(good)
    rates = loguniform(1e-4, 1e-1).rvs(size=300, random_state=0)  # a long list of drawn dicts also samples well
    exercise.check_param_distributions(dict(good, model_kwargs=[{"units": [32, 64][i % 2], "learning_rate": r}
                                                                for i, r in enumerate(rates)]))
    linear = dict(good, model_kwargs=_DictOf(units=[32, 64], learning_rate=uniform(1e-4, 1e-1 - 1e-4)))
    with pytest.raises(ExerciseError, match="log-uniform"):
        exercise.check_param_distributions(linear)
    with pytest.raises(ExerciseError, match="units must be sampled from"):
        exercise.check_param_distributions(dict(good, model_kwargs=_DictOf(units=[32], learning_rate=loguniform(
            1e-4, 1e-1))))
    with pytest.raises(ExerciseError, match="epochs"):
        exercise.check_param_distributions(dict(good, fit_kwargs=[{"epochs": 1}]))
    with pytest.raises(ExerciseError, match="must be a dict"):
        exercise.check_param_distributions(dict(good, model_kwargs=loguniform(1e-4, 1e-1)))
    with pytest.raises(ExerciseError, match="No answer yet"):
        exercise.check_param_distributions(None)


# ------------------------------------------------------------------------------------------- launcher
def test_run_distributed_search_validates_before_starting_anything(tmp_path):
    with pytest.raises(ValueError, match="workers must be >= 1"):
        launch.run_distributed_search(tmp_path, workers=0)
    with pytest.raises(ValueError, match="tuner must be one of"):
        launch.run_distributed_search(tmp_path, tuner="grid")
    with pytest.raises(ValueError, match="max_trials must be >= 1"):
        launch.run_distributed_search(tmp_path, max_trials=0)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_run_distributed_search_times_out_and_leaves_no_process(tmp_path):
    started = time.monotonic()
    with pytest.raises(launch.SearchFailed, match="timed out waiting for"):
        launch.run_distributed_search(tmp_path, workers=2, max_trials=2, epochs=1, timeout_s=1)
    assert time.monotonic() - started < 20  # 1 s limit + the grace period, not the whole search
    assert procs.processes_with(str(tmp_path)) == []


def test_distributed_run_assignments():
    run = launch.DistributedRun(2, 10.0, 5.0, Path("unused"), {
        "tuner0": {"search_start": 100.0, "search_end": 105.0,
                   "trials": [{"trial_id": "0", "start": 100.0, "end": 102.0, "status": "COMPLETED"}]},
        "tuner1": {"search_start": 100.5, "search_end": 104.0,
                   "trials": [{"trial_id": "1", "start": 100.5, "end": 103.0, "status": "COMPLETED"}]},
    })
    rows = run.assignments()
    assert [(r["tuner_id"], r["trial_id"], r["start"], r["end"]) for r in rows] == [
        ("tuner0", "0", 0.0, 2.0), ("tuner1", "1", 0.5, 3.0)]
    assert json.dumps(rows)  # plain data, ready for a table


# ------------------------------------------------------------------------------------------- pooled search
KT_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def _port_is_free(address: str) -> bool:
    import socket

    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        try:
            sock.bind((host, int(port)))
        except OSError:
            return False
    return True


@pytest.mark.slow
def test_run_worker_in_this_process_serves_every_trial_and_restores_the_environment(tmp_path):
    import threading

    from helpers.procs import free_port
    from helpers.tuning.worker import DigitsHyperModel, OracleServer, run_worker

    address = f"127.0.0.1:{free_port()}"
    chief_tuner = tuners.make_tuner("random", DigitsHyperModel(), directory=tmp_path, project_name="search",
                                    max_trials=2, epochs=1, seed=0, overwrite=False)
    chief = OracleServer(chief_tuner, address).start()
    with pytest.raises(RuntimeError, match="could not listen"):  # a second chief on the same port
        OracleServer(chief_tuner, address).start()
    serving = threading.Thread(target=chief.wait, args=(60,), daemon=True)
    serving.start()
    report = run_worker("tuner0", address, directory=str(tmp_path), project="search", max_trials=2, epochs=1)
    serving.join(30)
    assert not serving.is_alive() and _port_is_free(address)
    assert [t["status"] for t in report["trials"]] == ["COMPLETED", "COMPLETED"]
    assert "Search: Running Trial" in report["output_tail"]  # a worker's display, kept out of the console
    assert not any(name in os.environ for name in KT_VARIABLES)
    assert len(tuners.assert_no_failed_trials(tmp_path / "search", expected=2)) == 2


@pytest.mark.slow
def test_pooled_search_runs_each_trial_once_in_pool_processes_then_the_pool_stops(tmp_path, capfd):
    launch.stop_worker_pool()  # fresh workers: a reused pool imported TensorFlow long ago
    warm = list(launch.start_worker_pool(2))
    assert {w["pid"] for w in warm}.isdisjoint({os.getpid()}) and all(w["import_s"] > 1 for w in warm)
    # The workers share this process's stderr, as they share a kernel's: none of TensorFlow's C++ start-up lines
    # may reach it (TF_CPP_MIN_LOG_LEVEL alone does not hide absl's pre-initialisation lines).
    captured = capfd.readouterr()
    noise = [line for line in (captured.out + captured.err).splitlines() if classify(line, "stdout")]
    assert noise == [], noise
    run = launch.run_pooled_search(tmp_path, workers=2, max_trials=3, epochs=1, timeout_s=120)
    ran = [a["trial_id"] for a in run.assignments()]
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 3
    assert set(ran) == set(tuners.assert_no_failed_trials(run.project_dir, expected=3)["trial_id"])
    assert os.getpid() not in {r["pid"] for r in run.reports.values()} and run.search_s <= run.wall_s
    assert (run.project_dir / "chief.json").exists()  # the chief's own file, not a worker's tuner0.json
    stopped = launch.stop_worker_pool()
    assert stopped and not any(Path(f"/proc/{pid}").exists() for pid in stopped)
    assert launch.stop_worker_pool() == []


@pytest.mark.slow
def test_pooled_search_times_out_with_a_clear_error_and_closes_the_chief(tmp_path):
    import threading

    with pytest.raises(ValueError, match="pool_size must be >= 1"):
        launch.run_pooled_search(tmp_path, pool_size=0)
    started = time.monotonic()
    with pytest.raises(launch.SearchFailed, match="a pooled worker failed"):
        launch.run_pooled_search(tmp_path, workers=2, max_trials=4, epochs=1, timeout_s=1)
    assert time.monotonic() - started < 40
    assert not any(t.name == "keras-tuner-chief" for t in threading.enumerate())
    launch.stop_worker_pool()
