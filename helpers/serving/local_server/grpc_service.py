"""The gRPC API, with the service definitions that ship in ``tensorflow-serving-api``:
PredictionService (``Predict``, ``Classify``, ``Regress``, ``MultiInference``, ``GetModelMetadata``) and
ModelService (``GetModelStatus``, ``HandleReloadConfigRequest``). Errors are gRPC status codes with
TensorFlow Serving's texts.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from helpers.serving.local_server import inference
from helpers.serving.local_server import status as st
from helpers.serving.local_server.health import add_health_service
from helpers.serving.local_server.servable import call_model
from helpers.serving.local_server.servables import ModelManager
from helpers.serving.local_server.tensors import fill_tensor_proto, to_ndarray


def _spec(model_spec) -> tuple[str, int | None, str | None]:
    """(name, version or None, label or None) from a ModelSpec (version and label are a oneof)."""
    choice = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if choice == "version" else None
    label = model_spec.version_label if choice == "version_label" else None
    return model_spec.name, version, label


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict``, ``Classify``, ``Regress``, ``MultiInference`` and ``GetModelMetadata`` on grpc.aio.

    Requests are parsed and checked on the event loop; the model runs on ``pool`` (batching off) or in the
    batcher's threads (batching on), so the loop never blocks and many requests can wait at once.
    ``metrics`` (monitoring.Metrics, when Prometheus is enabled) counts Predict/Classify/Regress requests;
    ``tensor_content`` (--enable_serialization_as_tensor_content) packs numeric outputs into
    ``tensor_content`` instead of the typed fields.
    """

    def __init__(self, manager: ModelManager, pool: ThreadPoolExecutor, metrics=None, tensor_content: bool = False):
        self.manager, self.pool, self.metrics, self.tensor_content = manager, pool, metrics, tensor_content

    def _record(self, name: str, api: str, started: float, code: str) -> None:
        self.metrics.request(name, code, api, "GRPC", (time.perf_counter() - started) * 1e6)

    async def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        started = time.perf_counter() if self.metrics is not None else 0.0
        try:
            name, version, label = _spec(request.model_spec)
            servable = self.manager.resolve(name, version, label)
            key = servable.signature(request.model_spec.signature_name)
            inputs = {}
            for alias, proto in request.inputs.items():
                try:
                    inputs[alias] = to_ndarray(proto)
                except Exception:  # saved_model/util.cc GetInputValues: a TensorProto that does not parse
                    raise st.invalid(f"tensor parsing error: {alias}") from None
            checked = servable.check_inputs(key, inputs)
            outputs = servable.output_aliases(key, request.output_filter)
            values = await call_model(servable, key, checked, outputs, self.pool, context.time_remaining())
        except st.ServingError as err:
            if self.metrics is not None:
                self._record(request.model_spec.name, "Predict", started, err.code.name)
            await context.abort(err.code, err.message)
        response = predict_pb2.PredictResponse()
        inference.fill_spec(response.model_spec, name, servable, key)
        for alias, value in values.items():
            fill_tensor_proto(response.outputs[alias], value, self.tensor_content)
        if self.metrics is not None:
            self._record(request.model_spec.name, "Predict", started, "OK")
        return response

    async def _examples(self, request, context, method: str, api: str):
        started = time.perf_counter()
        try:
            name, version, label = _spec(request.model_spec)
            servable = self.manager.resolve(name, version, label)
            signature = request.model_spec.signature_name
            key, inputs, fetch, n = inference.prepare(servable, signature, request.input, method)
            outputs = await call_model(servable, key, inputs, fetch, self.pool, context.time_remaining())
            if method == inference.CLASSIFY:
                response = classification_pb2.ClassificationResponse()
                response.result.CopyFrom(inference.classification_result(outputs, n))
            else:
                response = regression_pb2.RegressionResponse()
                response.result.CopyFrom(inference.regression_result(outputs, n))
            inference.fill_spec(response.model_spec, name, servable, key)
        except st.ServingError as err:
            if self.metrics is not None:
                self._record(request.model_spec.name, api, started, err.code.name)
            await context.abort(err.code, err.message)
        if self.metrics is not None:
            self._record(request.model_spec.name, api, started, "OK")
        return response

    async def Classify(self, request, context):  # noqa: N802
        return await self._examples(request, context, inference.CLASSIFY, "Classify")

    async def Regress(self, request, context):  # noqa: N802
        return await self._examples(request, context, inference.REGRESS, "Regress")

    async def MultiInference(self, request, context):  # noqa: N802
        try:
            name = inference.check_multi_inference(request)
            _, version, label = _spec(request.tasks[0].model_spec)
            servable = self.manager.resolve(name, version, label)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.pool, inference.multi_inference_sync, servable, request)
        except st.ServingError as err:
            await context.abort(err.code, err.message)

    async def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            if not request.HasField("model_spec"):
                raise st.invalid("Missing ModelSpec")
            name, version, label = _spec(request.model_spec)
            return self.manager.metadata(name, version, label, request.metadata_field)
        except st.ServingError as err:
            await context.abort(err.code, err.message)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``GetModelStatus`` and ``HandleReloadConfigRequest`` (a new ModelServerConfig at run time)."""

    def __init__(self, manager: ModelManager, pool: ThreadPoolExecutor):
        self.manager, self.pool = manager, pool

    async def GetModelStatus(self, request, context):  # noqa: N802
        try:
            if not request.HasField("model_spec"):
                raise st.invalid("Missing ModelSpec")
            return self.manager.status(*_spec(request.model_spec))
        except st.ServingError as err:
            await context.abort(err.code, err.message)

    async def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        response = model_management_pb2.ReloadConfigResponse()
        loop = asyncio.get_running_loop()
        before = {m.name for m in self.manager.config.model_config_list.config} if self.manager.config else set()
        try:  # loading models takes a while: off the event loop
            await loop.run_in_executor(self.pool, self.manager.reload_config, request.config)
            added = {m.name for m in request.config.model_config_list.config} - before
            failed = self.manager.unavailable(added)
            if failed:  # server_core.cc: new models that did not load fail the reload (the config is kept)
                details = "".join("{" + f + "}, " for f in failed)
                raise st.ServingError(
                    st.grpc.StatusCode.UNKNOWN, f"{len(failed)} model(s) did not become available: {{{details}}}"
                )
            response.status.error_code = 0
        except st.ServingError as err:  # model_service_impl.cc reports the failure in the response status
            response.status.error_code = err.code_number
            response.status.error_message = err.message
        return response


async def start_grpc_server(
    manager: ModelManager,
    port: int,
    pool: ThreadPoolExecutor,
    socket_path: str = "",
    channel_arguments: list | None = None,
    metrics=None,
    health: bool = False,
    tensor_content: bool = False,
) -> grpc.aio.Server:
    """A started grpc.aio server on 127.0.0.1:``port`` (unless 0) and ``unix:socket_path`` (when given), with
    both services, ``--grpc_channel_arguments`` as server options, grpc.health.v1 when ``health``, and
    numeric Predict outputs in ``tensor_content`` when ``tensor_content`` (RuntimeError if it can't bind)."""
    options = [
        ("grpc.max_receive_message_length", 2**31 - 1),  # server.cc: SetMaxMessageSize(INT32_MAX)
        ("grpc.max_send_message_length", 2**31 - 1),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(options=options + list(channel_arguments or []))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(manager, pool, metrics, tensor_content), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager, pool), server)
    if health:
        add_health_service(server)
    for address in ([f"127.0.0.1:{port}"] if port else []) + ([f"unix:{socket_path}"] if socket_path else []):
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise RuntimeError(f"could not bind the gRPC address {address}")
    await server.start()
    return server
