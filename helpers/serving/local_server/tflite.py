"""``--prefer_tflite_model``: a ``model.tflite`` in the version folder, run by TensorFlow Lite's interpreter
instead of the SavedModel, as servables/tensorflow/tflite_session.cc does it:

* **Signatures.** The SignatureDefs stored in the model's ``signature_defs_metadata`` entry (a FlexBuffer
  map of serialized SignatureDefs, written by TensorFlow Lite's ``signature_def_utils``), their tensor names
  matched to the interpreter's tensors, trying the name without its ``:N`` suffix too. A model without them
  gets one generated ``serving_default`` predict signature: every input and output tensor, keyed by its
  name without ``:N``, shaped as the tensor is. TensorFlow Lite's own signature runners are not used.
* **Runs.** An input whose shape differs from the tensor's is resized to it (strings: to ``[batch]``), then
  the interpreter runs and the requested output tensors are copied out.

One interpreter per model, calls serialised by a lock (the real server keeps a pool, ``--num_tflite_pools``).
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf
from flatbuffers import flexbuffers
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.lite.tools import flatbuffer_utils

from helpers.serving.local_server import status as st
from helpers.serving.local_server.session import tensor_names

DEFAULT_SIGNATURE = "serving_default"
PREDICT = "tensorflow/serving/predict"
SIGNATURE_DEFS_METADATA = b"signature_defs_metadata"  # tensorflow/lite/tools/signature/signature_def_util.h


def legacy_name(tensor_name: str) -> str:
    """tflite_session.cc TfToTfLiteLegacyTensorName: ``x:0`` -> ``x``."""
    return tensor_name.split(":", 1)[0]


def read_signature_defs(model_bytes: bytes) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDefs stored in the model's metadata (empty when there are none)."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    for metadata in model.metadata or []:
        if metadata.name == SIGNATURE_DEFS_METADATA:
            entries = flexbuffers.GetRoot(bytes(model.buffers[metadata.buffer].data)).AsMap
            signatures = {}
            for key, value in zip(entries.Keys, entries.Values, strict=True):
                signature = meta_graph_pb2.SignatureDef()
                signature.ParseFromString(value.AsStringBytes)
                signatures[key.AsKey] = signature
            return signatures
    return {}


def _fix_name(info: meta_graph_pb2.TensorInfo, known: dict[str, int], what: str) -> None:
    """FixTfLiteTensorName: keep the name when the interpreter has it, else try it without ``:N``."""
    if info.name in known:
        return
    if legacy_name(info.name) in known:
        info.name = legacy_name(info.name)
        return
    raise st.ServingError(st.grpc.StatusCode.INTERNAL, f"Unknown tensor '{info.name}'.\n\t{what}")


def _tensor_info(detail: dict) -> meta_graph_pb2.TensorInfo:
    info = meta_graph_pb2.TensorInfo(name=detail["name"], dtype=tf.as_dtype(detail["dtype"]).as_datatype_enum)
    for size in detail["shape"]:
        info.tensor_shape.dim.add(size=int(size))
    return info


class TfLiteModel:
    """A TensorFlow Lite model with the SignatureDefs the real server derives; :meth:`run` is thread-safe."""

    def __init__(self, path: Path):
        data = Path(path).read_bytes()
        with warnings.catch_warnings():  # tf.lite.Interpreter warns that it moves to ai_edge_litert
            warnings.simplefilter("ignore")
            self.interpreter = tf.lite.Interpreter(model_content=data)
        try:
            self.interpreter.allocate_tensors()
        except RuntimeError as err:  # e.g. a custom op this interpreter has no kernel for
            raise st.ServingError(st.grpc.StatusCode.INTERNAL, f"Cannot build Interpreter from buffer: {err}") from None
        self._lock = threading.Lock()
        inputs = {d["name"]: d for d in self.interpreter.get_input_details()}
        outputs = {d["name"]: d for d in self.interpreter.get_output_details()}
        self._index = {name: d["index"] for name, d in {**inputs, **outputs}.items()}
        self._shapes = {d["index"]: list(d["shape"]) for d in inputs.values()}
        self._strings = {d["index"] for d in inputs.values() if d["dtype"] in (np.bytes_, np.object_)}
        self.signature_defs = read_signature_defs(data)
        for signature in self.signature_defs.values():
            for alias, info in signature.inputs.items():
                _fix_name(info, inputs, f"Signature input {alias} references an unknown tensor")
            for alias, info in signature.outputs.items():
                _fix_name(info, outputs, f"Signature output {alias} references an unknown tensor")
        if not self.signature_defs:  # "No signature def found in TFLite model. Generating one."
            generated = meta_graph_pb2.SignatureDef(method_name=PREDICT)
            for name, detail in inputs.items():
                generated.inputs[legacy_name(name)].CopyFrom(_tensor_info(detail))
            for name, detail in outputs.items():
                generated.outputs[legacy_name(name)].CopyFrom(_tensor_info(detail))
            self.signature_defs = {DEFAULT_SIGNATURE: generated}

    def _set_input(self, index: int, value: np.ndarray, batch: int) -> None:
        is_string = index in self._strings
        shape = [batch] if is_string else list(value.shape)
        if self._shapes[index] != shape:  # SetInputAndInvokeMiniBatch: resize to what the request holds
            self.interpreter.resize_tensor_input(index, shape)
            self.interpreter.allocate_tensors()
            self._shapes[index] = shape
        if is_string:
            value = np.array(list(value.reshape(-1)), dtype=object)
        self.interpreter.set_tensor(index, value)

    def run(self, key: str, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> list[np.ndarray]:
        """Set the signature ``key``'s input tensors to ``inputs`` (by alias), invoke, copy ``outputs`` out."""
        feeds, fetches = tensor_names(self.signature_defs[key], inputs, outputs)
        values = [np.asarray(v) for v in feeds.values()]
        batch = values[0].shape[0] if values and values[0].ndim else 1
        with self._lock:
            try:
                for name, value in zip(feeds, values, strict=True):
                    self._set_input(self._index[name], value, batch)
                self.interpreter.invoke()
            except (RuntimeError, ValueError) as err:
                raise st.ServingError(
                    st.grpc.StatusCode.INTERNAL, f"Failed to invoke TfLite interpreter: {err}"
                ) from None
            return [np.array(self.interpreter.get_tensor(self._index[name])) for name in fetches]
