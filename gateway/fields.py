"""Setting request fields from strings: path variables and query parameters (grpc-gateway's rules).

A field path such as `a.b.c` walks singular message fields to a leaf that a string can set:
a scalar, an enum (by name or number), a repeated one of those (one query parameter per element),
or a well-known type with a JSON string form (Timestamp, Duration, FieldMask, the wrappers).
Maps, Struct/Value/Any and repeated messages have no query-string form; they come from the body.
All lookups happen once, when the gateway compiles its rules; a request only converts and assigns.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from phonos.v1 import openapi_options_pb2
from phonos_config.json_text import json_value_text

WRAPPERS = frozenset(
    f"google.protobuf.{n}Value"
    for n in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
JSON_STRING_TYPES = frozenset(
    ("google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask")
)
_NO_QUERY_FORM = frozenset(
    ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any")
)

# Inclusive integer ranges per protobuf type (the C++ type decides the width and sign).
INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
FLOAT32_MAX = 3.4028234663852886e38
_TRUE = frozenset(("true", "1"))
_FALSE = frozenset(("false", "0"))


class FieldValueError(ValueError):
    """A string that does not convert to its field's type (a client error, 400)."""


class FieldRangeError(FieldValueError):
    """A number outside the contract's declared range: said as the job service says an in-range refusal,
    "limit must be between 1 and 100, got 1000", the field's name leading the sentence."""


class FieldPathError(ValueError):
    """A field path that names no settable field (a rule or compile-time error)."""


@dataclass(frozen=True, slots=True)
class Leaf:
    """A settable field at the end of a path; `convert` turns one string into the leaf's value."""

    name: str  # dotted proto field path, e.g. "page.limit"
    path: tuple[FieldDescriptor, ...]  # from the request message down to the leaf
    repeated: bool
    convert: Callable[[str], object]

    def assign(self, message: Message, texts: Sequence[str]) -> None:
        """Set the leaf from one (or, for repeated leaves, several) strings."""
        if not self.repeated and len(texts) > 1:
            raise FieldValueError(f"{self.name}: expected one value, got {len(texts)}")
        target = message
        for f in self.path[:-1]:
            target = getattr(target, f.name)
        leaf = self.path[-1]
        oneof = leaf.containing_oneof
        if oneof is not None:
            already = target.WhichOneof(oneof.name)
            if already is not None and already != leaf.name:
                raise FieldValueError(f"{self.name}: {already} of the same oneof is already set")
        values = [self._convert(t) for t in texts]
        if self.repeated:
            getattr(target, leaf.name).extend(values)
        elif leaf.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            _set_well_known(getattr(target, leaf.name), values[0], self.name)
        else:
            setattr(target, leaf.name, values[0])

    def _convert(self, text: str) -> object:
        try:
            return self.convert(text)
        except FieldRangeError as exc:
            raise FieldValueError(f"{self.name} {exc}") from None
        except FieldValueError as exc:
            raise FieldValueError(f"{self.name}: {exc}") from None


def resolve(descriptor: Descriptor, dotted: str | tuple[str, ...]) -> Leaf:
    """The leaf named by a field path; FieldPathError when it does not exist or has no string form."""
    names = tuple(dotted.split(".")) if isinstance(dotted, str) else dotted
    path: list[FieldDescriptor] = []
    current = descriptor
    for i, name in enumerate(names):
        f = current.fields_by_name.get(name)
        if f is None:
            raise FieldPathError(f"{descriptor.full_name} has no field {'.'.join(names[: i + 1])!r}")
        path.append(f)
        if i < len(names) - 1:
            if f.cpp_type != FieldDescriptor.CPPTYPE_MESSAGE or _is_repeated(f) or _is_leaf_message(f):
                raise FieldPathError(f"{'.'.join(names[: i + 1])} is not a singular message field")
            current = f.message_type
    leaf = path[-1]
    convert = converter(leaf)
    if convert is None or (_is_repeated(leaf) and leaf.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE):
        raise FieldPathError(f"{'.'.join(names)} cannot be set from a string")
    return Leaf(".".join(names), tuple(path), _is_repeated(leaf), convert)


def query_leaves(
    descriptor: Descriptor, exclude: Iterable[tuple[str, ...]], *, max_depth: int = 4
) -> dict[str, Leaf]:
    """Every leaf a query parameter may set, by proto name and by JSON name.

    `exclude` holds the paths already bound by the path template or the body; their subtrees are
    excluded too. Recursion stops at `max_depth` and at message types already on the way down,
    so recursive messages stay finite.
    """
    excluded = set(exclude)
    leaves: dict[str, Leaf] = {}

    def walk(
        msg: Descriptor, prefix: tuple[str, ...], json_prefix: tuple[str, ...], seen: tuple[str, ...]
    ) -> None:
        for f in msg.fields:
            names = (*prefix, f.name)
            if names in excluded:
                continue
            json_names = (*json_prefix, f.json_name)
            if f.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE and not _is_leaf_message(f):
                nested = f.message_type
                if _is_repeated(f) or nested.full_name in seen or len(names) >= max_depth:
                    continue
                if nested.full_name in _NO_QUERY_FORM:
                    continue
                walk(nested, names, json_names, (*seen, nested.full_name))
                continue
            try:
                leaf = resolve(descriptor, names)
            except FieldPathError:
                continue
            leaves[".".join(names)] = leaf
            leaves.setdefault(".".join(json_names), leaf)

    walk(descriptor, (), (), (descriptor.full_name,))
    return leaves


def converter(f: FieldDescriptor) -> Callable[[str], object] | None:
    """The string → value function for a leaf field, or None when it has no string form."""
    cpp = f.cpp_type
    if cpp in INT_RANGES:
        lo, hi = INT_RANGES[cpp]
        declared = declared_range(f)
        return lambda text: parse_int(text, lo, hi, declared)
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return lambda text: parse_float(text, single=False)
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return lambda text: parse_float(text, single=True)
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return parse_bool
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        enum = f.enum_type
        return lambda text: parse_enum(text, enum.values_by_name, enum.values_by_number)
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return parse_bytes if f.type == FieldDescriptor.TYPE_BYTES else str
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE and _is_leaf_message(f):
        name = f.message_type.full_name
        if name in WRAPPERS:
            inner = converter(f.message_type.fields_by_name["value"])
            assert inner is not None
            return inner
        return str  # parsed by the message's FromJsonString in Leaf.assign
    return None


def declared_range(f: FieldDescriptor) -> tuple[int | None, int | None]:
    """The contract's `minimum` and `maximum` for an integer field (phonos.v1.schema), None for one it does not state."""
    rules = f.GetOptions().Extensions[openapi_options_pb2.schema]
    return (int(rules.minimum) if rules.HasField("minimum") else None,
            int(rules.maximum) if rules.HasField("maximum") else None)


def range_error(value: str, lo: int, hi: int, declared: tuple[int | None, int | None] = (None, None)) -> FieldRangeError:
    """An integer past its wire type (`lo`..`hi`), said as the job service says its own range refusals: the
    contract's bounds where it states them (`limit must be between 1 and 100, got ...`), else the side it went past
    (`offset must be at most 2147483647, got ...`, paging.py's words). The wire range alone (`out of range
    [-2147483648, 2147483647]`) told a caller of `offset`, which must be 0 or more, that a negative one would do."""
    low, high = declared
    if low is not None and high is not None:
        return FieldRangeError(f"must be between {low} and {high}, got {value}")
    if value.startswith("-"):
        return FieldRangeError(f"must be {low} or more, got {value}" if low is not None
                               else f"must be at least {lo}, got {value}")
    return FieldRangeError(f"must be at most {hi if high is None else high}, got {value}")


def parse_int(text: str, lo: int, hi: int, declared: tuple[int | None, int | None] = (None, None)) -> int:
    # int() would also accept " 7", "1_000" and non-ASCII digits; a query string should not.
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise FieldValueError(f"{json_value_text(text)} is not an integer")
    if len(digits.lstrip("0")) > 24:
        # Far past any wire type, and int() refuses more than 4300 digits (a 500 in Python's words): said without
        # reading it, and without echoing every digit.
        raise range_error(f"{text[:24]}… ({len(digits)} digits)", lo, hi, declared)
    value = int(text)
    if not lo <= value <= hi:
        # Too big for the wire type: the job service never sees it, so its range message is said here.
        raise range_error(text, lo, hi, declared)
    return value


def parse_float(text: str, *, single: bool) -> float:
    if not text or text != text.strip() or "_" in text:
        raise FieldValueError(f"{json_value_text(text)} is not a number")
    try:
        value = float(text)  # also the JSON spellings "NaN", "Infinity", "-Infinity"
    except ValueError:
        raise FieldValueError(f"{json_value_text(text)} is not a number") from None
    if single and math.isfinite(value) and abs(value) > FLOAT32_MAX:
        raise FieldValueError(f"{json_value_text(text)} is out of range for a float")
    return value


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FieldValueError(f"{json_value_text(text)} is not a boolean (true or false)")


def parse_enum(text: str, by_name: dict[str, object], by_number: dict[int, object]) -> int:
    value = by_name.get(text)
    if value is not None:
        return value.number  # type: ignore[attr-defined, no-any-return]
    try:
        number = parse_int(text, -(2**31), 2**31 - 1)
    except FieldValueError:
        number = None
    if number is None or number not in by_number:
        raise FieldValueError(f"{json_value_text(text)} is not one of {', '.join(by_name)}") from None
    return number


def parse_bytes(text: str) -> bytes:
    # proto3 JSON: standard or URL-safe base64, padding optional.
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise FieldValueError(f"{json_value_text(text)} is not base64") from None


def _set_well_known(message: Message, value: object, name: str) -> None:
    full_name = message.DESCRIPTOR.full_name
    if full_name in WRAPPERS:
        message.value = value  # type: ignore[attr-defined]
        return
    try:
        message.FromJsonString(value)  # type: ignore[attr-defined]
    except ValueError as exc:
        raise FieldValueError(f"{name}: {exc}") from None


def _is_leaf_message(f: FieldDescriptor) -> bool:
    return f.message_type is not None and (
        f.message_type.full_name in WRAPPERS or f.message_type.full_name in JSON_STRING_TYPES
    )


def _is_repeated(f: FieldDescriptor) -> bool:
    # protobuf 6 prefers `is_repeated`; `label` is deprecated there.
    flag = getattr(f, "is_repeated", None)
    return bool(flag) if flag is not None else f.label == FieldDescriptor.LABEL_REPEATED
