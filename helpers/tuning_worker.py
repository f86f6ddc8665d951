"""The search script every process of a distributed Keras Tuner search runs (``04_hyperparameter_tuning``).

    python -m helpers.tuning_worker --directory DIR --project NAME --tuner random --max-trials 5 ...

Keras Tuner's distributed mode is configured by three environment variables, which
:func:`helpers.tuning_launch.run_distributed_search` sets for each process it starts:

- ``KERASTUNER_TUNER_ID``: ``chief`` for the oracle process, ``tuner0``, ``tuner1``... for the workers;
- ``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT``: where the chief's gRPC oracle listens.

Every process runs the same script and builds the same tuner. In the chief the tuner's oracle decides
the hyperparameters of each trial and records the results; in a worker, ``tuner.search`` asks the
chief for a trial, trains it, reports back, and repeats until the chief says the search is over.
All processes share the tuner's project folder. Each worker writes the trials it ran to ``--log``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

from helpers.data import load_digits
from helpers.runtime import quiet, seed_everything

quiet()  # before TensorFlow is imported (by keras_tuner)

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402

from helpers.tuning import TUNER_NAMES, make_tuner  # noqa: E402


class DigitsHyperModel(kt.HyperModel):
    """The search space of the comparison and distributed searches: an MLP for the 8x8 digits.

    ``units`` (32-128) and a log-uniform ``learning_rate`` (1e-4 to 1e-1); ``keras.Input`` instead of the
    deprecated ``input_shape=`` argument.
    """

    def __init__(self, num_features: int = 64, num_classes: int = 10) -> None:
        super().__init__()
        self.num_features, self.num_classes = num_features, num_classes

    def build(self, hp):
        """A compiled model for one trial's hyperparameters ``hp``."""
        model = keras.Sequential([
            keras.Input(shape=(self.num_features,)),
            keras.layers.Dense(hp.Int("units", 32, 128, step=32), activation="relu"),
            keras.layers.Dense(self.num_classes, activation="softmax"),
        ])
        learning_rate = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


def serve_oracle(tuner, timeout_s: float, poll_s: float = 0.1) -> None:
    """Run the chief: serve ``tuner``'s oracle over gRPC until every worker has been told to stop.

    The same servicer as ``tuner.search()`` in a chief, with one difference: keras-tuner's own loop
    checks every 20 seconds whether the workers are done, so the chief would linger up to 20 s after
    the last trial. This one checks every ``poll_s`` and gives up after ``timeout_s``.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    tuner.save()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(tuner.oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"the chief could not listen on {address} (port taken?)")
    server.start()
    print(f"chief: oracle listening on {address}", flush=True)
    deadline = time.monotonic() + timeout_s
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(tuner.oracle)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"chief: the workers did not finish within {timeout_s:.0f} s")
            time.sleep(poll_s)
    finally:
        server.stop(grace=2).wait(5)
    print(f"chief: search over, {len(tuner.oracle.trials)} trials", flush=True)


def wait_for_workers(folder: Path, tuner_id: str, workers: int, timeout_s: float) -> None:
    """Start searching together: mark this worker ready in ``folder``, wait for ``workers`` marks.

    Without it, a worker that imported TensorFlow faster would take trials before the others arrive,
    and the wall-time comparison would measure start-up rather than the search.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"ready_{tuner_id}").touch()
    deadline = time.monotonic() + timeout_s
    while len(list(folder.glob("ready_*"))) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tuner_id}: fewer than {workers} workers were ready after {timeout_s:.0f} s")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, build the tuner, then serve the oracle (chief) or run trials (worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True, help="the tuner's folder, shared by all processes")
    parser.add_argument("--project", required=True, help="the tuner's project name")
    parser.add_argument("--tuner", default="random", choices=TUNER_NAMES)
    parser.add_argument("--max-trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before the chief gives up")
    parser.add_argument("--log", help="worker: JSON file to write the trials it ran to")
    parser.add_argument("--barrier", type=int, default=0,
                        help="worker: wait until this many workers are ready before searching")
    args = parser.parse_args(argv)

    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if not tuner_id or "KERASTUNER_ORACLE_IP" not in os.environ or "KERASTUNER_ORACLE_PORT" not in os.environ:
        parser.error("set KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT")
    gc.freeze()  # Keras Tuner runs gc.collect() before every trial: skip the objects the imports made
    seed_everything(args.seed)
    data = load_digits(args.seed)
    (x_train, y_train), (x_val, y_val) = data.validation(0.2)
    # overwrite=False everywhere: the launcher gives each search a fresh folder, and a worker that
    # deleted the shared folder would delete the chief's records.
    tuner = make_tuner(args.tuner, DigitsHyperModel(data.num_features, data.num_classes),
                       directory=args.directory, project_name=args.project, max_trials=args.max_trials,
                       epochs=args.epochs, seed=args.seed, overwrite=False)

    if tuner_id == "chief":
        serve_oracle(tuner, args.timeout)
        return 0

    if args.barrier:
        wait_for_workers(Path(args.directory), tuner_id, args.barrier, args.timeout)
    started = time.time()
    tuner.search(x_train, y_train, epochs=args.epochs, validation_data=(x_val, y_val), verbose=0)
    report = {"tuner_id": tuner_id, "pid": os.getpid(), "search_start": started, "search_end": time.time(),
              "trials": tuner.trial_log}
    if args.log:
        Path(args.log).write_text(json.dumps(report, indent=1))
    print(f"{tuner_id}: ran trials {[t['trial_id'] for t in tuner.trial_log]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
