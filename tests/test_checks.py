"""helpers.checks: every check fails with a hint on a missing or wrong answer and passes on a right one."""

import keras
import numpy as np
import pytest

from helpers import checks
from helpers.checks import custom_layers

pytestmark = pytest.mark.usefixtures("tf_runtime")  # TensorFlow in-process: 4 logical CPUs


def test_generic_checks():
    checks.check_answer(4, 4, "two and two")
    for wrong in (None, ..., 5):
        with pytest.raises(AssertionError, match="Hint: two and two"):
            checks.check_answer(wrong, 4, "two and two")
    checks.check_close([1.0, 2.0], np.array([1.0, 2.0 + 1e-9]), "close")
    with pytest.raises(AssertionError, match="shape"):
        checks.check_close([1.0], [1.0, 2.0], "close")
    checks.check_at_least(0.9, 0.8, "acc")
    with pytest.raises(AssertionError, match="needs >= 0.8"):
        checks.check_at_least(0.5, 0.8, "acc")
    checks.check_callable(lambda a, b: a * b, [((2, 3), 6)], "multiply")
    with pytest.raises(AssertionError, match="gave 5"):
        checks.check_callable(lambda a, b: a + b, [((2, 3), 6)], "multiply")
    with pytest.raises(AssertionError, match="No function yet"):
        checks.check_callable(None, [], "multiply")


class GoodScale(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


class ScaleWithBias(GoodScale):
    def build(self, input_shape):
        super().build(input_shape)
        self.bias = self.add_weight(name="bias", shape=(), initializer="zeros")


def test_layer_exercise_checks_pass_right_and_fail_wrong_answers():
    custom_layers.check_scale_layer(GoodScale)
    with pytest.raises(AssertionError, match="found 2 trainable weights"):
        custom_layers.check_scale_layer(ScaleWithBias)
    with pytest.raises(AssertionError, match="No class yet"):
        custom_layers.check_scale_layer(None)


def test_call_learner_names_the_call_and_keeps_the_essential_line():
    def broken():
        raise ValueError("Graph execution error:\n\nDetected at node x\nshapes (2,) and (3,) differ")

    with pytest.raises(checks.ExerciseError, match=r"^Not yet: broken\(\) raised ValueError: shapes \(2,\) and"):
        checks.call_learner("broken()", broken)
    with pytest.raises(checks.ExerciseError, match="kept as it is"):
        checks.call_learner("check", checks.check, False, "kept as it is")
    assert checks.call_learner("sum", sum, [1, 2]) == 3
