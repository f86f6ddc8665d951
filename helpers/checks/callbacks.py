"""Checks of the custom-callback exercises (``05_custom_callbacks``)."""

from __future__ import annotations

import keras

from helpers.callbacks import drive
from helpers.checks import check, check_callable, check_subclass


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


def check_warmup_then_decay(warmup_then_decay) -> None:
    """Exercise: linear warm-up to 1e-3 over epochs 0-2, then halving every epoch."""
    check_callable(
        warmup_then_decay,
        [((0, 0.5), 1e-3 / 3), ((1, 0.5), 2e-3 / 3), ((2, 0.5), 1e-3), ((3, 1.0), 5e-4), ((6, 1.0), 6.25e-5)],
        "warm up linearly over epochs 0-2 to 1e-3, then halve every epoch; do not use the lr argument",
        compare=lambda got, want: isinstance(got, float) and abs(got - want) <= 1e-12,
    )
