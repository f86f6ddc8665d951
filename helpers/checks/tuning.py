"""Checks of the hyperparameter-tuning exercises (``04_hyperparameter_tuning``)."""

from __future__ import annotations

from collections.abc import Mapping

import keras_tuner as kt
import numpy as np

from helpers.checks import ExerciseError, check


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
    """Exercise check: ``model_kwargs`` samples ``learning_rate`` log-uniformly in [1e-4, 1e-1] and
    ``fit_kwargs`` samples ``epochs`` from [1, 2]."""
    from sklearn.model_selection import ParameterSampler

    if param_distributions is None or param_distributions is Ellipsis:
        raise ExerciseError("No answer yet. Hint: {'model_kwargs': KwargsSampler(...), 'fit_kwargs': [...]}")
    check(isinstance(param_distributions, Mapping) and {"model_kwargs", "fit_kwargs"} <= set(param_distributions),
          "a dict with the keys 'model_kwargs' and 'fit_kwargs'")
    samples = list(ParameterSampler(param_distributions, n_iter=400, random_state=0))
    rates = np.array([s["model_kwargs"].get("learning_rate", np.nan) for s in samples], dtype=float)
    epochs = {s["fit_kwargs"].get("epochs") for s in samples}
    check(np.all((rates >= 1e-4) & (rates <= 1e-1)), "learning_rate must stay within [1e-4, 1e-1]")
    below = float(np.mean(rates < 10 ** -2.5))  # the log-scale middle: half the samples for log-uniform
    check(0.4 < below < 0.6, f"learning_rate should be log-uniform: {below:.0%} of samples fell below "
                             f"10**-2.5, expected about half (scipy.stats.loguniform)")
    check(epochs == {1, 2}, f"epochs must be sampled from [1, 2], got {sorted(map(str, epochs))}")
    print("Correct: log-uniform learning rates and epochs from [1, 2].")
