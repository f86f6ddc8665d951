"""Plumbing for ``05_custom_callbacks``: recording hook order, interrupting a run on purpose, and driving a
callback's hooks by hand (the log readers are in :mod:`helpers.logs`).

The callbacks that are the lesson (early stopping, the starter snippet's ``MyCustomCallback``, the live plot,
the JSON-lines logger, stop-at-target-accuracy ...) are defined in the notebook itself; what lives here is reusable
scaffolding around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras

# Every hook keras.callbacks.Callback offers, in the groups fit / evaluate / predict call them.
TRAIN_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
               "on_train_batch_begin", "on_train_batch_end")
TEST_HOOKS = ("on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end")
PREDICT_HOOKS = ("on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")
ALL_HOOKS = TRAIN_HOOKS + TEST_HOOKS + PREDICT_HOOKS


# ------------------------------------------------------------------------------------------ hook recording
class HookRecorder(keras.callbacks.Callback):
    """Appends the name of every hook Keras calls, in order, to ``self.calls``.

    ``self.calls`` holds strings such as ``"on_epoch_begin"``; batch hooks are recorded once per batch.
    Use :func:`collapse_runs` to shorten the sequence for display.
    """

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []


def _recording_hook(name: str):
    def hook(self, *args, **kwargs):
        self.calls.append(name)

    hook.__name__ = hook.__qualname__ = name
    hook.__doc__ = f"Record a call of ``{name}``."
    return hook


for _name in ALL_HOOKS:
    setattr(HookRecorder, _name, _recording_hook(_name))
del _name


def collapse_runs(calls: Sequence[str]) -> list[str]:
    """Shorten repeated neighbours for display: ``[a, a, a, c]`` becomes ``["a x3", "c"]``.

    Batch hooks come in begin/end pairs, so pairs are collapsed too: ``[b, e, b, e]`` -> ``["(b, e) x2"]``.
    """
    out: list[str] = []
    i = 0
    n = len(calls)
    while i < n:
        if i + 1 < n and calls[i].endswith("_batch_begin") and calls[i + 1].endswith("_batch_end"):
            pair = (calls[i], calls[i + 1])
            count = 0
            while i + 1 < n and (calls[i], calls[i + 1]) == pair:
                count += 1
                i += 2
            out.append(f"({pair[0]}, {pair[1]}) x{count}")
            continue
        count = 1
        while i + count < n and calls[i + count] == calls[i]:
            count += 1
        out.append(calls[i] if count == 1 else f"{calls[i]} x{count}")
        i += count
    return out


# -------------------------------------------------------------------------------------------- interruption
class SimulatedFailure(RuntimeError):
    """Raised by :class:`InterruptAtEpoch` to stand in for a crash, pre-emption or lost worker."""


class InterruptAtEpoch(keras.callbacks.Callback):
    """Raise :class:`SimulatedFailure` when epoch ``epoch`` (0-based) begins, as a crash would.

    Epochs ``0 .. epoch-1`` have finished (and been backed up by any ``BackupAndRestore`` placed before
    it) when the exception is raised.
    """

    def __init__(self, epoch: int):
        super().__init__()
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        """Raise at the chosen epoch."""
        if epoch == self.epoch:
            raise SimulatedFailure(f"simulated failure at the start of epoch {epoch}")


# ------------------------------------------------------------------------------------- driving by hand / checks
class StopFlagModel:
    """The little a callback touches on ``self.model`` when driven by hand: ``stop_training``."""

    def __init__(self):
        self.stop_training = False


def drive(callback: keras.callbacks.Callback, epoch_logs: Sequence[Mapping[str, float]],
          model=None) -> int:
    """Call ``callback``'s train hooks as ``fit`` would, with the given per-epoch logs; no training.

    Stops when the callback sets ``model.stop_training``. Returns the number of epochs run. ``model``
    defaults to a :class:`StopFlagModel` (enough for callbacks that only read logs and stop training).
    """
    model = model if model is not None else StopFlagModel()
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin({})
    ran = 0
    for epoch, logs in enumerate(epoch_logs):
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, dict(logs))
        ran += 1
        if model.stop_training:
            break
    callback.on_train_end(dict(epoch_logs[ran - 1]) if ran else {})
    return ran
