"""Typical wrong answers of notebook 02's exercises (distributed training); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

WRONG: dict[str, list[Wrong]] = {
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
}
