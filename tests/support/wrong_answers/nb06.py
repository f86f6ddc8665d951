"""Typical wrong answers of notebook 06's exercises (model parallelism); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

WRONG: dict[str, list[Wrong]] = {
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
}
