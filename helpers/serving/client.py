"""Clients of TensorFlow Serving (REST with ``requests``, gRPC with the ``tensorflow-serving-api`` stubs), a
launcher that starts the real ``tensorflow_model_server`` when it is on PATH (else ``python -m
helpers.serving`` with the same flags) and always stops it, and an A/B traffic splitter.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests

from helpers import procs
from helpers.params import SERVER_CHOICES, check_choice
from helpers.serving.flags import config_model_names, to_argv

BINARY = "tensorflow_model_server"
LOCAL_MODULE = "helpers.serving"  # python -m helpers.serving: the stand-in (helpers.serving.local_server)
SERVER_NAME = "model server"  # the name its helpers.procs child carries
SAVED_MODEL_CLI = "tensorflow.python.tools.saved_model_cli"  # the module behind the saved_model_cli command
_CLI_RUNS = itertools.count(1)  # numbers the log files of saved_model_cli runs


def find_binary() -> str | None:
    """Path of the real ``tensorflow_model_server``, or None when it is not on PATH."""
    return shutil.which(BINARY)


def server_kind(server: str = "auto") -> str:
    """Which server ``server`` ('auto', 'binary', 'local') starts: BINARY or LOCAL_MODULE."""
    check_choice("server", server, SERVER_CHOICES)
    binary = find_binary()
    if server == "binary" and binary is None:
        raise RuntimeError(f"server='binary' but {BINARY} is not on PATH")
    return BINARY if binary and server in ("auto", "binary") else LOCAL_MODULE


def server_command(server: str = "auto", **flags) -> list[str]:
    """The command line: the real binary ('binary', or 'auto' when on PATH) or ``python -m helpers.serving``."""
    program = [find_binary()] if server_kind(server) == BINARY else [sys.executable, "-m", LOCAL_MODULE]
    return program + to_argv(**flags)


def rest_url(
    host: str, model: str, version: int | None = None, label: str | None = None, verb: str | None = None
) -> str:
    """``http://host/v1/models/{model}[/versions/{v}|/labels/{l}][:verb|/metadata]`` (api_rest.md)."""
    if version is not None and label is not None:
        raise ValueError("give a version or a label, not both")
    url = f"http://{host}/v1/models/{model}"
    if version is not None:
        url += f"/versions/{int(version)}"
    elif label is not None:
        url += f"/labels/{label}"
    if verb == "metadata":
        return url + "/metadata"
    return url + (f":{verb}" if verb else "")


@dataclass
class ModelServer:
    """A started server: where to reach it and how it was started (see :func:`serve`)."""

    child: procs.Child
    command: list[str]
    port: int
    rest_port: int
    log_path: Path
    models: list[str] = field(default_factory=list)
    kind: str = LOCAL_MODULE  # BINARY ('tensorflow_model_server') or LOCAL_MODULE ('helpers.serving')

    @property
    def rest(self) -> str:
        """``127.0.0.1:<rest port>``, the host part of REST URLs."""
        return f"127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        """``127.0.0.1:<grpc port>`` for ``grpc.insecure_channel``."""
        return f"127.0.0.1:{self.port}"

    @property
    def process(self):
        """The ``subprocess.Popen`` of the server (``.pid``, ``.poll()``, ``.returncode``)."""
        return self.child.process

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server wrote (stdout and stderr), without TensorFlow's start-up noise."""
        return self.child.tail(lines)

    def wait_ready(self, timeout: float = 180) -> ModelServer:
        """Wait until every model has an AVAILABLE version; stop the server and raise RuntimeError if not."""
        try:
            wait_ready(self, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` s; returns the exit code."""
        return self.child.stop(timeout)


def _servers() -> list[procs.Child]:
    return [child for child in procs.running() if child.name == SERVER_NAME]


def stop_servers() -> None:
    """Stop every model server started here (helpers.procs also does at exit, and Linux if killed)."""
    procs.stop(_servers(), 5)


def wait_ready(server: ModelServer, timeout: float = 120) -> None:
    """Wait until every model has an AVAILABLE version (REST status, else gRPC); RuntimeError on failure."""
    pending = list(server.models)

    def all_available() -> bool:
        pending[:] = [m for m in pending if not _available(server, m)]
        return not pending

    try:
        procs.wait_until(all_available, timeout=timeout, what="serving", watch=[server.child])
    except procs.ChildFailed as err:
        raise RuntimeError(f"{server.kind} exited with status {err.returncode}:\n{err.tail}") from None
    except TimeoutError:
        raise RuntimeError(
            f"{server.kind} not ready after {timeout:.0f} s (waiting for {pending}):\n{server.log_tail()}"
        ) from None


def _available(server: ModelServer, model: str) -> bool:
    try:
        if server.rest_port:
            reply = requests.get(rest_url(server.rest, model), timeout=2)
            states = [v["state"] for v in reply.json().get("model_version_status", [])]
            return reply.status_code == 200 and "AVAILABLE" in states
        return "AVAILABLE" in model_states(server.grpc_target, model, timeout=2).values()
    except Exception:
        return False


def launch(
    workdir: str | Path, server: str = "auto", models: list[str] | None = None, rest: bool = True, **flags
) -> ModelServer:
    """Start a model server with ``flags`` (``model_name=...``, ``model_base_path=...`` or
    ``model_config_file=...``, ``enable_batching=True``...) on free 127.0.0.1 ports, without waiting for it:
    call ``.wait_ready()`` before using it (several servers can then load in parallel), ``.stop()`` when done.
    :func:`stop_servers` and an atexit hook stop whatever is left."""
    flags.setdefault("port", procs.free_port())
    if rest:
        flags.setdefault("rest_api_port", procs.free_port())
    kind = server_kind(server)
    command = server_command(server, **flags)
    if models is None:
        models = (
            [flags.get("model_name", "default")]
            if "model_config_file" not in flags
            else config_model_names(flags["model_config_file"])
        )
    log_path = Path(workdir) / f"server-{flags['port']}.log"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", GRPC_VERBOSITY="ERROR")
    child = procs.start(LOCAL_MODULE, program=command, name=SERVER_NAME, log=log_path, env=env)
    return ModelServer(
        child, command, int(flags["port"]), int(flags.get("rest_api_port", 0)), log_path, models, kind
    )


def start(
    workdir: str | Path,
    server: str = "auto",
    models: list[str] | None = None,
    rest: bool = True,
    timeout: float = 180,
    **flags,
) -> ModelServer:
    """:func:`launch` and wait until the models are AVAILABLE; a server that fails to start is stopped
    before the error (with the end of its log) is raised."""
    return launch(workdir, server, models, rest, **flags).wait_ready(timeout)


@contextmanager
def serve(
    workdir: str | Path,
    server: str = "auto",
    models: list[str] | None = None,
    rest: bool = True,
    timeout: float = 180,
    **flags,
):
    """:func:`start` as a context manager: the server is stopped on exit, error or interrupt."""
    handle = start(workdir, server, models, rest, timeout, **flags)
    try:
        yield handle
    finally:
        handle.stop()


def saved_model_cli(workdir: str | Path, *args) -> procs.Child:
    """Start TensorFlow's ``saved_model_cli`` with ``args`` (``"show", "--dir", path, "--all"``) in the background,
    so that its TensorFlow start-up overlaps with other work; :func:`cli_output` waits for what it printed."""
    log_path = Path(workdir) / f"saved_model_cli-{next(_CLI_RUNS)}.log"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return procs.start(SAVED_MODEL_CLI, [str(a) for a in args], log=log_path, name="saved_model_cli", env=env)


def cli_output(child: procs.Child, timeout: float = 120) -> str:
    """Wait for a :func:`saved_model_cli` run to finish and return what it printed, TensorFlow's log lines
    left out; a failed run raises :class:`helpers.procs.ChildFailed` with the end of its output."""
    procs.wait_for_exit([child], timeout=timeout)
    return "\n".join(line for line in child.log().splitlines() if not procs.is_tensorflow_noise(line)).strip()


def server_pids() -> list[int]:
    """PIDs of servers started here that are still running."""
    return [child.pid for child in _servers()]


# ------------------------------------------------------------------------------------------- gRPC
def grpc_stubs(target: str):
    """``(channel, PredictionServiceStub, ModelServiceStub)`` for ``host:port``."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 2**31 - 1)])
    return (
        channel,
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )


def predict_request(
    model: str,
    x: np.ndarray,
    input_name: str,
    version: int | None = None,
    label: str | None = None,
    signature_name: str = "serving_default",
):
    """A PredictRequest with ``x`` as ``input_name`` (``tf.make_tensor_proto``)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    elif label is not None:
        request.model_spec.version_label = label
    request.inputs[input_name].CopyFrom(tf.make_tensor_proto(np.asarray(x, dtype="float32")))
    return request


def grpc_predict(
    stub,
    model: str,
    x: np.ndarray,
    input_name: str,
    version: int | None = None,
    label: str | None = None,
    timeout: float = 10,
) -> tuple[np.ndarray, int]:
    """``(first output as ndarray, version that answered)`` for one gRPC Predict."""
    import tensorflow as tf

    reply = stub.Predict(predict_request(model, x, input_name, version, label), timeout=timeout)
    name = sorted(reply.outputs)[0]
    return tf.make_ndarray(reply.outputs[name]), reply.model_spec.version.value


def model_states(target: str, model: str, timeout: float = 5) -> dict[int, str]:
    """``{version: state name}`` from ModelService.GetModelStatus."""
    from tensorflow_serving.apis import get_model_status_pb2

    channel, _, models = grpc_stubs(target)
    with channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        reply = models.GetModelStatus(request, timeout=timeout)
    state = get_model_status_pb2.ModelVersionStatus.State
    return {s.version: state.Name(s.state) for s in reply.model_version_status}


def wait_for(condition, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    """Poll ``condition()`` (with :func:`helpers.procs.wait_until`) until it returns a true value, and return
    that value; TimeoutError after ``timeout`` s."""
    seen = []

    def ready() -> bool:
        seen[:] = [condition()]
        return bool(seen[0])

    procs.wait_until(ready, timeout=timeout, what=what, poll=interval)
    return seen[0]


# ------------------------------------------------------------------------------------------- A/B
class TrafficSplitter:
    """Send each request to a label picked at random with the given weights (e.g. 90/10 stable/canary),
    over gRPC, and keep per-label results: the version that answered, accuracy, latency, failures."""

    def __init__(self, stub, model: str, input_name: str, weights: dict[str, float], seed: int = 0):
        total = sum(weights.values())
        if total <= 0 or any(w < 0 for w in weights.values()):
            raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
        self.stub, self.model, self.input_name = stub, model, input_name
        self.labels = list(weights)
        self.p = np.array([weights[k] for k in self.labels], dtype=float) / total
        self.rng = np.random.default_rng(seed)
        self.log: list[dict] = []

    def send(self, x: np.ndarray, y: int | None = None, timeout: float = 10) -> dict:
        """One request (one row ``x``); returns and logs {label, version, correct, ms, error}."""
        label = self.labels[int(self.rng.choice(len(self.labels), p=self.p))]
        start = time.perf_counter()
        entry = {"label": label, "version": None, "correct": None, "error": None}
        try:
            probs, version = grpc_predict(self.stub, self.model, x[None], self.input_name, label=label, timeout=timeout)
            entry["version"] = version
            if y is not None:
                entry["correct"] = bool(int(np.argmax(probs[0])) == int(y))
        except Exception as err:  # counted as a failed request
            details = err.details() if hasattr(err, "details") else str(err)
            entry["error"] = f"{type(err).__name__}: {details}"
        entry["ms"] = (time.perf_counter() - start) * 1000
        self.log.append(entry)
        return entry

    def run(self, x: np.ndarray, y: np.ndarray, requests_count: int) -> list[dict]:
        """Send ``requests_count`` requests cycling through the rows of ``x``; returns :meth:`summary`."""
        for i in range(requests_count):
            self.send(x[i % len(x)], y[i % len(y)])
        return self.summary()

    def summary(self) -> list[dict]:
        """One row per (label, version): requests, share, accuracy, p50 latency (ms), failures."""
        rows = []
        keys = sorted({(e["label"], e["version"]) for e in self.log}, key=lambda k: (k[0], k[1] or 0))
        for label, version in keys:
            group = [e for e in self.log if e["label"] == label and e["version"] == version]
            ok = [e for e in group if e["error"] is None]
            rows.append(
                {
                    "label": label,
                    "version": version,
                    "requests": len(group),
                    "share": len(group) / len(self.log),
                    "accuracy": float(np.mean([e["correct"] for e in ok])) if ok else float("nan"),
                    "p50_ms": float(np.median([e["ms"] for e in ok])) if ok else float("nan"),
                    "failures": len(group) - len(ok),
                }
            )
        return rows
