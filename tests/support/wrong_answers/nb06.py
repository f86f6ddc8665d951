"""Typical wrong answers of notebook 06's exercises (model parallelism); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong, variant

_MEGATRON = '''
LAYOUT_SPECS = {"kernel1": [dtensor.UNSHARDED, "model"], "bias1": ["model"],
                "kernel2": ["model", dtensor.UNSHARDED], "bias2": [dtensor.UNSHARDED]}


def megatron_step(mesh, values, x, y):
    params = {}
    for name, value in values.items():
        replicated = dtensor.copy_to_mesh(tf.constant(value), dtensor.Layout.replicated(mesh, rank=value.ndim))
        params[name] = dtensor.DVariable(dtensor.relayout(replicated, dtensor.Layout(LAYOUT_SPECS[name], mesh)))
    x_mesh = dtensor.copy_to_mesh(tf.constant(x), dtensor.Layout.replicated(mesh, rank=2))
    y_mesh = dtensor.copy_to_mesh(tf.constant(y), dtensor.Layout.replicated(mesh, rank=1))

    @tf.function
    def loss_and_grads(x, y):
        with tf.GradientTape() as tape:
            hidden = tf.nn.relu(tf.matmul(x, params["kernel1"]) + params["bias1"])
            logits = tf.matmul(hidden, params["kernel2"]) + params["bias2"]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        return loss, tape.gradient(loss, params)

    loss, grads = loss_and_grads(x_mesh, y_mesh)
    return params, loss, grads
'''  # exercise 4's solution; each wrong answer changes one thing

_GPIPE = '''
def gpipe_makespan(forward, backward):
    stages, micro = forward.shape
    free = np.zeros(stages)
    f_end, b_end = np.zeros((stages, micro)), np.zeros((stages, micro))
    for m in range(micro):
        for s in range(stages):
            start = max(free[s], f_end[s - 1, m] if s else 0.0)
            f_end[s, m] = free[s] = start + forward[s, m]
    for m in reversed(range(micro)):
        for s in reversed(range(stages)):
            ready = b_end[s + 1, m] if s < stages - 1 else f_end[s, m]
            b_end[s, m] = free[s] = max(free[s], ready) + backward[s, m]
    return float(b_end.max())
'''  # exercise 3's solution

WRONG: dict[str, list[Wrong]] = {
    "06_ex1": [Wrong('''
with tf.device(rt.devices[-1]):
    placed_layer = keras.layers.Dense(8)
placed_output = placed_layer(tf.ones((2, 4)))
''', r"the kernel must live on", why="called (so built) outside the device scope")],
    "06_ex2": [
        Wrong('''
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")


def micro_batch_gradients(stages, devices, x, y, micro_batches):
    stage0, stage1 = stages
    variables = stage0.trainable_variables + stage1.trainable_variables
    total = None
    for rows in parallel.micro_batch_slices(len(x), micro_batches):
        with tf.GradientTape() as tape:
            with tf.device(devices[0]):
                h = stage0(x[rows])
            with tf.device(devices[1]):
                loss = loss_fn(y[rows], stage1(h)) / len(x)
        grads = tape.gradient(loss, variables)
        total = grads if total is None else [a + b for a, b in zip(total, grads, strict=True)]
    return total
''', r"the gradient of stage [01]'s \w+ is on \S+, not on its stage's device",
              why="one tape over both stages: the backward pass and the sums run on the default device"),
        Wrong('''
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def micro_batch_gradients(stages, devices, x, y, micro_batches):
    stage0, stage1 = stages
    homes = [devices[0]] * 2 + [devices[1]] * 2
    total = [None] * 4
    for rows in parallel.micro_batch_slices(len(x), micro_batches):
        with tf.device(devices[0]), tf.GradientTape() as tape0:
            h = stage0(x[rows])
        with tf.device(devices[1]), tf.GradientTape() as tape1:
            tape1.watch(h)
            loss = loss_fn(y[rows], stage1(h)) / micro_batches
        with tf.device(devices[1]):
            grads1, dh = tape1.gradient(loss, [stage1.trainable_variables, h])
        with tf.device(devices[0]):
            grads0 = tape0.gradient(h, stage0.trainable_variables, output_gradients=dh)
        for i, (grad, home) in enumerate(zip(grads0 + grads1, homes, strict=True)):
            with tf.device(home):
                total[i] = grad if total[i] is None else total[i] + grad
    return total
''', r"micro_batches=4 the gradient of stage \d's \w+ differs from the whole batch's",
              why="each micro-batch's mean loss divided by the number of micro-batches (unequal micro-batches)"),
        Wrong('''
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def micro_batch_gradients(stages, devices, x, y, micro_batches):
    stage0, stage1 = stages
    with tf.device(devices[0]), tf.GradientTape() as tape0:
        h = stage0(x)
    with tf.device(devices[1]), tf.GradientTape() as tape1:
        tape1.watch(h)
        loss = loss_fn(y, stage1(h))
    with tf.device(devices[1]):
        grads1, dh = tape1.gradient(loss, [stage1.trainable_variables, h])
    with tf.device(devices[0]):
        grads0 = tape0.gradient(h, stage0.trainable_variables, output_gradients=dh)
    return grads0 + grads1
''', r"micro_batches=4, stage 0 was called on \[30\] rows",
              why="the whole batch at once, micro_batches ignored"),
    ],
    "06_ex3": [
        Wrong(variant(_GPIPE, ("start = max(free[s], f_end[s - 1, m] if s else 0.0)",
                               "start = f_end[s - 1, m] if s else 0.0")),
              r"shorter than GPipe's .*one step at a time", why="a stage running several micro-batches at once"),
        Wrong('''
def gpipe_makespan(forward, backward):
    return float(forward.sum() + backward.sum())
''', r"every step's time added up", why="no overlap between the stages"),
        Wrong(variant(_GPIPE, ("for m in reversed(range(micro)):", "for m in range(micro):")),
              r"random step times: [\d.]+ is shorter than GPipe's .*last micro-batch to the first",
              why="the backwards in forward order"),
    ],
    "06_ex4": [
        Wrong(variant(_MEGATRON, ("    @tf.function\n    def loss_and_grads", "    def loss_and_grads")),
              r"need a tf\.function",
              why="an eager GradientTape through DTensor ops (no tf.function)"),
        Wrong(variant(_MEGATRON, ('"kernel2": ["model", dtensor.UNSHARDED]',
                                  '"kernel2": [dtensor.UNSHARDED, dtensor.UNSHARDED]')),
              r"params\['kernel2'\] has the layout \['unsharded', 'unsharded'\]; split its rows",
              why="the second kernel left replicated instead of split on its rows"),
        Wrong(variant(_MEGATRON, ('loss = tf.reduce_mean(', 'loss = tf.reduce_sum(')),
              r"the loss is \S+, the same MLP on one device gives",
              why="the summed loss instead of the mean"),
    ],
}
