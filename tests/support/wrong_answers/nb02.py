"""Typical wrong answers of notebook 02's exercises (distributed training); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong, variant

_DATASET_FN = '''
def make_dataset_fn(x, y, global_batch):
    def dataset_fn(input_context):
        per_replica = input_context.get_per_replica_batch_size(global_batch)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return ds.batch(per_replica, drop_remainder=True)
    return dataset_fn
'''

_SGD = '''

def distributed_sgd(strategy, make_model, weights, x, y, per_replica_batch, steps, learning_rate):
    global_batch = per_replica_batch * strategy.num_replicas_in_sync
    with strategy.scope():
        model = make_model()
        model.set_weights(weights)
        optimizer = keras.optimizers.SGD(learning_rate)
        optimizer.build(model.trainable_variables)
    batches = iter(strategy.distribute_datasets_from_function(make_dataset_fn(x, y, global_batch)))

    @tf.function
    def train_step(x, y):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                per_example = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, args=(x, y)), axis=None)

    losses = [float(train_step(*next(batches))) for _ in range(steps)]
    return model.get_weights(), losses
'''

_EVALUATE = '''
def distributed_evaluate(strategy, model, x, y, per_replica_batch):
    global_batch = per_replica_batch * strategy.num_replicas_in_sync

    def dataset_fn(input_context):
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return ds.batch(input_context.get_per_replica_batch_size(global_batch))

    @tf.function
    def eval_step(x, y):
        def replica_sums(x, y):
            logits = model(x, training=False)
            losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            correct = tf.cast(tf.argmax(logits, axis=1, output_type=y.dtype) == y, tf.float32)
            return tf.reduce_sum(losses), tf.reduce_sum(correct), tf.cast(tf.shape(y)[0], tf.float32)
        sums = strategy.run(replica_sums, args=(x, y))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, s, axis=None) for s in sums]

    loss_sum = correct = rows = 0.0
    for xb, yb in strategy.distribute_datasets_from_function(dataset_fn):
        step_loss, step_correct, step_rows = eval_step(xb, yb)
        loss_sum, correct, rows = loss_sum + float(step_loss), correct + float(step_correct), rows + float(step_rows)
    return loss_sum / rows, correct / rows
'''

_STEP_MEANS = '''
def distributed_evaluate(strategy, model, x, y, per_replica_batch):
    global_batch = per_replica_batch * strategy.num_replicas_in_sync

    def dataset_fn(input_context):
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        return ds.batch(input_context.get_per_replica_batch_size(global_batch))

    @tf.function
    def eval_step(x, y):
        def replica_step(x, y):
            logits = model(x, training=False)
            losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            correct = tf.cast(tf.argmax(logits, axis=1, output_type=y.dtype) == y, tf.float32)
            return (tf.nn.compute_average_loss(losses, global_batch_size=global_batch),
                    tf.nn.compute_average_loss(correct, global_batch_size=global_batch))
        loss, accuracy = strategy.run(replica_step, args=(x, y))
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, accuracy, axis=None))

    results = [eval_step(xb, yb) for xb, yb in strategy.distribute_datasets_from_function(dataset_fn)]
    return float(np.mean([r[0] for r in results])), float(np.mean([r[1] for r in results]))
'''

_REPLICA_MEANS = '''
def distributed_evaluate(strategy, model, x, y, per_replica_batch):
    global_batch = per_replica_batch * strategy.num_replicas_in_sync

    def dataset_fn(input_context):
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        return ds.batch(input_context.get_per_replica_batch_size(global_batch))

    @tf.function
    def eval_step(x, y):
        def replica_means(x, y):
            logits = model(x, training=False)
            losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            correct = tf.cast(tf.argmax(logits, axis=1, output_type=y.dtype) == y, tf.float32)
            return tf.reduce_mean(losses), tf.reduce_mean(correct), tf.cast(tf.shape(y)[0], tf.float32)
        means = strategy.run(replica_means, args=(x, y))
        return [strategy.reduce(tf.distribute.ReduceOp.MEAN, m, axis=None) for m in means[:2]] + \\
            [strategy.reduce(tf.distribute.ReduceOp.SUM, means[2], axis=None)]

    loss_sum = correct = rows = 0.0
    for xb, yb in strategy.distribute_datasets_from_function(dataset_fn):
        step_loss, step_accuracy, step_rows = eval_step(xb, yb)
        loss_sum += float(step_loss) * float(step_rows)
        correct += float(step_accuracy) * float(step_rows)
        rows += float(step_rows)
    return loss_sum / rows, correct / rows
'''


WRONG: dict[str, list[Wrong]] = {
    "02_ex1": [Wrong('''
third_worker_config = {
    "cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222", "10.0.0.3:2222"]},
    "task": {"type": "worker", "index": 3},
}
''', r"the third index \(got .*'index': 3", why="counted from 1")],
    "02_ex2": [
        Wrong(variant(_DATASET_FN, ("ds.batch(per_replica,", "ds.batch(global_batch,")) + _SGD,
              r"the batches have \[8\] rows; each must have the per-replica batch, 4",
              why="each replica batched with the global batch"),
        Wrong(variant(_DATASET_FN, ("        ds = ds.shard(input_context.num_input_pipelines, "
                                   "input_context.input_pipeline_id)\n", "")) + _SGD,
              r"input pipelines 0 and 1 both read the rows .*shard by input_context\.input_pipeline_id",
              why="no sharding: every worker would read the same rows"),
        Wrong(variant(_DATASET_FN, ("ds.batch(per_replica, drop_remainder=True)", "ds.batch(per_replica)")) + _SGD,
              r"the last batch has 2 rows: drop the short remainder", why="the short last batch kept in training"),
        Wrong(_DATASET_FN + variant(_SGD, ("tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)",
                                    "tf.reduce_mean(per_example)")),
              r"times the one-device mean .*each replica averaged its own slice.*compute_average_loss",
              why="each replica's mean over its own slice, summed over the replicas"),
    ],
    "02_ex3": [
        Wrong(variant(_EVALUATE, ("global_batch))\n", "global_batch), drop_remainder=True)\n")),
              r"the rows of the last, short, global batch are left out", why="the last short batch dropped"),
        Wrong(_STEP_MEANS, r"the average of the per-step losses scaled by the global batch",
              why="the mean of the per-step losses, as in training"),
        Wrong(_REPLICA_MEANS, r"a replica with no rows in the last step gives the mean of nothing \(NaN\)",
              why="each replica's mean, averaged with ReduceOp.MEAN"),
    ],
}
