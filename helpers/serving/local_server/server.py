"""The local model server: ``python -m helpers.serving --rest_api_port=8501 --model_name=my_model
--model_base_path=/models/my_model``, the seed's command with ``python -m helpers.serving`` in place of
``tensorflow_model_server``. It binds 127.0.0.1 only (the real binary listens on every interface).

Start-up follows the real server: parse flags, read the config (``--model_config_file`` or the single model
of ``--model_name``/``--model_base_path``), load the versions, then open the gRPC port (``--port``) and the
REST port (``--rest_api_port``, when not 0). Background threads poll the model folders every
``--file_system_poll_wait_seconds`` and re-read the config file every
``--model_config_file_poll_wait_seconds``. SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from helpers.runtime import import_tensorflow_without_keras_extras
from helpers.serving.local_server import flags as fl
from helpers.serving.local_server import status as st
from helpers.serving.local_server.monitoring import read_monitoring_config
from helpers.serving.local_server.versions import check_config_paths

log = logging.getLogger("helpers.serving")


def _poll_loop(stop: threading.Event, seconds: int, step, what: str) -> None:
    while not stop.wait(seconds):
        try:
            step()
        except Exception as err:  # keep serving what is loaded; the real server logs and carries on
            log.error("%s failed: %s", what, err)


def _reload_config_file(manager, path: str, last: list[str]) -> None:
    text = open(path).read()
    if text == last[0]:
        return
    last[0] = text
    config = fl.read_model_server_config(path)
    manager.reload_config(config)
    log.info("reloaded %s", path)


VERSION = "2.21.0"  # the TensorFlow Serving release whose behaviour this server follows


def _fail_start(message: str) -> int:
    """main.cc: ``Failed to start server. Error: <status>`` (the real binary writes it to stdout)."""
    print(f"Failed to start server. Error: {message}", flush=True)
    print(f"Failed to start server. Error: {message}", file=sys.stderr, flush=True)
    return 1


@dataclass
class Configuration:
    """What the flags and files say, read and checked before anything loads."""

    config: object  # the ModelServerConfig (--model_config_file, or --model_name/--model_base_path)
    batching: fl.BatchingParameters | None  # --enable_batching with --batching_parameters_file
    metrics_path: str | None  # the Prometheus path of --monitoring_config_file
    channel_arguments: list  # --grpc_channel_arguments


def read_configuration(flags) -> Configuration:
    """The model config, batching, monitoring and channel settings; FlagError / ConfigParseError if bad."""
    if flags.model_config_file:
        config = fl.read_model_server_config(flags.model_config_file)
    else:
        config = fl.single_model_config(flags.model_name, flags.model_base_path)
    check_config_paths(config)
    return Configuration(
        config=config,
        batching=fl.read_batching_parameters(flags.batching_parameters_file) if flags.enable_batching else None,
        metrics_path=read_monitoring_config(flags.monitoring_config_file) if flags.monitoring_config_file else None,
        channel_arguments=fl.grpc_channel_arguments(flags.grpc_channel_arguments),
    )


def session_config(flags):
    """The ConfigProto every model's session gets, built as server.cc builds it: the
    --tensorflow_session_config_file, the GPU memory fraction, then the parallelism flags (intra/inter when
    either is set, else --tensorflow_session_parallelism for both)."""
    from tensorflow.core.protobuf import config_pb2

    config = config_pb2.ConfigProto()
    if flags.tensorflow_session_config_file:
        path = Path(flags.tensorflow_session_config_file)
        if not path.is_file():
            raise fl.FlagError(f"NOT_FOUND: {path}; No such file or directory")
        fl.parse_text_proto(path.read_text(), config, str(path))
    config.gpu_options.per_process_gpu_memory_fraction = flags.per_process_gpu_memory_fraction
    if flags.tensorflow_intra_op_parallelism > 0 or flags.tensorflow_inter_op_parallelism > 0:
        config.intra_op_parallelism_threads = flags.tensorflow_intra_op_parallelism
        config.inter_op_parallelism_threads = flags.tensorflow_inter_op_parallelism
    else:
        config.intra_op_parallelism_threads = flags.tensorflow_session_parallelism
        config.inter_op_parallelism_threads = flags.tensorflow_session_parallelism
    return config


def build_manager(flags, setup: Configuration):
    """Load every model's versions (a ServingError when one does not become available: the real server
    then refuses to start, load_servables_fast.cc); returns the ModelManager."""
    from helpers.serving.local_server.monitoring import Metrics
    from helpers.serving.local_server.servable import LoadOptions
    from helpers.serving.local_server.servables import ModelManager

    options = LoadOptions(
        tags=tuple(t for t in flags.saved_model_tags.split(",") if t),
        prefer_tflite=flags.prefer_tflite_model,
        max_num_load_retries=flags.max_num_load_retries,
        load_retry_interval_micros=flags.load_retry_interval_micros,
        enable_model_warmup=flags.enable_model_warmup,
        warmup_iterations=max(flags.num_request_iterations_for_warmup, 1),
        method_check=flags.enable_signature_method_name_check,
        session_config=session_config(flags),
        metrics=Metrics() if setup.metrics_path and flags.rest_api_port else None,
        batching=setup.batching,
    )
    manager = ModelManager(options, flags.allow_version_labels_for_unavailable_models)
    try:
        manager.reload_config(setup.config)
        failed = manager.unavailable()
        if failed:
            details = "".join("{" + f + "}, " for f in failed)
            raise st.ServingError(
                st.grpc.StatusCode.UNKNOWN, f"{len(failed)} servable(s) did not become available: {{{details}}}"
            )
    except BaseException:
        manager.close()
        raise
    return manager


def serve(flags, setup: Configuration, manager) -> int:
    """Serve until SIGTERM/SIGINT with the pollers running; unload everything on the way out."""
    stop = threading.Event()
    # The model-call pool is this server's own (the real binary has C++ thread pools); it is sized to keep
    # enough calls in flight whatever --grpc_max_threads / --rest_api_num_threads say.
    pool = ThreadPoolExecutor(
        max_workers=max(64, flags.grpc_max_threads, flags.rest_api_num_threads), thread_name_prefix="model"
    )
    try:
        pollers = []
        if flags.file_system_poll_wait_seconds > 0:
            pollers.append((flags.file_system_poll_wait_seconds, manager.poll, "file system poll"))
        if flags.model_config_file and flags.model_config_file_poll_wait_seconds > 0:
            last = [open(flags.model_config_file).read()]
            pollers.append(
                (
                    flags.model_config_file_poll_wait_seconds,
                    lambda: _reload_config_file(manager, flags.model_config_file, last),
                    "config file reload",
                )
            )
        for seconds, step, what in pollers:
            threading.Thread(target=_poll_loop, args=(stop, seconds, step, what), daemon=True).start()
        asyncio.run(_serve_until_signal(manager, flags, pool, setup))
    except RuntimeError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        manager.close()
        pool.shutdown(wait=False, cancel_futures=True)
        log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; return the process exit status (2 for bad flags, 1 when the
    server cannot start, 0 after a clean stop or ``--version``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        flags = fl.parse_flags(sys.argv[1:] if argv is None else argv)
    except fl.FlagError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 2
    if flags.version:  # the installed TensorFlow's version, read without importing it (an instant answer)
        from importlib.metadata import version

        print(f"TensorFlow ModelServer: {VERSION}+helpers.serving\nTensorFlow Library: {version('tensorflow')}",
              flush=True)
        return 0
    for ignored in fl.ignored_flags(flags):
        log.warning("accepted and ignored: %s", ignored)
    try:
        setup = read_configuration(flags)  # before TensorFlow: a bad model, batching or monitoring config fails fast
        # The server hands Keras no DataFrame, estimator or figure: TensorFlow without Keras's extras starts sooner
        import_tensorflow_without_keras_extras()
        manager = build_manager(flags, setup)
    except fl.ConfigParseError as err:
        print(err.parser_line, file=sys.stderr, flush=True)  # protobuf's text_format.cc error line
        return _fail_start(f"INVALID_ARGUMENT: {err}")
    except fl.FlagError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 2
    except st.ServingError as err:
        return _fail_start(f"{err.code.name}: {err.message}")
    return serve(flags, setup, manager)


async def _serve_until_signal(manager, flags, pool, setup: Configuration) -> None:
    """gRPC (grpc.aio) and REST (tornado, when --rest_api_port is set) on one event loop, until SIGTERM/SIGINT."""
    from helpers.serving.local_server.grpc_service import start_grpc_server

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    grpc_server = await start_grpc_server(
        manager,
        flags.port,
        pool,
        socket_path=flags.grpc_socket_path,
        channel_arguments=setup.channel_arguments,
        metrics=manager.options.metrics,
        health=flags.enable_grpc_healthcheck_service,
        tensor_content=flags.enable_serialization_as_tensor_content,
    )
    if flags.port:
        log.info("Running gRPC ModelServer at 127.0.0.1:%d ...", flags.port)
    if flags.grpc_socket_path:
        log.info("Running gRPC ModelServer at UNIX socket %s ...", flags.grpc_socket_path)
    http_server = None
    try:
        if flags.rest_api_port and flags.rest_api_port == flags.port:
            log.error(
                "server_options.http_port cannot be same as grpc_port. Please use a different port for "
                "HTTP/REST API. Skipped exporting HTTP/REST API."
            )
        elif flags.rest_api_port:
            import tornado.httpserver

            from helpers.serving.local_server.rest import make_app

            app = make_app(
                manager,
                pool,
                flags.rest_api_timeout_in_ms,
                flags.rest_api_enable_cors_support,
                manager.options.metrics,
                setup.metrics_path,
            )
            http_server = tornado.httpserver.HTTPServer(app, max_body_size=2**62)
            try:
                http_server.listen(flags.rest_api_port, address="127.0.0.1")
            except OSError as err:
                raise RuntimeError(f"could not bind the REST port 127.0.0.1:{flags.rest_api_port}: {err}") from err
            log.info("Exporting HTTP/REST API at:127.0.0.1:%d ...", flags.rest_api_port)
        print("helpers.serving ready", flush=True)
        await done.wait()
    finally:
        if http_server is not None:
            http_server.stop()
        await grpc_server.stop(grace=2)
