"""Unit tests of helpers.serving without a server process: flags, config files, JSON mapping, batching."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from helpers.serving.flags import to_argv
from helpers.serving.local_server import json_tensor
from helpers.serving.local_server.batching import Batcher
from helpers.serving.local_server.flags import (
    BatchingParameters,
    FlagError,
    batching_parameters_from_text,
    model_server_config_from_text,
    parse_flags,
    read_model_server_config,
)
from helpers.serving.local_server.status import ServingError


# ------------------------------------------------------------------------------------------ flags
def test_flags_parse_the_seed_command():
    flags = parse_flags(["--rest_api_port=8501", "--model_name=my_model", "--model_base_path=/models/my_model"])
    assert (flags.rest_api_port, flags.model_name, flags.model_base_path) == (8501, "my_model", "/models/my_model")
    assert flags.port == 8500 and flags.file_system_poll_wait_seconds == 1 and not flags.enable_batching


def test_bool_flags_bare_or_valued():
    assert parse_flags(["--model_base_path=/m", "--enable_batching"]).enable_batching
    assert not parse_flags(["--model_base_path=/m", "--enable_batching=false"]).enable_batching
    with pytest.raises(FlagError, match="Couldn.t interpret value =maybe for flag enable_batching."):
        parse_flags(["--model_base_path=/m", "--enable_batching=maybe"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model_base_path=/m", "--rest_api_prot=8501"], "unknown argument: --rest_api_prot=8501"),
        (["--model_base_path=/m", "8501"], "unknown argument: 8501"),
        (["--model_base_path=/m", "--port=abc"], "Couldn.t interpret value =abc for flag port."),
        ([], "Both server_options.model_base_path and server_options.model_config_file are empty!"),
        (["--model_base_path=/m", "--port=70000"], "--port must be a TCP port"),
    ],
)
def test_bad_flags_are_refused(argv, message):
    with pytest.raises(FlagError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_flags(argv)


def test_to_argv_spells_flags_like_the_binary():
    assert to_argv(port=1, enable_batching=True, model_name="m", skip=None) == [
        "--port=1",
        "--enable_batching=true",
        "--model_name=m",
    ]


def test_model_config_file_with_labels_and_relative_path(tmp_path):
    (tmp_path / "models.config").write_text("""
model_config_list {
  config { name: "m" base_path: "m_dir" model_platform: "tensorflow"
           model_version_policy { specific { versions: 1 versions: 2 } }
           version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 } }
}""")
    model = read_model_server_config(tmp_path / "models.config").model_config_list.config[0]
    assert model.base_path == str(tmp_path / "m_dir")
    assert dict(model.version_labels) == {"stable": 1, "canary": 2}
    assert list(model.model_version_policy.specific.versions) == [1, 2]
    with pytest.raises(FlagError, match="Invalid protobuf file"):
        model_server_config_from_text("model_config_list { config { nme: 'x' } }")


def test_batching_parameters_file():
    params = batching_parameters_from_text(
        "max_batch_size { value: 32 } batch_timeout_micros { value: 500 } num_batch_threads { value: 2 } "
        "allowed_batch_sizes: 8 allowed_batch_sizes: 32"
    )
    assert (params.max_batch_size, params.batch_timeout_micros, params.num_batch_threads) == (32, 500, 2)
    assert params.max_enqueued_batches == BatchingParameters().max_enqueued_batches  # default kept
    assert params.allowed_batch_sizes == (8, 32)
    assert batching_parameters_from_text(params.to_text()) == params  # round trip
    with pytest.raises(FlagError, match="Final entry in allowed_batch_sizes must equal max_batch_size"):
        batching_parameters_from_text("max_batch_size { value: 32 } allowed_batch_sizes: 8")
    with pytest.raises(FlagError, match="Invalid protobuf file"):
        batching_parameters_from_text("max_batch_size: 32")  # a wrapper message, not a scalar


# ------------------------------------------------------------------------------------------ JSON mapping
SPECS = {"x": np.dtype(np.float32)}  # input alias -> dtype, as Servable.input_dtypes gives them


@pytest.mark.parametrize(
    "body, message",
    [
        ("", "JSON Parse error: The document is empty"),
        ('{"instances": [[1, 2]', "JSON Parse error: Missing a comma or ']' after an array element. at offset:"),
        ('{"instances" [1]}', "JSON Parse error: Missing a colon after a name of object member."),
        ("[1, 2]", "Is not object"),
    ],
)
def test_parse_errors_use_rapidjson_texts(body, message):
    with pytest.raises(ServingError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        json_tensor.parse_request(body)


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"instances": [[1, 2]], "inputs": [[1, 2]]}, "Not formatted correctly expecting only one of"),
        ({"instances": 3}, "Excepting 'instances' to be an list/array"),
        ({"instances": []}, "No values in 'instances' array"),
        ({}, "Missing 'inputs' or 'instances' key"),
        (
            {"instances": [[1, 2], [3]]},
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 2 but got: 1",
        ),
        ({"instances": [[1, "a"]]}, "Type: String is not of expected type: float"),
        ({"instances": [[True, 1]]}, "Type: True is not of expected type: float"),
        ({"inputs": {"y": [[1, 2]]}}, "Missing named input: x in 'inputs' object."),
    ],
)
def test_request_errors(doc, message):
    with pytest.raises(ServingError) as err:
        json_tensor.request_inputs(doc, SPECS)
    assert message in err.value.message and err.value.http_status == 400


def test_row_and_columnar_requests():
    fmt, arrays = json_tensor.request_inputs({"instances": [[1, 2], [3, 4.5]]}, SPECS)
    assert fmt == "row" and arrays["x"].dtype == np.float32 and arrays["x"].tolist() == [[1, 2], [3, 4.5]]
    fmt, arrays = json_tensor.request_inputs({"inputs": {"x": [[1, 2]]}}, SPECS)
    assert fmt == "columnar" and arrays["x"].shape == (1, 2)
    fmt, arrays = json_tensor.request_inputs({"inputs": [[1, 2]]}, SPECS)
    assert arrays["x"].shape == (1, 2)


def test_response_formats_floats_like_the_cpp_server():
    out = {"p": np.array([[0.1, 1.0, float("nan")]], dtype=np.float32)}
    assert json_tensor.response_json(out, "row") == '{\n    "predictions": [[0.1, 1.0, NaN]]\n}'
    two = {"a": np.array([1, 2], dtype=np.int64), "b": np.array([0.5, 2.0], dtype=np.float32)}
    import json

    assert json.loads(json_tensor.response_json(two, "row")) == {
        "predictions": [{"a": 1, "b": 0.5}, {"a": 2, "b": 2.0}]
    }
    assert json.loads(json_tensor.response_json(two, "columnar")) == {"outputs": {"a": [1, 2], "b": [0.5, 2.0]}}
    third = np.float32(1) / np.float32(3)
    text = json_tensor.response_json({"p": np.array([third])}, "row")
    assert np.float32(json.loads(text)["predictions"][0]) == third  # 9 digits where 6 do not round-trip


# ------------------------------------------------------------------------------------------ batching
def _slow_double(calls):
    def run(inputs):
        calls.append(len(inputs["x"]))
        time.sleep(0.05)
        return {"y": inputs["x"] * 2}

    return run


def _submit_all(batcher, n, results, errors):
    def one(i):
        try:
            results[i] = batcher.submit({"x": np.array([[float(i)]])}, timeout=10)["y"]
        except ServingError as err:
            errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)


def test_batcher_merges_concurrent_requests_and_splits_results():
    calls = []
    batcher = Batcher(_slow_double(calls), BatchingParameters(max_batch_size=16, max_enqueued_batches=8))
    results, errors = {}, []
    try:
        _submit_all(batcher, 24, results, errors)
    finally:
        batcher.stop()
    assert not errors
    assert all(results[i].tolist() == [[2.0 * i]] for i in range(24))  # every caller gets its own rows
    assert sum(calls) == 24 and len(calls) < 24 and max(calls) > 1  # merged into fewer model calls
    assert max(calls) <= 16 and batcher.stats["calls"] == len(calls)


def test_full_queue_fails_fast_with_the_documented_error():
    calls = []
    batcher = Batcher(_slow_double(calls), BatchingParameters(max_batch_size=1, max_enqueued_batches=2))
    results, errors = {}, []
    try:
        _submit_all(batcher, 12, results, errors)
    finally:
        batcher.stop()
    assert errors and len(results) + len(errors) == 12
    assert {e.message for e in errors} == {"The batch scheduling queue to which this task was submitted is full"}
    assert {e.http_status for e in errors} == {503}


def test_batcher_pads_to_allowed_sizes_and_checks_tasks():
    seen = []

    def run(inputs):
        seen.append(len(inputs["x"]))
        return {"y": inputs["x"] + 1}

    batcher = Batcher(run, BatchingParameters(max_batch_size=8, allowed_batch_sizes=(4, 8)))
    try:
        out = batcher.submit({"x": np.ones((3, 2))}, timeout=10)
        assert out["y"].shape == (3, 2) and seen == [4]  # padded to 4 rows, padding dropped
        with pytest.raises(ServingError, match="Task size 9 is larger than maximum batch size 8"):
            batcher.submit({"x": np.ones((9, 2))})
        with pytest.raises(ServingError, match="must have equal 0th-dimension size"):
            batcher.submit({"x": np.ones((2, 2)), "z": np.ones((3, 2))})
    finally:
        batcher.stop()


def test_tensor_proto_fast_paths_match_tensorflow():
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2

    from helpers.serving.local_server.grpc_service import fill_tensor_proto, to_ndarray

    arrays = [
        np.random.rand(2, 3).astype("float32"),
        np.arange(6).reshape(3, 2),
        np.array([b"a"], dtype=object),
        np.float64(3.0),
        np.random.rand(4, 3).astype("float32")[:, 1],
    ]
    for a in arrays:
        proto = tensor_pb2.TensorProto()
        fill_tensor_proto(proto, a)
        back = tf.make_ndarray(proto)
        assert back.dtype == np.asarray(a).dtype and back.shape == np.shape(a) and np.array_equal(back, a)
        assert np.array_equal(to_ndarray(tf.make_tensor_proto(a)), a)


def test_batcher_hands_async_results_back_once_per_batch():
    import asyncio

    calls = []
    batcher = Batcher(_slow_double(calls), BatchingParameters(max_batch_size=16, max_enqueued_batches=8))

    async def main():
        loop = asyncio.get_running_loop()
        wakeups = []
        original = loop.call_soon_threadsafe

        def counting(callback, *args, **kwargs):  # the batch thread's hand-backs to this loop
            wakeups.append(callback)
            return original(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counting
        futures = [batcher.submit_async({"x": np.array([[float(i)]])}) for i in range(12)]
        return await asyncio.gather(*futures), wakeups

    try:
        results, wakeups = asyncio.run(main())
    finally:
        batcher.stop()
    assert [r["y"].tolist() for r in results] == [[[2.0 * i]] for i in range(12)]
    assert sum(calls) == 12 and len(wakeups) == len(calls) < 12  # one wake-up of the loop per batch


def test_batcher_gives_the_model_error_to_every_async_request():
    import asyncio

    def broken(inputs):
        raise ValueError("model failed")

    batcher = Batcher(broken, BatchingParameters(max_batch_size=4))

    async def main():
        futures = [batcher.submit_async({"x": np.ones((1, 2))}) for _ in range(3)]
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        errors = asyncio.run(main())
    finally:
        batcher.stop()
    assert [str(e) for e in errors] == ["model failed"] * 3


# ------------------------------------------------------------------------------------------ the README
def test_readme_serving_section_lists_every_flag_as_implemented_or_ignored():
    """The README's serving section has one row per flag of main.cc, saying what this server does with it."""
    from pathlib import Path

    from helpers.serving.local_server.flag_table import FLAG_TABLE, IGNORED, IMPLEMENTED

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Serving stand-in", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(" `"): line for line in section.splitlines() if line.startswith("| `--")}
    assert sorted(rows) == sorted(f"--{name}" for name, *_ in FLAG_TABLE)
    for name in IMPLEMENTED:
        assert "**implemented**" in rows[f"--{name}"], name
    for name, why in IGNORED.items():
        assert f"accepted, ignored, logged once: {why}" in rows[f"--{name}"], name


def test_benchmark_speedup_is_the_median_of_paired_rounds():
    """One burst of load from elsewhere (round 2: off fast, on slow) moves the pooled ratio, not the median."""
    from helpers.serving.bench_report import summary

    def row(mode, rounds):
        return {"mode": mode, "clients": 32, "throughput": sum(rounds) / len(rounds), "failures": 0,
                "round_throughputs": rounds}

    result = {"rows": [row("batching off", [500, 900, 500, 500, 500]), row("batching on", [800, 400, 750, 800, 850])],
              "in_process": {"rows_per_s": 10_000}}
    figures = summary(result)
    assert figures["batching_speedup"] == 1.6  # ratios 1.6, 0.44, 1.5, 1.6, 1.7
    assert figures["on_rps"] == 720 and figures["off_rps"] == 580


# ------------------------------------------------------------------------ versions (file_system_storage_path_source.cc)
@pytest.mark.parametrize(
    "name, version",
    [("00000123", 123), ("01", 1), ("7", 7), ("+5", 5), (" 9 ", 9), ("0", 0), (str(2**63 - 1), 2**63 - 1)],
)
def test_version_names_that_parse_as_int64(name, version):
    from helpers.serving.local_server.versions import parse_version

    assert parse_version(name) == version


@pytest.mark.parametrize("name", ["-1", "1e3", "0x1", "1.0", "", "abc", str(2**63), "１"])
def test_version_names_that_do_not(name):
    from helpers.serving.local_server.versions import parse_version

    assert parse_version(name) is None


def test_duplicate_versions_load_the_later_name(tmp_path):
    from helpers.serving.local_server.versions import version_folders

    for name in ("01", "1", "002", "tmp", "3.0"):
        (tmp_path / name).mkdir()
    assert version_folders(tmp_path) == {1: "1", 2: "002"}  # file_system_storage_path_source.cc: "1" beats "01"


# ------------------------------------------------------------------------------- flags of main.cc and server.cc
def test_every_flag_of_main_cc_is_accepted_with_its_type_and_default():
    from helpers.serving.flags import to_argv
    from helpers.serving.local_server.flag_table import FLAG_TABLE
    from helpers.serving.local_server.flags import Flags, parse_flags

    defaults = Flags()
    assert len(FLAG_TABLE) == 48
    argv = to_argv(**{name: getattr(defaults, name) for name, *_ in FLAG_TABLE if name != "version"})
    flags = parse_flags([a for a in argv if not a.startswith("--model_base_path")] + ["--model_base_path=/m"])
    assert flags.saved_model_tags == "serve" and flags.enable_model_warmup is True
    assert flags.max_num_load_retries == 5 and flags.load_retry_interval_micros == 60_000_000
    assert flags.rest_api_timeout_in_ms == 30000 and flags.per_process_gpu_memory_fraction == 0.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--port=0"], "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set."),
        (["--port=2147483648"], "Couldn't interpret value =2147483648 for flag port."),
        (["--enable_batching=1"], "Couldn't interpret value =1 for flag enable_batching."),
        (["--batching_parameters_file=/b"], "batching_parameters_file is set without setting"),
        (["--use_alts_credentials", "--ssl_config_file=/s"], "Either use_alts_credentials must be false"),
    ],
)
def test_start_up_checks_of_server_cc(argv, message):
    from helpers.serving.local_server.flags import FlagError, parse_flags

    with pytest.raises(FlagError) as err:
        parse_flags(["--model_base_path=/m", *argv])
    assert message in str(err.value)


def test_grpc_channel_arguments_are_parsed_as_server_cc_does():
    from helpers.serving.local_server.flags import grpc_channel_arguments

    assert grpc_channel_arguments("grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb,a=b=c") == [
        ("grpc.max_connection_age_ms", 2000),
        ("grpc.lb_policy_name", "grpclb"),
        ("a", "b"),
    ]
    assert grpc_channel_arguments("") == []
