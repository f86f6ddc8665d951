"""The training script every worker of notebook 02 runs: MultiWorkerMirroredStrategy, a custom training
loop, and checkpoints that let a restarted cluster resume where it stopped.

    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:PORT0", "127.0.0.1:PORT1"]},
                "task": {"type": "worker", "index": 0}}' \\
    python -m helpers.distributed.worker --workdir DIR --epochs 3 --steps-per-epoch 8

Every worker runs this same file; ``TF_CONFIG`` tells each one who it is (on Slurm, ``--cluster-resolver
slurm`` reads Slurm's variables instead). The chief (task ``chief``, or worker 0 when there is none) alone
writes the checkpoints that count and the final model. What it writes under ``--workdir``, where ``<r>`` is
the task's rank (its place in the cluster, the chief's being 0):

    checkpoints/            the chief's checkpoints (the other workers write theirs to tmp/ and delete them)
    weights/initial.npz     the weights before the first step (chief, first launch only)
    weights/worker-<r>.npz  each worker's final weights, so you can check they are identical
    model/final.keras       the trained model (chief only)

It prints one ``EVENT {json}`` line per thing that happens (start, epoch, crash, done) for the notebook.
Keras 3 ``model.fit`` fails under this strategy (https://github.com/keras-team/keras/issues/20585):
``--show-fit-error`` tries it first and prints the error, then the custom loop below does the training.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import time
import warnings
from pathlib import Path

from helpers.data import load_digits
from helpers.distributed.cluster import is_chief, tasks
from helpers.models import make_mlp
from helpers.runtime import import_tensorflow_without_keras_extras, quiet, seed_everything

quiet()  # before TensorFlow is imported, so its C++ start-up noise stays out of the logs
import_tensorflow_without_keras_extras()  # this script hands Keras arrays only

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def event(name: str, **fields) -> None:
    """Print one machine-readable line for the notebook (the launcher collects stdout into a log file)."""
    print("EVENT " + json.dumps({"event": name, **fields}), flush=True)


def build_model(num_features: int, num_classes: int, units: int) -> keras.Model:
    """A tiny MLP that outputs logits, uncompiled (call it inside ``strategy.scope()``)."""
    return make_mlp(num_features, num_classes, units, logits=True, compiled=False, name="worker_mlp")


def epoch_dataset(x, y, epoch: int, global_batch: int, steps: int, seed: int) -> tf.data.Dataset:
    """The batches of one epoch, shuffled by NumPy with ``seed + epoch`` (not by TensorFlow's seed state), so
    a resumed run, and a single-device replay, see exactly the same data as an uninterrupted run.
    DATA auto-sharding: every worker reads the same rows and keeps its share of each global batch (FILE
    sharding would need one input file per worker; these arrays are not files)."""
    order = np.random.default_rng(seed + epoch).permutation(len(x))
    ds = (tf.data.Dataset.from_tensor_slices((x[order], y[order]))
          .repeat().batch(global_batch, drop_remainder=True).take(steps))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def show_fit_error(strategy, data, global_batch: int, units: int) -> None:
    """Try Keras 3 ``model.fit`` under MultiWorkerMirroredStrategy and report how it fails."""
    with strategy.scope():
        model = build_model(data.num_features, data.num_classes, units)
        model.compile(optimizer="sgd",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    warnings.filterwarnings("ignore", message=".*shuffle=True.*")
    try:
        ds = epoch_dataset(data.x_train, data.y_train, 0, global_batch, 2, 0)
        model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
        event("fit_error", error=None, message="model.fit worked")
    except Exception as err:  # noqa: BLE001 - the point is to show which error it is
        lines = str(err).strip().splitlines()  # the value's repr in between can be long: keep its two ends
        message = lines[0] if len(lines) == 1 else f"{lines[0].strip()} ... {lines[-1].strip()}"
        event("fit_error", error=type(err).__name__, message=message[:300])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The worker's command line (every flag has a default that suits the CI run)."""
    p = argparse.ArgumentParser(description="One worker of a MultiWorkerMirroredStrategy training job.")
    p.add_argument("--workdir", required=True, help="folder shared by the workers (checkpoints, weights)")
    p.add_argument("--epochs", type=int, default=3, help="epochs in total, counting resumed ones")
    p.add_argument("--steps-per-epoch", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32, help="per replica; global = this x replicas")
    p.add_argument("--learning-rate", type=float, default=0.3)
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crash-after-epoch", type=int, default=None,
                   help="after this many epochs are saved, --crash-task is SIGKILLed mid-epoch")
    p.add_argument("--crash-task", type=int, default=1)
    p.add_argument("--hold-after-epoch", type=int, default=None,
                   help="after this many epochs are saved, wait (at most 60 s) until --hold-file exists")
    p.add_argument("--hold-file", default=None, help="see --hold-after-epoch: the cue to go on")
    p.add_argument("--show-fit-error", action="store_true", help="try model.fit first and report")
    p.add_argument("--cluster-resolver", choices=("tf_config", "slurm"), default="tf_config",
                   help="where the cluster comes from: $TF_CONFIG, or Slurm's variables (SlurmClusterResolver)")
    p.add_argument("--port", type=int, default=2222, help="with --cluster-resolver slurm: every task's port")
    return p.parse_args(argv)


def slurm_resolver(port: int):
    """TensorFlow's ``SlurmClusterResolver`` for one task per node (``srun --ntasks-per-node=1``), each task
    keeping all of its node's devices. ``gpus_per_node`` is given because the resolver otherwise runs
    ``nvidia-smi``, which CPU nodes lack, and it must be >= 1 for the resolver's GPU bookkeeping."""
    gpus = max(1, len(tf.config.list_physical_devices("GPU")))
    return tf.distribute.cluster_resolver.SlurmClusterResolver(
        port_base=port, gpus_per_node=gpus, gpus_per_task=gpus, auto_set_gpu=False)


def make_multiworker_strategy(cluster_resolver: str, port: int) -> tf.distribute.MultiWorkerMirroredStrategy:
    """MultiWorkerMirroredStrategy over the cluster in ``$TF_CONFIG`` (``tf_config``) or Slurm's (``slurm``).
    A lost peer is noticed by TensorFlow's coordination service (the chief's), which expects a heartbeat
    from every task: after its timeout (10 s by default) the collectives of every task fail with
    ``UnavailableError``, so no worker waits forever."""
    resolver = slurm_resolver(port) if cluster_resolver == "slurm" else None
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def hold(path: str | None, timeout: float = 60.0) -> None:
    """Wait until ``path`` exists (at most ``timeout`` seconds): a pause at a known point of the run."""
    deadline = time.monotonic() + timeout
    while path and not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """Train (or resume training) on this worker; returns the exit code."""
    args = parse_args(argv)
    workdir = Path(args.workdir)

    # 1. The strategy must exist before any other TensorFlow op: it starts this process's gRPC server.
    for gpu in tf.config.list_physical_devices("GPU"):  # workers sharing one machine share its GPUs
        tf.config.experimental.set_memory_growth(gpu, True)
    strategy = make_multiworker_strategy(args.cluster_resolver, args.port)
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict()
    task_type, task_index = resolver.task_type, resolver.task_id
    index = tasks(cluster).index((task_type, task_index))  # this task's rank: 0 for the chief
    chief = is_chief(task_type, task_index, cluster)
    replicas = strategy.num_replicas_in_sync
    global_batch = args.batch_size * replicas
    seed_everything(args.seed)
    data = load_digits(args.seed)
    if args.show_fit_error:
        show_fit_error(strategy, data, global_batch, args.units)

    # 2. Model, optimizer and the epoch counter are created in the scope: mirrored on every worker.
    seed_everything(args.seed)
    with strategy.scope():
        model = build_model(data.num_features, data.num_classes, args.units)
        optimizer = keras.optimizers.SGD(args.learning_rate)
        optimizer.build(model.trainable_variables)
        epoch = tf.Variable(0, dtype=tf.int64, name="epoch", trainable=False)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

    # 3. Checkpoints: every worker saves (saving is a collective step), only the chief's copy is kept.
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)
    chief_dir = workdir / "checkpoints"
    own_dir = chief_dir if chief else workdir / "tmp" / f"worker-{index}"
    manager = tf.train.CheckpointManager(checkpoint, str(own_dir), max_to_keep=2)
    latest = tf.train.latest_checkpoint(str(chief_dir))
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    start = int(epoch.numpy())
    weights_dir = workdir / "weights"
    weights_dir.mkdir(parents=True, exist_ok=True)
    if chief and not latest:
        np.savez(weights_dir / "initial.npz", *model.get_weights())
    event("start", task=index, task_type=task_type, task_index=task_index, chief=chief, replicas=replicas,
          global_batch=global_batch, start_epoch=start, resumed_from=latest and Path(latest).name)

    # 4. One training step: each replica computes its part, gradients are all-reduced across workers.
    @tf.function
    def train_step(iterator):
        def step_fn(x, y):
            with tf.GradientTape() as tape:
                per_example = loss_fn(y, model(x, training=True))
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))  # all-reduces
            return loss

        per_replica_loss = strategy.run(step_fn, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_loss, axis=None)

    # 5. The epochs still to do; a checkpoint after each one.
    for e in range(start, args.epochs):
        dist = strategy.experimental_distribute_dataset(
            epoch_dataset(data.x_train, data.y_train, e, global_batch, args.steps_per_epoch, args.seed))
        iterator, total, began = iter(dist), 0.0, time.perf_counter()
        for step in range(args.steps_per_epoch):
            if e == args.crash_after_epoch and index == args.crash_task and step == args.steps_per_epoch // 2:
                event("crash", task=index, epoch=e + 1, step=step)
                os.kill(os.getpid(), signal.SIGKILL)  # a hard crash: no clean-up, like a lost machine
            total += float(train_step(iterator))
        seconds = time.perf_counter() - began
        epoch.assign_add(1)
        manager.save(checkpoint_number=e + 1)
        event("epoch", task=index, epoch=e + 1, loss=total / args.steps_per_epoch, seconds=seconds,
              steps_per_second=args.steps_per_epoch / seconds)
        if e + 1 == args.hold_after_epoch:
            hold(args.hold_file)

    # 6. The end: every worker writes its weights; only the chief writes the model.
    np.savez(weights_dir / f"worker-{index}.npz", *model.get_weights())
    if chief:
        (workdir / "model").mkdir(exist_ok=True)
        model.save(workdir / "model" / "final.keras")
    else:
        shutil.rmtree(own_dir, ignore_errors=True)
    event("done", task=index, start_epoch=start, final_epoch=int(epoch.numpy()),
          epochs_run=int(epoch.numpy()) - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
