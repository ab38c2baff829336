"""Server reflection, v1 and v1alpha, answered from a descriptor pool able to find a method by its full name.

`grpcurl list phonos.v1.PhonosService` names the methods `phonos.v1.PhonosService.Predict`, and `grpcurl describe
phonos.v1.PhonosService.Predict` then asks reflection for the file containing that symbol. The Python protobuf
pool finds messages, fields, enums and services by name but not methods (grpc/grpc#34743, open upstream), so
grpcio-reflection answered "Symbol not found". The method lives in its service's file: that file is the answer.

grpcio-reflection serves `grpc.reflection.v1alpha` only; newer grpcurl, grpcui, Postman and Buf Studio ask
`grpc.reflection.v1.ServerReflection` first (some never fall back). v1 is v1alpha promoted unchanged: the same
eight messages with the same fields and numbers, in package `grpc.reflection.v1` (grpc-proto's two
reflection.proto files differ only in their package and language options). So the bytes on the wire are the
same, and `enable_reflection` serves v1 with grpcio-reflection's own servicer under the v1 method name, its
v1alpha message classes reading and writing v1's messages. v1's descriptor, for a client that describes the
reflection service itself, is v1alpha's renamed (`v1_reflection_file`), kept in a pool of its own that the
reflection pool also searches, so nothing is added to the process's default pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1ALPHA_SERVICE = reflection.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE = f"{V1_PACKAGE}.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"  # its name in grpc-proto, where clients that vendor it have it


class MethodAwarePool:
    """A DescriptorPool (every other lookup passed through to the first pool) whose FindFileContainingSymbol also
    finds methods, and whose file lookups go on to `also` (pools of files served beside the default's)."""

    def __init__(self, pool: descriptor_pool.DescriptorPool | None = None,
                 also: Sequence[descriptor_pool.DescriptorPool] = ()) -> None:
        self._pool = pool or descriptor_pool.Default()
        self._pools = (self._pool, *also)

    def FindFileContainingSymbol(self, symbol: str) -> FileDescriptor:  # noqa: N802 (the pool's own name)
        for pool in self._pools:
            found = _file_containing(pool, symbol)
            if found is not None:
                return found
        raise KeyError(f"Couldn't find symbol {symbol}")  # what the pool raises: grpcio-reflection's NOT_FOUND

    def FindFileByName(self, name: str) -> FileDescriptor:  # noqa: N802 (the pool's own name)
        for pool in self._pools:
            try:
                return pool.FindFileByName(name)
            except KeyError:
                continue
        raise KeyError(f"Couldn't find file {name}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def _file_containing(pool: descriptor_pool.DescriptorPool, symbol: str) -> FileDescriptor | None:
    try:
        return pool.FindFileContainingSymbol(symbol)
    except KeyError:
        pass
    service_name, _, method = symbol.rpartition(".")
    try:
        service = pool.FindServiceByName(service_name) if service_name else None
    except KeyError:
        return None
    return service.file if service is not None and method in service.methods_by_name else None


def v1_reflection_file() -> descriptor_pb2.FileDescriptorProto:
    """`grpc.reflection.v1`'s reflection.proto, made from the v1alpha file grpcio-reflection ships: the same messages,
    fields and numbers (module docstring), its package and every reference to its types renamed. Built, not copied:
    a grpcio-reflection that changes v1alpha changes this with it."""
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old = f".{proto.package}."
    proto.name, proto.package = V1_FILE, V1_PACKAGE

    def renamed(type_name: str) -> str:
        return f".{V1_PACKAGE}.{type_name.removeprefix(old)}" if type_name.startswith(old) else type_name

    def rename(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for message in messages:
            for field in message.field:
                if field.HasField("type_name"):  # proto2: assigning even "" would mark a scalar as typed
                    field.type_name = renamed(field.type_name)
            rename(message.nested_type)

    rename(proto.message_type)
    for service in proto.service:
        for method in service.method:
            method.input_type, method.output_type = renamed(method.input_type), renamed(method.output_type)
    return proto


def enable_reflection(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    """Serve reflection (v1alpha and v1) on `server`, listing `service_names` and both reflection services, from the
    default pool (where the generated phonos.v1 and health modules put their files) plus v1's own file."""
    v1_pool = descriptor_pool.DescriptorPool()
    v1_pool.Add(v1_reflection_file())
    servicer = reflection.aio.ReflectionServicer(
        (*service_names, V1ALPHA_SERVICE, V1_SERVICE),
        pool=MethodAwarePool(also=(v1_pool,)),  # `grpcurl describe phonos.v1.PhonosService.Predict` finds the method
    )
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    # v1: the same servicer and message classes under v1's method name (the wire format is v1alpha's).
    v1_info = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1_SERVICE, {"ServerReflectionInfo": v1_info}),))
