'''Typical wrong answers of every exercise, and the message each must get from its check.

``WRONG[grade id]`` (``"05_ex2"``: notebook 05, exercise 2, the check cell's nbgrader ``grade_id`` without
``_check``) is a list of :class:`Wrong`: ``answer`` is the code put between the solution cell's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, ``message`` a regular expression the check's error must
match (``re.search``), ``error`` the error's class name. tests/test_grade.py requires every exercise of every
notebook to have at least one entry; a new exercise adds its own here.
'''

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wrong:
    answer: str
    message: str
    error: str = "ExerciseError"
    why: str = ""  # the mistake, in a few words


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
    "02_ex1": [Wrong('''
third_worker_config = {
    "cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222", "10.0.0.3:2222"]},
    "task": {"type": "worker", "index": 3},
}
''', r"the third index \(got .*'index': 3", why="counted from 1")],
    "02_ex2": [Wrong('''
def global_batch_size(per_replica, devices_per_worker, num_workers):
    return per_replica * devices_per_worker
''', r"global_batch_size\(64, 8, 2\) gave 512", why="forgot the workers")],
    "02_ex3": [Wrong('''
def scaled_learning_rate(base_lr, base_batch, global_batch):
    return base_lr * global_batch / base_batch


exercise_strategy = tf.distribute.MirroredStrategy(rt.devices[:min(4, rt.num_devices)])
exercise_lr = scaled_learning_rate(0.05, batch_size, batch_size)
''', r"0\.05 times the number of replicas in exercise_strategy \(values differ", why="per-replica batch as global")],
    "03_ex1": [Wrong('''
def labelled_predict(host, model, label, rows):
    return f"http://{host}/v1/models/{model}/labels/{label}:predict", {"inputs": rows}
''', r"put the rows under 'instances' \(labelled_predict\(", why="the columnar key")],
    "03_ex2": [Wrong('''
shop_config = """
model_config_list {
  config {
    name: "shop"
    base_path: "/models/shop"
    model_platform: "tensorflow"
    version_labels { key: "stable" value: 4 }
    version_labels { key: "canary" value: 5 }
  }
}
"""
''', r"use model_version_policy \{ all \{\} \}", why="the default policy serves the latest version only")],
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
    "05_ex1": [Wrong('''
class BestValAccuracyEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.best_epoch, self.best = None, -np.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_accuracy")
        if value is not None and value > self.best:
            self.best_epoch, self.best = epoch, value
''', r"for val_accuracy \[0\.1, 0\.2, 0\.3, 0\.4\] expected best_epoch=3", why="not reset in on_train_begin")],
    "05_ex2": [Wrong('''
def warmup_then_decay(epoch, lr):
    if epoch < 3:
        return 1e-3 * (epoch + 1) / 3
    return 1e-3 * 0.5 ** (epoch - 3)
''', r"warmup_then_decay\(3, 1\.0\) gave 0\.001", why="decay starts one epoch late")],
    "06_ex1": [Wrong('''
with tf.device(rt.devices[-1]):
    placed_layer = keras.layers.Dense(8)
placed_output = placed_layer(tf.ones((2, 4)))
''', r"the kernel must live on", why="called (so built) outside the device scope")],
    "06_ex2": [Wrong('''
exercise_mesh = dtensor.create_mesh([("model", rt.num_devices)], devices=rt.devices)
value = tf.ones((16, 8 * rt.num_devices))
replicated = dtensor.copy_to_mesh(value, dtensor.Layout.replicated(exercise_mesh, rank=2))
column_kernel = dtensor.DVariable(
    dtensor.relayout(replicated, dtensor.Layout(["model", dtensor.UNSHARDED], exercise_mesh)))
''', r"each device should hold all 16 rows and 8 of the columns", why="sharded on rows")],
    "06_ex3": [Wrong('''
def bubble(stages, micro_batches):
    return (stages - 1) / micro_batches


fewest_micro_batches = next(m for m in range(1, 1000) if bubble(4, m) < 0.08)
''', r"bubble\(2, 1\) gave 1\.0", why="forgot the stages' own slots")],
    "07_ex1": [Wrong('''
top_two = [exercise_names[i] for i in np.argsort(-exercise_values)[:2]]
''', r"not its sign \(got \['age'", why="ranked by signed value")],
    "07_ex2": [Wrong('''
def linear_shap(weights, x, background):
    return weights * x
''', r"subtract the background mean, then multiply by the weight \(linear_shap\(", why="no baseline")],
    "07_ex3": [Wrong('''
def points_inside(saliency, mask):
    return bool(mask[saliency > 0].any())
''', r"look it up in the mask \(points_inside\(.* gave False", why="any salient pixel, not the peak")],
}
