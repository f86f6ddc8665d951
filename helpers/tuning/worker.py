"""The search script every process of a distributed Keras Tuner search runs (``04_hyperparameter_tuning``).

    python -m helpers.tuning.worker --directory DIR --project NAME --tuner random --max-trials 5 ...

Keras Tuner's distributed mode is configured by three environment variables, which
:func:`helpers.tuning.launch.run_distributed_search` sets for each process it starts:

- ``KERASTUNER_TUNER_ID``: ``chief`` for the oracle process, ``tuner0``, ``tuner1``... for the workers;
- ``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT``: where the chief's gRPC oracle listens.

Every process runs the same script and builds the same tuner. In the chief the tuner's oracle decides
the hyperparameters of each trial and records the results; in a worker, ``tuner.search`` asks the
chief for a trial, trains it, reports back, and repeats until the chief says the search is over.
All processes share the tuner's project folder. Each worker writes the trials it ran to ``--log``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import sys
import time
from pathlib import Path

from helpers.data import load_digits
from helpers.runtime import import_tensorflow_quietly, quiet, seed_everything

quiet()  # before TensorFlow is imported
import_tensorflow_quietly()  # with the garbage collector set aside (a no-op where TensorFlow is imported)

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402

from helpers.tuning import TUNER_NAMES
from helpers.tuning.tuners import make_tuner  # noqa: E402


class DigitsHyperModel(kt.HyperModel):
    """The search space of the Hyperband, Bayesian and distributed searches: an MLP for the 8x8 digits.

    ``units`` (32-128) and a log-uniform ``learning_rate`` (1e-4 to 1e-1); the model starts with
    ``keras.Input`` (Keras 3 warns about an ``input_shape=`` argument on a layer).
    """

    LEARNING_RATES = (1e-4, 1e-1)  # the log-uniform range of ``learning_rate``

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
        learning_rate = hp.Float("learning_rate", *self.LEARNING_RATES, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


class OracleServer:
    """The chief's side of a distributed search: ``tuner``'s oracle served over gRPC at ``address``.

    The same servicer as ``tuner.search()`` runs in a chief, started in two steps so a launcher can
    fail at once if the port is taken (``start``) and then wait in a thread (``wait``). Keras-tuner's
    own loop checks every 20 seconds whether the workers are done, so its chief lingers up to 20 s
    after the last trial; ``wait`` checks every ``poll_s``. A tuner made without the three environment
    variables has a local oracle, which is all a chief needs: the notebook can be the chief.
    """

    def __init__(self, tuner, address: str) -> None:
        from concurrent import futures

        import grpc

        # Private API, pinned keras-tuner 1.4.8: the public API starts a chief only as a blocking
        # tuner.search() in a process of its own (KERASTUNER_TUNER_ID=chief); serving the oracle from a
        # thread of this process needs its servicer and protos. One place, listed in the README.
        from keras_tuner.src import protos
        from keras_tuner.src.distribute import oracle_chief

        self.tuner, self.address, self._chief = tuner, address, oracle_chief
        # so_reuseport off: gRPC turns it on by default on Linux, and a second chief could then bind the
        # same port and take half of the workers' calls instead of failing.
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
        self.servicer = oracle_chief.OracleServicer(tuner.oracle)
        protos.get_service_grpc().add_OracleServicer_to_server(self.servicer, self.server)

    def start(self) -> OracleServer:
        """Save the tuner (workers reload its space) and listen; RuntimeError if the port is taken."""
        self.tuner.save()
        try:
            bound = self.server.add_insecure_port(self.address)  # 0, or RuntimeError in newer grpcio
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise RuntimeError(f"the chief could not listen on {self.address} (port taken?)")
        self.server.start()
        return self

    def finished(self) -> bool:
        """Whether every worker has asked for a trial, been told the search is over, and left."""
        return self.servicer.stop_triggered and self._chief.exit_chief(self.tuner.oracle)

    def wait(self, timeout_s: float, poll_s: float = 0.1, cancel=None) -> None:
        """Serve until :meth:`finished`, then stop the server; TimeoutError after ``timeout_s``.

        ``cancel`` (a ``threading.Event``) ends the wait early, e.g. when a worker failed."""
        deadline = time.monotonic() + timeout_s
        try:
            while not self.finished():
                if cancel is not None and cancel.is_set():
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"chief: the workers did not finish within {timeout_s:.0f} s")
                time.sleep(poll_s)
        finally:
            self.server.stop(grace=2).wait(5)


def make_chief_tuner(*, directory: str | Path, project: str, tuner: str = "random", max_trials: int = 5,
                     epochs: int = 2, seed: int = 0):
    """The chief's tuner: the same tuner every worker builds (``overwrite=False``: the launcher made the
    folder fresh), saved under the id ``chief``. Its oracle decides the trials; it trains nothing."""
    chief = make_tuner(tuner, DigitsHyperModel(), directory=directory, project_name=project,
                       max_trials=max_trials, epochs=epochs, seed=seed, overwrite=False)
    chief.tuner_id = "chief"  # as KERASTUNER_TUNER_ID=chief makes it: its file is not a worker's tuner0.json
    return chief


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


def run_worker(tuner_id: str, address: str, *, directory: str, project: str, tuner: str = "random",
               max_trials: int = 5, epochs: int = 2, seed: int = 0, barrier: int = 0,
               timeout_s: float = 300.0) -> dict:
    """Be worker ``tuner_id`` of the search whose chief listens at ``address`` (``host:port``).

    Sets the three environment variables for as long as the search runs (so a reused process, such as a
    joblib worker, goes back to normal afterwards), builds the same tuner as every other process, waits
    for ``barrier`` workers if asked, runs trials until the chief says the search is over, and returns
    what it did: tuner_id, pid, search_start, search_end (epoch seconds) and its ``trial_log``.
    """
    host, port = address.rsplit(":", 1)
    names = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(zip(names, (tuner_id, host, port), strict=True))
    try:
        gc.freeze()  # Keras Tuner runs gc.collect() before every trial: skip the objects the imports made
        seed_everything(seed)
        data = load_digits(seed)
        (x_train, y_train), (x_val, y_val) = data.validation(0.2)
        # overwrite=False: the launcher gives each search a fresh folder, and a worker that
        # deleted the shared folder would delete the chief's records.
        search = make_tuner(tuner, DigitsHyperModel(data.num_features, data.num_classes), directory=directory,
                            project_name=project, max_trials=max_trials, epochs=epochs, seed=seed,
                            overwrite=False)
        if barrier:
            wait_for_workers(Path(directory), tuner_id, barrier, timeout_s)
        started = time.time()
        # A worker's tuner prints its progress whatever verbose says (only the chief's obeys): keep it
        # out of a shared console and hand its end back in the report.
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            search.search(x_train, y_train, epochs=epochs, validation_data=(x_val, y_val), verbose=0)
        return {"tuner_id": tuner_id, "pid": os.getpid(), "search_start": started, "search_end": time.time(),
                "trials": search.trial_log, "output_tail": printed.getvalue()[-2000:]}
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, then serve the oracle (chief) or run trials (worker)."""
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
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    options = dict(directory=args.directory, project=args.project, tuner=args.tuner, max_trials=args.max_trials,
                   epochs=args.epochs, seed=args.seed)

    if tuner_id == "chief":
        tuner = make_chief_tuner(**options)
        chief = OracleServer(tuner, address).start()
        print(f"chief: oracle listening on {address}", flush=True)
        chief.wait(args.timeout)
        print(f"chief: search over, {len(tuner.oracle.trials)} trials", flush=True)
        return 0

    report = run_worker(tuner_id, address, barrier=args.barrier, timeout_s=args.timeout, **options)
    if args.log:
        Path(args.log).write_text(json.dumps(report, indent=1))
    print(f"{tuner_id}: ran trials {[t['trial_id'] for t in report['trials']]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
