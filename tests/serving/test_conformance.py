"""Conformance of the REST and gRPC APIs with TensorFlow Serving's documented formats and error texts.

Every test runs against ``python -m helpers.serving`` and, when ``tensorflow_model_server`` is on PATH, against
the real binary too (same flags, same assertions), so the local server cannot drift from the real one.
Texts marked "local only" come from the TF runtime in the real server and differ between models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest
import requests

from helpers.serving import client as sc

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.slow,  # starts model servers or loads models with TensorFlow
    pytest.mark.usefixtures("tf_runtime"),
]

KINDS = [
    "local",
    pytest.param(
        "binary",
        marks=pytest.mark.skipif(
            sc.find_binary() is None,
            reason="tensorflow_model_server is not on PATH (it ships only as a Docker image or an apt package)",
        ),
    ),
]


def _tiny_model(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(4,), name="x")
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(inputs)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Versions 1 and 2 of a tiny model, and a config file with labels stable=1, canary=2."""
    from helpers.models import export_version

    root = tmp_path_factory.mktemp("serving")
    base = root / "tiny"
    keras_models = {v: _tiny_model(v) for v in (1, 2)}
    for version, model in keras_models.items():
        export_version(model, base, version)
    config = root / "models.config"
    config.write_text(f"""
model_config_list {{ config {{
  name: "tiny" base_path: "{base}" model_platform: "tensorflow"
  model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
  version_labels {{ key: "stable" value: 1 }} version_labels {{ key: "canary" value: 2 }}
}} }}""")
    return {"root": root, "base": base, "config": config, "keras": keras_models}


@pytest.fixture(scope="module", params=KINDS)
def server(request, models):
    with sc.serve(
        models["root"],
        server=request.param,
        model_config_file=str(models["config"]),
        allow_version_labels_for_unavailable_models=True,
        enable_batching=True,
    ) as srv:
        yield srv
    assert srv.process.poll() is not None, "server still running after the fixture"


X = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, -1.0, 0.5]], dtype=np.float32)


def _url(srv, **kw):
    return sc.rest_url(srv.rest, "tiny", **kw)


def _post(srv, body, **kw):
    data = body if isinstance(body, str) else json.dumps(body)
    return requests.post(_url(srv, verb="predict", **kw), data=data, timeout=10)


def _error(reply, status):
    assert reply.status_code == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert list(body) == ["error"]
    return body["error"]


# ------------------------------------------------------------------------------------------ REST: status
def test_model_status_lists_every_version(server):
    reply = requests.get(_url(server), timeout=10)
    assert reply.status_code == 200
    status = reply.json()["model_version_status"]
    assert sorted(s["version"] for s in status) == ["1", "2"]  # int64 as a JSON string
    assert all(s["state"] == "AVAILABLE" and s["status"]["error_code"] == "OK" for s in status)
    one = requests.get(_url(server, version=1), timeout=10).json()["model_version_status"]
    assert [s["version"] for s in one] == ["1"]


def test_model_status_errors(server):
    assert (
        _error(requests.get(sc.rest_url(server.rest, "nope"), timeout=10), 404)
        == "Could not find any versions of model nope"
    )
    assert _error(requests.get(_url(server, version=9), timeout=10), 404) == "Could not find version 9 of model tiny"
    assert _error(requests.get(f"http://{server.rest}/v1/foo", timeout=10), 400) == "Malformed request: GET /v1/foo"


def test_model_metadata(server):
    meta = requests.get(_url(server, verb="metadata"), timeout=10).json()
    assert meta["model_spec"]["name"] == "tiny" and meta["model_spec"]["version"] == "2"
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in sig["inputs"]["x"]["tensor_shape"]["dim"]] == ["-1", "4"]
    labelled = requests.get(_url(server, label="stable", verb="metadata"), timeout=10).json()
    assert labelled["model_spec"]["version"] == "1"


# ------------------------------------------------------------------------------------------ REST: predict
def test_predict_row_and_columnar_formats(server, models):
    expected = {v: m.predict(X, verbose=0) for v, m in models["keras"].items()}
    rows = _post(server, {"instances": X.tolist()}).json()
    np.testing.assert_allclose(rows["predictions"], expected[2], rtol=1e-5, atol=1e-6)  # latest version
    cols = _post(server, {"signature_name": "serving_default", "inputs": {"x": X.tolist()}}).json()
    np.testing.assert_allclose(cols["outputs"], expected[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        _post(server, {"instances": X.tolist()}, version=1).json()["predictions"], expected[1], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        _post(server, {"instances": X.tolist()}, label="stable").json()["predictions"],
        expected[1],
        rtol=1e-5,
        atol=1e-6,
    )
    named = _post(server, {"instances": [{"x": row} for row in X.tolist()]}).json()["predictions"]
    np.testing.assert_allclose(named, expected[2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "body, status, text, exact",
    [
        ('{"instances": [[1.0, 2.0]', 400, "JSON Parse error: ", False),
        ("", 400, "JSON Parse error: The document is empty", True),
        (
            {"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]},
            400,
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
            False,
        ),
        ({"signature": "x"}, 400, "Missing 'inputs' or 'instances' key", True),
        (
            {"instances": [[1, 2, 3, 4], [1, 2]]},
            400,
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 4 but got: 2",
            True,
        ),
        ({"instances": [["a", 1, 2, 3]]}, 400, "Type: String is not of expected type: float", False),
        (
            {"signature_name": "nope", "instances": [[1, 2, 3, 4]]},
            400,
            'Serving signature name: "nope" not found in signature def',
            True,
        ),
        ({"instances": [[1, 2, 3]]}, 400, None, False),  # wrong width: the text is the runtime's (local only)
    ],
)
def test_predict_errors(server, body, status, text, exact):
    message = _error(_post(server, body), status)
    if text is not None:
        assert message == text if exact else text in message, message


def test_unknown_versions_labels_and_models(server):
    body = {"instances": X.tolist()}
    assert _error(_post(server, body, version=9), 404) == "Servable not found for request: Specific(tiny, 9)"
    assert _error(_post(server, body, label="nope"), 400) == "Unrecognized servable version label: nope"
    reply = requests.post(sc.rest_url(server.rest, "nope", verb="predict"), json=body, timeout=10)
    assert _error(reply, 404) == "Servable not found for request: Latest(nope)"
    assert _post(server, body).status_code == 200  # and the server keeps serving


# ------------------------------------------------------------------------------------------ gRPC
@pytest.fixture
def stubs(server):
    channel, predict, model = sc.grpc_stubs(server.grpc_target)
    with channel:
        yield predict, model


def test_grpc_predict_versions_and_labels(stubs, models):
    predict, _ = stubs
    for kw, version in (({}, 2), ({"version": 1}, 1), ({"label": "canary"}, 2), ({"label": "stable"}, 1)):
        probs, served = sc.grpc_predict(predict, "tiny", X, "x", **kw)
        assert served == version
        np.testing.assert_allclose(probs, models["keras"][version].predict(X, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kw, code, text",
    [
        ({"version": 9}, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Specific(tiny, 9)"),
        ({"label": "nope"}, grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: nope"),
        (
            {"input_name": "y"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Signature input alias: x(feed name: serving_default_x:0) not found in request and no default value "
            "provided. Inputs expected to be in the request {y}, or default input alias set: ",
        ),
    ],
)
def test_grpc_predict_errors(stubs, kw, code, text):
    predict, _ = stubs
    input_name = kw.pop("input_name", "x")
    with pytest.raises(grpc.RpcError) as err:
        predict.Predict(sc.predict_request("tiny", X, input_name, **kw), timeout=10)
    assert err.value.code() == code and err.value.details() == text


def test_grpc_metadata_and_status(stubs):
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

    predict, model = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tiny"
    reply = predict.GetModelMetadata(request, timeout=10)
    sigs = get_model_metadata_pb2.SignatureDefMap()
    assert reply.metadata["signature_def"].Unpack(sigs)
    assert "x" in sigs.signature_def["serving_default"].inputs and reply.model_spec.version.value == 2
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as err:
        model.GetModelStatus(status, timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "Could not find any versions of model nope"


def test_grpc_reload_config_moves_labels(server, stubs, models):
    from helpers.serving.local_server.flags import read_model_server_config

    predict, model = stubs
    config = read_model_server_config(models["config"])
    labels = config.model_config_list.config[0].version_labels
    from tensorflow_serving.apis import model_management_pb2

    try:
        labels["stable"] = 2
        reply = model.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=60)
        assert reply.status.error_code == 0, reply.status.error_message
        assert sc.grpc_predict(predict, "tiny", X, "x", label="stable")[1] == 2
        labels["stable"] = 7  # a version that is not loaded: refused, old labels kept
        reply = model.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=60)
        assert reply.status.error_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        assert reply.status.error_message == (
            "Request to assign label to version 7 of model tiny, which is not currently available for inference"
        )
        assert sc.grpc_predict(predict, "tiny", X, "x", label="stable")[1] == 2
    finally:
        labels["stable"] = 1
        model.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=60)
    assert sc.grpc_predict(predict, "tiny", X, "x", label="stable")[1] == 1


# ------------------------------------------------------------------------------------------ load
def test_bounded_concurrent_load_has_no_failed_request(server, stubs):
    predict, _ = stubs
    failures, done = [], []
    url = _url(server, verb="predict")

    def client(i):
        with requests.Session() as session:
            for j in range(15):
                try:
                    if (i + j) % 2:
                        sc.grpc_predict(predict, "tiny", X[:1], "x", timeout=20)
                    else:
                        session.post(url, json={"instances": X[:1].tolist()}, timeout=20).raise_for_status()
                    done.append(1)
                except Exception as err:
                    failures.append(repr(err))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures and len(done) == 12 * 15


# ------------------------------------------------------------------------------------------ the process
def test_unknown_flag_exits_non_zero_naming_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "helpers.serving", "--model_base_path=/m", "--rest_api_prot=1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 2 and "unknown argument: --rest_api_prot=1" in result.stderr
