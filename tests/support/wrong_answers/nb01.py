"""Typical wrong answers of notebook 01's exercises (custom layers); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

WRONG: dict[str, list[Wrong]] = {
    "01_ex1": [Wrong('''
class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="zeros")

    def call(self, inputs):
        return inputs * self.scale
''', r"with scale=1 the output should equal the input", why="initialised to 0, not 1")],
    "01_ex2": [Wrong('''
class CallCounter(keras.layers.Layer):
    def build(self, input_shape):
        self.calls = self.add_weight(name="calls", shape=(), initializer="zeros")

    def call(self, inputs):
        self.calls.assign_add(1.0)
        return inputs
''', r"the counter must not be trainable", why="a trainable counter")],
    "01_ex3": [Wrong('''
class ScaleFrom(keras.layers.Layer):
    def __init__(self, initial=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = initial

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer=keras.initializers.Constant(self.initial))

    def call(self, inputs):
        return inputs * self.scale

    def get_config(self):
        return super().get_config()
''', r"get_config\(\) lacks \['initial'\]", why="get_config leaves out the new argument")],
}
