"""Typical wrong answers of notebook 01's exercises (custom layers); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

_MASKED_MEAN = '''
class MaskedMean(keras.layers.Layer):
    def __init__(self, rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs, mask=None):
        if mask is None:
            outputs = keras.ops.mean(inputs, axis=1)
        else:
            weights = keras.ops.expand_dims(keras.ops.cast(mask, inputs.dtype), -1)
            outputs = POOLED
        ADD_LOSS
        return outputs

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    COMPUTE_MASK

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
'''
_RIGHT = {
    "POOLED": "keras.ops.sum(inputs * weights, axis=1) / keras.ops.sum(weights, axis=1)",
    "ADD_LOSS": "self.add_loss(self.rate * keras.ops.mean(keras.ops.square(outputs)))",
    "COMPUTE_MASK": "def compute_mask(self, inputs, mask=None):\n        return None",
}


def _filled(template: str, right: dict[str, str], **changes: str) -> str:
    """``template`` with each placeholder (``right``'s keys) filled with its right code, or with the mistake
    ``changes`` gives for it."""
    for key, code in right.items():
        template = template.replace(key, changes.get(key, code))
    return template


def _masked_mean(**changes: str) -> str:
    """The exercise 2 solution with some of its parts (``_RIGHT``'s keys) replaced by a mistake."""
    return _filled(_MASKED_MEAN, _RIGHT, **changes)


_CLIPPED = '''
class ClippedModel(keras.Model):
    def __init__(self, *args, clip_norm=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.clip_norm = clip_norm

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = LOSS
        grads = tape.gradient(loss, self.trainable_variables)
        grads = CLIP
        self.optimizer.apply(grads, self.trainable_variables)
        METRICS
'''
_RIGHT_STEP = {
    "LOSS": "self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)",
    "CLIP": "tf.clip_by_global_norm(grads, self.clip_norm)[0]",
    "METRICS": """for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight)
        return {m.name: m.result() for m in self.metrics}""",
}


def _clipped(**changes: str) -> str:
    """The exercise 3 solution with some of its parts (``_RIGHT_STEP``'s keys) replaced by a mistake."""
    return _filled(_CLIPPED, _RIGHT_STEP, **changes)


WRONG: dict[str, list[Wrong]] = {
    "01_ex1": [Wrong('''
class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="zeros")

    def call(self, inputs):
        return inputs * self.scale
''', r"with scale=1 the output should equal the input", why="initialised to 0, not 1")],
    "01_ex2": [
        Wrong(_masked_mean(POOLED="keras.ops.mean(inputs, axis=1)"), r"mean over all 6 steps, padding included",
              why="the mask is ignored"),
        Wrong(_masked_mean(POOLED="keras.ops.sum(inputs * weights, axis=1) / keras.ops.shape(inputs)[1]"),
              r"counted in the divisor", why="divides by every step, padding included"),
        Wrong(_masked_mean(ADD_LOSS="pass"), r"must add one loss with self\.add_loss", why="no add_loss"),
        Wrong(_masked_mean(COMPUTE_MASK="supports_masking = True"), r"no mask may pass on",
              why="the default compute_mask passes the (batch, steps) mask on to a (batch, features) output"),
    ],
    "01_ex3": [
        Wrong(_clipped(CLIP="grads"), r"unclipped SGD steps", why="no clipping"),
        Wrong(_clipped(CLIP="[tf.clip_by_norm(g, self.clip_norm) for g in grads]"), r"clipped on its own",
              why="each gradient clipped by its own norm, not the global one"),
        Wrong(_clipped(LOSS="keras.ops.mean(keras.ops.square(y - y_pred))"), r"leaves out the layers' add_loss losses",
              why="the loss written by hand without model.losses"),
        Wrong(_clipped(METRICS='return {"loss": loss}'), r"compiled metrics \(mae\): they were never updated",
              why="the metrics are neither updated nor returned"),
        Wrong(_clipped(METRICS=_RIGHT_STEP["METRICS"].replace("{m.name: m.result() for m in self.metrics}",
                                                             '{"loss": loss}')),
              r"history lacks \['mae'\]", why="the metrics are updated but only the step's loss is returned"),
    ],
}
