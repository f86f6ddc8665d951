"""helpers.data: offline splits are reproducible, scaled and named; online sets fail clearly offline."""

import numpy as np
import pytest

from helpers import data

pytestmark = pytest.mark.usefixtures("tf_runtime")  # TensorFlow in-process: 4 logical CPUs


def test_digits_split_is_reproducible_and_scaled():
    a, b = data.load_digits(seed=1), data.load_digits(seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (1347, 64) and a.x_test.shape == (450, 64)
    assert a.x_train.dtype == np.float32 and 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert a.num_classes == 10 and a.num_features == 64
    assert not np.array_equal(a.x_train, data.load_digits(seed=2).x_train)


def test_digits_as_images_and_validation_cut():
    split = data.load_digits(images=True)
    assert split.x_train.shape[1:] == (8, 8, 1)
    (x, y), (xv, yv) = split.validation(0.2)
    assert len(x) + len(xv) == len(split.x_train) and len(xv) == len(yv)


def test_breast_cancer_is_standardised_on_train_rows():
    split = data.load_breast_cancer(seed=0)
    assert split.x_train.shape[1] == 30 and split.class_names == ["malignant", "benign"]
    np.testing.assert_allclose(split.x_train.mean(axis=0), 0, atol=1e-5)
    assert set(np.unique(split.y_test)) == {0, 1}


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="dataset must be one of 'digits', 'breast_cancer', 'mnist'"):
        data.load_dataset("cifar")


def test_online_dataset_without_network_says_what_to_do(monkeypatch):
    import keras

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(RuntimeError, match="cannot reach the internet.*Use an offline data set"):
        data.load_dataset("mnist")
