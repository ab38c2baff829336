"""`google.api.http` rules: read them from a service descriptor, parse their path templates, match paths.

Template grammar (google/api/http.proto):

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

Everything is compiled once: a `Router` indexes its routes by (custom verb, segment count) and HTTP
method, so a request costs one `str.split`, a dict lookup and a few string compares; no regex.

Matching rules (documented in docs/gateway.md):
- literals compare against the raw (still percent-encoded) path segment;
- `*` and `{var}` match exactly one non-empty segment; `**` matches zero or more trailing segments;
- a trailing `:verb` on the last segment is a custom verb only when some rule declares that verb, so
  `/v1/jobs/abc:cancel` never binds `job_id="abc:cancel"` once a `:cancel` rule exists, while ids
  that merely contain a colon still reach `{job_id}` when no rule uses the verb;
- among several matching routes the most specific wins: segment by segment, literal beats `*`, and
  fixed-length templates beat `**` ones;
- single-segment variables are fully percent-decoded; multi-segment ones keep `%2F` encoded
  (http.proto: "except %2F and %2f are left unchanged").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

# Imported before any generated module is parsed so the http option is a known extension.
from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from phonos_config.json_text import json_value_text

T = TypeVar("T")

_HEX = frozenset("0123456789abcdefABCDEF")
_PATTERN_METHODS = ("get", "put", "post", "delete", "patch")


class TemplateError(ValueError):
    """A path template or http rule that violates google/api/http.proto; raised at start-up."""


class PathDecodeError(ValueError):
    """A request path whose percent-encoding is malformed or not UTF-8 (a client error, 400)."""


class SegmentKind(enum.IntEnum):
    # The order is the specificity order used to rank competing routes.
    LITERAL = 0
    ONE = 1  # `*`
    REST = 2  # `**`


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    literal: str = ""  # only for LITERAL


@dataclass(frozen=True, slots=True)
class Variable:
    field_path: tuple[str, ...]  # ("job_id",) or ("parent", "name") for `{parent.name}`
    start: int  # first segment index covered
    end: int  # one past the last segment index covered (the template's end for `**`)
    multi: bool  # spans several segments or `**`: `%2F` stays encoded


@dataclass(frozen=True, slots=True)
class PathTemplate:
    text: str  # as written in the rule, e.g. "/v1/jobs/{job_id}"
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str | None  # custom verb without the colon

    @property
    def has_rest(self) -> bool:
        return bool(self.segments) and self.segments[-1].kind is SegmentKind.REST

    @property
    def specificity(self) -> tuple[int, ...]:
        return tuple(s.kind for s in self.segments)


@dataclass(frozen=True, slots=True)
class HttpRule:
    """One HTTP binding of one rpc (the main rule or one of its additional_bindings)."""

    http_method: str  # "GET", "POST", ... (or a custom kind)
    template: PathTemplate
    body: str  # "" (no body), "*" or a top-level request field name
    response_body: str  # "" (whole response) or a top-level response field name
    method: MethodDescriptor = field(compare=False)

    @property
    def full_method(self) -> str:
        """The gRPC method path, "/phonos.v1.PhonosService/GetJob"."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"


# ---------------------------------------------------------------------------------------------------
# Template parsing


def parse_template(text: str) -> PathTemplate:
    if not text.startswith("/") or text == "/":
        raise TemplateError(f"path template must start with '/' and have a segment: {text!r}")
    parts = _split_top_level(text[1:], text)
    verb: str | None = None
    colon = _last_top_level_colon(parts[-1])
    if colon >= 0:
        verb = parts[-1][colon + 1 :]
        parts[-1] = parts[-1][:colon]
        if not verb or any(c in verb for c in "/{}*:"):
            raise TemplateError(f"bad custom verb in {text!r}")
    segments: list[Segment] = []
    variables: list[Variable] = []
    for part in parts:
        if part.startswith("{"):
            if not part.endswith("}"):
                raise TemplateError(f"unbalanced braces in {text!r}")
            name, eq, sub = part[1:-1].partition("=")
            field_path = tuple(name.split("."))
            if not all(p.isidentifier() for p in field_path):
                raise TemplateError(f"bad variable name {name!r} in {text!r}")
            sub_parts = sub.split("/") if eq else ["*"]
            start = len(segments)
            segments.extend(_plain_segment(p, text) for p in sub_parts)
            multi = len(sub_parts) > 1 or segments[-1].kind is SegmentKind.REST
            variables.append(Variable(field_path, start, len(segments), multi))
        else:
            segments.append(_plain_segment(part, text))
    if any(s.kind is SegmentKind.REST for s in segments[:-1]):
        raise TemplateError(f"'**' must be the last segment: {text!r}")
    names = [v.field_path for v in variables]
    if len(set(names)) != len(names):
        raise TemplateError(f"a variable is bound twice in {text!r}")
    return PathTemplate(text, tuple(segments), tuple(variables), verb)


def _split_top_level(path: str, text: str) -> list[str]:
    """Split on '/' outside braces (a variable's `=sub/template` holds slashes)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for c in path:
        if c == "{":
            depth += 1
            if depth > 1:
                raise TemplateError(f"nested variables in {text!r}")
        elif c == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError(f"unbalanced braces in {text!r}")
        if c == "/" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    if depth:
        raise TemplateError(f"unbalanced braces in {text!r}")
    parts.append("".join(current))
    return parts


def _last_top_level_colon(part: str) -> int:
    depth = 0
    found = -1
    for i, c in enumerate(part):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == ":" and depth == 0:
            found = i
    return found


def _plain_segment(part: str, text: str) -> Segment:
    if part == "*":
        return Segment(SegmentKind.ONE)
    if part == "**":
        return Segment(SegmentKind.REST)
    if not part or any(c in part for c in "{}*=:"):
        raise TemplateError(f"bad segment {part!r} in {text!r}")
    return Segment(SegmentKind.LITERAL, part)


# ---------------------------------------------------------------------------------------------------
# Reading the rules of a service


def rules_for_service(service: ServiceDescriptor) -> list[HttpRule]:
    """Every HTTP binding of every rpc that carries a `google.api.http` option, in declaration order."""
    rules: list[HttpRule] = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue  # rpc not exposed over HTTP
        main = options.Extensions[annotations_pb2.http]
        rules.append(_binding(main, method))
        for extra in main.additional_bindings:
            if len(extra.additional_bindings):
                raise TemplateError(f"{method.full_name}: additional_bindings may not nest")
            rules.append(_binding(extra, method))
    return rules


def _binding(rule: http_pb2.HttpRule, method: MethodDescriptor) -> HttpRule:
    kind = rule.WhichOneof("pattern")
    if kind in _PATTERN_METHODS:
        http_method, path = kind.upper(), getattr(rule, kind)
    elif kind == "custom":
        http_method, path = rule.custom.kind.upper(), rule.custom.path
    else:
        raise TemplateError(f"{method.full_name}: http rule without a pattern")
    try:
        template = parse_template(path)
    except TemplateError as exc:
        raise TemplateError(f"{method.full_name}: {exc}") from None
    return HttpRule(http_method, template, rule.body, rule.response_body, method)


# ---------------------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True, slots=True)
class RouteMatch(Generic[T]):
    payload: T
    template: PathTemplate
    values: tuple[tuple[tuple[str, ...], str], ...]  # (field path, percent-decoded value)


@dataclass(frozen=True, slots=True)
class NoRoute:
    """No route for this method; `allowed` lists methods that do match the path (405 when non-empty)."""

    allowed: tuple[str, ...]


class _Entry(Generic[T]):
    __slots__ = ("payload", "template", "literals", "singles", "min_len")

    def __init__(self, payload: T, template: PathTemplate) -> None:
        self.payload = payload
        self.template = template
        segs = template.segments
        self.literals = tuple((i, s.literal) for i, s in enumerate(segs) if s.kind is SegmentKind.LITERAL)
        self.singles = tuple(i for i, s in enumerate(segs) if s.kind is SegmentKind.ONE)
        self.min_len = len(segs) - 1 if template.has_rest else len(segs)

    def matches(self, segs: Sequence[str]) -> bool:
        for i, literal in self.literals:
            if segs[i] != literal:
                return False
        for i in self.singles:
            if not segs[i]:
                return False
        return True

    def bind(self, segs: Sequence[str]) -> tuple[tuple[tuple[str, ...], str], ...]:
        values = []
        last = len(self.template.segments)
        for var in self.template.variables:
            end = len(segs) if var.end == last and self.template.has_rest else var.end
            raw = "/".join(segs[var.start : end])
            values.append((var.field_path, percent_decode(raw, keep_slash=var.multi)))
        return tuple(values)


class Router(Generic[T]):
    """Matches (HTTP method, raw path) to one of the routes it was built with."""

    def __init__(self, routes: Iterable[tuple[str, PathTemplate, T]]) -> None:
        fixed: dict[tuple[str | None, int], dict[str, list[_Entry[T]]]] = {}
        rest: dict[str | None, dict[str, list[_Entry[T]]]] = {}
        verbs: set[str] = set()
        for http_method, template, payload in routes:
            entry = _Entry(payload, template)
            if template.verb is not None:
                verbs.add(template.verb)
            if template.has_rest:
                rest.setdefault(template.verb, {}).setdefault(http_method, []).append(entry)
            else:
                key = (template.verb, len(template.segments))
                fixed.setdefault(key, {}).setdefault(http_method, []).append(entry)
        for by_method in fixed.values():
            for entries in by_method.values():
                _check_duplicates(entries)
                entries.sort(key=lambda e: e.template.specificity)
        for by_method in rest.values():
            for entries in by_method.values():
                entries.sort(key=lambda e: (-e.min_len, e.template.specificity))
        self._fixed = {k: {m: tuple(v) for m, v in d.items()} for k, d in fixed.items()}
        self._rest = {k: {m: tuple(v) for m, v in d.items()} for k, d in rest.items()}
        self._verbs: frozenset[str] = frozenset(verbs)  # custom verbs some rule declares

    def match(self, http_method: str, raw_path: str) -> RouteMatch[T] | NoRoute:
        """Raises PathDecodeError when the matched variables are not valid percent-encoded UTF-8."""
        if not raw_path.startswith("/"):
            return NoRoute(())
        segs = raw_path[1:].split("/")
        verb: str | None = None
        last = segs[-1]
        colon = last.rfind(":")
        if colon > 0 and last[colon + 1 :] in self._verbs:
            verb = last[colon + 1 :]
            segs[-1] = last[:colon]
        entry = self._find(http_method, verb, segs)
        if entry is not None:
            return RouteMatch(entry.payload, entry.template, entry.bind(segs))
        methods = set(self._fixed.get((verb, len(segs)), {})) | set(self._rest.get(verb, {}))
        allowed = tuple(sorted(m for m in methods if m != http_method and self._find(m, verb, segs)))
        return NoRoute(allowed)

    def _find(self, http_method: str, verb: str | None, segs: list[str]) -> _Entry[T] | None:
        for entry in self._fixed.get((verb, len(segs)), {}).get(http_method, ()):
            if entry.matches(segs):
                return entry
        for entry in self._rest.get(verb, {}).get(http_method, ()):
            if len(segs) >= entry.min_len and entry.matches(segs):
                return entry
        return None


def _check_duplicates(entries: list[_Entry[T]]) -> None:
    seen: dict[tuple[object, ...], str] = {}
    for e in entries:
        shape = tuple((s.kind, s.literal) for s in e.template.segments)
        if shape in seen:
            raise TemplateError(f"templates {seen[shape]!r} and {e.template.text!r} match the same paths")
        seen[shape] = e.template.text


def percent_decode(raw: str, *, keep_slash: bool, what: str = "path segment") -> str:
    """Decode %XX escapes as UTF-8; malformed escapes are an error rather than passed through."""
    if "%" not in raw:
        return raw
    i = raw.find("%")
    while i >= 0:
        if i + 2 >= len(raw) or raw[i + 1] not in _HEX or raw[i + 2] not in _HEX:
            raise PathDecodeError(f"malformed percent-encoding in {what} {json_value_text(raw)}")
        i = raw.find("%", i + 3)
    try:
        if keep_slash:
            return "%2F".join(unquote(p, errors="strict") for p in raw.replace("%2f", "%2F").split("%2F"))
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise PathDecodeError(f"{what} {json_value_text(raw)} is not percent-encoded UTF-8") from None


def check_query_encoding(raw_query: str) -> None:
    """PathDecodeError when a query's names or values are not valid percent-encoded UTF-8.

    aiohttp decodes a query leniently (a stray `%ff` becomes U+FFFD); a value the client did not send
    must not reach a filter or a name, so a query is held to the path's rule."""
    for part in raw_query.split("&"):
        percent_decode(part.replace("+", " "), keep_slash=False, what="query parameter")
