from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
SCHEMA_FIELD_NUMBER: _ClassVar[int]
schema: _descriptor.FieldDescriptor
DOC_FIELD_NUMBER: _ClassVar[int]
doc: _descriptor.FieldDescriptor

class FieldSchema(_message.Message):
    __slots__ = ("allowed", "minimum", "maximum", "max_length", "min_items", "max_items", "format", "required")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MIN_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    allowed: _containers.RepeatedScalarFieldContainer[str]
    minimum: float
    maximum: float
    max_length: int
    min_items: int
    max_items: int
    format: str
    required: bool
    def __init__(self, allowed: _Optional[_Iterable[str]] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., max_length: _Optional[int] = ..., min_items: _Optional[int] = ..., max_items: _Optional[int] = ..., format: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class MethodDoc(_message.Message):
    __slots__ = ("public", "errors", "idempotent", "read_only")
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    public: bool
    errors: _containers.RepeatedScalarFieldContainer[int]
    idempotent: bool
    read_only: bool
    def __init__(self, public: _Optional[bool] = ..., errors: _Optional[_Iterable[int]] = ..., idempotent: _Optional[bool] = ..., read_only: _Optional[bool] = ...) -> None: ...
