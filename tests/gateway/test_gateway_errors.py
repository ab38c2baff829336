"""Unit tests: the one gRPC status → HTTP status and error body table."""

from __future__ import annotations

import json
import logging

import grpc
import pytest

from gateway.errors import DEFAULT_TITLES, HTTP_STATUS_BY_CODE, ErrorResponse, from_status

pytestmark = pytest.mark.unit

ROWS = [
    (grpc.StatusCode.INVALID_ARGUMENT, 400, "Invalid request"),
    (grpc.StatusCode.OUT_OF_RANGE, 400, "Invalid request"),
    (grpc.StatusCode.FAILED_PRECONDITION, 400, "Invalid request"),
    (grpc.StatusCode.UNAUTHENTICATED, 401, "Unauthorized"),
    (grpc.StatusCode.PERMISSION_DENIED, 403, "Forbidden"),
    (grpc.StatusCode.NOT_FOUND, 404, "Not found"),
    (grpc.StatusCode.ALREADY_EXISTS, 409, "Conflict"),
    (grpc.StatusCode.ABORTED, 409, "Conflict"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "Rate limit exceeded"),
    (grpc.StatusCode.CANCELLED, 499, "Request cancelled"),
    (grpc.StatusCode.UNIMPLEMENTED, 501, "Not implemented"),
    (grpc.StatusCode.UNAVAILABLE, 503, "Service unavailable"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "Gateway timeout"),
]


@pytest.mark.parametrize(("code", "status", "title"), ROWS)
def test_table_row(code: grpc.StatusCode, status: int, title: str) -> None:
    # Every 429 the job service means says when to retry (the row below: without it, a size refusal).
    metadata = {"retry-after": "5"} if code == grpc.StatusCode.RESOURCE_EXHAUSTED else {}
    error = from_status(code, "details here", metadata, request_id="r1")
    assert (error.status, error.title, error.message) == (status, title, "details here")
    assert json.loads(error.body()) == {"error": title, "message": "details here"}


def test_resource_exhausted_without_retry_after_is_a_413() -> None:
    """A message over a size limit (the job service's edge, or grpc's own refusal): waiting cannot fix it."""
    edge = from_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "the request message is 70000 bytes",
                       {"phonos-error-title": "Request too large"}, request_id="r")
    grpc_own = from_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max", {}, request_id="r")
    assert (edge.status, edge.title) == (grpc_own.status, grpc_own.title) == (413, "Request too large")


def test_the_table_covers_every_non_500_code() -> None:
    five_hundreds = {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.OK,
    }
    assert set(HTTP_STATUS_BY_CODE) | five_hundreds == set(grpc.StatusCode)
    assert {row[0] for row in ROWS} == set(HTTP_STATUS_BY_CODE)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS, grpc.StatusCode.OK]
)
def test_500_hides_details_and_logs_them(code: grpc.StatusCode, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway.errors"):
        error = from_status(
            code, "Traceback: secret.py line 3", {"phonos-error-title": "x"}, request_id="req-9"
        )
    assert (error.status, error.title) == (500, "Internal server error")
    assert "secret" not in error.message and "req-9" in error.message
    record = caplog.records[-1]
    assert "secret.py" in record.getMessage() and record.request_id == "req-9"  # type: ignore[attr-defined]


def test_title_from_metadata_overrides_the_default() -> None:
    error = from_status(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "You have exceeded the rate limit of 60 requests per minute",
        {"phonos-error-title": "Rate limit exceeded"},
        request_id="r",
    )
    assert json.loads(error.body()) == {
        "error": "Rate limit exceeded",
        "message": "You have exceeded the rate limit of 60 requests per minute",
    }


@pytest.mark.parametrize("code", [grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_insufficient_credits_reason_is_402(code: grpc.StatusCode) -> None:
    error = from_status(
        code, "Balance 5, job costs 50", {"phonos-error-reason": "INSUFFICIENT_CREDITS"}, request_id="r"
    )
    assert (error.status, error.title) == (402, "Insufficient credits")


def test_a_message_too_slow_to_arrive_is_408_and_a_deadline_stays_504() -> None:
    """The gRPC edge's wait for a request message (jobservice/edge.py) is the client's slowness, as the gateway's
    own slow body; only that reason makes DEADLINE_EXCEEDED a 408."""
    slow = from_status(grpc.StatusCode.DEADLINE_EXCEEDED, "the request message did not arrive within 120 s",
                       {"phonos-error-title": "Request timeout", "phonos-error-reason": "REQUEST_TIMEOUT"},
                       request_id="r")
    assert (slow.status, slow.title, slow.reason) == (408, "Request timeout", "Request Timeout")
    deadline = from_status(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", {}, request_id="r")
    assert (deadline.status, deadline.title) == (504, "Gateway timeout")


def test_unknown_reason_falls_back_to_the_code() -> None:
    error = from_status(
        grpc.StatusCode.NOT_FOUND, "", {"phonos-error-reason": "SOMETHING_ELSE"}, request_id="r"
    )
    assert (error.status, error.message) == (404, "Not found")  # empty details: the title stands in


def test_every_status_the_gateway_emits_has_a_default_title_and_reason_phrase() -> None:
    for status in {*HTTP_STATUS_BY_CODE.values(), 402, 405, 413, 500}:
        assert status in DEFAULT_TITLES
        assert ErrorResponse(status, "t", "m").reason not in ("", "Error")
