"""``--enable_grpc_healthcheck_service``: the standard ``grpc.health.v1.Health`` service (``Check``), as
server.cc enables it: the overall service ``""`` and the short names ``ModelService`` and
``PredictionService`` are SERVING; any other name is NOT_FOUND ("unknown service"), as in gRPC's default.

``grpcio-health-checking`` is not among this project's packages, so the two messages of health.proto are
declared here field for field and the service is registered as a generic handler.
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "grpc.health.v1.Health"
SERVING = 1  # HealthCheckResponse.ServingStatus.SERVING
SERVING_NAMES = {"", "ModelService", "PredictionService"}


def _messages():
    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(
        name="helpers_serving_health.proto", package="grpc.health.v1", syntax="proto3"
    )
    f = descriptor_pb2.FieldDescriptorProto
    request = proto.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    response = proto.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for number, name in enumerate(["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"]):
        status.value.add(name=name, number=number)
    response.field.add(
        name="status",
        number=1,
        type=f.TYPE_ENUM,
        label=f.LABEL_OPTIONAL,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
    )
    pool.Add(proto)
    get = lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))  # noqa: E731
    return get("grpc.health.v1.HealthCheckRequest"), get("grpc.health.v1.HealthCheckResponse")


HealthCheckRequest, HealthCheckResponse = _messages()


async def _check(request, context):
    if request.service not in SERVING_NAMES:
        await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
    return HealthCheckResponse(status=SERVING)


def add_health_service(server) -> None:
    """Register ``grpc.health.v1.Health/Check`` on a grpc.aio server."""
    handler = grpc.unary_unary_rpc_method_handler(
        _check,
        request_deserializer=HealthCheckRequest.FromString,
        response_serializer=HealthCheckResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Check": handler}),))
