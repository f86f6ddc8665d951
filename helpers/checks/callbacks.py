"""Checks of the custom-callback exercises (``05_custom_callbacks``).

Exercise 1 drives a callback with made-up logs (:func:`helpers.callbacks.drive`); exercise 2 trains a tiny
model with the learner's learning-rate callback and a spy that reads the rate before every batch; exercise 3
compares the learner's early stopping with ``keras.callbacks.EarlyStopping`` on the same logs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np

from helpers.callbacks import drive
from helpers.checks import ExerciseError, check, check_subclass, fuller_hint


def check_best_epoch_callback(cls) -> None:
    """Exercise check: ``cls()`` records ``best_epoch`` (0-based, first on ties) and ``best`` of
    ``val_accuracy``, and starts afresh at every ``on_train_begin``."""
    check_subclass(cls, keras.callbacks.Callback, "subclass keras.callbacks.Callback")
    cases = [
        ([0.50, 0.70, 0.60, 0.70, 0.65], 1, 0.70),  # a tie: the first epoch that reached 0.70 wins
        ([0.90, 0.80, 0.85], 0, 0.90),
        ([0.10, 0.20, 0.30, 0.40], 3, 0.40),
    ]
    callback = cls()
    for values, epoch, best in cases:  # one instance, several fits: on_train_begin must reset it
        logs = [{"loss": 1.0 - v, "val_accuracy": v} for v in values]
        drive(callback, logs)
        got = (getattr(callback, "best_epoch", None), getattr(callback, "best", None))
        check(got[0] == epoch and got[1] is not None and abs(got[1] - best) < 1e-12,
              f"for val_accuracy {values} expected best_epoch={epoch}, best={best}; got {got}. Update "
              "only on a strictly higher value and reset both in on_train_begin")
    print(f"Correct on {len(cases)} runs.")


# ------------------------------------------------------------------------- exercise 2: warm-up + cosine decay
WARMUP_COSINE = {"peak": 0.05, "warmup_steps": 4, "total_steps": 16, "alpha": 0.1}
ROWS, BATCH, EPOCHS = 80, 8, 2  # 10 batches an epoch, 20 steps: warm-up, decay (across epochs), 4 at the floor


def warmup_cosine_rate(step: int, peak: float, warmup_steps: int, total_steps: int, alpha: float = 0.0) -> float:
    """The rate of exercise 2 at global ``step``: linear warm-up from 0 to ``peak`` over ``warmup_steps``,
    then cosine decay to ``alpha * peak`` over ``total_steps - warmup_steps`` steps, flat after that; the
    formula of ``keras.optimizers.schedules.CosineDecay(0.0, decay_steps, alpha, warmup_target=peak,
    warmup_steps=warmup_steps)`` (Keras 3.15.1)."""
    if step < warmup_steps:
        return peak * step / warmup_steps
    decay_steps = total_steps - warmup_steps
    done = min(step - warmup_steps, decay_steps) / decay_steps
    return peak * (alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * done)))


def keras_warmup_cosine(peak: float, warmup_steps: int, total_steps: int, alpha: float = 0.0):
    """Keras's own schedule object for :func:`warmup_cosine_rate`'s rule."""
    return keras.optimizers.schedules.CosineDecay(0.0, total_steps - warmup_steps, alpha=alpha,
                                                  warmup_target=peak, warmup_steps=warmup_steps)


class RateSpy(keras.callbacks.Callback):
    """Reads the optimizer's learning rate when each training batch begins (put it after the callback that
    sets the rate: callbacks run in list order, and the batch runs after every ``on_train_batch_begin``)."""

    def __init__(self):
        super().__init__()
        self.rates: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def _linear_problem(seed: int):
    """A small regression set and the starting weights of a Dense(1) model on it, all from ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1)) + 0.1 * rng.normal(size=(ROWS, 1))).astype("float32")
    return x, y, [rng.normal(scale=0.5, size=(4, 1)).astype("float32"), np.zeros(1, "float32")]


def _linear_model(weights, learning_rate):
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def _rate_hint(step: int, rates: Sequence[float], per_epoch: int) -> str:
    p, got = WARMUP_COSINE, rates[step]
    if math.isclose(got, 1.0, rel_tol=1e-6):
        return "that is the optimizer's starting rate: assign self.model.optimizer.learning_rate in the callback"
    if step > 0 and step % per_epoch == 0 and math.isclose(got, warmup_cosine_rate(0, **p), abs_tol=1e-9):
        return "the step restarts every epoch: count batches across epochs (or read optimizer.iterations)"
    if step % per_epoch and got == rates[step - 1]:
        return "the rate did not change since the last batch: set it in on_train_batch_begin, every batch"
    if step >= p["total_steps"]:
        return "after total_steps the rate stays at alpha * peak: clamp the decay step at decay_steps"
    if step < p["warmup_steps"]:
        return "the warm-up is peak * step / warmup_steps, 0 at step 0"
    return "the decay is peak * (alpha + (1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps))), t = step - warmup_steps"


@fuller_hint("keep a step counter: 0 in on_train_begin, used then increased by 1 in on_train_batch_begin; "
             "compute the rate with math.cos and math.pi and assign it with "
             "self.model.optimizer.learning_rate = rate (Keras assigns it to the optimizer's variable)")
def check_warmup_cosine(cls, seed: int = 0) -> None:
    """Exercise check: ``cls(peak, warmup_steps, total_steps, alpha)`` sets the optimizer's rate before each
    batch to :func:`warmup_cosine_rate` of the global step. Trains a Dense(1) model with SGD for 2 epochs
    of 10 batches with the callback and a :class:`RateSpy`; compares every rate with the formula (and the
    formula with Keras's ``CosineDecay``), then the weights with a twin trained by ``SGD(CosineDecay)``."""
    check_subclass(cls, keras.callbacks.Callback, "WarmupCosine must subclass keras.callbacks.Callback")
    try:
        callback = cls(**WARMUP_COSINE)
    except TypeError as err:
        raise ExerciseError(f"Not yet. Hint: WarmupCosine(peak, warmup_steps, total_steps, alpha=0.0) must "
                            f"accept these names ({err})") from None
    x, y, weights = _linear_problem(seed)
    model = _linear_model(weights, learning_rate=1.0)  # a wrong rate: a callback that sets nothing fails
    spy = RateSpy()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[callback, spy])
    per_epoch, steps = ROWS // BATCH, EPOCHS * ROWS // BATCH
    check(len(spy.rates) == steps, f"expected {steps} training batches, the spy saw {len(spy.rates)}: do not "
                                   "stop training or change the batches")
    schedule = keras_warmup_cosine(**WARMUP_COSINE)
    for step, got in enumerate(spy.rates):
        want = warmup_cosine_rate(step, **WARMUP_COSINE)
        keras_says = float(keras.ops.convert_to_numpy(schedule(step)))
        assert math.isclose(keras_says, want, rel_tol=1e-5, abs_tol=1e-9), (step, keras_says, want)  # the check
        check(math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-9),
              f"at global step {step} (epoch {step // per_epoch}, batch {step % per_epoch}) the optimizer used "
              f"learning rate {got:.6g}; the schedule gives {want:.6g}: {_rate_hint(step, spy.rates, per_epoch)}")
    twin = _linear_model(weights, learning_rate=schedule)
    twin.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), twin.get_weights(), strict=True):
        check(np.allclose(got, want, rtol=1e-4, atol=1e-6),
              "the rates read before each batch are right, but the trained weights differ from SGD with "
              "CosineDecay: set the rate in on_train_batch_begin, not after the batch")
    print(f"Correct: {steps} batches (warm-up, cosine decay, floor) at the schedule's rates; the weights equal "
          "training with keras.optimizers.schedules.CosineDecay.")


# ------------------------------------------------------------------------------ exercise 3: own early stopping
# (val_loss per epoch, patience, min_delta) -> what EarlyStopping(restore_best_weights=True) does in Keras
# 3.15.1: (epochs run, best epoch, stopped); the check asserts Keras still does it, then compares the learner's.
STOPPING_CASES = [
    ([1.0, 0.8, 0.79, 0.85, 0.9, 0.7], 2, 0.05, (4, 1, True)),  # 0.79 is not 0.05 better than 0.8
    ([0.6, 0.5, 0.5, 0.55, 0.52], 4, 0.0, (5, 1, False)),  # a tie is no improvement; restored without a stop
    ([0.9, 0.7, 0.75, 0.6, 0.65, 0.66, 0.7, 0.5], 2, 0.0, (6, 3, True)),  # an improvement resets the count
]


class _Stamp(keras.callbacks.Callback):
    """Stands in for training: at each epoch's end, before the callbacks under test, fills every weight of
    the model with ``epoch + 1``, so the weights left after training tell which epoch's they are."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.set_weights([np.full(w.shape, epoch + 1.0, w.dtype) for w in self.model.get_weights()])


class _Recorder(keras.callbacks.Callback):
    """Records the model's weights at every epoch's end (the weights of a real run, for the restore)."""

    def __init__(self):
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _small_model(learning_rate=0.01):
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def _drive_stamped(callback, losses: Sequence[float], model) -> tuple[int, int]:
    """Drive ``callback`` with made-up ``val_loss`` logs, stamping the weights each epoch; return the epochs
    run and the stamp left in the model."""
    ran = drive(keras.callbacks.CallbackList([_Stamp(), callback], model=model),
                [{"loss": v, "val_loss": v} for v in losses], model=model)
    return ran, round(float(model.get_weights()[0].flat[0]))


def _compare_stopping(callback, keras_stopper, losses, patience, min_delta, weights_of) -> None:
    """Compare the learner's run (``callback``) with EarlyStopping's (``keras_stopper``) after both ran."""
    ran, left = weights_of
    case = f"for val_loss {list(losses)}, patience={patience}, min_delta={min_delta}"
    best_epoch, stopped = keras_stopper.best_epoch, keras_stopper.stopped_epoch > 0
    check(ran[0] == ran[1], f"{case} EarlyStopping stops after {ran[1]} epochs, yours after {ran[0]}: an epoch "
                            "improves only when val_loss < best - min_delta, and the count of epochs without "
                            "improvement goes back to 0 on every improvement")
    got_best = getattr(callback, "best_epoch", None)
    check(got_best == best_epoch, f"{case} the best epoch is {best_epoch}, yours says best_epoch={got_best}: "
                                  "keep the epoch of the last improvement (by more than min_delta)")
    best = getattr(callback, "best", None)
    check(best is not None and math.isclose(float(best), losses[best_epoch], rel_tol=1e-6),
          f"{case} best must be {losses[best_epoch]} (val_loss at epoch {best_epoch}), got {best!r}")
    want_stop = ran[1] - 1 if stopped else None
    got_stop = getattr(callback, "stopped_epoch", "missing")
    check(got_stop == want_stop, f"{case} stopped_epoch must be {want_stop}, got {got_stop!r} (None when the "
                                 "run never stopped; reset it in on_train_begin)")
    check(left[0] == left[1], f"{case} training ended with the weights of epoch {left[0]}, not of the best "
                              f"epoch {best_epoch}: put the best weights back in on_train_end, also when the "
                              "run did not stop early")


@fuller_hint("on_train_begin: best = inf, wait = 0, best_epoch, best_weights and stopped_epoch = None. "
             "on_epoch_end: if val_loss < best - min_delta remember it, the epoch and self.model.get_weights() "
             "and set wait to 0; otherwise add 1 to wait and, at patience, set stopped_epoch and "
             "self.model.stop_training = True. on_train_end: self.model.set_weights(best weights) if any")
def check_patient_stopping(cls, seed: int = 0) -> None:
    """Exercise check: ``cls(patience, min_delta=0.0)`` stops and restores as ``EarlyStopping(monitor=
    "val_loss", patience, min_delta, restore_best_weights=True)``: on made-up logs (twice per instance, so a
    fit must start afresh), then on a real ``fit`` whose ``val_loss`` is replayed through ``EarlyStopping``."""
    check_subclass(cls, keras.callbacks.Callback, "PatientStopping must subclass keras.callbacks.Callback")
    stamped = _small_model()  # one model for every made-up run: the stamps overwrite its weights
    for losses, patience, min_delta, (want_ran, want_best, want_stop) in STOPPING_CASES:
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta,
                                                restore_best_weights=True)
        keras_run = _drive_stamped(stopper, losses, stamped)
        assert (keras_run, stopper.best_epoch, stopper.stopped_epoch > 0) == (
            (want_ran, want_best + 1), want_best, want_stop), "Keras's EarlyStopping changed"  # the check
        try:
            callback = cls(patience, min_delta=min_delta)
        except TypeError as err:
            raise ExerciseError(f"Not yet. Hint: PatientStopping(patience, min_delta=0.0) must accept these "
                                f"arguments ({err})") from None
        for _ in range(2):  # the same instance twice: on_train_begin must reset it
            yours = _drive_stamped(callback, losses, stamped)
            _compare_stopping(callback, stopper, losses, patience, min_delta,
                              ((yours[0], keras_run[0]), (yours[1] - 1, keras_run[1] - 1)))
    rng = np.random.default_rng(seed)  # a real run: linear regression from near the answer, plateauing soon
    x, w = rng.normal(size=(96, 3)).astype("float32"), rng.normal(size=(3, 2))
    y = (x @ w + 0.3 * rng.normal(size=(96, 2))).astype("float32")
    model = _small_model(learning_rate=0.2)
    model.set_weights([(w + 0.3 * rng.normal(size=(3, 2))).astype("float32"), np.zeros(2, "float32")])
    callback, recorder, limit = cls(2, min_delta=0.02), _Recorder(), 6
    history = model.fit(x[:64], y[:64], validation_data=(x[64:], y[64:]), epochs=limit, batch_size=16,
                        shuffle=False, verbose=0, callbacks=[recorder, callback])
    losses = history.history["val_loss"]
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=0.02, restore_best_weights=True)
    keras_ran: int | str = _drive_stamped(stopper, losses, stamped)[0]
    if not stopper.stopped_epoch and len(losses) < limit:  # yours stopped where EarlyStopping would go on
        keras_ran = f"more than {len(losses)}"
    same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), recorder.weights[stopper.best_epoch],
                                                    strict=True))
    kept = next((e for e, w in enumerate(recorder.weights)
                 if all(np.array_equal(a, b) for a, b in zip(model.get_weights(), w, strict=True))), "none")
    _compare_stopping(callback, stopper, losses, 2, 0.02,
                      ((len(losses), keras_ran), (stopper.best_epoch if same else kept, stopper.best_epoch)))
    print(f"Correct: same stops, best epochs and restored weights as EarlyStopping on {len(STOPPING_CASES)} "
          f"made-up runs and a real fit (stopped after {len(losses)} of {limit} epochs).")
