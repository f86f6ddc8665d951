"""Small models the notebooks share, and the exported digits classifier the serving notebook serves.

The custom layers themselves are taught (and defined) in ``01_custom_layers``; what lives here is the
plumbing other lessons reuse.
"""

from __future__ import annotations

from pathlib import Path

from helpers.data import Split, load_digits


def make_mlp(num_features: int, num_classes: int, units: int = 64, hidden_layers: int = 1,
             learning_rate: float = 1e-3, name: str = "mlp", logits: bool = False, compiled: bool = True):
    """A Keras MLP classifier: ``keras.Input`` + Dense ReLU layers + a softmax output (or raw ``logits``),
    compiled with Adam and sparse cross-entropy unless ``compiled=False`` (a custom training loop)."""
    import keras

    inputs = keras.Input(shape=(num_features,), name="features")
    x = inputs
    for i in range(hidden_layers):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    outputs = keras.layers.Dense(num_classes, activation=None if logits else "softmax",
                                 name="logits" if logits else "probabilities")(x)
    model = keras.Model(inputs, outputs, name=name)
    if compiled:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=logits), metrics=["accuracy"])
    return model


def train_digits_classifier(epochs: int = 5, units: int = 64, seed: int = 0, data: Split | None = None):
    """Train :func:`make_mlp` on the offline digits; returns ``(model, test_accuracy)``.

    Fewer ``epochs`` give a weaker model: the serving notebook exports two qualities as two versions.
    """
    import keras

    data = data or load_digits(seed)
    keras.utils.set_random_seed(seed)
    model = make_mlp(data.num_features, data.num_classes, units=units, name="digits_mlp")
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    return model, float(accuracy)


def export_version(model, base_path: str | Path, version: int) -> Path:
    """Export ``model`` as a SavedModel in ``base_path/<version>``, the layout TensorFlow Serving loads."""
    if version < 1:
        raise ValueError(f"version must be >= 1 (TensorFlow Serving ignores folder 0), got {version}")
    target = Path(base_path) / str(version)
    if target.exists():
        raise FileExistsError(f"{target} already exists; TensorFlow Serving versions are immutable")
    target.parent.mkdir(parents=True, exist_ok=True)
    model.export(str(target), verbose=False)
    return target
