"""The requests of TensorFlow Serving's own docs and integration test, on models laid out as its test data
(tests/support/tf_serving_testdata.py), with the answers those docs print:

* README.md and g3doc/docker.md: ``half_plus_two`` answers ``{"instances": [1.0, 2.0, 5.0]}`` with
  ``{"predictions": [2.5, 3.0, 4.5]}``;
* g3doc/api_rest.md: status, predict and regress of ``saved_model_half_plus_three``, the 404 of an unknown
  model;
* model_servers/tensorflow_model_server_test.py (VerifyPredictRequest reads ``outputs['y'].float_val``):
  Predict, Classify, Regress and MultiInference on the TF1 and TF2 models, REST in both formats, a Unix
  socket, the config reload, TensorFlow Lite with and without SignatureDefs, ``tf.saved_model.save`` with
  ``TensorSpec(None)``;
* g3doc/serving_basic.md: ``predict_images`` of an mnist-style export read from ``float_val``, and its
  classification ``serving_default`` whose classes come from a lookup table.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from helpers.serving import client as sc
from tests.support import tf_serving_testdata as td

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.slow,  # generates models with TensorFlow and starts model servers
    pytest.mark.usefixtures("tf_runtime"),
]


@pytest.fixture(scope="module")
def testdata(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf_serving_testdata")
    return {"root": root, **td.write_all(root)}


def _config(path, models: dict) -> str:
    entries = "".join(
        f'  config: {{ name: "{name}", base_path: "{base}", model_platform: "tensorflow" }},\n'
        for name, base in models.items()
    )
    path.write_text(f"model_config_list: {{\n{entries}}}\n")
    return str(path)


@pytest.fixture(scope="module")
def half_plus_two(testdata):
    """README/docker.md: ``--model_name=half_plus_two``, REST and gRPC, and a Unix socket as the test does."""
    socket = testdata["root"] / "tf-serving.sock"
    with sc.serve(testdata["root"], server="local", model_name="half_plus_two",
                  model_base_path=str(testdata["saved_model_half_plus_two_cpu"]),
                  grpc_socket_path=str(socket), rest_api_timeout_in_ms=5000) as srv:
        srv.socket = socket
        yield srv


@pytest.fixture(scope="module")
def good_config(testdata):
    """good_model_config.txt (half_plus_two and half_plus_three), re-read every second, numeric replies in
    tensor_content."""
    config = _config(testdata["root"] / "good_model_config.conf", {
        "half_plus_two": testdata["saved_model_half_plus_two_cpu"],
        "half_plus_three": testdata["saved_model_half_plus_three"],
    })
    with sc.serve(testdata["root"], server="local", model_config_file=config, model_config_file_poll_wait_seconds=1,
                  enable_serialization_as_tensor_content=True) as srv:
        srv.config = config
        yield srv


@pytest.fixture(scope="module")
def more_models(testdata):
    """The TF2, tf.saved_model.save, mnist and TensorFlow Lite models, with --prefer_tflite_model (a version
    without model.tflite serves its SavedModel)."""
    names = ["saved_model_half_plus_two_tf2_cpu", "tf_saved_model_save", "mnist",
             "saved_model_half_plus_two_tflite", "saved_model_half_plus_two_tflite_with_sigdef"]
    config = _config(testdata["root"] / "more_models.conf", {name: testdata[name] for name in names})
    with sc.serve(testdata["root"], server="local", model_config_file=config, prefer_tflite_model=True) as srv:
        yield srv


def _stub(target):
    channel = grpc.insecure_channel(target)
    return channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _verify_predict(target, model, expected, output_filter=True, signature="serving_default", batch=False):
    """tensorflow_model_server_test_base.py VerifyPredictRequest: x = float_val [2.0], shape [1] ([1,1] when
    ``batch``); the reply's ``y`` is DT_FLOAT with one float_val. Returns the reply."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    if batch:
        request.inputs["x"].tensor_shape.dim.add().size = 1
    if output_filter:
        request.output_filter.append("y")
    channel, stub = _stub(target)
    with channel:
        reply = stub.Predict(request, 20)
    assert reply.outputs["y"].dtype == types_pb2.DT_FLOAT
    assert list(reply.outputs["y"].float_val) == [expected]
    assert (reply.model_spec.name, reply.model_spec.signature_name, reply.model_spec.version.value) == (
        model, signature, 123)
    return reply


def _post(srv, model, verb, body):
    return requests.post(sc.rest_url(srv.rest, model, verb=verb), json=body, timeout=20)


# ------------------------------------------------------------------------------------------ README, docker.md
def test_readme_request(half_plus_two):
    reply = _post(half_plus_two, "half_plus_two", "predict", {"instances": [1.0, 2.0, 5.0]})
    assert reply.status_code == 200 and reply.json() == {"predictions": [2.5, 3.0, 4.5]}


def test_columnar_and_integration_test_rest_requests(half_plus_two):
    assert _post(half_plus_two, "half_plus_two", "predict", {"instances": [2.0, 3.0, 4.0]}).json() == {
        "predictions": [3.0, 3.5, 4.0]}
    assert _post(half_plus_two, "half_plus_two", "predict", {"inputs": [2.0, 3.0, 4.0]}).json() == {
        "outputs": [3.0, 3.5, 4.0]}
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    assert _post(half_plus_two, "half_plus_two", "classify", body).json() == {"results": [[["", 3.0]]]}
    body["signature_name"] = "regress_x_to_y"
    assert _post(half_plus_two, "half_plus_two", "regress", body).json() == {"results": [3.0]}
    status = requests.get(sc.rest_url(half_plus_two.rest, "half_plus_two"), timeout=10).json()
    assert status == {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}


def test_grpc_predict_reads_float_val(half_plus_two):
    """The typed fields, not tensor_content, as the real server's default (no --enable_serialization_...)."""
    reply = _verify_predict(half_plus_two.grpc_target, "half_plus_two", 3.0)
    assert reply.outputs["y"].tensor_content == b""
    _verify_predict(half_plus_two.grpc_target, "half_plus_two", 3.0, output_filter=False)
    _verify_predict(f"unix:{half_plus_two.socket}", "half_plus_two", 3.0, output_filter=False)


def test_grpc_predict_of_three_values_fed_to_a_1_column_input(half_plus_two):
    """``x`` is [?,1] in the SignatureDef; the graph takes [3], as the REST request of the README does."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.extend([1.0, 2.0, 5.0])
    request.inputs["x"].tensor_shape.dim.add().size = 3
    channel, stub = _stub(half_plus_two.grpc_target)
    with channel:
        reply = stub.Predict(request, 20)
    assert list(reply.outputs["y"].float_val) == [2.5, 3.0, 4.5]
    assert [d.size for d in reply.outputs["y"].tensor_shape.dim] == [3]


@pytest.mark.parametrize("model_key", ["saved_model_half_plus_two_cpu", "saved_model_half_plus_two_tf2_cpu"])
def test_classify_regress_multi_inference(half_plus_two, more_models, model_key):
    srv, name = ((half_plus_two, "half_plus_two") if model_key.endswith("two_cpu")
                 else (more_models, "saved_model_half_plus_two_tf2_cpu"))
    channel, stub = _stub(srv.grpc_target)
    with channel:
        classify = classification_pb2.ClassificationRequest()
        classify.model_spec.name, classify.model_spec.signature_name = name, "classify_x_to_y"
        classify.input.example_list.examples.add().CopyFrom(td.example(x=2.0))
        result = stub.Classify(classify, 20)
        assert [(c.label, c.score) for c in result.result.classifications[0].classes] == [("", 3.0)]
        regress = regression_pb2.RegressionRequest()
        regress.model_spec.name, regress.model_spec.signature_name = name, "regress_x_to_y"
        regress.input.CopyFrom(classify.input)
        assert [r.value for r in stub.Regress(regress, 20).result.regressions] == [3.0]
        multi = inference_pb2.MultiInferenceRequest()
        for signature, method in (("regress_x_to_y", "regress"), ("classify_x_to_y", "classify")):
            task = multi.tasks.add(method_name=f"tensorflow/serving/{method}")
            task.model_spec.name, task.model_spec.signature_name = name, signature
        multi.input.CopyFrom(classify.input)
        results = stub.MultiInference(multi, 20).results
    assert results[0].regression_result.regressions[0].value == 3.0
    assert results[1].classification_result.classifications[0].classes[0].score == 3.0
    assert [r.model_spec.signature_name for r in results] == ["regress_x_to_y", "classify_x_to_y"]


# ------------------------------------------------------------------------------------------ api_rest.md
def test_api_rest_md_half_plus_three(good_config):
    status = requests.get(sc.rest_url(good_config.rest, "half_plus_three"), timeout=10).json()
    assert status == {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert _post(good_config, "half_plus_three", "predict", {"instances": [1.0, 2.0, 5.0]}).json() == {
        "predictions": [3.5, 4.0, 5.5]}
    body = {"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}
    assert _post(good_config, "half_plus_three", "regress", body).json() == {"results": [3.5, 4.0]}
    reply = _post(good_config, "half", "predict", {"instances": [1.0, 5.0]})
    assert reply.status_code == 404 and reply.json() == {"error": "Servable not found for request: Latest(half)"}
    assert "Number of warmup records read: 2." in good_config.log_path.read_text()


def test_tensor_content_when_asked(good_config):
    """--enable_serialization_as_tensor_content: the same values, packed."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_three"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    channel, stub = _stub(good_config.grpc_target)
    with channel:
        y = stub.Predict(request, 20).outputs["y"]
    assert not y.float_val and np.frombuffer(y.tensor_content, np.float32).tolist() == [4.0]


def test_config_reload(good_config, testdata):
    """testModelConfigReload: the config file names another model; the server loads it within a few polls."""
    _config(testdata["root"] / "good_model_config.conf", {"half_plus_three": testdata["saved_model_half_plus_three"],
                                                         "reloaded": testdata["tf_saved_model_save"]})
    sc.wait_for(lambda: _post(good_config, "reloaded", "predict", {"instances": [2.0]}).status_code == 200,
                timeout=60, what="the reloaded config")
    assert _post(good_config, "reloaded", "predict", {"instances": [2.0]}).json() == {"predictions": [12.0]}


# ------------------------------------------------------------------------------------------ more models
def test_tf_saved_model_save_and_tflite(more_models):
    _verify_predict(more_models.grpc_target, "tf_saved_model_save", 12.0, output_filter=False)
    for name in ("saved_model_half_plus_two_tflite", "saved_model_half_plus_two_tflite_with_sigdef"):
        _verify_predict(more_models.grpc_target, name, 3.0, output_filter=False)
        _verify_predict(more_models.grpc_target, name, 3.0)


def test_serving_basic_mnist_client(more_models):
    """mnist_client.py: images of shape [1, n], scores read from float_val; the default signature classifies
    with the lookup table's labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.data[:20].astype("float32") / 16.0, digits.target[:20]
    channel, stub = _stub(more_models.grpc_target)
    errors = 0
    with channel:
        for image, label in zip(images, labels, strict=True):
            request = predict_pb2.PredictRequest()
            request.model_spec.name, request.model_spec.signature_name = "mnist", "predict_images"
            request.inputs["images"].CopyFrom(_image_proto(image))
            scores = np.array(stub.Predict(request, 5.0).outputs["scores"].float_val)
            assert scores.shape == (10,) and abs(scores.sum() - 1) < 1e-5
            errors += int(np.argmax(scores) != label)
        classify = classification_pb2.ClassificationRequest()
        classify.model_spec.name = "mnist"
        example = classify.input.example_list.examples.add()
        example.features.feature["x"].float_list.value.extend(images[0].tolist())
        classes = stub.Classify(classify, 5.0).result.classifications[0].classes
    assert errors <= 4, f"{errors} of 20 digits wrong"
    assert sorted(c.label for c in classes) == [str(i) for i in range(10)] and classes[0].label == str(labels[0])


def _image_proto(image: np.ndarray):
    """``tf.make_tensor_proto(image, shape=[1, image.size])`` as mnist_client.py builds it."""
    import tensorflow as tf

    return tf.make_tensor_proto(image, shape=[1, image.size])


def test_a_shape_the_graph_rejects_gets_the_sessions_error(more_models):
    """No SignatureDef shape check: the MatMul of a [1,10] input against [64,10] weights fails in the session,
    with its INVALID_ARGUMENT (400) and TensorFlow's text."""
    reply = _post(more_models, "mnist", "predict", {"signature_name": "predict_images", "instances": [[0.0] * 10]})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error.startswith("Matrix size-incompatible: In[0]: [1,10], In[1]: [64,10]") and "{{node MatMul}}" in error
