"""Checks of the distributed-training exercises (``02_distributed_training``).

Exercise 1 is the ``TF_CONFIG`` of one worker; exercise 2 is a strategy-aware training step over
``strategy.distribute_datasets_from_function``, compared with the same SGD steps on one device; exercise 3 is a
distributed evaluation over every row (the last, short, batch included), compared with the one-device
evaluation. Every expected value is computed here, on one device, from the same model, weights and rows as
the learner's function gets, so the checks hold for any seed. The model of exercises 2 and 3
(:func:`make_tiny_model`) notes the replica context and batch size of every call, so a check can say what
each replica saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers.checks import ExerciseError, call_learner, check, check_answer, fuller_hint, is_missing
from helpers.distributed import tf_config

FEATURES, CLASSES = 8, 3


def check_third_worker_config(answer: Any) -> None:
    """Exercise 1: the ``TF_CONFIG`` of the third of three workers at 10.0.0.1-3:2222."""
    check_answer(answer, tf_config({"worker": [f"10.0.0.{i}:2222" for i in (1, 2, 3)]}, "worker", 2),
                 "the whole cluster, then task type 'worker' and the third index")


# ---- the tiny problem of exercises 2 and 3 ------------------------------------------------------------


class ReplicaRecorder(keras.layers.Layer):
    """An identity layer that appends ``(replicas, rows)`` to ``calls`` each time it runs (or is traced):
    ``replicas`` is ``num_replicas_in_sync`` when the call runs inside ``strategy.run`` of a strategy, and
    None anywhere else; ``rows`` is the static batch size (None where it is not known when tracing)."""

    def __init__(self, calls: list | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._record = (calls if calls is not None else []).append  # a bound method: Keras would copy a list

    def call(self, inputs: Any) -> Any:
        """Record the call; return ``inputs`` unchanged."""
        context = tf.distribute.get_replica_context()
        in_run = tf.distribute.has_strategy() and context is not None
        self._record((context.num_replicas_in_sync if in_run else None, inputs.shape[0]))
        return inputs


def make_tiny_model(calls: list | None = None) -> keras.Model:
    """Exercises 2 and 3's model: ``FEATURES`` (8) inputs -> Dense(16, relu) -> Dense(``CLASSES``) logits,
    with a :class:`ReplicaRecorder` after the input that appends to ``calls`` (when given) what it saw."""
    return keras.Sequential([keras.Input(shape=(FEATURES,)), ReplicaRecorder(calls),
                             keras.layers.Dense(16, activation="relu"), keras.layers.Dense(CLASSES)])


def tiny_problem(seed: int, rows: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Initial weights for :func:`make_tiny_model`, float32 ``x`` (rows, 8) and int32 labels ``y`` (rows,)
    that depend on the features, all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    weights = [(rng.normal(size=w.shape) / np.sqrt(w.shape[0] if w.ndim > 1 else 4)).astype("float32")
               for w in make_tiny_model().get_weights()]
    x = rng.normal(size=(rows, FEATURES)).astype("float32")
    y = (np.argmax(x[:, :CLASSES], axis=1)).astype("int32")
    return weights, x, y


def _per_example_loss(y: Any, logits: Any) -> Any:
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def _replica_rows(calls: list, replicas: int) -> list:
    """The batch sizes the model saw inside strategy.run with ``replicas`` replicas."""
    return [rows for n, rows in calls if n == replicas]


# ---- Exercise 2: a training step over distribute_datasets_from_function -------------------------------


def _check_dataset_fn(make_dataset_fn: Callable) -> None:
    """The input function alone, with fake input contexts: one pipeline, then two pipelines of 4 replicas."""
    x = np.arange(52, dtype="float32").reshape(26, 2)
    y = np.arange(26, dtype="int32")  # y names the row

    def batches(pipelines: int, index: int, replicas: int, global_batch: int) -> list[list[int]]:
        dataset_fn = call_learner(make_dataset_fn.__name__, make_dataset_fn, x, y, global_batch)
        check(callable(dataset_fn), "make_dataset_fn(x, y, global_batch) must return a function of input_context")
        context = tf.distribute.InputContext(pipelines, index, replicas)
        dataset = call_learner(dataset_fn.__name__, dataset_fn, context)
        check(isinstance(dataset, tf.data.Dataset), f"dataset_fn must return a tf.data.Dataset "
              f"(got {type(dataset).__name__})")
        found = []
        for element in dataset.take(len(y) + 1):  # more batches than rows: it never ends
            check(isinstance(element, tuple | list) and len(element) == 2,
                  "each element of the dataset must be a batch (x, y)")
            found.append([int(v) for v in np.asarray(element[1]).reshape(-1)])
        check(len(found) <= len(y), "the dataset never ends: read the rows once (no .repeat())")
        return found

    one = batches(1, 0, 2, 8)
    sizes = [len(b) for b in one]
    check(not (len(sizes) > 1 and set(sizes[:-1]) == {4} and sizes[-1] < 4),
          f"with one input pipeline the last batch has {sizes[-1] if sizes else 0} rows: drop the short remainder "
          "(batch with drop_remainder=True), so that every training step has whole per-replica batches")
    check(sizes and set(sizes) == {4},
          f"with one input pipeline, 2 replicas and global_batch=8 the batches have {sorted(set(sizes))} rows; "
          "each must have the per-replica batch, 4: input_context.get_per_replica_batch_size(global_batch)")
    check(one == [list(range(i, i + 4)) for i in range(0, 24, 4)],
          f"with one input pipeline the batches must be the rows in order, every row once (got the rows {one[:2]} "
          "first): no shuffling")
    two = [batches(2, i, 4, 8) for i in (0, 1)]
    sizes = sorted({len(b) for p in two for b in p})
    check(sizes == [2], f"with 2 pipelines, 4 replicas and global_batch=8 the batches have {sizes} rows, each must "
          "have 8 / 4 = 2")
    rows = [sorted(r for b in p for r in b) for p in two]
    check(not set(rows[0]) & set(rows[1]),
          f"input pipelines 0 and 1 both read the rows {sorted(set(rows[0]) & set(rows[1]))[:6]}...: each pipeline "
          "(each worker) must read its own share; shard by input_context.input_pipeline_id")
    check(len(rows[0]) + len(rows[1]) >= 24, f"the two input pipelines read only {len(rows[0]) + len(rows[1])} of "
          "the 26 rows: together they must read every row (but a short remainder) once")


def _one_device_sgd(weights: list, x: np.ndarray, y: np.ndarray, global_batch: int, steps: int,
                    learning_rate: float) -> tuple[list[np.ndarray], list[float]]:
    """The reference: ``steps`` SGD steps on one device, step t on rows t*global_batch... in order."""
    model = make_tiny_model()
    model.set_weights(weights)
    optimizer = keras.optimizers.SGD(learning_rate)
    losses = []
    for t in range(steps):
        xb, yb = x[t * global_batch:(t + 1) * global_batch], y[t * global_batch:(t + 1) * global_batch]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(_per_example_loss(yb, model(xb, training=True)))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables,
                                      strict=True))
        losses.append(float(loss))
    return model.get_weights(), losses


@fuller_hint("make_dataset_fn: from_tensor_slices((x, y)), .shard(num_input_pipelines, input_pipeline_id), "
             ".batch(get_per_replica_batch_size(global_batch), drop_remainder=True). distributed_sgd: under "
             "strategy.scope() make the model, set the weights, make the SGD optimizer and build it on the "
             "trainable variables; a @tf.function step(x, y) whose inner function computes the per-example "
             "losses on a tape, tf.nn.compute_average_loss(losses, global_batch_size=global_batch), the "
             "gradients and apply_gradients, and returns the loss; the step returns strategy.reduce(SUM, "
             "strategy.run(inner, args=(x, y)), axis=None); call it on next(iterator) `steps` times")
def check_distributed_sgd(make_dataset_fn: Any, distributed_sgd: Any, strategy: Any, seed: int) -> None:
    """Exercise 2: ``make_dataset_fn(x, y, global_batch)`` gives the input function (tested with fake input
    contexts), and ``distributed_sgd(strategy, make_model, weights, x, y, per_replica_batch, steps,
    learning_rate)`` returns ``(weights, losses)`` equal, within 1e-5, to the same SGD steps on one device
    on whole global batches taken in order; the model must run inside ``strategy.run`` on per-replica batches."""
    for name, fn in (("make_dataset_fn", make_dataset_fn), ("distributed_sgd", distributed_sgd)):
        if is_missing(fn) or not callable(fn):
            raise ExerciseError(f"No function yet. Hint: define {name} (both functions of the exercise)")
    _check_dataset_fn(make_dataset_fn)
    replicas, per_replica, steps, learning_rate = strategy.num_replicas_in_sync, 3, 3, 0.5
    global_batch = per_replica * replicas
    weights, x, y = tiny_problem(seed, steps * global_batch + 5)  # a few rows left over: not trained on
    calls: list = []
    out = call_learner(distributed_sgd.__name__, distributed_sgd, strategy, lambda: make_tiny_model(calls),
                       [w.copy() for w in weights], x, y, per_replica, steps, learning_rate)
    check(isinstance(out, tuple | list) and len(out) == 2, "return (model.get_weights(), losses)")
    got_weights, got_losses = out
    seen = _replica_rows(calls, replicas)
    check(seen, "the model never ran inside strategy.run: call it in the function you pass to strategy.run")
    check(set(seen) <= {per_replica, None},
          f"inside strategy.run each replica got batches of {sorted(set(seen) - {None})} rows; with "
          f"per_replica_batch={per_replica} each must get {per_replica}: batch the dataset with "
          "input_context.get_per_replica_batch_size(global_batch), global_batch being per_replica_batch x replicas")
    want_weights, want_losses = _one_device_sgd(weights, x, y, global_batch, steps, learning_rate)
    check(isinstance(got_losses, list | tuple) and len(got_losses) == steps,
          f"losses must be a list of the {steps} reduced losses, one float a step")
    try:
        got_losses = [float(np.asarray(v)) for v in got_losses]
    except (TypeError, ValueError):
        raise ExerciseError("Not yet. Hint: each loss must be one number: strategy.reduce the replicas' losses "
                            "with SUM (axis=None) and convert the result with float()") from None
    ratio = got_losses[0] / want_losses[0]
    check(abs(ratio - replicas) > 1e-3 or replicas == 1,
          f"step 0's loss is {got_losses[0]:.5g}, {replicas} times the one-device mean {want_losses[0]:.5g}: each "
          "replica averaged its own slice, and the replicas' shares are summed. Scale the per-example losses by "
          "the global batch: tf.nn.compute_average_loss(..., global_batch_size=...)")
    check(abs(ratio - 1 / replicas) > 1e-3 or replicas == 1,
          f"step 0's loss is {got_losses[0]:.5g}, 1/{replicas} of the one-device mean {want_losses[0]:.5g}: each "
          "replica's loss is already its share of the global mean; combine them with ReduceOp.SUM")
    gaps = [abs(g - w) for g, w in zip(got_losses, want_losses, strict=True)]
    check(max(gaps) <= 1e-5 * max(1.0, max(want_losses)),
          f"the losses {np.round(got_losses, 5).tolist()} differ from the one-device losses "
          f"{np.round(want_losses, 5).tolist()} on the same rows: step t must train on rows t*global_batch to "
          "(t+1)*global_batch - 1, the loss reduced with SUM over the replicas")
    check(isinstance(got_weights, list | tuple) and len(got_weights) == len(want_weights)
          and all(np.shape(g) == w.shape for g, w in zip(got_weights, want_weights, strict=True)),
          "weights must be model.get_weights(): a list of arrays with the model's shapes")
    moved = max(float(np.max(np.abs(np.asarray(g) - w))) for g, w in zip(got_weights, weights, strict=True))
    check(moved > 1e-4, "the weights did not change: apply the gradients in the function strategy.run runs")
    gap = max(float(np.max(np.abs(np.asarray(g) - w))) for g, w in zip(got_weights, want_weights, strict=True))
    check(gap <= 1e-5, f"the losses are right but the weights differ from the one-device SGD steps by up to "
          f"{gap:.2g}: the replicas' gradients are summed, so each replica's loss must be its share of the "
          f"mean over the global batch (learning_rate={learning_rate}, plain SGD)")
    print(f"Correct: {steps} steps over {replicas} replica(s) of {per_replica} rows end with the one-device weights "
          f"(largest gap {gap:.1g}) and the same losses.")


# ---- Exercise 3: a distributed evaluation, the last short batch included ------------------------------


def _one_device_evaluation(model: keras.Model, x: np.ndarray, y: np.ndarray,
                           global_batch: int) -> tuple[float, float, dict[str, float]]:
    """The reference loss and accuracy over all rows, and what typical mistakes would give instead."""
    losses = _per_example_loss(y, model(x, training=False)).numpy().astype("float64")
    correct = (np.argmax(model(x, training=False).numpy(), axis=1) == y).astype("float64")
    steps = [slice(t, t + global_batch) for t in range(0, len(x), global_batch)]
    full = len(x) // global_batch * global_batch
    mistakes = {
        "the rows of the last, short, global batch are left out: batch without drop_remainder":
            float(np.mean(losses[:full])),
        "that is the average of the per-step mean losses, which weighs the short last step's rows more than the "
        "others: sum the per-example losses and count the rows on each replica, reduce both with SUM, and "
        "divide once at the end": float(np.mean([np.mean(losses[s]) for s in steps])),
        "that is the average of the per-step losses scaled by the global batch: the short last step is not a "
        "whole global batch. Sum the per-example losses and count the rows, divide once at the end":
            float(np.mean([np.sum(losses[s]) / global_batch for s in steps])),
    }
    return float(np.mean(losses)), float(np.mean(correct)), mistakes


@fuller_hint("an input function that shards by input_pipeline_id and batches with "
             "get_per_replica_batch_size(global_batch) but keeps the remainder; a @tf.function step whose inner "
             "function returns three sums for its replica (the per-example losses, the correct predictions, the "
             "rows: tf.shape(y)[0]); strategy.reduce(SUM, ..., axis=None) each of them; add them up in Python "
             "over the distributed dataset; return total loss / rows and correct / rows")
def check_distributed_evaluate(distributed_evaluate: Any, strategy: Any, seed: int) -> None:
    """Exercise 3: ``distributed_evaluate(strategy, model, x, y, per_replica_batch)`` returns ``(loss,
    accuracy)`` over every row of ``x`` (the last, short, global batch included, where some replicas get no
    rows), equal to the model's mean loss and accuracy on one device (loss within 1e-5, relative), the model
    run inside ``strategy.run``."""
    if is_missing(distributed_evaluate) or not callable(distributed_evaluate):
        raise ExerciseError("No function yet. Hint: define distributed_evaluate(strategy, model, x, y, "
                            "per_replica_batch)")
    replicas, per_replica = strategy.num_replicas_in_sync, 4
    global_batch = per_replica * replicas
    rows = 2 * global_batch + per_replica + 1  # the last step: one full replica, one with 1 row, the rest empty
    weights, x, y = tiny_problem(seed + 1, rows)
    calls: list = []
    with strategy.scope():
        model = make_tiny_model(calls)
        model.set_weights(weights)
    out = call_learner(distributed_evaluate.__name__, distributed_evaluate, strategy, model, x, y, per_replica)
    check(isinstance(out, tuple | list) and len(out) == 2, "return (loss, accuracy), two floats")
    try:
        loss, accuracy = (float(np.asarray(v)) for v in out)
    except (TypeError, ValueError):
        raise ExerciseError("Not yet. Hint: return (loss, accuracy), two floats (or scalar tensors)") from None
    check(np.isfinite(loss) and np.isfinite(accuracy),
          f"got loss {loss} and accuracy {accuracy}: a replica with no rows in the last step gives the mean of "
          "nothing (NaN); return sums from each replica, reduce them with SUM, divide at the end")
    check(_replica_rows(calls, replicas), "the model never ran inside strategy.run: call it in the function you "
          "pass to strategy.run, on each replica's batch")
    want_loss, want_accuracy, mistakes = _one_device_evaluation(model, x, y, global_batch)
    close = lambda a, b: abs(a - b) <= 1e-5 * max(1.0, abs(b))  # noqa: E731
    if not close(loss, want_loss):
        why = next((text for text, value in mistakes.items() if close(loss, value)),
                   "every row counts once: the mean of the per-example losses over all the rows")
        raise ExerciseError(f"Not yet. Hint: the loss is {loss:.6g}, the one-device mean over all {rows} rows is "
                            f"{want_loss:.6g}: {why}")
    check(abs(accuracy - want_accuracy) <= 1e-6,
          f"the accuracy is {accuracy:.6g}, on one device {want_accuracy:.6g} (correct predictions / all {rows} "
          "rows, the argmax of the logits compared with y)")
    print(f"Correct: loss {loss:.4f} and accuracy {accuracy:.3f} over all {rows} rows ({replicas} replica(s), the "
          "last step short) equal the one-device evaluation.")
