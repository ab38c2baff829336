"""What the edge answers itself, before any rule: a method the OpenAPI document does not take, a request line or
header too long to read, a 401's challenge, a health probe's own query (found by a tester of the HTTP API)."""

from __future__ import annotations

import asyncio

import pytest

from tests.gateway.test_gateway_edge import assert_json_error, exchange, gateway, parse

pytestmark = pytest.mark.integration


def answer(raw: bytes) -> bytes:
    async def scenario() -> bytes:
        async with gateway() as (port, _):
            return await exchange(port, raw)
    return asyncio.run(scenario())


def test_a_method_the_openapi_document_does_not_take_is_405_with_allow() -> None:
    # before: 404 "no route for POST /v1/openapi.json"
    response = answer(b"POST /v1/openapi.json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert assert_json_error(response, 405)["error"] == "Method not allowed"
    assert parse(response)[1]["allow"] == "GET, HEAD"
    status, _, body = parse(answer(b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 200 and body.startswith(b"{")


def test_a_request_line_too_long_is_414_and_a_header_too_long_431_in_plain_words() -> None:
    # before: 400 "malformed HTTP request: Got more than 8190 bytes when reading: bytearray(b'GET /v1/jobs?name=xxx...')"
    long_url = answer(b"GET /v1/jobs?name=" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    document = assert_json_error(long_url, 414)
    assert document["error"] == "URI too long" and "bytearray" not in document["message"], document
    assert document["message"] == "the request line (method and URL) is longer than 8190 bytes"
    long_header = answer(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 20_000 + b"\r\n\r\n")
    document = assert_json_error(long_header, 431)
    assert document == {"error": "Request header fields too large",
                        "message": "a request header is longer than 8190 bytes"}


def test_a_401_says_its_scheme_and_whether_the_key_was_refused() -> None:
    """RFC 6750: a 401 carries `WWW-Authenticate: Bearer`, with error="invalid_token" when a key was sent."""
    no_key = answer(b"GET /v1/account HTTP/1.1\r\nHost: x\r\n\r\n")
    assert parse(no_key)[0] == 401
    bad_key = answer(b"GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pk_wrong\r\n\r\n")
    assert parse(bad_key)[0] == 401
    not_text = answer(b"GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pk_\xc3\xa9\r\n\r\n")
    assert parse(not_text)[1]["www-authenticate"] == 'Bearer realm="phonos", error="invalid_request"'


def test_a_health_probes_own_query_is_ignored() -> None:
    # before: 400 'unknown query parameter "probe": this route accepts no query parameters'
    status, _, body = parse(answer(b"GET /v1/health?probe=lb1&_=1700000000 HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status in (200, 503) and b'"status"' in body  # this test's service reports itself degraded
    # the OpenAPI document too (README: the two public routes without parameters ignore a query)
    status, _, body = parse(answer(b"GET /v1/openapi.json?v=2 HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 200 and b'"openapi"' in body
    # a route that takes query parameters still refuses a typo
    assert assert_json_error(answer(b"GET /v1/jobs?limt=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pk_wrong\r\n\r\n"),
                             401)
