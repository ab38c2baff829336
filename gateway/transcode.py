"""HTTP request → gRPC request message, and gRPC response message → HTTP body, for one compiled rule.

The request follows google/api/http.proto in this order: the JSON body (`body: "*"` fills the whole
message, `body: "field"` one top-level field), then the path variables (they win over the body),
then the remaining query parameters onto primitive fields (`fields.query_leaves`).

Policies (docs/gateway.md):
- an unknown query parameter is a 400 that lists the accepted ones (a typo such as `?limt=5`
  silently returning 50 jobs is worse than an error);
- malformed JSON, a wrong JSON type or an unknown JSON field is a 400;
- a rule without a body ignores an empty body, `{}` or `null`, and answers 400 to anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.api import httpbody_pb2
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.fields import FieldPathError, FieldValueError, Leaf, query_leaves, resolve
from gateway.http_rule import HttpRule, TemplateError

_HTTP_BODY = httpbody_pb2.HttpBody.DESCRIPTOR.full_name
_STRUCT_TYPES = frozenset(("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"))
_MAX_SAFE_INT = 2**53  # beyond this an integral double is not an exact JSON integer in JavaScript
_JSON_CONTENT_TYPE = "application/json"


class TranscodeError(ValueError):
    """The HTTP request cannot become the rpc's request message (a client error, 400)."""


class QueryParams(Protocol):
    """The part of multidict's MultiMapping the transcoder reads (aiohttp's `request.query`)."""

    def keys(self) -> Any: ...

    def getall(self, key: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class TranscodePlan:
    """Everything needed to transcode one rule, computed once at start-up."""

    rule: HttpRule
    request_class: type[Message]
    path_leaves: Mapping[tuple[str, ...], Leaf]  # template variable → the field it sets
    query: Mapping[str, Leaf]  # accepted query parameter (proto and JSON names) → field
    accepted_query: tuple[str, ...]  # the proto names, sorted, for the unknown-parameter 400
    http_body_response: bool  # google.api.HttpBody: written raw with its content_type
    response_body_field: str  # "" for the whole response message
    struct_paths: _StructPaths | None  # where Struct numbers are normalised; None: no Struct inside


@dataclass(frozen=True, slots=True)
class RenderedBody:
    content_type: str
    data: bytes


def compile_plan(rule: HttpRule) -> TranscodePlan:
    """Resolve every field the rule names; TemplateError when the rule and the messages disagree."""
    request_desc = rule.method.input_type
    response_desc = rule.method.output_type
    where = f"{rule.method.full_name} ({rule.http_method} {rule.template.text})"
    try:
        path_leaves = {v.field_path: resolve(request_desc, v.field_path) for v in rule.template.variables}
    except FieldPathError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    if any(leaf.repeated for leaf in path_leaves.values()):
        raise TemplateError(f"{where}: a path variable cannot bind a repeated field")
    if rule.body not in ("", "*") and rule.body not in request_desc.fields_by_name:
        raise TemplateError(f"{where}: body names no top-level request field {rule.body!r}")
    if rule.response_body and rule.response_body not in response_desc.fields_by_name:
        raise TemplateError(f"{where}: response_body names no response field {rule.response_body!r}")
    if rule.body == "*":
        query: dict[str, Leaf] = {}
    else:
        exclude = set(path_leaves) | ({(rule.body,)} if rule.body else set())
        query = query_leaves(request_desc, exclude)
    return TranscodePlan(
        rule=rule,
        request_class=message_factory.GetMessageClass(request_desc),
        path_leaves=path_leaves,
        query=query,
        accepted_query=tuple(sorted({leaf.name for leaf in query.values()})),
        http_body_response=response_desc.full_name == _HTTP_BODY and not rule.response_body,
        response_body_field=rule.response_body,
        struct_paths=_struct_paths(response_desc, (response_desc.full_name,)),
    )


# ---------------------------------------------------------------------------------------------------
# Request


def build_request(
    plan: TranscodePlan,
    path_values: Sequence[tuple[tuple[str, ...], str]],
    query: QueryParams,
    body: bytes,
) -> Message:
    """The request message; TranscodeError with a client-facing message on any bad input."""
    request = plan.request_class()
    _apply_body(plan, request, body)
    try:
        for field_path, value in path_values:
            plan.path_leaves[field_path].assign(request, (value,))
        keys = list(dict.fromkeys(query.keys()))  # unique, in request order
        unknown = [k for k in keys if k not in plan.query]
        if unknown:
            raise TranscodeError(_unknown_query_message(plan, unknown))
        for key in keys:
            plan.query[key].assign(request, query.getall(key))
    except FieldValueError as exc:
        raise TranscodeError(str(exc)) from None
    return request


def _apply_body(plan: TranscodePlan, request: Message, body: bytes) -> None:
    target = plan.rule.body
    if not target:
        if body.strip() and _parse_json(body) not in ({}, None):
            raise TranscodeError(f"{plan.rule.http_method} {plan.rule.template.text} takes no request body")
        return
    if not body.strip():
        return  # an absent body leaves the message (or the body field) at its defaults
    document = _parse_json(body)
    if target == "*":
        if not isinstance(document, dict):
            raise TranscodeError("the request body must be a JSON object")
    else:
        document = {target: document}
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=False)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise TranscodeError(f"invalid request body: {_first_line(exc)}") from None


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TranscodeError(f"malformed JSON body: {_first_line(exc)}") from None


def _unknown_query_message(plan: TranscodePlan, unknown: list[str]) -> str:
    names = ", ".join(repr(k) for k in unknown)
    noun = "parameter" if len(unknown) == 1 else "parameters"
    if not plan.accepted_query:
        return f"unknown query {noun} {names}: this route accepts no query parameters"
    return f"unknown query {noun} {names}; accepted: {', '.join(plan.accepted_query)}"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# ---------------------------------------------------------------------------------------------------
# Response


def render_response(plan: TranscodePlan, message: Message) -> RenderedBody:
    if plan.http_body_response:
        body: httpbody_pb2.HttpBody = message  # type: ignore[assignment]
        return RenderedBody(body.content_type or "application/octet-stream", body.data)
    document: Any = message_to_json_object(message, plan.struct_paths)
    if plan.response_body_field:
        document = document.get(plan.response_body_field)
    return RenderedBody(_JSON_CONTENT_TYPE, dumps(document))


def message_to_json_object(message: Message, struct_paths: _StructPaths | None = None) -> dict[str, Any]:
    """proto3 JSON with snake_case names; non-optional fields always, `optional` ones only when set."""
    document = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    if struct_paths is not None:
        struct_paths.normalise(document)
    return document


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# Struct holds every number as a double, so `{"num_recycles": 4}` would come back as 4.0. Inside
# Struct/Value/ListValue subtrees only, integral doubles are written as JSON integers again.


@dataclass(frozen=True, slots=True)
class _StructPaths:
    # (JSON key, how to walk it, nested paths); "struct": the value is Struct-like JSON,
    # "message": a message (or list of them) containing one, "map": a map of such messages.
    fields: tuple[tuple[str, str, _StructPaths | None], ...]

    def normalise(self, document: dict[str, Any]) -> None:
        for key, kind, nested in self.fields:
            value = document.get(key)
            if value is None:
                continue
            if kind == "struct":
                document[key] = _integral_floats_to_int(value)
                continue
            assert nested is not None
            items = value.values() if kind == "map" else value if isinstance(value, list) else (value,)
            for item in items:
                nested.normalise(item)


def _struct_paths(desc: Descriptor, seen: tuple[str, ...]) -> _StructPaths | None:
    fields: list[tuple[str, str, _StructPaths | None]] = []
    for f in desc.fields:
        if f.cpp_type != FieldDescriptor.CPPTYPE_MESSAGE:
            continue
        kind = "message"
        nested_desc = f.message_type
        if nested_desc.GetOptions().map_entry:
            nested_desc = nested_desc.fields_by_name["value"].message_type
            kind = "map"
            if nested_desc is None:
                continue  # a map of scalars
        if nested_desc.full_name in _STRUCT_TYPES:
            fields.append((f.name, "struct", None))  # for a map: every value is Struct-like JSON
        elif nested_desc.full_name not in seen:
            nested = _struct_paths(nested_desc, (*seen, nested_desc.full_name))
            if nested is not None:
                fields.append((f.name, kind, nested))
    return _StructPaths(tuple(fields)) if fields else None


def _integral_floats_to_int(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _MAX_SAFE_INT else value
    if isinstance(value, dict):
        return {k: _integral_floats_to_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_to_int(v) for v in value]
    return value
