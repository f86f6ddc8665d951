"""Typical wrong answers of notebook 04's exercises (hyperparameter tuning); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

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
    "04_ex2": [Wrong('''
from scipy.stats import uniform

my_distributions = {
    "model_kwargs": tuners.KwargsSampler(units=[32, 64], learning_rate=uniform(1e-4, 1e-1 - 1e-4)),
    "fit_kwargs": [{"epochs": 1, "verbose": 0}, {"epochs": 2, "verbose": 0}],
}
''', r"learning_rate should be log-uniform", why="uniform, not log-uniform")],
}
