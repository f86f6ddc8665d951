"""Tests of helpers.custom_layers: notebook 01's fresh process that loads an exported model without its classes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import custom_layers, procs


def test_a_missing_file_is_named_before_tensorflow_is_imported(tmp_path):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((2, 3), dtype="float32"))
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        custom_layers.main(["--savedmodel", str(tmp_path / "no_such_model"), "--keras", str(rows),
                            "--inputs", str(rows), "--out", str(tmp_path / "found.json")])
    assert not (tmp_path / "found.json").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("tf_runtime")
def test_a_fresh_process_serves_the_savedmodel_but_cannot_rebuild_the_keras_file(tmp_path):
    import keras

    @keras.saving.register_keras_serializable(package="tests_custom_layers")
    class Twice(keras.layers.Layer):
        """Doubles its input: a custom class the child process has never imported."""

        def call(self, inputs):
            return 2.0 * inputs

    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(Twice()(inputs)))
    rows = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    model.export(str(tmp_path / "export" / "1"), verbose=False)
    np.save(tmp_path / "rows.npy", rows)

    child = procs.start("helpers.custom_layers",
                        ["--savedmodel", tmp_path / "export" / "1", "--keras", tmp_path / "model.keras",
                         "--inputs", tmp_path / "rows.npy", "--names", "tests_custom_layers>Twice",
                         "--out", tmp_path / "found.json"], log=tmp_path / "child.log", name="fresh-load-test")
    try:
        procs.wait_for_exit([child], timeout=300)
    finally:
        child.stop()
    found = json.loads((tmp_path / "found.json").read_text())
    np.testing.assert_allclose(found["predictions"], model.predict(rows, verbose=0), rtol=1e-5, atol=1e-6)
    assert found["registered"] == [] and "serve" in found["signatures"]
    assert "Could not locate class 'Twice'" in found["keras_file_error"]
