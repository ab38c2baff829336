"""proto3 JSON for responses, compiled once per message type.

Produces what `json_format.MessageToDict(m, preserving_proto_field_name=True,
always_print_fields_with_no_presence=True)` produces (fields without presence always, fields
with presence only when set, int64 as strings, bytes as base64, enums by name, RFC 3339
timestamps), in field-declaration order, about 4x faster: MessageToDict re-inspects every
descriptor on every call, and rendering was the largest per-request cost of the gateway.

One deliberate difference: numbers inside Struct/Value/ListValue that are integral are written as
JSON integers (`"num_recycles": 4`, not `4.0`). Struct keeps every number as a double, and the seed's
shapes (params, metrics) show integers.

Types with rare or intricate JSON forms (Any, Duration, FieldMask...) are delegated to
json_format itself, so they stay exactly right.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

Encoder = Callable[[Any], Any]

_MAX_SAFE_INT = 2**53  # integral doubles beyond this are not exact JSON integers in JavaScript
_INT64 = frozenset((FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64))
_WRAPPERS = frozenset(
    f"google.protobuf.{n}Value"
    for n in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
_DELEGATED = frozenset(("google.protobuf.Any", "google.protobuf.Duration", "google.protobuf.FieldMask"))

# Per field: (name, presence, kind, value encoder); kinds below.
_PLAIN, _CONVERT, _LIST_PLAIN, _LIST_CONVERT, _MAP = range(5)

_compiled: dict[str, Callable[[Message], dict[str, Any]]] = {}


def encoder_for(descriptor: Descriptor) -> Callable[[Message], dict[str, Any]]:
    """The compiled encoder of a message type (cached; recursive types are fine)."""
    found = _compiled.get(descriptor.full_name)
    if found is not None:
        return found
    plan: list[tuple[str, bool, int, Encoder | None]] = []

    def encode(message: Message) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, presence, kind, convert in plan:
            if presence and not message.HasField(name):
                continue
            value = getattr(message, name)
            if kind == _PLAIN:
                out[name] = value
            elif kind == _CONVERT:
                out[name] = convert(value)  # type: ignore[misc]
            elif kind == _LIST_PLAIN:
                out[name] = list(value)
            elif kind == _LIST_CONVERT:
                out[name] = [convert(v) for v in value]  # type: ignore[misc]
            else:
                # In key order: protobuf's map order is its hash table's, which differs from run to run (e.g.
                # /v1/health's components, and `phonos status` reading them, came in a new order each time).
                out[name] = {_map_key(k): convert(value[k]) for k in sorted(value)}  # type: ignore[misc]
        return out

    # Registered before the fields are compiled, so a message that contains itself finds it.
    _compiled[descriptor.full_name] = encode
    for f in descriptor.fields:
        plan.append(_field_plan(f))
    return encode


def encode_message(message: Message) -> Any:
    """The JSON object of a message (a well-known type gives its special JSON form)."""
    return _message_value_encoder(message.DESCRIPTOR)(message)


def _field_plan(f: FieldDescriptor) -> tuple[str, bool, int, Encoder | None]:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        value_field = f.message_type.fields_by_name["value"]
        return (f.name, False, _MAP, _value_encoder(value_field) or _identity)
    convert = _value_encoder(f)
    if f.is_repeated:
        return (f.name, False, _LIST_PLAIN if convert is None else _LIST_CONVERT, convert)
    return (f.name, f.has_presence, _PLAIN if convert is None else _CONVERT, convert)


def _value_encoder(f: FieldDescriptor) -> Encoder | None:
    """How one value of the field becomes JSON; None when the Python value already is its JSON."""
    cpp = f.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        return _message_value_encoder(f.message_type)
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        if f.enum_type.full_name == "google.protobuf.NullValue":
            return _null
        names = {v.number: v.name for v in f.enum_type.values}
        return lambda number: names.get(number, number)
    if cpp in _INT64:
        return str
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return _float
    if cpp == FieldDescriptor.CPPTYPE_STRING and f.type == FieldDescriptor.TYPE_BYTES:
        return _bytes
    return None  # int32 family, bool, string


def _message_value_encoder(descriptor: Descriptor) -> Encoder:
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        return _timestamp
    if name == "google.protobuf.Struct":
        return _struct
    if name == "google.protobuf.Value":
        return _value
    if name == "google.protobuf.ListValue":
        return _list_value
    if name in _WRAPPERS:
        inner = _value_encoder(descriptor.fields_by_name["value"])
        if inner is None:
            return _wrapper_plain
        return lambda message: inner(message.value)
    if name in _DELEGATED:
        return _delegate
    # Late-bound: the nested type may still be compiling (recursive messages).
    compiled = _compiled.get(name)
    if compiled is not None:
        return compiled
    return lambda message: encoder_for(descriptor)(message)


def _identity(value: Any) -> Any:
    return value


def _null(value: Any) -> None:
    return None


def _double(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _float(value: float) -> Any:
    if math.isfinite(value):
        return type_checkers.ToShortestFloat(value)  # what json_format prints for 32-bit floats
    return _double(value)


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _timestamp(message: Any) -> str:
    return message.ToJsonString()  # type: ignore[no-any-return]


def _wrapper_plain(message: Any) -> Any:
    return message.value


def _delegate(message: Message) -> Any:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _struct(message: Any) -> dict[str, Any]:
    return {key: _value(value) for key, value in message.fields.items()}


def _list_value(message: Any) -> list[Any]:
    return [_value(v) for v in message.values]


def _value(message: Any) -> Any:
    kind = message.WhichOneof("kind")
    if kind == "number_value":
        number = message.number_value
        if not math.isfinite(number):
            # json_format refuses too: the JSON would read back as a string.
            raise ValueError(f"cannot write {number} in a google.protobuf.Value")
        return int(number) if number.is_integer() and abs(number) < _MAX_SAFE_INT else number
    if kind == "string_value":
        return message.string_value
    if kind == "bool_value":
        return message.bool_value
    if kind == "struct_value":
        return _struct(message.struct_value)
    if kind == "list_value":
        return _list_value(message.list_value)
    return None  # null_value, or no kind set (json_format writes null for both)


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)
