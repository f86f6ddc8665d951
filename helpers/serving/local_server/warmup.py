"""Model warm-up (g3doc/saved_model_warmup.md, servables/tensorflow/saved_model_warmup_util.cc): before a
version becomes AVAILABLE, replay ``<version>/assets.extra/tf_serving_warmup_requests``, a TFRecord file of
serialized ``tensorflow.serving.PredictionLog``s, each ``--num_request_iterations_for_warmup`` times
(1 when not > 0). Any error fails the load (the version ends in state END with that error).
"""

from __future__ import annotations

import logging
import time

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from helpers.serving.local_server import inference
from helpers.serving.local_server import status as st
from helpers.serving.local_server.tensors import to_ndarray

log = logging.getLogger("helpers.serving")
REQUESTS_FILE = "assets.extra/tf_serving_warmup_requests"  # WarmupConsts::kRequestsFileName
MAX_RECORDS = 1000  # WarmupConsts::kMaxNumRecords


def _replay(servable, record: prediction_log_pb2.PredictionLog) -> None:
    kind = record.WhichOneof("log_type")
    if kind is None:
        return
    if kind == "predict_log":
        request = record.predict_log.request
        inputs = {alias: to_ndarray(proto) for alias, proto in request.inputs.items()}
        servable.predict(request.model_spec.signature_name, inputs, request.output_filter)
    elif kind == "classify_log":
        request = record.classify_log.request
        inference.classify_sync(servable, request.model_spec.signature_name, request.input)
    elif kind == "regress_log":
        request = record.regress_log.request
        inference.regress_sync(servable, request.model_spec.signature_name, request.input)
    elif kind == "multi_inference_log":
        inference.multi_inference_sync(servable, record.multi_inference_log.request)
    else:
        number = record.DESCRIPTOR.fields_by_name[kind].number
        raise st.ServingError(st.grpc.StatusCode.UNIMPLEMENTED, f"Unsupported log_type for warmup: {number}")


def run_warmup(servable, iterations: int = 1, metrics=None) -> None:
    """Replay the warm-up file of ``servable`` (no file: nothing to do); raise ServingError on failure."""
    path = servable.path / REQUESTS_FILE
    if not path.is_file():
        log.info("No warmup data file found at %s", path)
        return
    started = time.perf_counter()
    count = 0
    status = "OK"
    try:
        try:
            records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
        except tf.errors.OpError as err:
            raise st.ServingError(
                st.grpc.StatusCode.DATA_LOSS,
                f"{err.message}. Please verify your warmup data is in TFRecord format.",
            ) from None
        for raw in records:
            record = prediction_log_pb2.PredictionLog()
            try:
                record.ParseFromString(raw)
            except Exception:  # noqa: BLE001 (protobuf's DecodeError)
                raise st.invalid(f"Failed to parse warmup record: {raw!r} from {path}") from None
            for _ in range(max(iterations, 1)):
                _replay(servable, record)
            count += 1
            if count > MAX_RECORDS:
                raise st.invalid(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
    except st.ServingError as err:
        status = err.code.name
        raise
    finally:
        micros = (time.perf_counter() - started) * 1e6
        if metrics is not None:
            metrics.warmup(str(servable.path), status, micros)
    log.info(
        "Finished reading warmup data for model at %s. Number of warmup records read: %d. "
        "Elapsed time (microseconds): %d.",
        path,
        count,
        micros,
    )
