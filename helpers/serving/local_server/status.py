"""Errors as TensorFlow Serving reports them: a gRPC status code, the exact message text, and the HTTP
status the REST API maps that code to.

Every message below is copied from the tensorflow/serving (or TensorFlow) sources named next to it, so a
client that checks an error text written against the real ``tensorflow_model_server`` also passes here.
"""

from __future__ import annotations

import grpc

# tensorflow_serving/model_servers/http_server.cc, ToHTTPStatusCode(): gRPC/TF code -> HTTP status.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,  # CLIENT_CLOSED_REQUEST
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,  # GATEWAY_TO
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


class ServingError(Exception):
    """A failed request: ``code`` (a ``grpc.StatusCode``) and ``message`` (the text the client sees)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status the REST API answers with (http_server.cc's mapping)."""
        return HTTP_STATUS.get(self.code, 500)

    @property
    def code_number(self) -> int:
        """The numeric code (StatusProto.error_code / tensorflow.error.Code)."""
        return self.code.value[0]

    def __repr__(self) -> str:
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid(message: str) -> ServingError:
    """An INVALID_ARGUMENT error (HTTP 400)."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


# ---- texts from tensorflow_serving/core/basic_manager.cc and servable_id/servable_request DebugString ----
def servable_not_found(name: str, version: int | None) -> ServingError:
    """No loaded version answers the request: 'Servable not found for request: Latest(m)' / 'Specific(m, 3)'."""
    request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
    return ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {request}")


# ---- tensorflow_serving/model_servers/server_core.cc, GetModelVersionForLabel / UpdateModelVersionLabelMap ----
def unrecognized_label(label: str) -> ServingError:
    """A label that the config does not define."""
    return invalid(f"Unrecognized servable version label: {label}")


def label_for_unavailable_version(name: str, version: int) -> ServingError:
    """A label pointing at a version that is not AVAILABLE (without the allow flag, or when moving it)."""
    return ServingError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"Request to assign label to version {version} of model {name}, which is not currently available for inference",
    )


# ---- tensorflow_serving/model_servers/get_model_status_impl.cc ----
def no_versions(name: str) -> ServingError:
    """Status request for a model with no version at all."""
    return ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")


def no_such_version(name: str, version: int) -> ServingError:
    """Status request for one version the server never saw."""
    return ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}")


# ---- tensorflow_serving/servables/tensorflow/predict_util.cc ----
def signature_key_not_found(signature_name: str) -> ServingError:
    """gRPC Predict with an unknown ``signature_name``."""
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{signature_name}" not found.')


def _join(names) -> str:
    return ",".join(sorted(names))


def input_size_mismatch(given: set[str], wanted: set[str]) -> ServingError:
    """VerifyRequestInputsSize: more inputs than the signature has, or fewer and no defaults."""
    return invalid(
        f"input size does not match signature: {len(given)}!={len(wanted)} len({{{_join(given)}}}) != "
        f"len({{{_join(wanted)}}}). Sent extra: {{{_join(given - wanted)}}}. "
        f"Missing but required: {{{_join(wanted - given)}}}."
    )


def output_alias_not_found(alias: str, expected: list[str]) -> ServingError:
    """An ``output_filter`` alias that the signature does not have."""
    return invalid(
        f"output tensor alias not found in signature: {alias} Outputs expected to be in the set {{{_join(expected)}}}."
    )


# ---- tensorflow/cc/saved_model/util.cc GetInputValues (called by predict_util.cc) ----
def input_not_found(alias: str, feed_name: str, given: set[str], defaults: set[str]) -> ServingError:
    """A signature input the request does not give and that has no default."""
    return invalid(
        f"Signature input alias: {alias}(feed name: {feed_name}) not found in request and no default value "
        f"provided. Inputs expected to be in the request {{{_join(given)}}}, or default input alias set: "
        f"{_join(defaults)}"
    )


def invalid_input_name(used: set[str], given: set[str]) -> ServingError:
    """A request input that is not one of the signature's (the others were all found)."""
    return invalid(f"Inputs contains invalid name. Used request inputs: {_join(used)}, request input: {_join(given)}")


# ---- tensorflow_serving/model_servers/http_rest_api_handler.cc, GetInfoMap ----
def rest_signature_not_found(signature_name: str) -> ServingError:
    """REST predict with an unknown ``signature_name``."""
    return invalid(f'Serving signature name: "{signature_name}" not found in signature def')


# ---- tensorflow/core/kernels/batching_util/shared_batch_scheduler.h, Schedule() ----
def queue_full() -> ServingError:
    """The batching queue already holds ``max_enqueued_batches`` batches: fail fast (HTTP 503)."""
    return ServingError(
        grpc.StatusCode.UNAVAILABLE, "The batch scheduling queue to which this task was submitted is full"
    )


# ---- tensorflow/core/kernels/batching_util/basic_batch_scheduler.h / shared_batch_scheduler.h ----
def task_too_large(size: int, max_batch_size: int) -> ServingError:
    """One request with more rows than ``max_batch_size``."""
    return invalid(f"Task size {size} is larger than maximum batch size {max_batch_size}")


# ---- gRPC's own text for DEADLINE_EXCEEDED (the REST timeout, --rest_api_timeout_in_ms) ----
def deadline_exceeded() -> ServingError:
    """The request ran past its deadline (HTTP 504)."""
    return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def code_from_number(number: int) -> grpc.StatusCode:
    """The grpc.StatusCode of a TF error code number (UNKNOWN for numbers gRPC does not know)."""
    return _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def from_exception(err: BaseException) -> ServingError:
    """A ServingError for any exception: TensorFlow's OpError keeps its code and message; others are UNKNOWN."""
    code = getattr(err, "error_code", None)
    message = getattr(err, "message", None)
    if isinstance(code, int) and isinstance(message, str):
        return ServingError(code_from_number(code), message)
    return ServingError(grpc.StatusCode.UNKNOWN, f"{type(err).__name__}: {err}")
