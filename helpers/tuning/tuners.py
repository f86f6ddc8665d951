"""Hyperparameter tuning plumbing for ``04_hyperparameter_tuning``.

What the notebook teaches stays in the notebook (the search spaces, GridSearchCV / RandomizedSearchCV,
the Keras Tuner calls). This module holds what the lesson leans on:

- :func:`make_tuner`: a Keras Tuner by name (``random``, ``hyperband``, ``bayesian``) on one trial budget,
  with clear errors for an unknown name or ``max_trials < 1``, and a log of when each trial ran;
- :func:`trials_frame`, :func:`cv_results_frame`: searches as pandas tables;
- :func:`failed_trials`, :func:`assert_no_failed_trials`: Keras Tuner records a crashed trial as FAILED
  and carries on, so a missing dependency can fail every trial without stopping the search.

The distributed launcher lives in :mod:`helpers.tuning.launch`, the worker script in
:mod:`helpers.tuning.worker`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras_tuner as kt
import pandas as pd

from helpers.logs import strip_ansi
from helpers.params import check_choice, check_int
from helpers.tuning import TUNER_NAMES

OBJECTIVE = "val_accuracy"


def check_tuner_name(name: Any) -> str:
    """Return ``name`` if it is one of :data:`TUNER_NAMES`, else raise ValueError listing them."""
    return check_choice("tuner", name, TUNER_NAMES)


# ------------------------------------------------------------------------------------------ tuner factory
class _TrialLogMixin:
    """Adds ``trial_log``: one dict per trial this tuner ran (trial_id, tuner_id, start, end, status)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.trial_log: list[dict[str, Any]] = []
        super().__init__(*args, **kwargs)

    def on_trial_begin(self, trial) -> None:  # noqa: D102 - Keras Tuner hook
        self.trial_log.append({"trial_id": trial.trial_id, "tuner_id": self.tuner_id, "start": time.time()})
        super().on_trial_begin(trial)

    def on_trial_end(self, trial) -> None:  # noqa: D102 - Keras Tuner hook
        super().on_trial_end(trial)
        entry = self.trial_log[-1]
        entry.update(end=time.time(), status=str(trial.status))


class LoggedRandomSearch(_TrialLogMixin, kt.RandomSearch):
    """``keras_tuner.RandomSearch`` that keeps a ``trial_log`` of the trials it ran."""


class LoggedHyperband(_TrialLogMixin, kt.Hyperband):
    """``keras_tuner.Hyperband`` that keeps a ``trial_log`` of the trials it ran."""


class LoggedBayesianOptimization(_TrialLogMixin, kt.BayesianOptimization):
    """``keras_tuner.BayesianOptimization`` that keeps a ``trial_log`` of the trials it ran."""


_TUNER_CLASSES = {"random": LoggedRandomSearch, "hyperband": LoggedHyperband,
                  "bayesian": LoggedBayesianOptimization}


def make_tuner(name: str, hypermodel, *, directory: str | Path, project_name: str, max_trials: int,
               epochs: int = 2, seed: int = 0, objective: str = OBJECTIVE, overwrite: bool = True,
               **kwargs: Any):
    """A Keras Tuner called ``name`` with a budget of ``max_trials`` trials, files in ``directory``.

    - ``random``: ``RandomSearch``; ``bayesian``: ``BayesianOptimization`` with 2 random starting points
      (its default, 3 per hyperparameter, would use up a small budget before the Gaussian process starts);
    - ``hyperband``: ``Hyperband`` with ``factor=3`` and ``max_epochs = max(3, epochs)`` (or the
      ``max_epochs`` given): it starts many candidates for ``max_epochs / 3**k`` epochs and continues the
      best ones up to ``max_epochs``. With ``max_epochs=3`` that is 3 candidates for 1 epoch, the best of
      them continued to 3, then 2 for 3 epochs, and again. Hyperband has no ``max_trials`` of its own, so
      the oracle's ``max_trials`` caps it at the same number of trials as the others.

    ``overwrite=False`` reloads a search already in ``directory/project_name`` and runs only what is left.
    Extra ``kwargs`` go to the tuner. The tuner has a ``trial_log`` (see :class:`LoggedRandomSearch`).
    """
    check_tuner_name(name)
    check_int("max_trials", max_trials, 1)
    check_int("epochs", epochs, 1)
    common = dict(objective=objective, seed=seed, directory=str(directory), project_name=project_name,
                  overwrite=overwrite, **kwargs)
    if name == "hyperband":
        common.setdefault("hyperband_iterations", None)  # None: brackets without end; max_trials stops it
        common.setdefault("max_epochs", max(3, epochs))
        tuner = LoggedHyperband(hypermodel, factor=3, **common)
        # Private attribute, pinned keras-tuner 1.4.8: a worker's oracle is an OracleClient wrapping the
        # real one (``_oracle``), and Hyperband has no max_trials argument to pass. Listed in the README.
        getattr(tuner.oracle, "_oracle", tuner.oracle).max_trials = max_trials
        return tuner
    if name == "bayesian":
        common.setdefault("num_initial_points", min(2, max_trials))
        return LoggedBayesianOptimization(hypermodel, max_trials=max_trials, **common)
    return LoggedRandomSearch(hypermodel, max_trials=max_trials, **common)


# ------------------------------------------------------------------------------------------ trial tables
def _trial_records(source) -> list[dict[str, Any]]:
    """Trials as plain dicts, from a tuner (its oracle) or from a project folder's ``trial_*/trial.json``."""
    if isinstance(source, str | Path):
        folder = Path(source)
        if not folder.is_dir():
            raise FileNotFoundError(f"no tuner project folder at {folder}")
        return [json.loads(p.read_text()) for p in sorted(folder.glob("trial_*/trial.json"))]
    oracle = getattr(source, "oracle", source)
    return [trial.get_state() for trial in oracle.trials.values()]


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")


def error_line(message: str | None) -> str:
    """The ``SomeError: text`` part of a traceback (its last exception), else its last non-empty line.

    Keras puts the useful sentence in a paragraph after "Exception encountered when calling ...", so the
    unindented lines that follow the exception line are kept, up to "Arguments received by".
    """
    lines = [strip_ansi(line).rstrip() for line in (message or "").splitlines()]
    lines = [line for line in lines if line.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if _ERROR_LINE.match(lines[i]):
            found = [lines[i].strip()]
            for line in lines[i + 1:]:
                if line.startswith((" ", "\t", "Arguments received")):
                    break
                found.append(line.strip())
            return " ".join(found)
    return lines[-1].strip() if lines else ""


def trials_frame(source) -> pd.DataFrame:
    """One row per trial (sorted by id): trial_id, status, score, best_step, message, and every value.

    ``source`` is a tuner, an oracle or the tuner's project folder (what a distributed search leaves).
    Inactive conditional hyperparameters are left out of a trial's values, so they show as NaN.
    """
    rows = []
    for state in _trial_records(source):
        values = state["hyperparameters"]["values"]
        rows.append({"trial_id": state["trial_id"], "status": state["status"], "score": state["score"],
                     "best_step": state.get("best_step"),
                     "error": error_line(state.get("message")),
                     **values})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["trial_id", "status", "score", "best_step", "error"])
    return frame.sort_values("trial_id", key=lambda s: s.astype(int)).reset_index(drop=True)


def failed_trials(source) -> pd.DataFrame:
    """The trials that did not complete (FAILED, INVALID, RUNNING...), with the last line of their error."""
    frame = trials_frame(source)
    return frame[frame["status"] != "COMPLETED"].reset_index(drop=True)


def assert_no_failed_trials(source, expected: int | None = None) -> pd.DataFrame:
    """Raise RuntimeError unless every trial completed (and, if given, exactly ``expected`` trials ran).

    Keras Tuner catches each trial's exception, marks the trial FAILED and goes on; it only stops after
    ``max_consecutive_failed_trials`` (3) failures in a row. A missing dependency, a shape error or a bad
    callback can therefore leave a search with no usable trial and no error. Returns the trials table.
    """
    frame = trials_frame(source)
    bad = frame[frame["status"] != "COMPLETED"]
    if len(frame) == 0:
        raise RuntimeError("the search ran no trial at all")
    if len(bad):
        first = bad.iloc[0]
        raise RuntimeError(
            f"{len(bad)} of {len(frame)} trials did not complete; trial {first['trial_id']} is "
            f"{first['status']}: {first['error'] or 'no message'}"
        )
    if expected is not None and len(frame) != expected:
        raise RuntimeError(f"expected {expected} completed trials, found {len(frame)}")
    return frame


# ------------------------------------------------------------------------------------------ scikit-learn
def cv_results_frame(search) -> pd.DataFrame:
    """A fitted GridSearchCV / RandomizedSearchCV's ``cv_results_`` as a table, best rank first.

    Dict-valued parameters (``model_kwargs``, ``fit_kwargs``) are spread into one column per key; the
    ``verbose`` fit argument is dropped. Columns: the parameters, mean_test_score, std_test_score,
    rank_test_score, mean_fit_time.
    """
    results = search.cv_results_
    rows = []
    for i, params in enumerate(results["params"]):
        row: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, Mapping):
                row.update({k: v for k, v in value.items() if k != "verbose"})
            else:
                row[name] = value
        for column in ("mean_test_score", "std_test_score", "rank_test_score", "mean_fit_time"):
            row[column] = results[column][i]
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["rank_test_score", "mean_fit_time"]).reset_index(drop=True)
