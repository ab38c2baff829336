"""The descriptor pool that server reflection answers from, able to find a method by its full name.

`grpcurl list phonos.v1.PhonosService` names the methods `phonos.v1.PhonosService.Predict`, and `grpcurl describe
phonos.v1.PhonosService.Predict` then asks reflection for the file containing that symbol. The Python protobuf
pool finds messages, fields, enums and services by name but not methods (grpc/grpc#34743, open upstream), so
grpcio-reflection answered "Symbol not found". The method lives in its service's file: that file is the answer.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor


class MethodAwarePool:
    """A DescriptorPool (every other lookup passed through) whose FindFileContainingSymbol also finds methods."""

    def __init__(self, pool: descriptor_pool.DescriptorPool | None = None) -> None:
        self._pool = pool or descriptor_pool.Default()

    def FindFileContainingSymbol(self, symbol: str) -> FileDescriptor:  # noqa: N802 (the pool's own name)
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service_name, _, method = symbol.rpartition(".")
            try:
                service = self._pool.FindServiceByName(service_name) if service_name else None
            except KeyError:
                service = None
            if service is not None and method in service.methods_by_name:
                return service.file
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)
