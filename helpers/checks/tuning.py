"""Checks of the hyperparameter-tuning exercises (``04_hyperparameter_tuning``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import keras_tuner as kt
import numpy as np

from helpers.checks import ExerciseError, check, fuller_hint
from helpers.runtime import record_floor
from helpers.tuning.worker import DigitsHyperModel


def check_conditional_space(build) -> None:
    """Exercise check: ``build(hp)`` makes ``num_layers`` (1-3) hidden Dense layers, each with its own
    ``units_<i>`` declared inside ``hp.conditional_scope("num_layers", ...)``."""
    if build is None or build is Ellipsis or not callable(build):
        raise ExerciseError("No function yet. Hint: define build_conditional(hp) returning a compiled model")
    for layers in (1, 2, 3):
        hp = kt.HyperParameters()
        hp.values["num_layers"] = layers  # what the oracle would choose for this trial
        model = build(hp)
        check(hasattr(model, "layers"), "build(hp) must return a Keras model")
        dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
        check(len(dense) == layers + 1, f"with num_layers={layers}, expected {layers} hidden Dense layers plus "
                                        f"the output layer, found {len(dense)} Dense layers")
        names = {h.name: h for h in hp.space}
        check("num_layers" in names, "declare hp.Int('num_layers', 1, 3)")
        for i in range(layers):
            check(f"units_{i}" in names, f"layer {i} needs its own hp.Int('units_{i}', ...)")
            check(int(dense[i].units) == int(hp.values[f"units_{i}"]), f"layer {i} must use units_{i}")
        for i in range(1, layers):
            conditions = [c.get_config() for c in names[f"units_{i}"].conditions]
            check(any(c["name"] == "num_layers" and 1 not in c["values"] for c in conditions),
                  f"declare units_{i} inside hp.conditional_scope('num_layers', [...]) listing only the "
                  f"layer counts that use it")
    print("Correct: one conditional units_<i> per layer, active only when num_layers needs it.")


def check_param_distributions(param_distributions) -> None:
    """Exercise check: ``model_kwargs`` samples ``units`` from [32, 64] and ``learning_rate`` log-uniformly in
    [1e-4, 1e-1] (a new rate per candidate), and ``fit_kwargs`` samples ``epochs`` from [1, 2]."""
    from sklearn.model_selection import ParameterSampler

    if param_distributions is None or param_distributions is Ellipsis:
        raise ExerciseError("No answer yet. Hint: {'model_kwargs': <an object whose rvs(random_state) returns a "
                            "dict>, 'fit_kwargs': [<one dict per choice>]}")
    check(isinstance(param_distributions, Mapping) and {"model_kwargs", "fit_kwargs"} <= set(param_distributions),
          "a dict with the keys 'model_kwargs' and 'fit_kwargs'")
    with warnings.catch_warnings():  # a list-only space smaller than 400 is sampled whole: the check says so
        warnings.filterwarnings("ignore", message="The total space of parameters")
        samples = list(ParameterSampler(param_distributions, n_iter=400, random_state=0))
    check(all(isinstance(s["model_kwargs"], Mapping) and isinstance(s["fit_kwargs"], Mapping) for s in samples),
          "every sample of model_kwargs and fit_kwargs must be a dict: a list of dicts, or an object whose "
          "rvs(random_state) returns a dict")
    rates = np.array([s["model_kwargs"].get("learning_rate", np.nan) for s in samples], dtype=float)
    units = {s["model_kwargs"].get("units") for s in samples}
    epochs = {s["fit_kwargs"].get("epochs") for s in samples}
    check(np.all((rates >= 1e-4) & (rates <= 1e-1)), "learning_rate must stay within [1e-4, 1e-1]")
    distinct = len(set(rates.tolist()))
    check(distinct > 100, f"only {distinct} different learning rates in {len(samples)} draws: draw a new one for "
                          f"every candidate (rvs), not from a short list")
    below = float(np.mean(rates < 10 ** -2.5))  # the log-scale middle: half the samples for log-uniform
    check(0.4 < below < 0.6, f"learning_rate should be log-uniform: {below:.0%} of samples fell below "
                             f"10**-2.5, expected about half (scipy.stats.loguniform)")
    check(units == {32, 64}, f"units must be sampled from [32, 64], got {sorted(map(str, units))}")
    check(epochs == {1, 2}, f"epochs must be sampled from [1, 2], got {sorted(map(str, epochs))}")
    print("Correct: log-uniform learning rates, units from [32, 64] and epochs from [1, 2].")


# ------------------------------------------------------------------ exercises 3 and 4: searches the check runs
SEARCH_EPOCHS = 20  # the epoch cap of exercise 3's search; early stopping decides when a trial ends
MAX_PATIENCE = 5  # the exercise asks for patience 2; more than this and early stopping hardly stops
TRIALS = 2  # max_trials of both searches (tiny: the section must cost seconds)
BATCH_SIZE = 32  # fit's default batch size; the step counts below assume it
# Exercise 3: the refit model's test accuracy must reach this; a model trained on nothing scores ~0.1. Its worst
# seed and margin: `exercise_refit_test_accuracy` in notebooks/params/seed_figures.md (the sweep records it).
REFIT_ACCURACY_FLOOR = 0.85


class RecordingMLP(DigitsHyperModel):
    """The HyperModel the checks of exercises 3 and 4 hand to the learner's code: the lesson's MLP
    (``units``: 32-128) with ``learning_rate`` from 1e-2 to 3e-2, log: high enough that
    validation accuracy levels off within a few epochs, so early stopping ends trials soon; compiled with
    accuracy. It records every model it builds (``builds``: ``(hp values, model)``) and every fit that goes
    through it (``fits``: the callbacks, the epochs asked and run, the number of rows), so a check can see
    what the tuner did without trusting what the learner says it did. ``find_fit_problem`` (a fit record ->
    what is wrong with it, or None) is asked about the first fit, a search's first trial, before it trains."""

    LEARNING_RATES = (1e-2, 3e-2)

    def __init__(self, num_features: int = 64, num_classes: int = 10,
                 find_fit_problem: Callable[[dict], str | None] | None = None) -> None:
        super().__init__(num_features, num_classes)
        self.builds: list[tuple[dict, object]] = []
        self.fits: list[dict] = []
        self.find_fit_problem = find_fit_problem

    def build(self, hp):
        """The lesson's MLP for ``hp`` (recorded in :attr:`builds`)."""
        model = super().build(hp)
        self.builds.append((dict(hp.values), model))
        return model

    def fit(self, hp, model, *args, **kwargs):
        """``model.fit(*args, **kwargs)``, recorded in :attr:`fits`. On the first fit (the first trial's; a later
        one may be a refit through ``hypermodel.fit``), a problem ``find_fit_problem`` names ends the whole search
        before anything trains: Keras Tuner re-raises a ``FatalError`` from a trial instead of going on."""
        x = args[0] if args else kwargs.get("x")
        record = {"model": model, "callbacks": list(kwargs.get("callbacks") or []),
                  "epochs_asked": kwargs.get("epochs", 1), "rows": len(x)}
        problem = self.find_fit_problem(record) if self.find_fit_problem and not self.fits else None
        if problem:
            raise kt.errors.FatalError(problem)
        history = model.fit(*args, **kwargs)
        self.fits.append({**record, "epochs_run": len(history.epoch)})
        return history

    def hp_values_of(self, model) -> dict | None:
        """The hyperparameter values ``model`` was built with, or None if this HyperModel did not build it."""
        return next((values for values, built in self.builds if built is model), None)


def _digits(seed: int):
    """The lesson's split: the digits' training rows, the last 20 % of them as validation, and the test set."""
    from helpers.data import load_digits

    data = load_digits(seed)
    return data.validation(0.2), (data.x_test, data.y_test)


def _steps(rows: int, epochs: int) -> int:
    return epochs * -(-rows // BATCH_SIZE)


def _trained_steps(model) -> int:
    optimizer = getattr(model, "optimizer", None)
    return int(np.asarray(optimizer.iterations)) if optimizer is not None else 0


def _completed(tuner) -> list:
    """The tuner's trials, sorted by id, after checking that every one completed (ExerciseError if not)."""
    from helpers.tuning import tuners

    try:
        tuners.assert_no_failed_trials(tuner, expected=TRIALS)
    except RuntimeError as err:
        raise ExerciseError(f"Not yet. The search's trials: {err}. Keras Tuner catches a trial's error and "
                            f"goes on, so read the error above and fix the code it points to") from None
    return [tuner.oracle.trials[k] for k in sorted(tuner.oracle.trials, key=int)]


def _search_fit_problem(fit: dict, rows: int) -> str | None:
    """What is wrong with what exercise 3's search gave one trial's fit (a :class:`RecordingMLP` record), or None."""
    import keras

    stops = [c for c in fit["callbacks"] if isinstance(c, keras.callbacks.EarlyStopping)]
    if not stops:
        return ("the trials' fits got no EarlyStopping: pass callbacks=[keras.callbacks.EarlyStopping(...)] to "
                "tuner.search, which hands a copy to every trial's fit")
    if not all(str(c.monitor).startswith("val_") for c in stops):
        return "EarlyStopping must watch a validation metric (monitor='val_accuracy'), not a training one"
    if not all(c.patience <= MAX_PATIENCE for c in stops):
        return (f"a patience of {max(c.patience for c in stops)} epochs lets a trial run on long after its best: "
                f"use 2 (at most {MAX_PATIENCE})")
    if fit["epochs_asked"] != SEARCH_EPOCHS:
        return f"search with epochs={SEARCH_EPOCHS} as the cap (the trials got epochs={fit['epochs_asked']})"
    if fit["rows"] != rows:
        return "search on the training rows only; the validation rows go in validation_data"
    return None


def _is_tuner(tuner) -> bool:
    return isinstance(tuner, kt.Tuner) and hasattr(tuner, "oracle")


@fuller_hint("Build kt.RandomSearch on the hypermodel you are given, objective 'val_accuracy', max_trials=2, "
             "seed and directory from the arguments. The EarlyStopping callback goes in the callbacks list of "
             "tuner.search itself, with epochs=20 and the validation data. Afterwards the best trial "
             "(tuner.oracle.get_best_trials) has best_step, counted from 0, so the epoch count is one more. "
             "Build a fresh model with tuner.hypermodel.build and the best hyperparameters, fit it on the "
             "training and validation rows joined (np.concatenate), keep fit's default batch size, and "
             "return the tuner, that model and the epoch count.")
def check_search_and_refit(search_and_refit, directory, seed: int = 0) -> None:
    """Exercise check: ``search_and_refit(hypermodel, (x, y), (x_val, y_val), directory, seed)`` runs a
    2-trial ``RandomSearch`` on ``hypermodel`` with ``EarlyStopping`` inside ``search`` (epochs capped at
    20), rebuilds the best hyperparameters and refits them on train+validation for the best trial's epoch
    count; returns ``(tuner, model, epochs)``. Run here on the digits with a :class:`RecordingMLP`."""
    import keras

    if search_and_refit is None or search_and_refit is Ellipsis or not callable(search_and_refit):
        raise ExerciseError("No function yet. Hint: define search_and_refit(hypermodel, train, validation, "
                            "directory, seed) returning (tuner, model, epochs)")
    ((x, y), (x_val, y_val)), (x_test, y_test) = _digits(seed)
    hypermodel = RecordingMLP(x.shape[1], int(y.max()) + 1,
                              find_fit_problem=lambda fit: _search_fit_problem(fit, len(x)))
    keras.utils.set_random_seed(seed)
    try:
        result = search_and_refit(hypermodel, (x, y), (x_val, y_val), directory, seed)
    except kt.errors.FatalError as err:  # the first trial's fit was given the wrong things: no need to train
        raise ExerciseError(f"Not yet. Hint: {err}") from None
    check(isinstance(result, tuple) and len(result) == 3, f"return a tuple (tuner, model, epochs), got "
                                                          f"{type(result).__name__}")
    tuner, model, epochs = result
    check(_is_tuner(tuner), f"the first item must be the Keras Tuner you searched with, got {type(tuner).__name__}")
    check(tuner.hypermodel is hypermodel, "build the tuner on the hypermodel passed to your function")
    check(tuner.oracle.objective.name == "val_accuracy", "search with objective='val_accuracy'")
    _completed(tuner)
    searched = [f for f in hypermodel.fits if f["model"] is not model]
    check(len(searched) == TRIALS, f"expected one fit per trial ({TRIALS}), the hypermodel saw {len(searched)}")
    for fit in searched:  # every trial's fit (the hypermodel stopped the search early only on the first one)
        problem = _search_fit_problem(fit, len(x))
        check(problem is None, problem)
    check(isinstance(model, keras.Model), f"the second item must be the refit Keras model, got "
                                          f"{type(model).__name__}")
    best = tuner.oracle.get_best_trials(1)[0]
    best_epochs = int(best.best_step) + 1
    check(isinstance(epochs, int | np.integer) and int(epochs) == best_epochs,
          f"epochs must be the best trial's epoch count: its best_step + 1 = {best_epochs} (got {epochs!r})")
    built_with = hypermodel.hp_values_of(model)
    check(built_with is not None, "build the refit model with tuner.hypermodel.build(best_hp)")
    check(built_with == best.hyperparameters.values,
          f"rebuild the best trial's hyperparameters {best.hyperparameters.values}, not {built_with}")
    steps, rows = _trained_steps(model), len(x) + len(x_val)
    check(steps > 0, "the returned model was never trained: fit the rebuilt model (get_best_models gives "
                     "a trial's model, trained on the training rows only)")
    check(steps % _steps(len(x), 1) != 0 or steps % _steps(rows, 1) == 0,
          f"the refit trained on the {len(x)} training rows only ({steps} steps): fit on training and "
          f"validation rows together, {rows} rows")
    check(steps == _steps(rows, best_epochs),
          f"the refit took {steps} steps; {best_epochs} epochs over the {rows} training + validation rows at "
          f"batch size {BATCH_SIZE} take {_steps(rows, best_epochs)}: a fresh model, fit once, for the best "
          f"epoch count")
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    reached = record_floor("exercise_refit_test_accuracy", accuracy, ">=", REFIT_ACCURACY_FLOOR)  # for the sweep
    check(reached, f"the refit model's test accuracy is {accuracy:.3f}, needs >= {REFIT_ACCURACY_FLOOR}")
    ran = [f["epochs_run"] for f in searched]
    print(f"Correct: {TRIALS} trials ran {ran} epochs of {SEARCH_EPOCHS} (early stopping), the best scored "
          f"{best.score:.3f} at epoch {best_epochs}; the refit on {rows} rows for {best_epochs} epochs reaches "
          f"test accuracy {accuracy:.4f} (floor {REFIT_ACCURACY_FLOOR}).")


F1_EPOCHS = 2  # epochs exercise 4's check searches with


def _fit_counter():
    """A Keras callback that counts the fits it is given to (``fits``), the same object however often copied."""
    import keras

    class FitCounter(keras.callbacks.Callback):
        fits = 0

        def on_train_begin(self, logs=None):
            type(self).fits += 1  # on the class: a copy of the callback counts into the same place

    return FitCounter()


def macro_f1(model, x, y) -> float:
    """Macro-averaged F1 of ``model``'s most likely class on ``(x, y)`` (scikit-learn's ``f1_score``)."""
    from sklearn.metrics import f1_score

    predicted = np.asarray(model.predict(x, verbose=0)).argmax(axis=1)
    return float(f1_score(y, predicted, average="macro"))


@fuller_hint("make_f1_tuner returns F1Tuner(hypermodel, objective=kt.Objective(name, direction), max_trials=2, "
             "seed=..., directory=..., project_name=..., overwrite=True). In run_trial: the hyperparameters "
             "are trial.hyperparameters; build one model with self.hypermodel.build, fit it on x, y for the "
             "epochs search passed (default batch size) with **kwargs passed on, predict the validation rows, "
             "take the argmax, score with sklearn.metrics.f1_score(..., average='macro') and return a dict "
             "whose key is the objective's name.")
def check_f1_tuner(make_f1_tuner, directory, seed: int = 0) -> None:
    """Exercise check: ``make_f1_tuner(hypermodel, directory, seed)`` returns a ``RandomSearch`` subclass
    (2 trials) whose ``run_trial`` builds one model, fits it (passing ``search``'s other arguments on) and
    returns ``{"val_macro_f1": ...}``, the macro F1 on the validation data, maximised. The check searches it
    (digits, :class:`RecordingMLP`, ``epochs=2``, a callback that counts fits) and recomputes every trial's
    score from the model the trial built."""
    import keras

    if make_f1_tuner is None or make_f1_tuner is Ellipsis or not callable(make_f1_tuner):
        raise ExerciseError("No function yet. Hint: define class F1Tuner(kt.RandomSearch) with run_trial, and "
                            "make_f1_tuner(hypermodel, directory, seed) returning one")
    ((x, y), (x_val, y_val)), _ = _digits(seed)
    hypermodel = RecordingMLP(x.shape[1], int(y.max()) + 1)
    keras.utils.set_random_seed(seed)
    tuner = make_f1_tuner(hypermodel, directory, seed)
    check(_is_tuner(tuner), f"make_f1_tuner must return a tuner (an F1Tuner), got {type(tuner).__name__}")
    check(type(tuner).run_trial is not kt.RandomSearch.run_trial, "override run_trial in your RandomSearch "
                                                                  "subclass")
    check(tuner.hypermodel is hypermodel, "build the tuner on the hypermodel passed to make_f1_tuner")
    objective = tuner.oracle.objective
    check(objective.name == "val_macro_f1", f"the objective must be named 'val_macro_f1' (it is "
                                            f"{objective.name!r}): kt.Objective(name, direction)")
    check(objective.direction == "max", f"a higher F1 is better: direction='max' (it is {objective.direction!r})")
    check(tuner.oracle.max_trials == TRIALS, f"max_trials={TRIALS} (it is {tuner.oracle.max_trials})")
    before = len(hypermodel.builds)
    tuner.oracle.verbose = 0  # no trial tables in the check's output (search(verbose=0) would reach run_trial)
    counter = _fit_counter()
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=F1_EPOCHS, callbacks=[counter])
    trials = _completed(tuner)
    check(type(counter).fits >= TRIALS, f"the callbacks given to search reached {type(counter).fits} of the "
                                        f"{TRIALS} trials' fits: pass run_trial's **kwargs on to model.fit, as the "
                                        f"Keras Tuner guide says, or search(callbacks=...) is silently ignored")
    built = [model for _, model in hypermodel.builds[before:]]
    check(len(built) == TRIALS, f"build exactly one model per trial with self.hypermodel.build("
                                f"trial.hyperparameters): {len(built)} models for {TRIALS} trials")
    for trial, model in zip(trials, built, strict=True):
        check(hypermodel.hp_values_of(model) == trial.hyperparameters.values,
              "build each trial's model from that trial's hyperparameters (trial.hyperparameters)")
        check(_trained_steps(model) == _steps(len(x), F1_EPOCHS),
              f"fit the trial's model on x, y for the epochs search passes ({F1_EPOCHS}, default batch size: "
              f"{_steps(len(x), F1_EPOCHS)} steps); it took {_trained_steps(model)}")
        expected = macro_f1(model, x_val, y_val)
        check(abs(float(trial.score) - expected) < 1e-6,
              f"trial {trial.trial_id} scored {float(trial.score):.5f}, but its model's macro F1 on the "
              f"validation data is {expected:.5f}: predict validation_data, take the argmax and use "
              f"f1_score(..., average='macro')")
    scores = [float(t.score) for t in trials]
    print(f"Correct: {TRIALS} trials, each scored by its model's validation macro F1: "
          f"{[round(s, 4) for s in scores]}.")
