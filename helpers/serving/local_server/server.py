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

from helpers.serving.local_server import flags as fl

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


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; return the process exit status (2 for bad flags)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        flags = fl.parse_flags(sys.argv[1:] if argv is None else argv)
        if flags.model_config_file:
            config = fl.read_model_server_config(flags.model_config_file)
        else:
            config = fl.single_model_config(flags.model_name, flags.model_base_path)
        batching = fl.read_batching_parameters(flags.batching_parameters_file) if flags.enable_batching else None
        from helpers.serving.local_server.servables import check_config_paths

        check_config_paths(config)
    except fl.FlagError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 2

    import tensorflow as tf

    if flags.tensorflow_intra_op_parallelism:
        tf.config.threading.set_intra_op_parallelism_threads(flags.tensorflow_intra_op_parallelism)
    if flags.tensorflow_inter_op_parallelism:
        tf.config.threading.set_inter_op_parallelism_threads(flags.tensorflow_inter_op_parallelism)
    from helpers.serving.local_server.servables import ModelManager
    from helpers.serving.local_server.status import ServingError

    manager = ModelManager(batching, flags.allow_version_labels_for_unavailable_models)
    try:
        manager.reload_config(config)
    except ServingError as err:
        print(f"ERROR: {err.code.name}: {err.message}", file=sys.stderr)
        manager.close()
        return 1
    stop = threading.Event()
    pool = ThreadPoolExecutor(
        max_workers=max(flags.grpc_max_threads, flags.rest_api_num_threads), thread_name_prefix="model"
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
        asyncio.run(_serve_until_signal(manager, flags, pool))
    except RuntimeError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        manager.close()
        pool.shutdown(wait=False, cancel_futures=True)
        log.info("stopped")
    return 0


async def _serve_until_signal(manager, flags, pool) -> None:
    """gRPC (grpc.aio) and REST (tornado, when --rest_api_port is set) on one event loop, until SIGTERM/SIGINT."""
    from helpers.serving.local_server.grpc_service import start_grpc_server

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    grpc_server = await start_grpc_server(manager, flags.port, pool)
    log.info("Running gRPC ModelServer at 127.0.0.1:%d ...", flags.port)
    http_server = None
    try:
        if flags.rest_api_port:
            import tornado.httpserver

            from helpers.serving.local_server.rest import make_app

            http_server = tornado.httpserver.HTTPServer(make_app(manager, pool, flags.rest_api_timeout_in_ms))
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
