"""One loaded model version (a SavedModel in a Session, or a TensorFlow Lite model) and the one path every
request takes to run it, as servables/tensorflow/predict_util.cc and the session run define it:

* the signature is looked up by key (``serving_default`` when none is given);
* the request's inputs are matched to the signature's by alias (VerifyRequestInputsSize and
  saved_model/util.cc GetInputValues: too many or too few inputs, an unknown alias, defaults), with
  TensorFlow Serving's texts;
* the values are fed to the signature's tensors as they are: no shape is checked against the SignatureDef,
  the graph decides, and the session's own errors come back unchanged;
* the output tensors (all, or those of ``output_filter``) are fetched.

:func:`call_model` runs a checked request from the event loop (REST and gRPC alike): through the batcher
when batching is on, else on the model-call thread pool, with the request's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from helpers.serving.local_server import status as st
from helpers.serving.local_server.batching import Batcher
from helpers.serving.local_server.flags import BatchingParameters
from helpers.serving.local_server.json_tensor import tf_type_name
from helpers.serving.local_server.session import SavedModelSession, SignatureFunctions
from helpers.serving.local_server.tensors import to_ndarray
from helpers.serving.local_server.tflite import TfLiteModel
from helpers.serving.local_server.versions import read_meta_graph

log = logging.getLogger("helpers.serving")
DEFAULT_SIGNATURE = "serving_default"  # tensorflow/cc/saved_model/signature_constants.h


@dataclass
class LoadOptions:
    """How versions are loaded and served: the flags of main.cc that govern it, with the real defaults."""

    tags: tuple[str, ...] = ("serve",)  # --saved_model_tags
    prefer_tflite: bool = False  # --prefer_tflite_model
    max_num_load_retries: int = 5  # --max_num_load_retries
    load_retry_interval_micros: int = 60_000_000  # --load_retry_interval_micros
    enable_model_warmup: bool = True  # --enable_model_warmup
    warmup_iterations: int = 1  # --num_request_iterations_for_warmup, when > 0
    method_check: bool = False  # --enable_signature_method_name_check
    session_config: object = None  # tf ConfigProto from the session flags (None: TensorFlow's defaults)
    metrics: object = None  # monitoring.Metrics, when --monitoring_config_file enables Prometheus
    batching: BatchingParameters | None = field(default=None)  # --enable_batching (+ parameters file)


_ENUMS: dict[np.dtype, int] = {}  # numpy dtype -> TensorFlow DataType enum, filled as dtypes are seen


def _dtype_enum(value: np.ndarray) -> int:
    enum = _ENUMS.get(value.dtype)
    if enum is None:
        kind = tf.string if value.dtype.kind in "OSU" else tf.as_dtype(value.dtype)
        enum = _ENUMS[value.dtype] = kind.as_datatype_enum
    return enum


def _dtype_name(enum: int) -> str:
    return tf_type_name(tf.as_dtype(enum).as_numpy_dtype) if enum != tf.string.as_datatype_enum else "string"


class Servable:
    """One loaded version: its SignatureDefs and a thread-safe :meth:`run`."""

    def __init__(self, name: str, version: int, path: Path, options: LoadOptions | None = None):
        self.name, self.version, self.path = name, version, Path(path)
        self.options = options or LoadOptions()
        self.tflite = self.options.prefer_tflite and (self.path / "model.tflite").is_file()
        if self.tflite:  # --prefer_tflite_model; without a model.tflite the SavedModel is served
            self.model = TfLiteModel(self.path / "model.tflite")
        else:
            read_meta_graph(self.path, self.options.tags)  # TensorFlow's texts for a missing file or tag set
            self.model = SavedModelSession(self.path, self.options.tags, self.options.session_config)
            if self.model.unrestored:
                log.warning(
                    "%s version %s: the restore op leaves %s uninitialized; tensorflow_model_server answers "
                    "requests that read them with FAILED_PRECONDITION 'Could not find variable'. Served here "
                    "with tf.saved_model.load instead, which checks input shapes against the signature.",
                    name, version, ", ".join(self.model.unrestored[:5]),
                )
                self.model = SignatureFunctions(self.path, self.options.tags, self.model.signature_defs)
        self.signature_defs = self.model.signature_defs
        self._arg_orders: dict[str, list] = {}
        self._batchers: dict[tuple, Batcher] = {}
        self._batchers_lock = threading.Lock()

    # ------------------------------------------------------------------ predict_util.cc's checks
    def signature(self, signature_name: str, rest: bool = False) -> str:
        """The signature key to use ('' means serving_default); an unknown key raises the documented error."""
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise st.rest_signature_not_found(key) if rest else st.signature_key_not_found(key)
        return key

    def input_dtypes(self, key: str) -> dict[str, np.dtype]:
        """``{alias: numpy dtype}`` of the signature's inputs (how the REST API reads JSON values)."""
        inputs = self.signature_defs[key].inputs
        return {alias: np.dtype(tf.as_dtype(info.dtype).as_numpy_dtype) for alias, info in inputs.items()}

    def check_inputs(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The request's inputs as the session will see them: names matched, defaults filled, dtypes as the
        session checks them; shapes are left to the graph."""
        signature = self.signature_defs[key]
        wanted, given = set(signature.inputs), set(inputs)
        if len(given) > len(wanted) or (len(given) < len(wanted) and not signature.defaults):
            raise st.input_size_mismatch(given, wanted)
        checked = {}
        for alias in signature.inputs:
            if alias in inputs:
                checked[alias] = np.asarray(inputs[alias])
            elif alias in signature.defaults:
                checked[alias] = to_ndarray(signature.defaults[alias])
            else:
                raise st.input_not_found(alias, signature.inputs[alias].name, given, set(signature.defaults))
        if given - wanted:
            raise st.invalid_input_name(given & wanted, given)
        for i, alias, want in self._arg_order(key):
            value = checked.get(alias)
            if value is not None and _dtype_enum(value) != want:
                got = "string" if value.dtype.kind in "OSU" else tf_type_name(value.dtype)
                raise st.invalid(f"Expects arg[{i}] to be {_dtype_name(want)} but {got} is provided")
        return checked

    def _arg_order(self, key: str) -> list[tuple[int, str, int]]:
        """``(arg index, alias, DataType enum)`` of the signature's inputs: Session::Run sorts its feeds by
        tensor name, and arg[i] is the i-th of them (computed once per signature)."""
        order = self._arg_orders.get(key)
        if order is None:
            inputs = self.signature_defs[key].inputs
            ranked = sorted(inputs, key=lambda alias: inputs[alias].name)
            order = [(i, alias, inputs[alias].dtype) for i, alias in enumerate(ranked)]
            self._arg_orders[key] = order
        return order

    def output_aliases(self, key: str, output_filter=()) -> tuple[str, ...]:
        """The outputs to fetch: ``output_filter`` (each alias once, each one the signature's) or all."""
        outputs = self.signature_defs[key].outputs
        seen: list[str] = []
        for alias in output_filter:
            if alias not in outputs:
                raise st.output_alias_not_found(alias, list(outputs))
            if alias in seen:
                raise st.invalid(f"duplicate output tensor alias: {alias}")
            seen.append(alias)
        return tuple(seen) if seen else tuple(outputs)

    # ------------------------------------------------------------------ running
    def run(self, key: str, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        """One session run of checked ``inputs``, fetching ``outputs`` (aliases); no batching."""
        return dict(zip(outputs, self.model.run(key, inputs, outputs), strict=True))

    def _batcher(self, key: str, outputs: tuple[str, ...]) -> Batcher | None:
        """The batcher of requests with the same signature and outputs (BatchingSession batches requests
        that feed and fetch the same tensors); None when batching is off."""
        params = self.options.batching
        if params is None:
            return None
        with self._batchers_lock:
            batcher = self._batchers.get((key, outputs))
            if batcher is None:
                batcher = Batcher(
                    lambda inputs: self.run(key, inputs, outputs), params, name=f"{self.name}-{self.version}-{key}"
                )
                self._batchers[(key, outputs)] = batcher
            return batcher

    def submit_async(self, key: str, inputs: dict, outputs: tuple[str, ...], pool) -> asyncio.Future:
        """Run checked inputs from a coroutine: through the batcher when batching is on, else on ``pool``;
        an asyncio future of the outputs."""
        batcher = self._batcher(key, outputs)
        if batcher is not None:
            return batcher.submit_async(inputs)
        return asyncio.get_running_loop().run_in_executor(pool, self.run, key, inputs, outputs)

    def run_sync(self, key: str, inputs: dict, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Run checked inputs in this thread (through the batcher when batching is on): warm-up's path."""
        batcher = self._batcher(key, outputs)
        return batcher.submit(inputs, None) if batcher is not None else self.run(key, inputs, outputs)

    def predict(self, signature_name: str, inputs: dict, output_filter=()) -> tuple[str, dict[str, np.ndarray]]:
        """A whole Predict in this thread: ``(signature key, outputs)``."""
        key = self.signature(signature_name)
        checked = self.check_inputs(key, inputs)
        return key, self.run_sync(key, checked, self.output_aliases(key, output_filter))

    def unload(self) -> None:
        """Stop the batch threads. The session is freed with this object, once no in-flight request holds it
        (so swapping versions never fails a request that already resolved this one)."""
        with self._batchers_lock:
            batchers, self._batchers = self._batchers, {}
        for (key, _), batcher in batchers.items():
            batcher.stop()
            if batcher.stats["calls"]:
                log.info("%s version %s %s batching: %s", self.name, self.version, key, batcher.stats)


async def call_model(servable: Servable, key: str, inputs: dict, outputs: tuple[str, ...], pool, timeout):
    """Await a checked request with its deadline (``timeout`` seconds, None: none). The model's own errors
    (an op failing on the value) keep TensorFlow's code and message, as the real server returns the
    session's status; anything else unexpected is UNKNOWN; a passed deadline is DEADLINE_EXCEEDED."""
    future = servable.submit_async(key, inputs, outputs, pool)
    expired: list[bool] = []
    # a timer that cancels the future: cheaper than asyncio.wait_for (no extra Task per request)
    timer = None if timeout is None else asyncio.get_running_loop().call_later(
        timeout, lambda: expired.append(future.cancel())
    )
    try:
        return await future
    except asyncio.CancelledError:
        if expired:
            raise st.deadline_exceeded() from None
        raise
    except st.ServingError:
        raise
    except Exception as err:  # noqa: BLE001
        raise st.from_exception(err) from None
    finally:
        if timer is not None:
            timer.cancel()
