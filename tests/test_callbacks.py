"""Unit tests of helpers.callbacks: log readers, hook recorder, interrupter, live figure, exercise check."""

import json

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest
import tensorflow as tf  # noqa: E402

from helpers import callbacks as cb  # noqa: E402
from helpers import logs  # noqa: E402
from helpers.checks import ExerciseError  # noqa: E402
from helpers.checks import callbacks as exercise  # noqa: E402
from tests.support import tensorflow_session  # noqa: F401 (4 logical CPUs and quiet logs before TensorFlow)

pytestmark = pytest.mark.usefixtures("tf_runtime")  # TensorFlow in-process: 4 logical CPUs


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(3, activation="softmax")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _tiny_data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, size=n)


# ----------------------------------------------------------------------------------------------- log readers
def test_read_jsonl_skips_blank_lines_and_names_bad_ones(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"epoch": 0, "loss": 0.5}\n\n{"epoch": 1, "loss": 0.25}\n')
    rows = logs.read_jsonl(path)
    assert rows == [{"epoch": 0, "loss": 0.5}, {"epoch": 1, "loss": 0.25}]
    assert logs.columns(rows) == {"epoch": [0, 1], "loss": [0.5, 0.25]}
    assert logs.columns(rows, ["loss"]) == {"loss": [0.5, 0.25]}
    assert logs.columns([]) == {}
    path.write_text('{"epoch": 0}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        logs.read_jsonl(path)


def test_read_csv_log_matches_history_exactly(tmp_path):
    x, y = _tiny_data()
    path = tmp_path / "log.csv"
    logger = keras.callbacks.CSVLogger(str(path))
    history = _tiny_model().fit(x, y, epochs=2, batch_size=6, verbose=0, callbacks=[logger])
    assert logs.read_csv_log(path) == {"epoch": [0, 1], **history.history}  # val_* columns (all NA) left out
    path.write_text("epoch,loss,val_loss\n0,0.5,NA\n1,0.25,0.75\n")
    read = logs.read_csv_log(path)
    assert read["loss"] == [0.5, 0.25] and np.isnan(read["val_loss"][0]) and read["val_loss"][1] == 0.75
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert logs.read_csv_log(empty) == {}


def test_read_tensorboard_scalars_reads_tf2_and_tf1_summaries_and_skips_the_rest(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path / "run_a"))
    with writer.as_default():
        for step in (2, 0, 1):  # written out of order, read back sorted by step
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
        tf.summary.histogram("weights", tf.constant([1.0, 2.0, 3.0]), step=0)
        tf.summary.text("note", "not a number", step=0)
    writer.close()
    v1 = tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag="old", simple_value=0.5)])
    event = tf.compat.v1.Event(step=7, summary=v1)
    (tmp_path / "run_b").mkdir()
    with tf.io.TFRecordWriter(str(tmp_path / "run_b" / "events.out.tfevents.1.local")) as record_writer:
        record_writer.write(event.SerializeToString())

    scalars = logs.read_tensorboard_scalars(tmp_path)
    assert set(scalars) == {"run_a", "run_b"}
    assert list(scalars["run_a"]) == ["loss"]  # histogram and text are not scalars
    steps, values = zip(*scalars["run_a"]["loss"], strict=True)
    assert steps == (0, 1, 2)
    np.testing.assert_allclose(values, [1.0, 0.5, 1 / 3], rtol=1e-6)
    assert scalars["run_b"] == {"old": [(7, 0.5)]}
    assert logs.read_tensorboard_scalars(tmp_path / "nothing_here") == {}


# ----------------------------------------------------------------------------------------------- hooks
def test_hook_recorder_records_fit_evaluate_predict_in_order():
    x, y = _tiny_data(12)
    recorder = cb.HookRecorder()
    model = _tiny_model()
    model.fit(x, y, validation_data=(x[:6], y[:6]), epochs=1, batch_size=6, verbose=0, callbacks=[recorder])
    model.predict(x[:6], batch_size=6, verbose=0, callbacks=[recorder])
    pair = lambda kind: [f"on_{kind}_batch_begin", f"on_{kind}_batch_end"]  # noqa: E731
    assert recorder.calls == [
        "on_train_begin", "on_epoch_begin", *pair("train"), *pair("train"),
        "on_test_begin", *pair("test"), "on_test_end", "on_epoch_end", "on_train_end",
        "on_predict_begin", *pair("predict"), "on_predict_end",
    ]
    assert set(cb.ALL_HOOKS) == {name for name in dir(keras.callbacks.Callback)
                                 if name.startswith("on_") and name not in ("on_batch_begin", "on_batch_end")}


def test_collapse_runs():
    calls = ["a", "x_batch_begin", "x_batch_end", "x_batch_begin", "x_batch_end", "b", "b", "b", "c"]
    assert cb.collapse_runs(calls) == ["a", "(x_batch_begin, x_batch_end) x2", "b x3", "c"]
    assert cb.collapse_runs([]) == []
    assert cb.collapse_runs(["x_batch_begin"]) == ["x_batch_begin"]


# ----------------------------------------------------------------------------------------------- interrupt
def test_interrupt_at_epoch_raises_when_that_epoch_begins():
    x, y = _tiny_data()
    finished = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: finished.append(epoch))
    with pytest.raises(cb.SimulatedFailure, match="epoch 2"):
        _tiny_model().fit(x, y, epochs=5, verbose=0, callbacks=[record, cb.InterruptAtEpoch(2)])
    assert finished == [0, 1]
    assert issubclass(cb.SimulatedFailure, RuntimeError)
    with pytest.raises(ValueError, match="epoch"):
        cb.InterruptAtEpoch(-1)


# ----------------------------------------------------------------------------------------------- checks
def test_drive_calls_hooks_and_honours_stop_training():
    recorder = cb.HookRecorder()
    assert cb.drive(recorder, [{"loss": 1.0}, {"loss": 0.5}]) == 2
    assert recorder.calls == ["on_train_begin", "on_epoch_begin", "on_epoch_end", "on_epoch_begin",
                              "on_epoch_end", "on_train_end"]

    class StopAfterFirst(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    assert cb.drive(StopAfterFirst(), [{"loss": 1.0}] * 5) == 1
    assert cb.drive(cb.HookRecorder(), []) == 0


def test_drive_feeds_real_early_stopping():
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)
    losses = [1.0, 0.8, 0.9, 0.95, 0.7]
    assert cb.drive(early, [{"val_loss": v} for v in losses]) == 4  # best at 1, stops 2 epochs later
    assert early.stopped_epoch == 3


class _GoodBest(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.best_epoch, self.best = None, -np.inf

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] > self.best:
            self.best_epoch, self.best = epoch, logs["val_accuracy"]


class _LastOnTie(_GoodBest):
    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] >= self.best:
            self.best_epoch, self.best = epoch, logs["val_accuracy"]


class _NeverResets(keras.callbacks.Callback):
    best_epoch, best = None, -np.inf

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] > self.best:
            self.best_epoch, self.best = epoch, logs["val_accuracy"]


def test_check_best_epoch_callback_accepts_a_right_answer_and_rejects_wrong_ones(capsys):
    exercise.check_best_epoch_callback(_GoodBest)
    assert "Correct" in capsys.readouterr().out
    for wrong in (_LastOnTie, _NeverResets, None, int):
        with pytest.raises(ExerciseError):
            exercise.check_best_epoch_callback(wrong)


def test_jsonl_round_trip_keeps_floats_exact(tmp_path):
    values = [0.1, 1 / 3, 2.0000000000000004]
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps({"v": v}) + "\n" for v in values))
    assert logs.columns(logs.read_jsonl(path)) == {"v": values}
