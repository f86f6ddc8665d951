"""Offline data sets for the notebooks: scikit-learn's bundled digits and breast cancer, split and scaled
reproducibly; MNIST and Fashion-MNIST only when asked for (they download)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.params import OFFLINE_DATASETS as OFFLINE
from helpers.params import ONLINE_DATASETS as ONLINE
from helpers.params import check_choice


@dataclass
class Split:
    """A train/test split with names, ready for Keras (float32 features, int labels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    class_names: list[str]

    @property
    def num_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def validation(self, fraction: float = 0.2) -> tuple[tuple[np.ndarray, np.ndarray], tuple]:
        """Cut the last ``fraction`` of the training rows off as validation: ((x, y), (x_val, y_val))."""
        cut = int(len(self.x_train) * (1 - fraction))
        return (self.x_train[:cut], self.y_train[:cut]), (self.x_train[cut:], self.y_train[cut:])


def _split(x, y, seed: int, test_size: float):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)


def load_digits(seed: int = 0, test_size: float = 0.25, images: bool = False) -> Split:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes), pixels scaled to [0, 1].

    Flat 64-feature rows by default; ``images=True`` gives (n, 8, 8, 1) arrays for CNNs.
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.data / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = _split(x, bunch.target.astype("int64"), seed, test_size)
    if images:
        x_train, x_test = x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return Split(x_train, y_train, x_test, y_test, names, [str(d) for d in range(10)])


def load_breast_cancer(seed: int = 0, test_size: float = 0.25) -> Split:
    """scikit-learn's Wisconsin breast cancer set (569 rows, 30 features), standardised on the train rows."""
    from sklearn.datasets import load_breast_cancer as sk_cancer
    from sklearn.preprocessing import StandardScaler

    bunch = sk_cancer()
    x_train, x_test, y_train, y_test = _split(bunch.data, bunch.target.astype("int64"), seed, test_size)
    scaler = StandardScaler().fit(x_train)
    return Split(
        scaler.transform(x_train).astype("float32"),
        y_train,
        scaler.transform(x_test).astype("float32"),
        y_test,
        list(bunch.feature_names),
        list(bunch.target_names),
    )


def load_online(name: str, limit: int | None = None) -> Split:
    """MNIST or Fashion-MNIST through ``keras.datasets`` (downloads once); flat rows scaled to [0, 1]."""
    check_choice("dataset", name, ONLINE)
    import keras

    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as err:  # urllib raises several kinds; all mean the same to a learner
        raise RuntimeError(
            f"dataset={name!r} must be downloaded and this machine cannot reach the internet "
            f"({type(err).__name__}: {err}). Use an offline data set: one of {', '.join(OFFLINE)}."
        ) from err
    if limit:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    flat = lambda a: (a.reshape(len(a), -1) / 255.0).astype("float32")  # noqa: E731
    names = [f"pixel_{i}" for i in range(x_train[0].size)]
    return Split(flat(x_train), y_train.astype("int64"), flat(x_test), y_test.astype("int64"), names,
                 [str(i) for i in range(10)])


def load_dataset(name: str = "digits", seed: int = 0) -> Split:
    """Any of the workbook's data sets by name: offline ``digits``/``breast_cancer``, online ``mnist``..."""
    check_choice("dataset", name, OFFLINE + ONLINE)
    if name == "digits":
        return load_digits(seed)
    if name == "breast_cancer":
        return load_breast_cancer(seed)
    return load_online(name)
