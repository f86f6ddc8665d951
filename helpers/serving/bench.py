"""Serving benchmark: throughput and p50/p99 latency at several client concurrencies, batching off and on,
against the model's own in-process call as the ceiling; plus the REST overhead of one small predict.

``python -m helpers.serving.bench --out DIR`` trains nothing but the digits MLP (quickly): it exports the
MLP, a small, compute-bound CNN and a heavier one (``--heavy-filters``), and measures them side by side in
one run; the heavier CNN only at the highest concurrency, for the batched-vs-in-process figure. The notebook calls
:func:`run_benchmark` on its own exported model.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from helpers.serving import client as cl
from helpers.serving.bench_report import plot, summary, table
from helpers.serving.local_server.flags import BatchingParameters, read_batching_parameters

__all__ = [
    "grpc_load",
    "in_process",
    "launch_servers",
    "make_cnn",
    "plot",
    "read_batching_parameters",
    "rest_overhead",
    "run_benchmark",
    "summary",
    "table",
]


def make_cnn(seed: int = 0, filters: int = 64):
    """A small CNN on 8x8x1 digit images whose batched call is compute-bound (a few ms for 32 images)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(8, 8, 1), name="images")
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def percentiles(ms: list[float]) -> tuple[float, float]:
    """(p50, p99) of latencies in milliseconds."""
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _level_summary(clients: int, latencies: list, failures: list, elapsed: float) -> dict:
    """Throughput, p50/p99 latency and failures of one concurrency level."""
    p50, p99 = percentiles(latencies) if latencies else (float("nan"), float("nan"))
    return {
        "clients": clients,
        "requests": len(latencies),
        "throughput": len(latencies) / elapsed,
        "p50_ms": p50,
        "p99_ms": p99,
        "failures": len(failures),
        "errors": failures[:3],
        "latencies": latencies,
        "seconds": elapsed,
    }


def grpc_load(target: str, reqs: list, clients: int, total: int, timeout_s: float = 120) -> dict:
    """Throughput, p50/p99 (ms) and failures of ``total`` gRPC Predict calls, ``clients`` of them in flight
        at once on one asyncio channel (``grpc.aio``): far less client CPU than one thread per client, so the
    server is what is measured."""
    import asyncio

    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    # rows each request carries, read once: every response must have them in each of its outputs
    rows = [next(iter(r.inputs.values())).tensor_shape.dim[0].size for r in reqs]

    async def run():
        latencies, failures = [], []
        counter = iter(range(total))
        async with grpc.aio.insecure_channel(target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            async def worker():
                for i in counter:
                    start = time.perf_counter()
                    try:
                        reply = await stub.Predict(reqs[i % len(reqs)], timeout=30)
                        if not reply.outputs or any(
                            t.tensor_shape.dim[0].size != rows[i % len(reqs)] for t in reply.outputs.values()
                        ):
                            failures.append(f"wrong reply: {str(reply)[:150]}")
                            continue
                        latencies.append((time.perf_counter() - start) * 1000)
                    except grpc.aio.AioRpcError as err:
                        failures.append(f"{err.code().name}: {err.details()}"[:200])

            start = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(clients))), timeout_s)
            return latencies, failures, time.perf_counter() - start

    box = {}
    # a thread of its own: Jupyter's kernel already runs an event loop in this one
    thread = threading.Thread(target=lambda: box.update(result=asyncio.run(run())), daemon=True)
    thread.start()
    thread.join(timeout_s + 10)
    if "result" not in box:
        raise RuntimeError(f"gRPC load with {clients} clients did not finish in {timeout_s} s")
    return _level_summary(clients, *box["result"])


def server_cpu_seconds(srv) -> float:
    """User + system CPU seconds the server process has used so far, all its threads (Linux ``/proc``): the
    cost of serving, which other load on the machine slows down but does not add to, unlike wall time."""
    fields = Path(f"/proc/{srv.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_process(path: str | Path, x: np.ndarray, batch: int, seconds: float = 1.5) -> dict:
    """The SavedModel's own serving signature, called in this process on ``batch`` rows: rows/s, p50 (ms)."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    name = list(fn.structured_input_signature[1])[0]
    rows = tf.constant(np.resize(x, (batch,) + x.shape[1:]).astype("float32"))
    for _ in range(3):
        fn(**{name: rows})
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        start = time.perf_counter()
        fn(**{name: rows})
        times.append(time.perf_counter() - start)
    return {"batch": batch, "rows_per_s": batch * len(times) / sum(times), "p50_ms": 1000 * float(np.median(times))}


TOP_ROUNDS = 5  # paired off/on rounds at the highest concurrency: the ratio is their median


def _merge(parts: list[dict]) -> dict:
    """One row from several rounds at the same concurrency: total requests over total time, pooled latencies."""
    latencies = [ms for p in parts for ms in p["latencies"]]
    p50, p99 = percentiles(latencies) if latencies else (float("nan"), float("nan"))
    return {
        "clients": parts[0]["clients"],
        "requests": len(latencies),
        "throughput": len(latencies) / sum(p["seconds"] for p in parts),
        "p50_ms": p50,
        "p99_ms": p99,
        "failures": sum(p["failures"] for p in parts),
        "errors": [e for p in parts for e in p["errors"]][:3],
        "round_throughputs": [len(p["latencies"]) / p["seconds"] for p in parts],
    }


BATCH_TIMEOUT_MICROS = 10000  # within the 1-10 ms that TF Serving's batching guide says to try on CPUs


def default_batching(clients: int) -> BatchingParameters:
    """Batching parameters for ``clients`` concurrent one-example requests: batches of up to ``clients`` rows,
    a partial batch waiting at most :data:`BATCH_TIMEOUT_MICROS` for more requests, one batch thread."""
    return BatchingParameters(
        max_batch_size=clients,
        batch_timeout_micros=BATCH_TIMEOUT_MICROS,
        max_enqueued_batches=clients,
        num_batch_threads=1,
    )


def heavy_batching(clients: int) -> BatchingParameters:
    """:func:`default_batching` with two batch threads, for a model whose batched call takes tens of ms:
    while one batch runs, the next one can run on the other core (with two TensorFlow threads, see
    :func:`launch_servers`) instead of waiting."""
    params = default_batching(clients)
    params.num_batch_threads = 2
    return params


def launch_servers(
    base_path, model_name: str, workdir, server: str = "auto", batching=None, clients: int = 32, tf_threads: int = 1
):
    """Launch (without waiting) the two servers the benchmark compares: ``{"off": ..., "on": ...}``, gRPC
    only, folders read once at start-up (so a version added later does not change what is measured).

    ``tf_threads`` sets ``--tensorflow_intra_op_parallelism`` and ``--tensorflow_inter_op_parallelism``
    (0: TensorFlow's default, one thread per core). On a small machine 1 is fastest: the event loop, the
    batch thread and the load generator share the cores, and TensorFlow's spinning worker threads only
    compete with them."""
    batching = batching or default_batching(clients)
    params_file = Path(workdir) / f"batching_{model_name}.pbtxt"
    params_file.write_text(batching.to_text())
    common = {"model_name": model_name, "model_base_path": str(base_path), "file_system_poll_wait_seconds": 0}
    if tf_threads:
        common.update(tensorflow_intra_op_parallelism=tf_threads, tensorflow_inter_op_parallelism=tf_threads)
    return {
        "off": cl.launch(workdir, server=server, rest=False, **common),
        "on": cl.launch(
            workdir,
            server=server,
            rest=False,
            enable_batching=True,
            batching_parameters_file=str(params_file),
            **common,
        ),
    }


def run_benchmark(
    base_path,
    model_name: str,
    input_name: str,
    x: np.ndarray,
    workdir,
    levels=(1, 8, 32),
    requests: int = 300,
    server: str = "auto",
    batching: BatchingParameters | None = None,
    version: int | None = None,
    servers: dict | None = None,
    rounds: int = 3,
    tf_threads: int = 1,
) -> dict:
    """gRPC load at each concurrency in ``levels`` with batching off, then on, and the in-process ceiling.

    ``servers`` are two already launched servers (see :func:`launch_servers`; they are not stopped here);
    without them both are started here with ``tf_threads`` (see :func:`launch_servers`) and stopped here.
    Returns ``{"rows": [...], "in_process": {...}}``; each row has mode, clients, throughput (req/s, one
    example per request), p50_ms, p99_ms, failures.
    """
    batching = batching or default_batching(max(levels))
    own = servers is None
    if own:
        servers = launch_servers(base_path, model_name, workdir, server, batching, max(levels), tf_threads)
    reqs = [cl.predict_request(model_name, x[i : i + 1], input_name, version) for i in range(len(x))]
    rows = []
    try:
        targets = {mode: servers[mode].wait_ready().grpc_target for mode in ("off", "on")}
        for target in targets.values():
            grpc_load(target, reqs, max(levels), 2 * max(levels))  # warm-up
        for clients in levels:
            # off and on alternate in short rounds, so that a burst of load from elsewhere hits both alike; the
            # highest concurrency, where the on/off ratio is read, gets more and longer rounds (TOP_ROUNDS)
            top = clients == max(levels)
            n_rounds = max(rounds, TOP_ROUNDS) if top else rounds
            per_round = max(4 * clients, requests // rounds) if top else max(clients, requests // rounds)
            parts = {"off": [], "on": []}
            cpu = {"off": 0.0, "on": 0.0}  # the server process's own CPU seconds over these rounds
            for _ in range(n_rounds):
                for mode, target in targets.items():
                    before = server_cpu_seconds(servers[mode])
                    parts[mode].append(grpc_load(target, reqs, clients, per_round))
                    cpu[mode] += server_cpu_seconds(servers[mode]) - before
            for mode in ("off", "on"):
                row = _merge(parts[mode])
                row["server_cpu_ms"] = 1e3 * cpu[mode] / max(row["requests"], 1)
                rows.append({"mode": f"batching {mode}", **row})
    finally:
        if own:
            for srv in servers.values():
                srv.stop()
    from helpers.serving.local_server.versions import version_dir

    path = version_dir(base_path, version)
    ceiling = in_process(path, x, max(levels))
    return {"rows": rows, "in_process": ceiling, "batching": batching.__dict__}


def rest_overhead(base_path, model_name: str, x: np.ndarray, workdir, server: str = "auto", count: int = 200) -> dict:
    """p50 of one single-example REST predict minus p50 of the same call in process (milliseconds)."""
    import http.client

    from helpers.serving.local_server.versions import version_dir

    local = in_process(version_dir(base_path), x[:1], 1, seconds=1.0)
    flags = {"model_name": model_name, "model_base_path": str(base_path), "file_system_poll_wait_seconds": 0}
    flags.update(tensorflow_intra_op_parallelism=1, tensorflow_inter_op_parallelism=1)  # see launch_servers
    with cl.serve(workdir, server=server, **flags) as srv:
        host, port = srv.rest.rsplit(":", 1)
        path = cl.rest_url(srv.rest, model_name, verb="predict").split(srv.rest, 1)[1]
        # one keep-alive connection and a body built once: the client's own cost stays far below a millisecond
        body = json.dumps({"instances": x[:1].tolist()}).encode()
        headers = {"Content-Type": "application/json"}
        times = []
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            for i in range(count + 10):
                start = time.perf_counter()
                connection.request("POST", path, body, headers)
                reply = connection.getresponse()
                data = reply.read()
                if i >= 10:
                    times.append((time.perf_counter() - start) * 1000)
                if reply.status != 200:
                    raise RuntimeError(f"REST predict failed: {reply.status} {data[:200]!r}")
        finally:
            connection.close()
    rest_p50 = float(np.median(times))
    return {"rest_p50_ms": rest_p50, "in_process_p50_ms": local["p50_ms"], "overhead_ms": rest_p50 - local["p50_ms"]}


def main(argv=None) -> int:
    """CLI: export the MLP and the CNN, benchmark both, print the figures, write JSON and PNGs to --out."""
    parser = argparse.ArgumentParser(prog="python -m helpers.serving.bench", description=__doc__)
    parser.add_argument("--out", default=None, help="folder for results.json and the plots (default: a temp dir)")
    parser.add_argument("--levels", default="1,8,32", help="client concurrencies, comma separated")
    parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    parser.add_argument("--server", default="auto", choices=cl.SERVER_CHOICES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of the MLP")
    parser.add_argument("--heavy-filters", type=int, default=256, help="filters of the heavier CNN (0: leave it out)")
    args = parser.parse_args(argv)
    import tempfile

    import helpers

    out = Path(args.out or tempfile.mkdtemp(prefix="serving-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    helpers.setup(seed=args.seed)
    from helpers.data import load_digits
    from helpers.models import export_version, train_digits_classifier

    data = load_digits(args.seed)
    levels = tuple(int(v) for v in args.levels.split(","))
    mlp, _ = train_digits_classifier(epochs=args.epochs, seed=args.seed, data=data)
    export_version(mlp, out / "models" / "mlp", 1)
    export_version(make_cnn(args.seed), out / "models" / "cnn", 1)
    if args.heavy_filters:
        export_version(make_cnn(args.seed, args.heavy_filters), out / "models" / "cnn_heavy", 1)
    images = data.x_test.reshape(-1, 8, 8, 1)
    results = {
        "mlp": run_benchmark(
            out / "models" / "mlp", "mlp", "features", data.x_test, out, levels, args.requests, args.server
        ),
        "cnn": run_benchmark(out / "models" / "cnn", "cnn", "images", images, out, levels, args.requests, args.server),
        "rest": rest_overhead(out / "models" / "mlp", "mlp", data.x_test, out, args.server),
    }
    if args.heavy_filters:
        results["cnn_heavy"] = run_benchmark(
            out / "models" / "cnn_heavy",
            "cnn_heavy",
            "images",
            images,
            out,
            (max(levels),),
            args.requests,
            args.server,
            heavy_batching(max(levels)),
            tf_threads=2,
        )
    for name in [n for n in ("mlp", "cnn", "cnn_heavy") if n in results]:
        print(f"\n== {name} ==\n{table(results[name])}")
        results[name]["summary"] = summary(results[name])
        plot(results[name], out / f"bench_{name}.png", title=name)
    mlp_s, cnn_s, rest = results["mlp"]["summary"], results["cnn"]["summary"], results["rest"]
    for name, figures in (("MLP", mlp_s), ("CNN", cnn_s)):
        print(
            f"{'' if name == 'CNN' else chr(10)}batching on/off at {figures['clients']} gRPC clients ({name}): "
            f"{figures['on_rps']:.0f} / {figures['off_rps']:.0f} req/s, {figures['batching_speedup']:.2f}x "
            "(median of the paired rounds)"
            + (" (the 2x target is for this compute-bound model)" if name == "CNN" else " (tiny model: overhead-bound)")
        )
    print(
        f"CNN (in-process batch of {results['cnn']['in_process']['batch']} takes "
        f"{results['cnn']['in_process']['p50_ms']:.1f} ms): server with batching {cnn_s['on_rps']:.0f} vs "
        f"in-process {cnn_s['in_process_rps']:.0f} examples/s = {cnn_s['on_vs_in_process']:.2f}"
    )
    if "cnn_heavy" in results:
        heavy, ceiling = results["cnn_heavy"]["summary"], results["cnn_heavy"]["in_process"]
        print(
            f"heavier CNN, {args.heavy_filters} filters (in-process batch of {ceiling['batch']} takes "
            f"{ceiling['p50_ms']:.1f} ms): server with batching {heavy['on_rps']:.0f}"
            f" vs in-process {heavy['in_process_rps']:.0f} examples/s = {heavy['on_vs_in_process']:.2f}"
        )
    print(
        f"REST p50 {rest['rest_p50_ms']:.2f} ms vs in-process {rest['in_process_p50_ms']:.2f} ms: "
        f"overhead {rest['overhead_ms']:.2f} ms"
    )
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
