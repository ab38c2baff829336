"""Unit tests: path template parsing, rule reading and route matching (google/api/http.proto)."""

from __future__ import annotations

from types import ModuleType

import pytest

from gateway.http_rule import (
    NoRoute,
    PathDecodeError,
    RouteMatch,
    Router,
    SegmentKind,
    TemplateError,
    parse_template,
    percent_decode,
    rules_for_service,
)
from phonos.v1 import phonos_pb2

pytestmark = pytest.mark.unit

L, ONE, REST = SegmentKind.LITERAL, SegmentKind.ONE, SegmentKind.REST


@pytest.mark.parametrize(
    ("text", "kinds", "variables", "verb"),
    [
        ("/v1/health", [L, L], [], None),
        ("/v1/jobs/{job_id}", [L, L, ONE], [(("job_id",), 2, 3, False)], None),
        ("/v1/jobs/{job_id}/download", [L, L, ONE, L], [(("job_id",), 2, 3, False)], None),
        ("/v1/jobs/{job_id}:cancel", [L, L, ONE], [(("job_id",), 2, 3, False)], "cancel"),
        ("/v1/{name=shelves/*/books/*}", [L, L, ONE, L, ONE], [(("name",), 1, 5, True)], None),
        ("/v1/files/{path=**}", [L, L, REST], [(("path",), 2, 3, True)], None),
        ("/v1/{name=**}:get", [L, REST], [(("name",), 1, 2, True)], "get"),
        ("/v1/owners/{owner.id}", [L, L, ONE], [(("owner", "id"), 2, 3, False)], None),
        ("/v1/*/x/**", [L, ONE, L, REST], [], None),
        ("/v1/{a}/{b=*}", [L, ONE, ONE], [(("a",), 1, 2, False), (("b",), 2, 3, False)], None),
    ],
)
def test_parse_template(
    text: str, kinds: list[SegmentKind], variables: list[tuple], verb: str | None
) -> None:
    template = parse_template(text)
    assert [s.kind for s in template.segments] == kinds
    assert [(v.field_path, v.start, v.end, v.multi) for v in template.variables] == variables
    assert template.verb == verb
    assert template.text == text


@pytest.mark.parametrize(
    "text",
    [
        "v1/health",  # no leading slash
        "/",
        "/v1//x",  # empty segment
        "/v1/**/x",  # ** not last
        "/v1/{a=**}/x",
        "/v1/{a",  # unbalanced
        "/v1/a}",
        "/v1/{a={b}}",  # nested variable
        "/v1/{a}/{a}",  # bound twice
        "/v1/{1a}",  # bad field name
        "/v1/x:",  # empty verb
        "/v1/a*b",  # wildcard inside a literal
    ],
)
def test_parse_template_rejects(text: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(text)


def test_rules_for_phonos_service_cover_every_rpc() -> None:
    service = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]
    rules = {(r.http_method, r.template.text): r for r in rules_for_service(service)}
    # The dashboard's session rpcs have no rule: the gateway's /auth routes call them and keep the
    # session token in an HttpOnly cookie (a transcoded JSON body would hand it to page scripts).
    unexposed = {m.name for m in service.methods} - {r.method.name for r in rules.values()}
    assert unexposed == {"CreateSession", "GetSession", "DeleteSession", "ChangePassword", "ListSessions", "EndSession"}
    assert len(rules) == len(service.methods) - 6 == 32  # every other rpc has exactly one binding
    # The share links' public reads live beside the dashboard's /shared/{token} page, outside /v1.
    assert rules[("GET", "/shared/{token}/job")].full_method == "/phonos.v1.PhonosService/GetSharedJob"
    assert rules[("PATCH", "/v1/keys/{key_id}")].body == "*"
    cancel = rules[("POST", "/v1/jobs/{job_id}/cancel")]
    assert cancel.full_method == "/phonos.v1.PhonosService/CancelJob"
    assert cancel.body == ""
    assert rules[("POST", "/v1/predict")].body == "*"
    assert ("DELETE", "/v1/webhooks/{webhook_id}") in rules
    # a hyphenated last segment is a plain path segment (no custom verb), its body optional
    assert rules[("POST", "/v1/webhooks/{webhook_id}/rotate-secret")].body == "*"
    watch = rules[("GET", "/v1/jobs/{job_id}/events")]
    assert watch.method.server_streaming and watch.response_body == "event"
    assert rules[("GET", "/v1/events")].method.server_streaming


def test_additional_bindings_and_custom_method(gwtest: ModuleType) -> None:
    rules = rules_for_service(gwtest.DESCRIPTOR.services_by_name["ThingService"])
    by_method: dict[str, list[tuple[str, str]]] = {}
    for r in rules:
        by_method.setdefault(r.method.name, []).append((r.http_method, r.template.text))
    assert by_method["GetThing"] == [
        ("GET", "/v1/things/{thing_id}"),
        ("GET", "/v1/shelves/{shelf}/things/{thing_id}"),
        ("GET", "/v1/legacy/thing"),
    ]
    assert by_method["Peek"] == [("HEAD", "/v1/things/{thing_id}")]
    assert "Hidden" not in by_method  # no http option: not exposed
    update = next(r for r in rules if r.method.name == "UpdateThing")
    assert (update.http_method, update.body, update.response_body) == ("PATCH", "thing", "labels")


def _router(*routes: tuple[str, str]) -> Router[str]:
    return Router((method, parse_template(path), f"{method} {path}") for method, path in routes)


PHONOS_LIKE = _router(
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/{job_id}"),
    ("GET", "/v1/jobs/{job_id}/download"),
    ("POST", "/v1/jobs/{job_id}:cancel"),
    ("GET", "/v1/jobs/latest"),
    ("DELETE", "/v1/jobs/{job_id}"),
    ("GET", "/v1/{name=shelves/*/books/*}"),
    ("GET", "/v1/files/{path=**}"),
    ("GET", "/v1/files/special/{rest=**}"),
    ("GET", "/v1/owners/{owner.id}/things"),
)


@pytest.mark.parametrize(
    ("method", "path", "route", "values"),
    [
        ("GET", "/v1/jobs", "GET /v1/jobs", {}),
        ("GET", "/v1/jobs/abc", "GET /v1/jobs/{job_id}", {"job_id": "abc"}),
        ("GET", "/v1/jobs/abc/download", "GET /v1/jobs/{job_id}/download", {"job_id": "abc"}),
        # literal beats variable
        ("GET", "/v1/jobs/latest", "GET /v1/jobs/latest", {}),
        # a declared custom verb is split off, never bound into the id ...
        ("POST", "/v1/jobs/abc:cancel", "POST /v1/jobs/{job_id}:cancel", {"job_id": "abc"}),
        # ... an undeclared one is part of the id
        ("GET", "/v1/jobs/abc:def", "GET /v1/jobs/{job_id}", {"job_id": "abc:def"}),
        # an encoded colon is data, not a verb
        ("POST", "/v1/jobs/abc%3Acancel:cancel", "POST /v1/jobs/{job_id}:cancel", {"job_id": "abc:cancel"}),
        # percent-decoding of single-segment variables, %2F included
        ("GET", "/v1/jobs/a%20b%2Fc%C3%A9", "GET /v1/jobs/{job_id}", {"job_id": "a b/cé"}),
        # multi-segment variables keep %2F encoded
        (
            "GET",
            "/v1/shelves/s%201/books/b%2F2",
            "GET /v1/{name=shelves/*/books/*}",
            {"name": "shelves/s 1/books/b%2F2"},
        ),
        ("GET", "/v1/files/a/b/c.pdb", "GET /v1/files/{path=**}", {"path": "a/b/c.pdb"}),
        ("GET", "/v1/files/x", "GET /v1/files/{path=**}", {"path": "x"}),
        ("GET", "/v1/files", "GET /v1/files/{path=**}", {"path": ""}),  # ** matches zero segments
        # the longer literal prefix wins among ** templates
        ("GET", "/v1/files/special/a/b", "GET /v1/files/special/{rest=**}", {"rest": "a/b"}),
        ("GET", "/v1/owners/42/things", "GET /v1/owners/{owner.id}/things", {"owner.id": "42"}),
    ],
)
def test_router_matches(method: str, path: str, route: str, values: dict[str, str]) -> None:
    match = PHONOS_LIKE.match(method, path)
    assert isinstance(match, RouteMatch), match
    assert match.payload == route
    assert {".".join(k): v for k, v in match.values} == values


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/nothing", ()),
        ("GET", "/v1/jobs/", ()),  # {var} never matches an empty segment
        ("GET", "/v1/jobs//download", ()),
        ("GET", "/v1/jobs/a/b", ()),
        ("GET", "/v2/jobs", ()),
        ("GET", "jobs", ()),
        ("POST", "/v1/jobs/abc", ("DELETE", "GET")),  # 405 material
        ("GET", "/v1/jobs/abc:cancel", ("POST",)),  # the verb exists, only for POST
        ("PUT", "/v1/shelves/1/books/2", ("GET",)),
    ],
)
def test_router_no_route(method: str, path: str, allowed: tuple[str, ...]) -> None:
    match = PHONOS_LIKE.match(method, path)
    assert match == NoRoute(allowed)


def test_router_rejects_duplicate_templates() -> None:
    with pytest.raises(TemplateError):
        _router(("GET", "/v1/jobs/{job_id}"), ("GET", "/v1/jobs/{other}"))
    _router(("GET", "/v1/jobs/{job_id}"), ("DELETE", "/v1/jobs/{other}"))  # other method: fine


@pytest.mark.parametrize(
    ("raw", "keep_slash", "decoded"),
    [
        ("plain", False, "plain"),
        ("a%2Fb", False, "a/b"),
        ("a%2fb", True, "a%2Fb"),
        ("%E2%9C%93", False, "✓"),
        ("100%25", True, "100%"),
        ("%252F", True, "%2F"),  # an encoded percent sign stays one level encoded
    ],
)
def test_percent_decode(raw: str, keep_slash: bool, decoded: str) -> None:
    assert percent_decode(raw, keep_slash=keep_slash) == decoded


@pytest.mark.parametrize("raw", ["%", "a%2", "%zz", "%C3%28", "%ff"])
def test_percent_decode_rejects(raw: str) -> None:
    with pytest.raises(PathDecodeError):
        percent_decode(raw, keep_slash=False)


def test_bad_encoding_in_a_matched_path_raises() -> None:
    with pytest.raises(PathDecodeError):
        PHONOS_LIKE.match("GET", "/v1/jobs/%zz")
