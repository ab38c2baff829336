"""The message types of phonos.v1.PhonosService, learnt from the server's reflection service at connect
time, and proto3 JSON that equals the REST API's JSON.

Why reflection rather than stubs generated into this package (scripts/gen_protos.py): generated modules
would register `phonos/v1/phonos.proto` in protobuf's default descriptor pool a second time beside the
server's own `phonos.v1` modules whenever both packages live in one process (the server install includes
this one; the tests run both), their imports (`from phonos.v1 import ...`, `google.api.annotations_pb2`)
would need rewriting and googleapis-common-protos as a dependency, and a second copy of generated code
would have to be kept in step with protos/. Reflection needs nothing beyond the `[grpc]` extra
(grpcio-reflection), the job service always serves it (jobservice/server.py), the types live in a
private pool, and the client always speaks the server's own contract. The cost is one exchange of a
few descriptors per client, on its first call.

JSON: `json_format.MessageToDict` with the gateway's options (proto field names, fields without presence
always written) is what the gateway sends (phonos_common/json_encode.py); the one difference the gateway makes
on purpose, integral numbers inside `google.protobuf.Struct` written as JSON integers (`"num_recycles": 4`),
is made here too. Every counter of the contract is int32, so no int64-as-string differences arise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from phonos_client import errors

SERVICE = "phonos.v1.PhonosService"
_STRUCT_TYPES = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
_MAX_SAFE_INT = 2**53  # as the gateway: integral doubles beyond this stay doubles


@dataclass(frozen=True)
class Rpc:
    path: str  # "/phonos.v1.PhonosService/GetJob"
    request: type[Message]
    response: type[Message]


def load(channel: grpc.Channel, target: str, timeout: float) -> dict[str, Rpc]:
    """Every rpc of the service at `channel`, by name. Raises grpc.RpcError when the server is not reached
    or does not answer within `timeout` seconds a request (DEADLINE_EXCEEDED), and a PhonosError when it
    does not serve PhonosService (another gRPC server on that port)."""
    # The reflection client sends its requests without a deadline: a peer that accepts the connection
    # and never answers would hold the first call (and the client's lock) forever.
    timed = grpc.intercept_channel(channel, _Deadline(timeout))
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(timed))
    try:
        service = pool.FindServiceByName(SERVICE)  # fetches its file and every file that one imports
    except KeyError:
        raise errors.PhonosError(f"{target} does not serve {SERVICE}: is it the job service's gRPC port?") from None
    return {m.name: Rpc(f"/{SERVICE}/{m.name}", message_factory.GetMessageClass(m.input_type),
                        message_factory.GetMessageClass(m.output_type)) for m in service.methods}


def load_from(target: str, options: list[tuple[str, Any]], timeout: float) -> dict[str, Rpc]:
    """`load` over a channel of its own (the reflection client is synchronous; the async transport runs
    this in a thread)."""
    with grpc.insecure_channel(target, options=options) as channel:
        return load(channel, target, timeout)


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class _CallDetails(_Details, grpc.ClientCallDetails):
    pass


class _Deadline(grpc.StreamStreamClientInterceptor):  # type: ignore[misc]
    """Gives every stream-stream call on the channel (reflection's only rpc) a deadline."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: grpc.ClientCallDetails,
                                requests: Iterator[Any]) -> Any:
        timed = _CallDetails(details.method, self._timeout, details.metadata, details.credentials,
                             getattr(details, "wait_for_ready", None), getattr(details, "compression", None))
        return continuation(timed, requests)


def to_document(message: Message) -> Any:
    """The message as the REST API writes it."""
    document = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
    _integral_struct_numbers(message.DESCRIPTOR, document)
    return document


def _integral_struct_numbers(descriptor: Descriptor, document: dict[str, Any]) -> None:
    for f in descriptor.fields:
        if f.message_type is None or f.name not in document or f.message_type.GetOptions().map_entry:
            continue  # maps of this contract hold strings
        value = document[f.name]
        if f.message_type.full_name in _STRUCT_TYPES:
            document[f.name] = _integral(value)
            continue
        for item in value if isinstance(value, list) else [value]:  # repeated or singular message
            if isinstance(item, dict):
                _integral_struct_numbers(f.message_type, item)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < _MAX_SAFE_INT:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value
