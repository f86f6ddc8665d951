"""Classify, Regress and MultiInference on ``tf.Example`` signatures (servables/tensorflow/classifier.cc,
regressor.cc, multi_inference.cc, util.cc), with their error texts.

The request's ``Input`` (``example_list``, or ``example_list_with_context``: context bytes + example bytes,
so the example's features override the context's) becomes a DT_STRING tensor ``[N]`` of serialized
``tf.Example``s fed to the signature's ``inputs``; ``classes``/``scores`` (classify) or ``outputs``
(regress) come back as ClassificationResult / RegressionResult. The method name of a SignatureDef is only
checked with ``--enable_signature_method_name_check`` (``LoadOptions.method_check``; off by default, as TF2
``tf.function`` signatures are all ``tensorflow/serving/predict``); the structural checks always apply.
The serialized examples are fed to the signature's input tensor as they are (classifier.cc's session run).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2, inference_pb2, regression_pb2

from helpers.serving.local_server import status as st

CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"


def serialized_examples(input_proto) -> np.ndarray:
    """util.cc InputToSerializedExampleTensor."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        rows = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        ctx = input_proto.example_list_with_context.context.SerializeToString()
        rows = [ctx + e.SerializeToString() for e in input_proto.example_list_with_context.examples]
    else:
        rows = []
    if not rows:
        raise st.invalid("Input is empty.")
    return np.array(rows, dtype=object)


def _signature(servable, signature_name: str, method: str):
    key = signature_name or DEFAULT_SIGNATURE
    if key not in servable.signature_defs:
        raise st.invalid(f"No signature was found with the name: {key}")
    sig = servable.signature_defs[key]
    if servable.options.method_check and sig.method_name != method:
        what = "classification" if method == CLASSIFY else "regression"
        raise st.invalid(f"Expected {what} signature method_name to be {method}. Was: {sig.method_name}")
    return key, sig


def _check_classify(sig) -> None:
    if len(sig.inputs) != 1:
        raise st.invalid("Expected one input Tensor.")
    if len(sig.outputs) not in (1, 2):
        raise st.invalid(f"Expected one or two output Tensors, found {len(sig.outputs)}")
    if "inputs" not in sig.inputs:
        raise st.invalid(f"No classification inputs found in SignatureDef: {sig}")
    if "classes" not in sig.outputs and "scores" not in sig.outputs:
        raise st.invalid(
            'Expected classification signature outputs to contain at least one of "classes" or "scores". '
            f"Signature was: {sig}"
        )


def _check_regress(sig) -> None:
    if len(sig.inputs) != 1:
        raise st.invalid("Expected one input Tensor.")
    if len(sig.outputs) != 1:
        raise st.invalid("Expected one output Tensor.")
    if "inputs" not in sig.inputs:
        raise st.invalid(f"No regression inputs found in SignatureDef: {sig}")
    if "outputs" not in sig.outputs:
        raise st.invalid(f"No regression outputs found in SignatureDef: {sig}")


def prepare(servable, signature_name: str, input_proto, method: str) -> tuple[str, dict, tuple[str, ...], int]:
    """``(signature key, {"inputs": serialized examples}, output aliases, N)`` after the checks of
    classifier.cc / regressor.cc."""
    key, sig = _signature(servable, signature_name, method)
    (_check_classify if method == CLASSIFY else _check_regress)(sig)
    examples = serialized_examples(input_proto)
    return key, {"inputs": examples}, tuple(sig.outputs), len(examples)


def _dtype_name(array: np.ndarray) -> str:
    return "DT_STRING" if array.dtype == object else "DT_" + tf.as_dtype(array.dtype).name.upper()


def classification_result(outputs: dict, n: int) -> classification_pb2.ClassificationResult:
    """classifier.cc PostProcessClassificationResult."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    num = None
    for name, value, want in (("classes", classes, object), ("scores", scores, np.float32)):
        if value is None:
            continue
        value = np.asarray(value)
        if value.ndim != 2:
            raise st.invalid(f"Expected Tensor shape: [batch_size num_classes] but got {list(value.shape)}")
        if (value.dtype == object) != (want is object) or (want is not object and value.dtype != want):
            kind = "DT_STRING" if want is object else "DT_FLOAT"
            raise st.invalid(f"Expected {name} Tensor of {kind}. Got: {_dtype_name(value)}")
        if value.shape[0] != n:
            raise st.invalid(f"Expected {name} output batch size of {n}. Got: {value.shape[0]}")
        if num is not None and num != value.shape[1]:
            raise st.invalid(f"Tensors class and score should match in dim_size(1). Got {num} vs. {value.shape[1]}")
        num = value.shape[1]
    result = classification_pb2.ClassificationResult()
    for i in range(n):
        row = result.classifications.add()
        for c in range(num or 0):
            label = classes[i][c] if classes is not None else b""
            row.classes.add(
                label=label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label),
                score=float(scores[i][c]) if scores is not None else 0.0,
            )
    return result


def regression_result(outputs: dict, n: int) -> regression_pb2.RegressionResult:
    """regressor.cc PostProcessRegressionResult."""
    value = np.asarray(outputs["outputs"])
    if not (value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1)):
        raise st.invalid(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got {list(value.shape)}"
        )
    if value.shape[0] != n:
        raise st.invalid(f"Input batch size did not match output batch size: {n} vs. {value.shape[0]}")
    if value.dtype != np.float32:
        raise st.invalid(f"Expected output Tensor of DT_FLOAT.  Got: {_dtype_name(value)}")
    result = regression_pb2.RegressionResult()
    for v in value.reshape(-1):
        result.regressions.add(value=float(v))
    return result


def fill_spec(spec, name: str, servable, key: str) -> None:
    """util.cc MakeModelSpec: the requested name, the loaded version, the resolved signature."""
    spec.name = name
    spec.version.value = servable.version
    spec.signature_name = key


def classify_sync(servable, signature_name: str, input_proto):
    """A whole Classify in this thread: ``(signature key, ClassificationResult)``."""
    key, inputs, outputs, n = prepare(servable, signature_name, input_proto, CLASSIFY)
    return key, classification_result(servable.run_sync(key, inputs, outputs), n)


def regress_sync(servable, signature_name: str, input_proto):
    """A whole Regress in this thread: ``(signature key, RegressionResult)``."""
    key, inputs, outputs, n = prepare(servable, signature_name, input_proto, REGRESS)
    return key, regression_result(servable.run_sync(key, inputs, outputs), n)


def check_multi_inference(request) -> str:
    """multi_inference.cc's checks; returns the model name every task names."""
    names, seen = set(), set()
    for task in request.tasks:
        if not task.model_spec.name:
            raise st.invalid("Found ModelSpec with an empty model name.")
        names.add(task.model_spec.name)
        signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature in seen:
            raise st.invalid(f"Duplicate evaluation of signature: {signature}")
        seen.add(signature)
        if task.method_name not in (CLASSIFY, REGRESS):
            raise st.ServingError(
                st.grpc.StatusCode.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}"
            )
    if len(names) > 1:
        raise st.invalid("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
    if not names:
        raise st.invalid("Found ModelSpec with an empty model name.")
    return names.pop()


def multi_inference_sync(servable, request) -> inference_pb2.MultiInferenceResponse:
    """Every task on one servable, sequentially (the real server runs them in one Session::Run)."""
    check_multi_inference(request)
    response = inference_pb2.MultiInferenceResponse()
    for task in request.tasks:
        signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature not in servable.signature_defs:
            raise st.invalid(f"Requested signature not found in model graph: {signature}")
        result = response.results.add()
        if task.method_name == CLASSIFY:
            key, res = classify_sync(servable, signature, request.input)
            result.classification_result.CopyFrom(res)
        else:
            key, res = regress_sync(servable, signature, request.input)
            result.regression_result.CopyFrom(res)
        fill_spec(result.model_spec, task.model_spec.name, servable, key)
    return response
