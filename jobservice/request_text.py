"""One rule for the text every request carries: no NUL character (U+0000) anywhere.

PostgreSQL's `text` and `jsonb` cannot hold a NUL (the driver refuses the value), so a job name, key
name, webhook URL, id or `params` string with one failed as a 500 there, while SQLite stored it.
Nothing a caller legitimately sends (sequences, SMILES, PDB text, A3Ms, URLs, ids) contains one, so
it is refused up front, the same on every store and transport: a 400 that names the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from jobservice.errors import InvalidArgument
from phonos_common.limits import MAX_JSON_VALUES

NUL = "\x00"


def refuse_nul(request: Message) -> None:
    """Raise InvalidArgument when a string of `request` (nested messages, maps, Structs, keys included) has a NUL,
    or, first, when its Structs hold more than MAX_JSON_VALUES values (this walk, and every later one, would take
    seconds of the event loop over a gRPC caller's million-value `params`: see phonos_common.limits)."""
    if struct_values_over(request, MAX_JSON_VALUES):
        raise InvalidArgument(f"the request holds more than {MAX_JSON_VALUES} JSON values (numbers, strings, arrays, "
                              "objects) in its params; no request needs that many")
    where = _in_item(request, "")
    if where is not None:
        raise InvalidArgument(f"{where or 'the request'} contains a NUL character (U+0000), which no text field accepts")


def struct_values_over(message: Message, limit: int) -> bool:
    """Whether the Structs of `message` (at any depth, in any field) hold more than `limit` values, counted without
    recursion and without visiting more than `limit` (a Struct's or a list's length is counted before its items)."""
    count = 0
    stack: list[Message] = [message]
    while stack:
        item = stack.pop()
        if isinstance(item, struct_pb2.Value):
            count += 1
            kind = item.WhichOneof("kind")
            if kind in ("struct_value", "list_value"):
                stack.append(getattr(item, kind))
            continue
        if isinstance(item, struct_pb2.Struct | struct_pb2.ListValue):
            items = item.fields if isinstance(item, struct_pb2.Struct) else item.values
            count += 1
            if count + len(items) > limit:
                return True
            stack.extend(items.values() if isinstance(items, Mapping) else items)
            continue
        for field, value in item.ListFields():
            if field.message_type is None:
                continue
            if field.message_type.GetOptions().map_entry:
                if field.message_type.fields_by_name["value"].message_type is not None:
                    stack.extend(value.values())
            elif field.is_repeated:
                stack.extend(value)
            else:
                stack.append(value)
    return count > limit


def _in_item(value: object, where: str) -> str | None:
    """The path of the first string holding a NUL, or None."""
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, struct_pb2.Value):  # JSON `params`: paths read as the JSON does (params.pocket.residues[0])
        kind = value.WhichOneof("kind")
        return _in_item(getattr(value, kind), where) if kind in ("string_value", "struct_value", "list_value") else None
    if isinstance(value, struct_pb2.Struct):
        return _first(_in_item(k, where) or _in_item(v, _join(where, k)) for k, v in value.fields.items())
    if isinstance(value, struct_pb2.ListValue):
        return _first(_in_item(v, f"{where}[{i}]") for i, v in enumerate(value.values))
    if isinstance(value, Message):
        return _first(_in_field(f, v, _join(where, f.name)) for f, v in value.ListFields())
    return None  # numbers, booleans, bytes (bytes are not text)


def _in_field(field: FieldDescriptor, value: Any, where: str) -> str | None:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return _first(_in_item(k, where) or _in_item(v, _join(where, str(k))) for k, v in value.items())
    if field.is_repeated:
        return _first(_in_item(v, f"{where}[{i}]") for i, v in enumerate(value))
    return _in_item(value, where)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _first(found: Iterable[str | None]) -> str | None:
    return next((where for where in found if where is not None), None)
