"""The SDK's one description of the API (clients/python/phonos_client/calls.py) and its shared mappings
agree with the server: the routes with the protos' google.api.http rules, the gRPC status table with the
gateway's, and the gRPC transport's JSON with the gateway's JSON."""

from __future__ import annotations

import json

import pytest
from google.protobuf import struct_pb2
from phonos_client import calls, errors
from phonos_client.calls import ROUTES, Call
from phonos_client.client import choose_transport
from phonos_client.grpc_schema import to_document
from phonos_client.grpc_transport import HTTP_CODE_METADATA
from phonos_client.models import ActivityPage, CreditPage, DeliveryPage, JobPage
from phonos_client.rest import request_args
from phonos_client.retry import RetryPolicy, Tries, seconds_text

from gateway import errors as gateway_errors
from gateway.app import HTTP_CODE_KEY
from gateway.http_rule import rules_for_service
from phonos.v1 import phonos_pb2 as pb
from phonos_common.json_encode import encode_message

pytestmark = pytest.mark.unit

SERVICE = pb.DESCRIPTOR.services_by_name["PhonosService"]
NOT_IN_SDK: set[str] = set()  # every rpc with an HTTP rule is an SDK call


def test_every_route_is_the_rpc_and_http_rule_the_protos_declare() -> None:
    rules = {rule.method.name: rule for rule in rules_for_service(SERVICE)}
    assert set(ROUTES) == set(rules) - NOT_IN_SDK
    for name, route in ROUTES.items():
        rule = rules[name]
        assert (route.http_method, route.path) == (rule.http_method, rule.template.text), name
        assert route.body == (rule.body == "*") and (rule.body in ("", "*")), name
        assert (route.response_body or "") == rule.response_body, name
        assert route.streaming == SERVICE.methods_by_name[name].server_streaming, name
        request_fields = set(SERVICE.methods_by_name[name].input_type.fields_by_name)
        assert set(route.path_fields) <= request_fields, name


def test_the_grpc_status_table_is_the_gateways() -> None:
    assert errors.HTTP_STATUS_BY_GRPC_CODE == {code.name: status for code, status in
                                               gateway_errors.HTTP_STATUS_BY_CODE.items()}
    assert errors.HTTP_STATUS_BY_REASON == dict(gateway_errors.HTTP_STATUS_BY_REASON)
    assert (errors.TITLE_METADATA, errors.REASON_METADATA) == (gateway_errors.TITLE_KEY, gateway_errors.REASON_KEY)
    assert errors.DEFAULT_TITLES == dict(gateway_errors.DEFAULT_TITLES)
    assert HTTP_CODE_METADATA == HTTP_CODE_KEY  # an unready health answers 503 over gRPC as over REST


@pytest.mark.parametrize(("code", "metadata", "kind", "status"), [
    ("NOT_FOUND", {"phonos-error-title": "Not found"}, errors.NotFoundError, 404),
    ("FAILED_PRECONDITION", {"phonos-error-title": "Insufficient credits", "phonos-error-reason": "INSUFFICIENT_CREDITS"},
     errors.InsufficientCreditsError, 402),
    ("FAILED_PRECONDITION", {"phonos-error-title": "Idempotency key reused",
                             "phonos-error-reason": "IDEMPOTENCY_KEY_REUSED"}, errors.IdempotencyError, 422),
    ("UNAUTHENTICATED", {"phonos-error-title": "Unauthorized"}, errors.AuthenticationError, 401),
    ("RESOURCE_EXHAUSTED", {"phonos-error-title": "Rate limit exceeded", "retry-after": "7"}, errors.RateLimitError, 429),
    ("RESOURCE_EXHAUSTED", {"phonos-error-title": "Too many jobs", "retry-after": "7"}, errors.QueueFullError, 429),
    ("INVALID_ARGUMENT", {"phonos-error-title": "Invalid request", "x-phonos-queue-limit": "3"},
     errors.BatchTooLargeError, 400),
    ("RESOURCE_EXHAUSTED", {"phonos-error-title": "Request too large"}, errors.BadRequestError, 413),
    ("RESOURCE_EXHAUSTED", {}, errors.BadRequestError, 413),  # grpc's own message-size refusal
    ("UNAVAILABLE", {"phonos-error-title": "Service unavailable"}, errors.InternalServerError, 503),
    ("UNAVAILABLE", {}, errors.APIConnectionError, 0),  # not reached: a connection error, retried
    ("DEADLINE_EXCEEDED", {}, errors.APITimeoutError, 0),
    ("DEADLINE_EXCEEDED", {"phonos-error-title": "Request timeout", "phonos-error-reason": "REQUEST_TIMEOUT"},
     errors.APIStatusError, 408),  # the edge's wait for a message too slow to arrive: the client's slowness
    ("INTERNAL", {"phonos-error-title": "Internal server error"}, errors.InternalServerError, 500),
    ("UNKNOWN", {}, errors.InternalServerError, 500),
])
def test_grpc_failures_become_the_errors_rest_gives(code: str, metadata: dict[str, str], kind: type, status: int) -> None:
    error = errors.from_grpc_status(code, "what went wrong", {"x-request-id": "r1", **metadata})
    assert type(error) is kind and error.status == status
    if status:
        title = metadata.get("phonos-error-title") or gateway_errors.DEFAULT_TITLES[status]  # as REST writes it
        assert (error.error, error.message, error.request_id) == (title, "what went wrong", "r1")
    if issubclass(kind, errors.RateLimitError):
        assert error.retry_after == 7.0  # type: ignore[attr-defined]


def test_an_errors_status_reads_as_status_code_too() -> None:
    """`except BadRequestError as e: e.status_code` (the name requests' and httpx's responses use) raised
    AttributeError: the attribute was only `status`. Now both, the same number, read-only; 0 without an answer."""
    refused = errors.from_response(400, {"error": "Invalid request", "message": "bad"}, {})
    assert isinstance(refused, errors.BadRequestError)
    assert (refused.status, refused.status_code) == (400, 400)
    assert errors.from_grpc_status("NOT_FOUND", "gone", {"phonos-error-title": "Not found"}).status_code == 404
    assert errors.APIConnectionError("refused").status_code == 0
    with pytest.raises(AttributeError):
        refused.status_code = 500  # type: ignore[misc]


def job_message() -> pb.Job:
    job = pb.Job(job_id="j1", status="completed", model="esmfold", credits_used=10, formats=["pdb", "json"])
    job.created_at.FromJsonString("2025-12-17T10:30:00.125Z")
    job.metrics.update({"mean_plddt": 71.25, "num_recycles": 4.0, "ranking": [1.0, 2.5], "nested": {"n": 3.0}})
    job.metadata.update({"weights": "tiny", "timings": {"total_s": 1.0, "store_s": 0.0023}})
    return job


@pytest.mark.parametrize("message", [
    pb.GetJobResponse(job=job_message()),
    pb.ListJobsResponse(jobs=[job_message(), pb.Job(job_id="j2", status="pending")],
                        pagination=pb.Pagination(total=2, limit=50)),
    pb.WatchJobResponse(event=pb.JobEvent(type="progress", job_id="j1", job=job_message(),
                                          progress=pb.Progress(stage="recycle", step=1, total=3))),
    pb.GetUsageResponse(totals=pb.UsageTotals(requests=3, avg_response_time_ms=2.0),
                        by_model=[pb.ModelUsage(model="esmfold", requests=1)]),
    pb.GetHealthResponse(status="operational", components={"triton": "ready"}),
    pb.PredictRequest(model="esmfold", sequence="MKTV", params=struct_pb2.Struct()),
], ids=lambda m: m.DESCRIPTOR.name)
def test_the_grpc_transports_json_is_the_gateways_json(message: pb.Job) -> None:
    # json.dumps tells 4 from 4.0, which == does not
    assert json.dumps(to_document(message), sort_keys=True) == json.dumps(encode_message(message), sort_keys=True)


@pytest.mark.parametrize(("call", "expected"), [
    (Call(ROUTES["GetJob"], dict, {"job_id": "a/b c"}), {"method": "GET", "url": "/v1/jobs/a%2Fb%20c"}),
    (Call(ROUTES["ListJobs"], dict, {"status": "running", "limit": 5}),
     {"method": "GET", "url": "/v1/jobs", "params": {"status": "running", "limit": 5}}),
    (Call(ROUTES["Predict"], dict, {"model": "esmfold", "sequence": "MK"}, "k1"),
     {"method": "POST", "url": "/v1/predict", "json": {"model": "esmfold", "sequence": "MK"}}),
    (Call(ROUTES["CancelJob"], dict, {"job_id": "j1"}, "k2"), {"method": "POST", "url": "/v1/jobs/j1/cancel"}),
])
def test_rest_requests_follow_the_rules(call: Call[dict[str, str]], expected: dict[str, object]) -> None:
    args = request_args(call, 30.0)
    assert {k: v for k, v in args.items() if k != "headers"} == expected
    assert args["headers"] == ({"Idempotency-Key": call.idempotency_key} if call.idempotency_key else {})


def test_the_url_picks_the_transport() -> None:
    assert choose_transport(None, None) == ("rest", "http://127.0.0.1:8080")
    assert choose_transport("https://phonos.example.org/", None) == ("rest", "https://phonos.example.org")
    assert choose_transport("grpc://10.0.0.5:50051", None) == ("grpc", "grpc://10.0.0.5:50051")
    assert choose_transport("10.0.0.5:50051", "grpc") == ("grpc", "grpc://10.0.0.5:50051")
    assert choose_transport(None, "grpc") == ("grpc", "grpc://127.0.0.1:50051")
    with pytest.raises(ValueError, match="grpc://host:port"):
        choose_transport("http://127.0.0.1:8080", "grpc")
    with pytest.raises(ValueError, match="gRPC address"):
        choose_transport("grpc://127.0.0.1:50051", "rest")
    with pytest.raises(ValueError, match='"rest" or "grpc"'):
        choose_transport(None, "soap")  # type: ignore[arg-type]
    # The REST address as `phonos serve` prints it (.../v1) is the server's; a bare host:port is no REST URL.
    assert choose_transport("http://127.0.0.1:8080/v1/", None) == ("rest", "http://127.0.0.1:8080")
    with pytest.raises(ValueError, match=r"not a server URL: give http\(s\)://host:port"):
        choose_transport("127.0.0.1:8080", None)



def test_an_sse_error_event_is_the_error_of_its_status() -> None:
    """Mid-stream errors say their HTTP status (gateway/sse.py): a 503 is transient (the watch resumes), a
    refusal is not; an event without `status` (an older server) falls back to 500 or 400 by its title."""
    from phonos_client.retry import transient
    from phonos_client.sse import SseParser

    def raised(data: dict[str, object]) -> errors.PhonosError:
        parser = SseParser()
        parser.feed("event: error")
        parser.feed("data: " + json.dumps(data))
        with pytest.raises(errors.PhonosError) as caught:
            parser.feed("")
        return caught.value

    gone = raised({"error": "Service unavailable", "message": "lost", "status": 503})
    assert isinstance(gone, errors.InternalServerError) and gone.status == 503 and transient(gone)
    missing = raised({"error": "Not found", "message": "Job x not found", "status": 404})
    assert isinstance(missing, errors.NotFoundError) and not transient(missing)
    assert raised({"error": "Internal server error", "message": "quote id"}).status == 500
    assert raised({"error": "Invalid request", "message": "bad", "status": "503"}).status == 400


def test_only_calls_that_are_safe_to_repeat_are_retried() -> None:
    """A POST goes again only with its idempotency key (the server answers a repeat with the first answer);
    reads and deletes always may. Neither a 429 nor a lost answer repeats a POST without one."""
    policy = RetryPolicy(max_retries=3)
    limited = errors.from_response(429, {"error": "Rate limit exceeded", "message": "m"}, {"retry-after": "2"})
    lost = errors.APIConnectionError("the connection broke")
    keyless = Call(ROUTES["Predict"], dict, {"model": "esmfold", "sequence": "MKV"})
    for error in (limited, lost):
        with pytest.raises(type(error)):
            policy.delay(keyless, error, Tries())
    for call in (calls.predict("esmfold", "MKV", None, None, None), calls.get_job("j"), calls.delete_job("j")):
        assert 2 <= policy.delay(call, limited, Tries()) <= 2.5  # Retry-After, and a little jitter
        assert policy.delay(call, lost, Tries()) <= 0.5


QUEUE_FULL = {"error": "Too many jobs", "message": "This account has 3 jobs waiting to run and may have at most 3"}
RATE_LIMITED = {"error": "Rate limit exceeded", "message": "You have exceeded the rate limit of 60 requests per minute"}


def test_a_full_job_queue_is_told_apart_from_the_rate_limit(caplog: pytest.LogCaptureFixture) -> None:
    """Both are 429s the SDK waits out (Retry-After, within max_rate_limit_wait); the body's `error` says which,
    and the notice the command shows says it in the user's terms: jobs waiting, or requests per minute."""
    full = errors.from_response(429, QUEUE_FULL, {"retry-after": "30"})
    limited = errors.from_response(429, RATE_LIMITED, {"retry-after": "30"})
    assert type(full) is errors.QueueFullError and isinstance(full, errors.RateLimitError) and full.exit_code == 6
    assert type(limited) is errors.RateLimitError
    policy = RetryPolicy(max_retries=0, max_rate_limit_wait=100)
    submit = calls.predict("esmfold", "MKV", None, None, None)
    with caplog.at_level("INFO", logger="phonos_client"):
        assert 30 <= policy.delay(submit, full, Tries()) <= 30.5  # the server's Retry-After
        assert 30 <= policy.delay(submit, limited, Tries()) <= 30.5
    said = [record.getMessage() for record in caplog.records]
    assert said[0].startswith("job queue full (This account has 3 jobs waiting to run and may have at most 3): "
                              "trying again in 30 s") and "rate limit" not in said[0]
    assert said[1].startswith("rate limited (You have exceeded the rate limit of 60 requests per minute): trying again")
    assert [seconds_text(x) for x in (0.04, 0.4, 1.0, 2.26, 9.94, 9.96, 42.4)] == [
        "0", "0.4", "1", "2.3", "9.9", "10", "42"]  # a short wait is not said as "0 s"
    tries = Tries(limited=3, limited_s=90.0)  # the budget is shared: a 4th wait of 30 s would pass 100
    with pytest.raises(errors.QueueFullError):
        policy.delay(submit, full, tries)


def test_a_batch_larger_than_the_queue_limit_is_not_waited_for_and_says_the_limit() -> None:
    """The server's 400 for a batch no wait would let in carries X-Phonos-Queue-Limit: the SDK raises it at once
    (no retry budget spent) as BatchTooLargeError with the limit; a full queue's 429 says both numbers."""
    too_large = errors.from_response(400, {"error": "Invalid request", "message": "This submission has 4 jobs, ..."},
                                     {"x-phonos-queue-limit": "3", "x-request-id": "r1"})
    assert type(too_large) is errors.BatchTooLargeError and isinstance(too_large, errors.BadRequestError)
    assert too_large.queue_limit == 3 and too_large.exit_code == 8
    with pytest.raises(errors.BatchTooLargeError):
        RetryPolicy(max_retries=5).delay(calls.submit_batch([], None), too_large, Tries())
    plain = errors.from_response(400, {"error": "Invalid request", "message": "no"}, {})
    assert type(plain) is errors.BadRequestError
    full = errors.from_response(429, QUEUE_FULL, {"retry-after": "30", "x-phonos-queue-limit": "3",
                                                  "x-phonos-queue-waiting": "2"})
    assert isinstance(full, errors.QueueFullError) and (full.queue_limit, full.queue_waiting) == (3, 2)


def test_a_delete_whose_answer_was_lost_reads_as_the_servers_answer() -> None:
    """A retried delete that finds nothing did its work on the first try; the caller gets a `Deletion` as the
    server's answer would be, not None."""
    policy = RetryPolicy(max_retries=2)
    call = calls.delete_job("j1")
    tries = Tries(answer_lost=True)
    assert policy.done_before(call, errors.from_response(404, {"error": "Not found", "message": "m"}, {}), tries)
    deleted = call.read(policy.lost_answer(call))
    assert (deleted.id, deleted.success) == ("j1", True) and deleted.raw["job_id"] == "j1"
    hook = calls.delete_webhook("w1")
    assert hook.read(policy.lost_answer(hook)).raw["webhook_id"] == "w1"


PAGES = [(pb.ListJobsResponse, JobPage, "jobs"), (pb.ListWebhookDeliveriesResponse, DeliveryPage, "deliveries"),
         (pb.ListAccountActivityResponse, ActivityPage, "entries"),
         (pb.ListCreditEntriesResponse, CreditPage, "entries")]


@pytest.mark.parametrize(("response", "page_type", "items"), PAGES, ids=[p[1].__name__ for p in PAGES])
@pytest.mark.parametrize("after", ["17", None], ids=["more", "last"])
def test_every_page_type_reads_the_gateways_pagination(response: type, page_type: type, items: str,
                                                        after: str | None) -> None:
    # One reader (models._pagination) serves the four page types: each must find every field where the
    # gateway writes it, the cursor too, and None where the server leaves it out (the last page, an older server).
    pagination = pb.Pagination(total=41, limit=20, offset=0 if after else 40, has_more=after is not None,
                               next_starting_after=after)
    page = page_type.from_dict(encode_message(response(pagination=pagination)))
    assert getattr(page, items) == ()
    assert (page.total, page.limit, page.offset, page.has_more, page.next_starting_after) == (
        41, 20, 0 if after else 40, after is not None, after)
