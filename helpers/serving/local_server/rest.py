"""The REST API (api_rest.md) on tornado: model status, model metadata, predict, classify and regress.

Paths are matched with the regular expressions of tensorflow_serving/model_servers/http_rest_api_util.cc:

* ``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]``            -> GetModelStatusResponse as JSON
* ``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata``   -> GetModelMetadataResponse as JSON
* ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict``    -> predictions / outputs
* ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:classify``   -> results ([[label, score], ...] per example)
* ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:regress``    -> results (one value per example)
* ``OPTIONS /v1/...``: CORS preflight; ``--rest_api_enable_cors_support`` adds the CORS headers to every reply

Any other ``/v1/...`` request is ``Malformed request: <METHOD> <path>`` (400). Errors are
``{ "error": "<message>" }`` with the status code http_server.cc maps the error code to. Model calls run
on a thread pool, so concurrent requests can meet in the batcher; each gets ``--rest_api_timeout_in_ms``.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import grpc
import tornado.web
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from helpers.serving.local_server import inference, json_examples, json_tensor
from helpers.serving.local_server.servable import call_model
from helpers.serving.local_server.servables import ModelManager
from helpers.serving.local_server.status import ServingError, invalid

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
    """The error body every REST API returns, as json_tensor.cc MakeJsonFromStatus writes it (rapidjson's
    PrettyWriter: four-space indent, UTF-8 unescaped)."""
    return '{\n    "error": ' + json.dumps(message, ensure_ascii=False) + "\n}"


MAX_BODY_ENV = "HELPERS_SERVING_MAX_REQUEST_BYTES"
# ZLib::kMaxUncompressedBytes, the largest (gzip) body the real server takes; it sets no limit on plain bodies.
DEFAULT_MAX_BODY = 100 * 1024 * 1024
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}


def max_body_bytes() -> int:
    """The request-body limit: ``$HELPERS_SERVING_MAX_REQUEST_BYTES``, default 100 MiB."""
    return int(os.environ.get(MAX_BODY_ENV, DEFAULT_MAX_BODY))


@tornado.web.stream_request_body
class RestHandler(tornado.web.RequestHandler):
    """Every ``/v1/...`` request: parse the path, dispatch, and write JSON or the documented error.

    The body is streamed in and dropped beyond ``max_body`` (the reply is then 413 with a JSON error, sent
    after the whole body was read, so the client is never reset and memory does not grow)."""

    def initialize(self, manager: ModelManager, pool: ThreadPoolExecutor, timeout_s: float, cors: bool, metrics):
        self.manager, self.pool, self.timeout_s, self.cors, self.metrics = manager, pool, timeout_s, cors, metrics
        self.max_body = max_body_bytes()
        self._chunks: list[bytes] = []
        self._size = 0
        self._model, self._api, self._started = "", "", time.perf_counter()

    def prepare(self):
        self.request.connection.set_max_body_size(2**62)  # the limit is checked below, with a JSON answer

    def data_received(self, chunk: bytes):
        self._size += len(chunk)
        if self._size <= self.max_body:
            self._chunks.append(chunk)
        else:
            self._chunks.clear()

    @property
    def body(self) -> bytes:
        if self._size > self.max_body:
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Request body of {self._size} bytes is larger than the limit of {self.max_body} bytes "
                f"(${MAX_BODY_ENV})",
            )
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json")

    def _reply(self, status: int, body: str, code: str = "OK") -> None:
        if self.cors:
            for key, value in CORS_HEADERS.items():
                self.set_header(key, value)
        if self.metrics is not None:  # http_server.cc: every /v1 request is counted, latency only when OK
            micros = (time.perf_counter() - self._started) * 1e6
            self.metrics.request(self._model, code, self._api, "REST", micros)
        self.set_status(status)
        self.finish(body)

    def _fail(self, err: ServingError) -> None:
        status = 413 if err.code == grpc.StatusCode.RESOURCE_EXHAUSTED and self._size > self.max_body else None
        self._reply(status or err.http_status, error_json(err.message), err.code.name)

    def write_error(self, status_code: int, **kwargs):
        """Anything unexpected is still a JSON error, never tornado's HTML page."""
        err = kwargs.get("exc_info", (None, None))[1]
        self.finish(error_json(f"{type(err).__name__}: {err}" if err else self._reason))

    def _spec(self, name, version, label):
        name = unquote(name or "")
        self._model = name
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
            method = match.group(4)
            if method not in ("predict", "classify", "regress"):  # the dispatch compares exactly
                raise invalid(f"Malformed request: POST {self.request.path}")
            self._api = method
            try:
                doc = json_tensor.parse_request(self.body)
                if method == "predict":
                    body = await self._predict(doc, name, version, label)
                else:
                    body = await self._examples(doc, method, name, version, label)
            except RecursionError:
                raise invalid("JSON value nested too deep") from None
            self._reply(200, body)
        except ServingError as err:
            self._fail(err)

    async def _predict(self, doc, name, version, label) -> str:
        servable = self.manager.resolve(name, version, label)
        key = servable.signature(json_tensor.signature_name(doc), rest=True)
        fmt, inputs = json_tensor.request_inputs(doc, servable.input_dtypes(key))
        checked = servable.check_inputs(key, inputs)
        outputs = servable.output_aliases(key)
        return json_tensor.response_json(await self._call(servable, key, checked, outputs), fmt)

    async def _examples(self, doc, method, name, version, label) -> str:
        signature = json_tensor.signature_name(doc)
        request_input = json_examples.request_input(doc)
        servable = self.manager.resolve(name, version, label)
        which = inference.CLASSIFY if method == "classify" else inference.REGRESS
        key, inputs, fetch, n = inference.prepare(servable, signature, request_input, which)
        outputs = await self._call(servable, key, inputs, fetch)
        if method == "classify":
            return json_examples.classify_json(inference.classification_result(outputs, n))
        return json_examples.regress_json(inference.regression_result(outputs, n))

    def _call(self, servable, key, inputs, outputs):
        return call_model(servable, key, inputs, outputs, self.pool, self.timeout_s)

    async def put(self, _path=None):
        self._fail(invalid(f"Malformed request: PUT {self.request.path}"))

    async def delete(self, _path=None):
        self._fail(invalid(f"Malformed request: DELETE {self.request.path}"))

    async def options(self, _path=None):
        """http_server.cc: a CORS preflight; 200 with an empty body when Origin is http(s)://..., else 400."""
        ok = re.match(r"https?://", self.request.headers.get("Origin", "")) is not None
        self._reply(200 if ok else 400, "", "OK" if ok else "FAILED_PRECONDITION")


class MetricsHandler(tornado.web.RequestHandler):
    """The Prometheus page (``--monitoring_config_file``), any method, ``text/plain``."""

    def initialize(self, metrics, path: str):
        self.metrics, self.path = metrics, path

    def _page(self):
        if self.request.uri != self.path:  # the real handler compares the path with its query string
            self.set_status(400)
            self.set_header("Content-Type", "text/plain")
            return self.finish(f"Unexpected path: {self.request.uri}. Should be {self.path}")
        self.set_header("Content-Type", "text/plain")
        self.finish(self.metrics.exposition())

    get = post = put = delete = _page


def make_app(
    manager: ModelManager,
    pool: ThreadPoolExecutor,
    timeout_ms: int = 30000,
    cors: bool = False,
    metrics=None,
    metrics_path: str | None = None,
) -> tornado.web.Application:
    """The tornado application serving ``/v1/.*`` (anything else is 404, as the real server's dispatcher)
    and, with ``metrics_path``, the Prometheus page; models run on ``pool`` (or in the batcher's threads)."""
    timeout_s = timeout_ms / 1000 if timeout_ms > 0 else None
    args = {"manager": manager, "pool": pool, "timeout_s": timeout_s, "cors": cors, "metrics": metrics}
    routes = [(r"(?i)(/v1/.*)", RestHandler, args)]
    if metrics_path and metrics is not None:
        routes.insert(0, (re.escape(metrics_path), MetricsHandler, {"metrics": metrics, "path": metrics_path}))
    return tornado.web.Application(routes)
