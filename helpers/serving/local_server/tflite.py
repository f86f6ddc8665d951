"""``--prefer_tflite_model``: a ``model.tflite`` in the version folder, run with TensorFlow Lite's
interpreter (``tf.lite.Interpreter``) instead of the SavedModel (tflite_session.cc in the real server).

Each signature of the flatbuffer becomes a SignatureDef (for metadata and input checks) and a callable; one
interpreter per model, calls serialised by a lock (the real server keeps a pool, ``--num_tflite_pools``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

DEFAULT_SIGNATURE = "serving_default"


def _tensor_info(detail: dict) -> meta_graph_pb2.TensorInfo:
    info = meta_graph_pb2.TensorInfo(name=detail["name"], dtype=tf.as_dtype(detail["dtype"]).as_datatype_enum)
    signature = detail.get("shape_signature", detail["shape"])
    for size in signature:
        info.tensor_shape.dim.add(size=int(size))
    return info


def load_tflite(path: Path) -> tuple[dict, dict]:
    """``(signature_defs, functions)`` of a TensorFlow Lite model; functions take and return ndarrays."""
    interpreter = tf.lite.Interpreter(model_path=str(path))
    lock = threading.Lock()
    signature_defs, functions = {}, {}
    for key in interpreter.get_signature_list() or {DEFAULT_SIGNATURE: None}:
        runner = interpreter.get_signature_runner(key)
        sig = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
        for alias, detail in runner.get_input_details().items():
            sig.inputs[alias].CopyFrom(_tensor_info(detail))
        for alias, detail in runner.get_output_details().items():
            sig.outputs[alias].CopyFrom(_tensor_info(detail))
        signature_defs[key] = sig

        def call(runner=runner, **inputs):
            with lock:  # one interpreter: its tensors are resized per call
                return {k: np.array(v) for k, v in runner(**inputs).items()}

        functions[key] = call
    return signature_defs, functions
