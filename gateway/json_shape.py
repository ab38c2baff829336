"""Does a JSON request body have the shape of its message? The first misfit, said in the API's terms.

protobuf's `json_format.ParseDict` rejects a wrong JSON type or an unknown field with its own words:
`Failed to parse jobs field: 'int' object is not iterable.`, `Message type "phonos.v1.BatchJob" has no
field named "sequnce" at "SubmitBatchRequest.jobs[0]".` Those name Python types and protobuf message
names a client never sees. This walk runs first, over the message's descriptor, and names the misfit by
its JSON path and JSON types instead: `jobs[0] must be an object, got a number`, `unknown field
"sequnce" in jobs[0]; accepted: model, sequence, name, params`. What it lets through, ParseDict still
parses (ranges, integer and base64 formats, enum names), so it never accepts a body ParseDict refuses.

It follows the proto3 JSON mapping: a field by its proto name or its lowerCamel JSON name, `null` for
any field (its default), 64-bit integers and floats also as strings, enums by name or number, and the
well-known types by their JSON forms (Struct: an object; ListValue: an array; Value: anything;
Timestamp, Duration, FieldMask: strings; the wrappers: their wrapped type).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.fields import (
    FLOAT32_MAX,
    INT_RANGES,
    JSON_STRING_TYPES,
    WRAPPERS,
    FieldRangeError,
    FieldValueError,
    declared_range,
    parse_float,
    parse_int,
    range_error,
)


class ShapeError(ValueError):
    """A JSON value that cannot fill its field; the message names it by its JSON path."""


_ANYTHING = frozenset(("google.protobuf.Value", "google.protobuf.Any"))
_LIST_VALUE = "google.protobuf.ListValue"
_WELL_KNOWN = "google.protobuf."  # the package of the well-known types

_T = FieldDescriptor
_NUMBER_TYPES = frozenset((
    _T.TYPE_INT32, _T.TYPE_INT64, _T.TYPE_UINT32, _T.TYPE_UINT64, _T.TYPE_SINT32, _T.TYPE_SINT64,
    _T.TYPE_FIXED32, _T.TYPE_FIXED64, _T.TYPE_SFIXED32, _T.TYPE_SFIXED64, _T.TYPE_DOUBLE, _T.TYPE_FLOAT,
))


def check(document: Mapping[str, Any], descriptor: Descriptor,
          path_bound: Collection[tuple[str, ...]] = ()) -> None:
    """Raise ShapeError for the first value of `document` that cannot fill its field of `descriptor`, or that names
    a field in `path_bound` (the field paths the URL's path variables set: `/v1/keys/{key_id}` gives `key_id`)."""
    _message(document, descriptor, "", frozenset(path_bound))


def json_type(value: object) -> str:
    """The JSON name of a parsed JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _message(document: Mapping[str, Any], descriptor: Descriptor, where: str,
             bound: frozenset[tuple[str, ...]] = frozenset()) -> None:
    """`bound`: the field paths below this message that the URL's path sets (empty but on the way to one)."""
    fields = _fields_by_json_key(descriptor)
    for key, value in document.items():
        field = fields.get(key)
        if field is None:
            accepted = ", ".join(f.name for f in descriptor.fields if (f.name,) not in bound)
            place = f" in {where}" if where else ""
            raise ShapeError(f"unknown field {json.dumps(key)}{place}; "
                             + (f"accepted: {accepted}" if accepted else f"{where or 'the body'} takes no fields"))
        if (field.name,) in bound:
            # Refused even when equal to the path's value (null included): a body naming another key or job than
            # its URL was silently about the URL's; the OpenAPI document leaves these fields out of the body.
            raise ShapeError(f"{json.dumps(_join(where, key))} is given by the URL path; leave it out of the body")
        if value is None:  # null is any field's default
            continue
        inner = frozenset(path[1:] for path in bound if len(path) > 1 and path[0] == field.name)
        if inner and field.message_type is not None and not field.is_repeated and isinstance(value, dict):
            _single(field, value, _join(where, key), inner)
        else:
            _field(field, value, _join(where, key))


@functools.cache  # one table per message type, built on its first body
def _fields_by_json_key(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    fields: dict[str, FieldDescriptor] = {}
    for field in descriptor.fields:
        fields[field.name] = field
        fields[field.json_name] = field
    return fields


def _field(field: FieldDescriptor, value: Any, where: str) -> None:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        if not isinstance(value, dict):
            raise ShapeError(f"{where} must be an object, got {json_type(value)}")
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            if item is not None:
                _single(value_field, item, f"{where}.{key}")
        return
    if field.is_repeated:
        if not isinstance(value, list):
            raise ShapeError(f"{where} must be an array, got {json_type(value)}")
        for index, item in enumerate(value):
            if item is not None:
                _single(field, item, f"{where}[{index}]")
            elif _shape_of(field)[0] is not None:  # null is no element's default (but a google.protobuf.Value)
                raise ShapeError(f"{where}[{index}] must be {_shape_of(field)[1]}, got null")
        return
    _single(field, value, where)


def _single(field: FieldDescriptor, value: Any, where: str, bound: frozenset[tuple[str, ...]] = frozenset()) -> None:
    """One value (not null) of a singular field, or one element of a repeated one; `bound` as `_message`'s."""
    fits, expected = _shape_of(field)
    if fits is None:
        return
    if not fits(value):
        raise ShapeError(f"{where} must be {expected}, got {json_type(value)}")
    target = _unwrapped(field)
    message = target.message_type
    if message is not None:
        if not message.full_name.startswith(_WELL_KNOWN):  # a message of ours: check its own fields
            _message(value, message, where, bound)
    elif target.type in _NUMBER_TYPES:
        _number(target, value, where)


Fits = Callable[[Any], bool]


def _is_number(value: Any) -> bool:  # a number or its JSON string form ("12", "NaN"); bool is an int in Python
    return isinstance(value, int | float | str) and not isinstance(value, bool)


@functools.cache  # one answer per field
def _shape_of(field: FieldDescriptor) -> tuple[Fits | None, str]:
    """The JSON values a field (or an element of a repeated one) takes: a test and its words; None: any."""
    target = _unwrapped(field)
    message = target.message_type
    if message is not None:
        name = message.full_name
        if name in _ANYTHING:
            return None, "anything"
        if name in JSON_STRING_TYPES:
            return (lambda v: isinstance(v, str)), "a string"
        if name == _LIST_VALUE:
            return (lambda v: isinstance(v, list)), "an array"
        return (lambda v: isinstance(v, dict)), "an object"  # Struct, Empty and our own messages
    if target.type == _T.TYPE_BOOL:
        return (lambda v: isinstance(v, bool)), "true or false"
    if target.type in (_T.TYPE_STRING, _T.TYPE_BYTES):
        return (lambda v: isinstance(v, str)), "a string"
    if target.type == _T.TYPE_ENUM:
        names = ", ".join(v.name for v in target.enum_type.values)
        return (lambda v: isinstance(v, str | int) and not isinstance(v, bool)), f"one of {names}"
    if target.type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        return _is_number, "a number"
    return _is_number, "an integer"


def _unwrapped(field: FieldDescriptor) -> FieldDescriptor:
    """A wrapper field's (google.protobuf.Int32Value, ...) inner `value` field; any other field itself."""
    message = field.message_type
    if message is not None and message.full_name in WRAPPERS:
        return message.fields_by_name["value"]
    return field


def _number(field: FieldDescriptor, value: int | float | str, where: str) -> None:
    """A number, or its JSON string form ("12", "-3", "NaN", "Infinity"), in its field's range; the
    parser's own words for these name Python's int() and protobuf's message types."""
    if field.cpp_type in INT_RANGES:
        low, high = INT_RANGES[field.cpp_type]
        declared = declared_range(field)
        if isinstance(value, str):
            try:
                parse_int(value, low, high, declared)
            except FieldRangeError as exc:
                raise ShapeError(f"{where} {exc}") from None
            except FieldValueError as exc:
                raise ShapeError(f"{where}: {exc}") from None
        elif isinstance(value, float) and not value.is_integer():
            raise ShapeError(f"{where} must be an integer, got {value!r}")
        elif not low <= value <= high:
            # Past the wire type: the job service never sees it, so the range is said here, as the service says it.
            shown = str(value) if isinstance(value, int) else f"{value:g}"
            raise ShapeError(f"{where} {range_error(shown, low, high, declared)}")
        return
    single = field.cpp_type == FieldDescriptor.CPPTYPE_FLOAT
    if isinstance(value, str):
        try:
            parse_float(value, single=single)
        except FieldValueError as exc:
            raise ShapeError(f"{where}: {exc}") from None
    elif single and abs(value) > FLOAT32_MAX:
        raise ShapeError(f"{where}: {value:g} is out of range for a float")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
