"""Typical wrong answers of notebook 04's exercises (hyperparameter tuning); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong, variant

_MODEL_KWARGS = '''
from scipy.stats import loguniform
from sklearn.utils import check_random_state


class ModelKwargs:
    def rvs(self, random_state=None):
        rng = check_random_state(random_state)
        return {"units": [32, 64][rng.randint(2)], "learning_rate": loguniform(1e-4, 1e-1).rvs(random_state=rng)}


my_distributions = {
    "model_kwargs": ModelKwargs(),
    "fit_kwargs": [{"epochs": 1, "verbose": 0}, {"epochs": 2, "verbose": 0}],
}
'''  # exercise 2's solution


_F1_TUNER = '''
from sklearn.metrics import f1_score


class F1Tuner(kt.RandomSearch):
    def run_trial(self, trial, x, y, validation_data, epochs=1, **kwargs):
        model = self.hypermodel.build(trial.hyperparameters)
        kwargs.setdefault("verbose", 0)
        model.fit(x, y, epochs=epochs, **kwargs)
        x_val, y_val = validation_data
        predicted = model.predict(x_val, verbose=0).argmax(axis=1)
        return {"val_macro_f1": f1_score(y_val, predicted, average="macro")}


def make_f1_tuner(hypermodel, directory, seed):
    return F1Tuner(hypermodel, objective=kt.Objective("val_macro_f1", direction="max"), max_trials=2,
                   seed=seed, directory=directory, project_name="macro_f1", overwrite=True)
'''  # exercise 4's solution; each wrong answer changes one thing

WRONG: dict[str, list[Wrong]] = {
    "04_ex1": [Wrong('''
def build_conditional(hp):
    model = keras.Sequential([keras.Input(shape=(64,))])
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 32, 128, step=32), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
''', r"declare units_1 inside hp\.conditional_scope\('num_layers'", why="no conditional scope")],
    "04_ex2": [Wrong(variant(_MODEL_KWARGS, ("import loguniform", "import uniform"),
                             ("loguniform(1e-4, 1e-1).rvs", "uniform(1e-4, 1e-1 - 1e-4).rvs")),
                     r"learning_rate should be log-uniform", why="uniform, not log-uniform"),
               Wrong('''
from scipy.stats import loguniform

rates = loguniform(1e-4, 1e-1).rvs(size=5, random_state=0)
my_distributions = {
    "model_kwargs": [{"units": u, "learning_rate": r} for u in (32, 64) for r in rates],
    "fit_kwargs": [{"epochs": 1, "verbose": 0}, {"epochs": 2, "verbose": 0}],
}
''', r"only \d+ different learning rates in \d+ draws", why="five rates drawn once, then reused")],
    "04_ex3": [Wrong('''
import numpy as np


def search_and_refit(hypermodel, train, validation, directory, seed):
    (x, y), (x_val, y_val) = train, validation
    tuner = kt.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=seed,
                            directory=directory, project_name="early_stopping", overwrite=True)
    tuner.search(x, y, epochs=20, validation_data=(x_val, y_val), verbose=0)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    epochs = best_trial.best_step + 1
    model = tuner.hypermodel.build(best_trial.hyperparameters)
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=2)
    model.fit(np.concatenate([x, x_val]), np.concatenate([y, y_val]), epochs=epochs, callbacks=[stop], verbose=0)
    return tuner, model, epochs
''', r"the trials' fits got no EarlyStopping", why="EarlyStopping given to the refit, not to search"),
               Wrong('''
def search_and_refit(hypermodel, train, validation, directory, seed):
    (x, y), (x_val, y_val) = train, validation
    tuner = kt.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=seed,
                            directory=directory, project_name="early_stopping", overwrite=True)
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=2)
    tuner.search(x, y, epochs=20, validation_data=(x_val, y_val), callbacks=[stop], verbose=0)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    epochs = best_trial.best_step + 1
    model = tuner.hypermodel.build(tuner.get_best_hyperparameters(1)[0])
    model.fit(x, y, epochs=epochs, verbose=0)
    return tuner, model, epochs
''', r"the refit trained on the 1077 training rows only", why="refit on the training rows, without validation"),
               Wrong('''
def search_and_refit(hypermodel, train, validation, directory, seed):
    (x, y), (x_val, y_val) = train, validation
    tuner = kt.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=seed,
                            directory=directory, project_name="early_stopping", overwrite=True)
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=2)
    tuner.search(x, y, epochs=20, validation_data=(x_val, y_val), callbacks=[stop], verbose=0)
    epochs = tuner.oracle.get_best_trials(1)[0].best_step + 1
    return tuner, tuner.get_best_models(1)[0], epochs
''', r"the returned model was never trained", why="the best trial's model returned, not refit"),
               Wrong('''
import numpy as np


def search_and_refit(hypermodel, train, validation, directory, seed):
    (x, y), (x_val, y_val) = train, validation
    tuner = kt.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=seed,
                            directory=directory, project_name="early_stopping", overwrite=True)
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=2)
    tuner.search(x, y, epochs=20, validation_data=(x_val, y_val), callbacks=[stop], verbose=0)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.hypermodel.build(best_trial.hyperparameters)
    model.fit(np.concatenate([x, x_val]), np.concatenate([y, y_val]), epochs=20, verbose=0)
    return tuner, model, best_trial.best_step + 1
''', r"the refit took \d+ steps; \d+ epochs over the 1347", why="refit for the cap of 20 epochs, not the best")],
    "04_ex4": [
        Wrong(variant(_F1_TUNER, ("        x_val, y_val = validation_data\n", ""), ("predict(x_val,", "predict(x,"),
                      ("f1_score(y_val,", "f1_score(y,")),
              r"but its model's macro F1 on the validation data is", why="F1 scored on the training rows"),
        Wrong(variant(_F1_TUNER, ('direction="max"', 'direction="min"')),
              r"a higher F1 is better: direction='max'", why="the objective minimised"),
        Wrong(variant(_F1_TUNER, ('kt.Objective("val_macro_f1", direction="max")', '"val_accuracy"')),
              r"the objective must be named 'val_macro_f1'", why="the default objective name kept"),
        Wrong(variant(_F1_TUNER, ('        kwargs.setdefault("verbose", 0)\n', ""),
                      ("model.fit(x, y, epochs=epochs, **kwargs)", "model.fit(x, y, epochs=epochs, verbose=0)")),
              r"the callbacks given to search reached 0 of the 2 trials' fits", why="search's **kwargs dropped"),
    ],
}
