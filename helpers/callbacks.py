"""Plumbing for ``05_custom_callbacks``: reading logs back, recording hook order, interrupting a run on
purpose, and a training plot that redraws in place.

The callbacks that are the lesson (early stopping, the seed's ``MyCustomCallback``, the JSON-lines
logger, stop-at-target-accuracy ...) are defined in the notebook itself; what lives here is reusable
scaffolding around them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

# Every hook keras.callbacks.Callback offers, in the groups fit / evaluate / predict call them.
TRAIN_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
               "on_train_batch_begin", "on_train_batch_end")
TEST_HOOKS = ("on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end")
PREDICT_HOOKS = ("on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")
ALL_HOOKS = TRAIN_HOOKS + TEST_HOOKS + PREDICT_HOOKS


# --------------------------------------------------------------------------------------------- reading logs
def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON-lines file (one JSON object per line, blank lines skipped) into a list of dicts."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}, line {number}: not JSON ({err.msg})") from err
    return rows


def read_csv_log(path: str | Path) -> dict[str, list[float]]:
    """Read a ``keras.callbacks.CSVLogger`` file into ``{column: [value per epoch]}`` (floats; epoch ints).

    CSVLogger writes ``NA`` for values it did not get (``val_*`` columns of a run without validation
    data): a column that is ``NA`` throughout is left out, a single ``NA`` reads as ``nan``.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    out: dict[str, list[float]] = {}
    for key in rows[0]:
        cells = [r[key] for r in rows]
        if key == "epoch":
            out[key] = [int(c) for c in cells]
        elif any(c != "NA" for c in cells):
            out[key] = [float("nan") if c == "NA" else float(c) for c in cells]
    return out


def columns(rows: Sequence[Mapping], keys: Iterable[str] | None = None) -> dict[str, list]:
    """Turn a list of per-epoch dicts into ``{key: [value per epoch]}`` (keys of the first row by default)."""
    if not rows:
        return {}
    keys = list(keys) if keys is not None else list(rows[0])
    return {key: [row[key] for row in rows] for key in keys}


def _event_files(logdir: Path) -> list[Path]:
    return sorted(p for p in logdir.rglob("*") if p.is_file() and ".tfevents." in p.name)


def read_tensorboard_scalars(logdir: str | Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Read every scalar the TensorBoard event files under ``logdir`` hold.

    Returns ``{run: {tag: [(step, value), ...]}}`` where ``run`` is the event file's folder relative to
    ``logdir`` (Keras writes ``train`` and ``validation``). Both summary styles are read: TF2
    ``tf.summary.scalar`` (a 0-d tensor) and TF1 ``simple_value``. Non-scalar tensors (graphs, images,
    histograms) are skipped.
    """
    logdir = Path(logdir)
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for path in _event_files(logdir):
        run = path.parent.relative_to(logdir).as_posix()
        tags = out.setdefault(run, {})
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = float(value.simple_value)
                elif kind == "tensor":
                    array = tf.make_ndarray(value.tensor)
                    if array.shape != () or not np.issubdtype(array.dtype, np.number):
                        continue
                    number = float(array)
                else:
                    continue
                tags.setdefault(value.tag, []).append((int(event.step), number))
    for tags in out.values():
        for series in tags.values():
            series.sort(key=lambda pair: pair[0])
    return out


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


# ------------------------------------------------------------------------------------------------ live plot
def in_notebook() -> bool:
    """True inside a Jupyter kernel (where display handles can update an output in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class LiveFigure:
    """A matplotlib line plot of training curves that redraws in place in a notebook.

    ``update({"loss": [...], "val_loss": [...]})`` redraws the lines for ``keys`` (those present). In a
    Jupyter kernel the first update displays the figure and later ones replace that same output through
    an IPython display handle; elsewhere (a script, a test) it only redraws the figure, which
    :meth:`save` can write to a file. ``self.updates`` counts the redraws.
    """

    def __init__(self, keys: Sequence[str] = ("loss", "val_loss"), title: str = "", ylabel: str = "",
                 logy: bool = False, figsize: tuple[float, float] = (6.0, 3.2)):
        import matplotlib.pyplot as plt

        self.keys = tuple(keys)
        self.title = title
        self.ylabel = ylabel
        self.logy = logy
        self.fig, self.ax = plt.subplots(figsize=figsize)
        plt.close(self.fig)  # shown only through the display handle, never a second time at cell end
        self.handle = None
        self.updates = 0
        self.live = in_notebook()

    def update(self, history: Mapping[str, Sequence[float]], marks: Mapping[str, int] | None = None) -> None:
        """Redraw the curves in ``history``; ``marks`` adds labelled vertical lines at 1-based epochs."""
        ax = self.ax
        ax.clear()
        for key in self.keys:
            if key in history and len(history[key]):
                values = list(history[key])
                ax.plot(range(1, len(values) + 1), values, marker=".", label=key)
        for label, epoch in (marks or {}).items():
            ax.axvline(epoch, linestyle="--", color="grey")
            ax.annotate(label, (epoch, 0.95), xycoords=("data", "axes fraction"), ha="right", fontsize=8)
        if self.logy:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(self.ylabel)
        ax.set_title(self.title)
        if ax.lines:
            ax.legend(loc="best")
        self.fig.tight_layout()
        self.updates += 1
        if not self.live:
            return
        from IPython.display import display

        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def save(self, path: str | Path) -> Path:
        """Write the current figure to ``path`` (PNG, SVG ... by suffix) and return the path."""
        path = Path(path)
        self.fig.savefig(path)
        return path


# ------------------------------------------------------------------------------------- driving by hand / checks
class FakeModel:
    """The little a callback touches on ``self.model`` when driven by hand: ``stop_training``."""

    def __init__(self):
        self.stop_training = False


def drive(callback: keras.callbacks.Callback, epoch_logs: Sequence[Mapping[str, float]],
          model=None) -> int:
    """Call ``callback``'s train hooks as ``fit`` would, with the given per-epoch logs; no training.

    Stops when the callback sets ``model.stop_training``. Returns the number of epochs run. ``model``
    defaults to a :class:`FakeModel` (enough for callbacks that only read logs and stop training).
    """
    model = model if model is not None else FakeModel()
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


def check_best_epoch_callback(cls) -> None:
    """Exercise check: ``cls()`` records ``best_epoch`` (0-based, first on ties) and ``best`` of
    ``val_accuracy``, and starts afresh at every ``on_train_begin``."""
    from helpers.checks import check, check_subclass

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
