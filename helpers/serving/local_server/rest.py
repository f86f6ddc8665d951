"""The REST API (api_rest.md) on tornado: model status, model metadata and predict.

Paths are matched with the regular expressions of tensorflow_serving/model_servers/http_rest_api_util.cc:

* ``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]``            -> GetModelStatusResponse as JSON
* ``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata``   -> GetModelMetadataResponse as JSON
* ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict``    -> predictions / outputs

Any other ``/v1/...`` request is ``Malformed request: <METHOD> <path>`` (400). Errors are
``{ "error": "<message>" }`` with the status code http_server.cc maps the error code to. Model calls run
on a thread pool, so concurrent requests can meet in the batcher; each gets ``--rest_api_timeout_in_ms``.
"""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import grpc
import tornado.web
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from helpers.serving.local_server import json_tensor
from helpers.serving.local_server.servables import ModelManager
from helpers.serving.local_server.status import ServingError, deadline_exceeded, invalid

PREDICTION_API = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.I
)
MODEL_STATUS_API = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I
)


def _json(message) -> dict:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def status_json(response) -> str:
    """GetModelStatusResponse as the REST API prints it (snake_case names, every field present)."""
    return json.dumps(_json(response), indent=1)


def metadata_json(response) -> str:
    """GetModelMetadataResponse as http_rest_api_util.cc ToJsonString assembles it."""
    sigs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sigs)
    return json.dumps({"model_spec": _json(response.model_spec), "metadata": {"signature_def": _json(sigs)}}, indent=1)


def error_json(message: str) -> str:
    """``{ "error": "..." }``, the error body every REST API returns."""
    return json.dumps({"error": message})


class RestHandler(tornado.web.RequestHandler):
    """Every ``/v1/...`` request: parse the path, dispatch, and write JSON or the documented error."""

    def initialize(self, manager: ModelManager, pool: ThreadPoolExecutor, timeout_s: float):
        self.manager, self.pool, self.timeout_s = manager, pool, timeout_s

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json")

    def _reply(self, status: int, body: str) -> None:
        self.set_status(status)
        self.finish(body)

    def _fail(self, err: ServingError) -> None:
        self._reply(err.http_status, error_json(err.message))

    def _spec(self, name, version, label):
        name = unquote(name or "")
        return name, (int(version) if version else None), (unquote(label) if label else None)

    async def get(self, _path=None):
        match = MODEL_STATUS_API.fullmatch(self.request.path)
        try:
            if match is None:
                raise invalid(f"Malformed request: GET {self.request.path}")
            name, version, label = self._spec(*match.groups()[:3])
            if not name:
                raise invalid("Missing model name in request.")
            if match.group(4):
                self._reply(200, metadata_json(self.manager.metadata(name, version, label)))
            else:
                self._reply(200, status_json(self.manager.status(name, version, label)))
        except ServingError as err:
            self._fail(err)

    async def post(self, _path=None):
        match = PREDICTION_API.fullmatch(self.request.path)
        try:
            if match is None:
                raise invalid(f"Malformed request: POST {self.request.path}")
            name, version, label = self._spec(*match.groups()[:3])
            method = match.group(4).lower()
            if method != "predict":
                raise ServingError(
                    grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by helpers.serving (only predict is)"
                )
            doc = json_tensor.parse_request(self.request.body)
            signature = json_tensor.signature_name(doc)
            servable = self.manager.resolve(name, version, label)
            key = servable.check_signature(signature, rest=True)
            fmt, inputs = json_tensor.request_inputs(doc, servable.input_specs(key))
            key, checked = servable.prepare(key, inputs, rest=True)
            future = servable.submit_async(key, checked, self.pool)
            try:
                outputs = await (asyncio.wait_for(future, self.timeout_s) if self.timeout_s else future)
            except TimeoutError:
                raise deadline_exceeded() from None
            self._reply(200, json_tensor.response_json(outputs, fmt))
        except ServingError as err:
            self._fail(err)

    async def put(self, _path=None):
        self._fail(invalid(f"Malformed request: PUT {self.request.path}"))

    async def delete(self, _path=None):
        self._fail(invalid(f"Malformed request: DELETE {self.request.path}"))


def make_app(manager: ModelManager, pool: ThreadPoolExecutor, timeout_ms: int = 30000) -> tornado.web.Application:
    """The tornado application serving ``/v1/.*`` (anything else is 404, as the real server's dispatcher);
    models run on ``pool`` (or in the batcher's threads)."""
    timeout_s = timeout_ms / 1000 if timeout_ms > 0 else None
    args = {"manager": manager, "pool": pool, "timeout_s": timeout_s}
    return tornado.web.Application([(r"(?i)(/v1/.*)", RestHandler, args)])
