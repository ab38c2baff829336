"""HTTP request → gRPC request message, and gRPC response message → HTTP body, for one compiled rule.

The request follows google/api/http.proto in this order: the JSON body (`body: "*"` fills the whole
message, `body: "field"` one top-level field), then the path variables (a body naming a field the path
sets is a 400), then the remaining query parameters onto primitive fields (`fields.query_leaves`).

Policies (docs/gateway.md):
- an unknown query parameter is a 400 that lists the accepted ones (a typo such as `?limt=5`
  silently returning 50 jobs is worse than an error);
- malformed JSON, a wrong JSON type or an unknown JSON field is a 400;
- a rule without a body ignores an empty body, `{}` or `null`, and answers 400 to anything else.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.api import httpbody_pb2
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway import big_json, json_shape
from gateway.fields import FieldPathError, FieldValueError, Leaf, query_leaves, resolve
from gateway.http_rule import HttpRule, TemplateError
from phonos.v1 import openapi_options_pb2
from phonos_common.json_encode import encoder_for
from phonos_common.limits import MAX_JSON_VALUES
from phonos_config.json_text import json_value_text

_HTTP_BODY = httpbody_pb2.HttpBody.DESCRIPTOR.full_name
# A streaming rpc's request field that asks for keep-alive messages (the watch streams'): the gateway's own, not a
# query parameter (an SSE stream always has keep-alive comments; gateway/sse.py sets it on every stream it opens).
STREAM_KEEP_ALIVE_FIELD = "keep_alive"
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
    # A public route whose request has no fields (GET /v1/health): a query is ignored, not refused. Load balancers
    # and uptime monitors add their own (`?probe=lb1`, a cache-buster) and a 400 read as "unhealthy".
    ignores_query: bool
    http_body_response: bool  # google.api.HttpBody: written raw with its content_type
    # The JSON reply may be big: its type can hold free-form JSON or bytes (a job's result, its input's A3M). Only
    # the type tells, at no cost: upb's ByteSize serializes the whole message (~0.2 s of the GIL for 50 MB).
    response_may_be_big: bool
    response_body_field: str  # "" for the whole response message
    encode: Callable[[Message], dict[str, Any]]  # compiled proto3 JSON encoder of the response type


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
        if rule.method.server_streaming:
            exclude.add((STREAM_KEEP_ALIVE_FIELD,))
        query = query_leaves(request_desc, exclude)
    return TranscodePlan(
        rule=rule,
        request_class=message_factory.GetMessageClass(request_desc),
        path_leaves=path_leaves,
        query=query,
        accepted_query=tuple(sorted({leaf.name for leaf in query.values()})),
        ignores_query=not request_desc.fields and _is_public(rule),
        http_body_response=_is_http_body(response_desc, rule.response_body),
        response_may_be_big=not _is_http_body(response_desc, rule.response_body) and _may_be_big(
            response_desc.fields_by_name[rule.response_body].message_type if rule.response_body else response_desc),
        response_body_field=rule.response_body,
        encode=encoder_for(response_desc),
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
        if unknown and not plan.ignores_query:
            raise TranscodeError(_unknown_query_message(plan, unknown))
        for key in keys:
            if key in plan.query and not _empty_non_text(plan.query[key], query.getall(key)):
                plan.query[key].assign(request, query.getall(key))
    except FieldValueError as exc:
        raise TranscodeError(str(exc)) from None
    return request


def _empty_non_text(leaf: Leaf, values: list[str]) -> bool:
    """`?limit=` (a form's empty box, `limit=$N` with N unset): a number, flag or enum given no text is the parameter
    left out, as `?status=` already was (an empty string is a string field's default). Was: `limit: "" is not an
    integer` beside `status=` read as no filter."""
    text_types = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
    return all(value == "" for value in values) and leaf.path[-1].type not in text_types


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
        # A misfit named in JSON terms, not protobuf's; a field the path gives is refused, not overwritten unseen.
        json_shape.check(document, request.DESCRIPTOR, plan.path_leaves)
        json_format.ParseDict(document, request, ignore_unknown_fields=False)
    except json_shape.ShapeError as exc:
        raise TranscodeError(f"invalid request body: {exc}") from None
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise TranscodeError(f"invalid request body: {_first_line(exc)}") from None


class _RepeatedKey(Exception):
    """A JSON object names one key twice (RFC 8259: "the behavior ... is unpredictable")."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: the object, or _RepeatedKey. `{"model": "esmfold", ..., "model": "alphafold2"}` is
    one submission or the other depending on who reads it (Python takes the last, many parsers the first):
    refused, as two Authorization headers are."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return document


_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters searched per call of `_SURROGATE`: a regex search holds the GIL to its end, and a big body is parsed
# in a thread (gateway/body.py `off_loop`) so that the event loop can run meanwhile; between the calls it can.
_SCAN_CHUNK = 1 << 20


def has_surrogate(value: str) -> bool:
    """Whether `value` holds a lone surrogate (any code point U+D800-U+DFFF; JSON's parser pairs the valid ones)."""
    if value.isascii():  # O(1): an ASCII string holds none (a 50 MB A3M was searched whole: ~0.13 s holding the GIL)
        return False
    return any(_SURROGATE.search(value, start, start + _SCAN_CHUNK) for start in range(0, len(value), _SCAN_CHUNK))


class _SurrogateFirst:
    """protobuf's json_format checks every string it sets for an unpaired surrogate with a pattern of lookarounds
    that reads ~135 ns a character, holding the GIL: a 60 MB `sequence` (a submission may be 63.5 MB) held the
    service's one event loop for 7.3 s, every other request waiting. The same answer, first asking the plain
    class (~2 ns a character) whether there is a surrogate at all; there never is by then (`surrogate_at` refused
    any in the body), so protobuf's own pattern only runs where it could match."""

    def __init__(self, full: re.Pattern[str]) -> None:
        self._full = full

    def search(self, value: str) -> re.Match[str] | None:
        if not isinstance(value, str):
            return self._full.search(value)  # its own answer (a TypeError) to what is no string
        return self._full.search(value) if has_surrogate(value) else None


if isinstance(getattr(json_format, "_UNPAIRED_SURROGATE_PATTERN", None), re.Pattern):
    json_format._UNPAIRED_SURROGATE_PATTERN = _SurrogateFirst(  # type: ignore[attr-defined]
        json_format._UNPAIRED_SURROGATE_PATTERN)  # type: ignore[attr-defined]


def surrogate_at(value: Any, where: str = "") -> str | None:
    """The JSON path of the first string (or object key) of `value` holding a lone surrogate, else None."""
    if isinstance(value, str):
        return where if has_surrogate(value) else None
    if isinstance(value, list):
        return next((p for i, item in enumerate(value) if (p := surrogate_at(item, f"{where}[{i}]"))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if has_surrogate(key):
                return f"a key of {where}" if where else "a key"
            if (path := surrogate_at(item, f"{where}.{key}" if where else key)) is not None:
                return path
    return None


# How deep a request body's arrays and objects may nest, the outermost object counting as 1. Real bodies need 6
# (a batch item's DiffDock pocket: {"jobs": [{"params": {"pocket": {"residues": [...]}}}]}). Python's own limit
# (~1,000 levels) is far too deep for what comes after the parse: the job service walks a request's Structs
# recursively (three frames a level: a 500 at ~200 levels in the in-process gateway), and protobuf refuses a
# message nested more than 100 deep (each JSON level is up to three), which a separate gateway's job service
# answered "not a valid PredictRequest message". 20 levels is ~60 message levels: under both.
MAX_JSON_DEPTH = 20
DEEP_JSON_MESSAGE = "malformed JSON body: arrays and objects nest too deeply"
TOO_MANY_VALUES_MESSAGE = (f"invalid request body: it holds more than {MAX_JSON_VALUES} JSON values (numbers, strings, "
                           "arrays, objects); no request needs that many")


def nesting_depth(value: Any) -> int:
    """How deep the arrays and objects of a parsed JSON document nest (a scalar: 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def json_values_over(value: Any, limit: int) -> bool:
    """Whether a parsed JSON document holds more than `limit` values (containers included), without recursion
    and without visiting more than `limit` of them (a container's length is counted before its items are)."""
    count = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict | list):
            if count + len(item) > limit:
                return True
            stack.extend(item.values() if isinstance(item, dict) else item)
    return count > limit


def parse_json_document(text: str | bytes) -> Any:
    """`json.loads` of a request body (bytes: UTF-8, a byte order mark ignored; UnicodeDecodeError if not),
    refusing keys given twice and nesting deeper than MAX_JSON_DEPTH (a TranscodeError each, in the words a client
    reads); the dashboard's /auth routes read their bodies with it too."""
    try:
        # Long strings a piece at a time (gateway/big_json.py): a big body is parsed in a thread, and json.loads of
        # a 50M-character A3M was one call that held the GIL, so the event loop too, for ~0.1-0.3 s.
        return big_json.loads(text, _unique_keys, check=_check_shape)
    except _RepeatedKey as exc:
        raise TranscodeError(f"malformed JSON body: the key {json_value_text(str(exc))} appears twice in one object; "
                             "send each key once") from None
    except RecursionError:  # Python's words ("maximum recursion depth exceeded ...") say nothing to a client
        raise TranscodeError(DEEP_JSON_MESSAGE) from None
    except ValueError as exc:
        # Python refuses to convert an integer longer than sys.get_int_max_str_digits() (CVE-2020-10735), in words
        # that tell the client to call sys.set_int_max_str_digits() on the server.
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError) or "integer string conversion" not in str(exc):
            raise
        raise TranscodeError(f"malformed JSON body: a number in it has more than {sys.get_int_max_str_digits()} "
                             "digits; no field takes a number that long") from None


def _check_shape(document: Any) -> None:
    if json_values_over(document, MAX_JSON_VALUES):  # before the depth walk, which visits every value
        raise TranscodeError(TOO_MANY_VALUES_MESSAGE)
    if nesting_depth(document) > MAX_JSON_DEPTH:
        raise TranscodeError(DEEP_JSON_MESSAGE)


def _parse_json(body: bytes) -> Any:
    # RFC 8259 8.1: JSON between systems is UTF-8 (a byte order mark may be ignored). json.loads would guess
    # UTF-16 or -32 from the first bytes and answer in its codec's words ("'utf-16-le' codec can't decode ...").
    try:
        document = parse_json_document(body)
    except UnicodeDecodeError as exc:
        raise TranscodeError(f"malformed JSON body: it is not UTF-8 text (byte 0x{body[exc.start]:02x} at offset "
                             f"{exc.start}); send JSON as UTF-8") from None
    except TranscodeError:
        raise  # already in a client's words (a ValueError too)
    except ValueError as exc:  # JSONDecodeError
        raise TranscodeError(f"malformed JSON body: {_first_line(exc)}{_not_json_hint(exc)}") from None
    # "\ud800" alone is JSON's grammar but no character (RFC 8259 8.2): protobuf refused it in its own words
    # ("Unpaired surrogate at PredictRequest.sequence"), and a Struct's strings would fail later, in UTF-8.
    # (Recursive, but over a document parse_json_document kept to MAX_JSON_DEPTH levels.)
    where = surrogate_at(document, "")
    if where is not None:
        raise TranscodeError(f"invalid request body: {where or 'the body'} holds an unpaired surrogate (a lone "
                             "\\ud800-\\udfff escape), which is no character; a character above U+FFFF is "
                             "written as a pair, e.g. \\ud83e\\uddec")
    return document


NOT_JSON_HINT = "; the body must be JSON, sent with Content-Type: application/json"


def _not_json_hint(exc: ValueError) -> str:
    """A hint for a body that is no JSON from its first character (a form, `name=x&rate_limit=5`; plain text): it
    was sent in another format, and json's words alone ("Expecting value") said nothing of which to send. The body
    is read as JSON whatever its Content-Type; a JSON body broken further on keeps json's words alone."""
    if isinstance(exc, json.JSONDecodeError) and not exc.doc[:exc.pos].strip():
        return NOT_JSON_HINT
    return ""


def _is_public(rule: HttpRule) -> bool:
    """Whether the contract marks the rule's rpc `(phonos.v1.doc).public` (no key needed)."""
    return bool(rule.method.GetOptions().Extensions[openapi_options_pb2.doc].public)


def _unknown_query_message(plan: TranscodePlan, unknown: list[str]) -> str:
    names = ", ".join(json_value_text(k) for k in unknown)
    noun = "parameter" if len(unknown) == 1 else "parameters"
    if not plan.accepted_query:
        return f"unknown query {noun} {names}: this route accepts no query parameters"
    return f"unknown query {noun} {names}; accepted: {', '.join(plan.accepted_query)}"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# ---------------------------------------------------------------------------------------------------
# Response


def _is_http_body(response_desc: Descriptor, response_body: str) -> bool:
    """The response (or its `response_body` field) is a google.api.HttpBody, written raw."""
    if not response_body:
        return bool(response_desc.full_name == _HTTP_BODY)
    field = response_desc.fields_by_name[response_body]
    return field.message_type is not None and field.message_type.full_name == _HTTP_BODY


# Message types whose size no schema bounds: free-form JSON.
_FREE_FORM = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
                        "google.protobuf.Any"})


def _may_be_big(desc: Descriptor | None, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a message of this type (None: a scalar field's) can hold free-form JSON or bytes, at any depth."""
    if desc is None or desc.full_name in seen:
        return False
    if desc.full_name in _FREE_FORM:
        return True
    return any(field.type == field.TYPE_BYTES or _may_be_big(field.message_type, seen | {desc.full_name})
               for field in desc.fields)


def render_response(plan: TranscodePlan, message: Message) -> RenderedBody:
    if plan.http_body_response:
        body: httpbody_pb2.HttpBody = (
            getattr(message, plan.response_body_field) if plan.response_body_field else message  # type: ignore[assignment]
        )
        return RenderedBody(body.content_type or "application/octet-stream", body.data)
    return RenderedBody(_JSON_CONTENT_TYPE, dumps(response_document(plan, message)))


def response_document(plan: TranscodePlan, message: Message) -> Any:
    """The JSON value a (non-HttpBody) response becomes: the message, or its `response_body` field."""
    document: Any = plan.encode(message)
    if plan.response_body_field:
        document = document.get(plan.response_body_field)
    return document


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON; a big reply's long strings a piece at a time (gateway/big_json.py), as it is encoded in a
    thread and one json.dumps of a 50M-character A3M held the GIL for ~0.1-0.2 s."""
    return big_json.dumps(document)
