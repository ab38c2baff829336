"""One job service, two HTTP edges: its own (the in-process gateway, `python -m jobservice`, `phonos serve`) and a
separate gateway process in front of it over gRPC (`python -m gateway`, the deployment of deploy/compose.yaml and
deploy/kubernetes). A user must not be able to tell them apart: every route with an HTTP rule (walked from the
protos, so a new rpc is compared the day it is added) with real ids and with bad input, the streams, big and
compressed bodies, the pages, static files, share links, the OpenAPI document and the dashboard's sessions answer
with the same status, the same JSON (ids and times aside) and the headers clients read.

Where the two differ by design, the test says so and why (`test_by_design_*`).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.http_rule import rules_for_service
from gateway.invoker import UNREACHABLE_MESSAGE
from jobservice import admin
from jobservice.memory_inference import Slow
from jobservice.routes import SERVICE
from tests.serve_process import separate_gateway
from tests.support import InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
SEQUENCE = "MKTVRQERLKSIVRIL"
KEEPALIVE_S = 0.3  # PHONOS_SSE_KEEPALIVE_S on both edges: /v1/events opens at once
# Bad keys are walked on purpose: the failed-key throttle (per address, all loopback here) would soon answer 429.
# Both edges trust loopback as a proxy (the job service's gRPC edge trusts the gateway, as deploy/ sets it up), so
# a client named in X-Forwarded-For is the client on both.
ENV = {"PHONOS_SSE_KEEPALIVE_S": str(KEEPALIVE_S), "PHONOS_AUTH_FAILURES_PER_MINUTE": "100000",
       "PHONOS_TRUSTED_PROXIES": "127.0.0.1"}
CLIENT = "203.0.113.7"

# Values that differ between two equal answers: ids, secrets, times, durations, counters of the call itself.
VOLATILE_KEYS = re.compile(r"(_id|_at|^id|token|secret|api_key|^url|prefix|^time|timings|_ms|^date|last_used)$")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REQUEST_ID = re.compile(r"request id [\w.:/+=-]+")
DELIVERY = re.compile(r"Delivery (\d+|dlv_[0-9a-f]{16})")  # webhook deliveries are numbered per service (opaque ids)
COMPARED_HEADERS = ("Content-Type", "Content-Disposition", "Cache-Control", "ETag", "Location", "Allow",
                    "X-RateLimit-Limit", "Idempotent-Replayed", "X-Phonos-Queue-Limit", "Content-Encoding", "Vary",
                    "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Robots-Tag",
                    "X-Frame-Options", "X-Accel-Buffering", "X-Phonos-Queue-Waiting")
# Present on both or neither; their values move with the clock or with each call.
PRESENT_HEADERS = ("X-Request-Id", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", "Set-Cookie")


@dataclass
class Edges:
    service: InProcessService
    inside: str  # the job service's own HTTP port
    separate: str  # python -m gateway --target <the job service's gRPC port>

    @property
    def both(self) -> tuple[str, str]:
        return self.inside, self.separate


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edges]:
    service = InProcessService(tmp_path_factory.mktemp("parity") / "var",
                               {**ENV, "PHONOS_MODELS": "esmfold,alphafold2"})
    try:
        with separate_gateway(service.grpc_target, **ENV) as gateway:
            yield Edges(service, service.base_url, gateway)
    finally:
        service.stop()


def account(edges: Edges, name: str) -> requests.Session:
    key = edges.service.new_key(username=f"{name}{time.monotonic_ns()}", credits=100_000, rate_limit=100_000)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session


@dataclass
class World:
    """One account's real things, made through the job service's own edge; both edges read them."""

    api: requests.Session
    ids: dict[str, str]


@pytest.fixture(scope="module")
def world(edges: Edges) -> Iterator[World]:
    api = account(edges, "walker")
    base = edges.inside
    with WebhookReceiver() as receiver:  # first: the job's completion is its delivery
        hook = api.post(f"{base}/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]},
                        timeout=30).json()["webhook"]
        job = api.post(f"{base}/v1/predict", json={"model": "esmfold", "sequence": SEQUENCE}, timeout=30).json()
        deliveries = wait_until(lambda: api.get(f"{base}/v1/webhooks/{hook['webhook_id']}/deliveries?status=delivered",
                                                timeout=30).json()["deliveries"], 30)
        share = api.post(f"{base}/v1/jobs/{job['job_id']}/shares", json={}, timeout=30).json()
        key = api.post(f"{base}/v1/keys", json={"name": "second"}, timeout=30).json()["key"]
        yield World(api, {"job_id": job["job_id"], "webhook_id": hook["webhook_id"],
                          "delivery_id": deliveries[0]["delivery_id"], "share_id": share["share"]["share_id"],
                          "token": share["url"].rsplit("/", 1)[1], "key_id": key["key_id"]})


# ---------------------------------------------------------------------------------------------- comparing


def normal(value: Any, key: str = "") -> Any:
    if VOLATILE_KEYS.search(key) and value not in ("", None):
        return "<varies>"
    if isinstance(value, dict):
        return {k: normal(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normal(v, key) for v in value]
    if isinstance(value, str):
        value = DELIVERY.sub("Delivery <n>", TIMESTAMP.sub("<time>", value))
        return REQUEST_ID.sub("request id <id>", UUID.sub("<uuid>", value))
    return value


def seen(response: requests.Response, *, body: bool = True) -> dict[str, Any]:
    """What a client sees of an answer, less what differs between two equal answers."""
    headers = {h: normal(response.headers[h]) for h in COMPARED_HEADERS if h in response.headers}
    headers.update({h: "<present>" for h in PRESENT_HEADERS if h in response.headers})
    content: Any = None
    if body:
        if response.headers.get("Content-Type", "").startswith("application/json") and response.content:
            content = normal(response.json())
        else:
            content = (len(response.content), normal(response.content[:200].decode(errors="replace")))
    return {"status": response.status_code, "headers": headers, "body": content}


class Walk:
    """The same request to both edges; every difference is kept, so one run lists them all."""

    def __init__(self, edges: Edges) -> None:
        self.edges = edges
        self.differences: list[str] = []

    def same(self, method: str, path: str, *, session: requests.Session | None = None, body: bool = True,
             **kwargs: Any) -> tuple[requests.Response, requests.Response]:
        client = session or requests.Session()
        answers = tuple(client.request(method, base + path, timeout=30, allow_redirects=False, **kwargs)
                        for base in self.edges.both)
        inside, separate = (seen(a, body=body) for a in answers)
        if inside != separate:
            self.differences.append(f"{method} {path}:\n  in process: {inside}\n  separate:   {separate}")
        return answers[0], answers[1]

    def check(self) -> None:
        assert not self.differences, f"{len(self.differences)} differences:\n" + "\n".join(self.differences)


def filled(template: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "nope"), template)


# ---------------------------------------------------------------------------------------------- routes


def test_every_route_answers_alike_with_real_ids_and_with_bad_input(edges: Edges, world: World) -> None:
    walk = Walk(edges)
    anonymous = requests.Session()
    rules = list(rules_for_service(SERVICE))
    assert len(rules) > 25
    for rule in rules:
        method, template = rule.http_method, rule.template.text
        bad = re.sub(r"\{[^}]+\}", "nope", template)
        kwargs: dict[str, Any] = {"json": {}} if rule.body else {}
        # GET /v1/usage counts the calls themselves, this one included: its numbers differ by design.
        body = rule.method.name != "GetUsage"
        if not rule.method.server_streaming:  # streams: test_streams_answer_alike
            if method == "GET":
                real = filled(template, world.ids)
                walk.same("GET", real, session=world.api, body=body)
                walk.same("HEAD", real, session=world.api, body=False)
                walk.same("GET", real + "?nope=1", session=world.api)
            walk.same(method, bad, session=world.api, body=body, **kwargs)
        walk.same(method, bad, session=anonymous, **kwargs)
        walk.same(method, bad, session=world.api, headers={"Authorization": "Bearer pk_" + "x" * 43}, **kwargs)
        if rule.body:
            walk.same(method, bad, session=world.api, data=b"{nope", headers={"Content-Type": "application/json"})
            walk.same(method, bad, session=world.api, json={"no_such_field": 1})
            walk.same(method, bad, session=world.api, json=[1, 2])
    walk.same("GET", "/v1/nothing", session=world.api)
    walk.same("PUT", "/v1/jobs", session=world.api)  # 405 with Allow
    walk.same("GET", "/v1/jobs?limit=nope", session=world.api)
    walk.same("GET", "/v1/jobs/%zz", session=world.api)
    walk.check()


def test_writes_with_real_ids_answer_alike(edges: Edges) -> None:
    """Each edge writes its own things (one account per edge: same starting point), and every answer matches."""
    answers: list[list[dict[str, Any]]] = []
    for base in edges.both:
        api = account(edges, "writer")
        shown: list[dict[str, Any]] = []

        def call(method: str, path: str, api: requests.Session = api, base: str = base,
                 shown: list[dict[str, Any]] = shown, **kwargs: Any) -> dict[str, Any]:
            response = api.request(method, base + path, timeout=30, **kwargs)
            shown.append({"call": f"{method} {re.sub(r'/[a-z]+_[0-9a-f]+|/[0-9a-f-]{36}|/[0-9]+', '/<id>', path)}",
                          **seen(response)})
            return response.json() if response.headers["Content-Type"] == "application/json" else {}

        with WebhookReceiver() as receiver:
            hook = call("POST", "/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]})["webhook"]
            job = call("POST", "/v1/predict", json={"model": "esmfold", "sequence": SEQUENCE, "name": "walk"})
            job_id = job["job_id"]
            deliveries = wait_until(lambda api=api, base=base, hook=hook: api.get(
                f"{base}/v1/webhooks/{hook['webhook_id']}/deliveries?status=delivered", timeout=30).json()["deliveries"],
                30)
            call("GET", f"/v1/webhooks/{hook['webhook_id']}/deliveries")
            call("POST", f"/v1/webhooks/{hook['webhook_id']}/deliveries/{deliveries[0]['delivery_id']}/redeliver")
            call("POST", f"/v1/webhooks/{hook['webhook_id']}/test")
            call("DELETE", f"/v1/webhooks/{hook['webhook_id']}")
        call("GET", f"/v1/jobs/{job_id}")
        call("POST", "/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQUENCE}] * 2})
        call("POST", f"/v1/jobs/{job_id}/cancel")  # completed: refused
        share = call("POST", f"/v1/jobs/{job_id}/shares", json={"expires_in_days": 3})
        call("GET", f"/v1/jobs/{job_id}/shares")
        call("DELETE", f"/v1/jobs/{job_id}/shares/{share['share']['share_id']}")
        for fmt in ("pdb", "cif", "json", "zip"):
            call("GET", f"/v1/jobs/{job_id}/download?format={fmt}")
        key = call("POST", "/v1/keys", json={"name": "ci", "expires_in_days": 30, "scope": "read_only"})["key"]
        call("PATCH", f"/v1/keys/{key['key_id']}", json={"name": "ci 2"})
        call("POST", f"/v1/keys/{key['key_id']}/revoke", json={})
        call("DELETE", f"/v1/jobs/{job_id}")
        call("GET", f"/v1/jobs/{job_id}")
        answers.append(shown)
    inside, separate = answers
    differences = [f"in process: {a}\n  separate:   {b}" for a, b in zip(inside, separate, strict=True) if a != b]
    assert not differences, "\n".join(differences)


def test_idempotency_keys_replay_alike(edges: Edges) -> None:
    walk = Walk(edges)
    for base in edges.both:
        api = account(edges, "idem")
        body = {"model": "esmfold", "sequence": SEQUENCE}
        first = api.post(f"{base}/v1/predict", json=body, headers={"Idempotency-Key": "run-1"}, timeout=30)
        again = api.post(f"{base}/v1/predict", json=body, headers={"Idempotency-Key": "run-1"}, timeout=30)
        other = api.post(f"{base}/v1/predict", json={**body, "name": "x"}, headers={"Idempotency-Key": "run-1"},
                         timeout=30)
        assert (first.status_code, again.status_code, other.status_code) == (200, 200, 422), base
        assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["job_id"] == first.json()["job_id"]
    walk.same("POST", "/v1/predict", session=account(edges, "idem"), json={"model": "esmfold", "sequence": "M"},
              headers={"Idempotency-Key": "bad\u00e9key".encode().decode("latin-1")})
    walk.check()


def test_the_waiting_jobs_cap_and_the_share_links_limit_answer_alike(tmp_path: Path) -> None:
    """A submission past the account's cap on waiting jobs (PHONOS_MAX_QUEUED_PER_ACCOUNT): 429 with Retry-After,
    X-Phonos-Queue-Limit and X-Phonos-Queue-Waiting on both edges; a share link's visitor past the per-address
    limit (PHONOS_SHARED_REQUESTS_PER_MINUTE) is refused alike, pages and JSON. A job service of its own: the
    limits are low."""
    service = InProcessService(tmp_path / "var", {"PHONOS_MAX_QUEUED_PER_ACCOUNT": "1",
                                                  "PHONOS_MAX_INFLIGHT_PER_MODEL": "1",
                                                  "PHONOS_SHARED_REQUESTS_PER_MINUTE": "4"})
    try:
        with separate_gateway(service.grpc_target) as gateway:
            service.inference.script("esmfold", Slow(60))  # holds the only ESMFold slot: later jobs wait
            edges = Edges(service, service.base_url, gateway)
            blocker = account(edges, "blocker")
            held = blocker.post(f"{edges.inside}/v1/predict", json={"model": "esmfold", "sequence": SEQUENCE},
                                timeout=30).json()["job_id"]
            wait_until(lambda: blocker.get(f"{edges.inside}/v1/jobs/{held}", timeout=30).json()["status"] == "running",
                       30)
            refusals = []
            for base in edges.both:
                api = account(edges, "queued")
                job = {"model": "esmfold", "sequence": SEQUENCE}
                waiting = api.post(f"{base}/v1/predict", json=job, timeout=30)
                assert waiting.status_code == 200, waiting.text
                refusals.append(seen(api.post(f"{base}/v1/predict", json=job, timeout=30)))
                refusals.append(seen(api.post(f"{base}/v1/batch", json={"jobs": [job] * 3}, timeout=30)))
            assert refusals[0] == refusals[2] and refusals[1] == refusals[3], refusals
            assert refusals[0]["status"] == 429 and refusals[0]["headers"]["X-Phonos-Queue-Limit"] == "1"

            blocker.post(f"{edges.inside}/v1/jobs/{held}/cancel", timeout=30)
            done = waiting.json()["job_id"]  # runs now, at once
            wait_until(lambda: api.get(f"{gateway}/v1/jobs/{done}", timeout=30).json()["status"] == "completed", 30)
            link = api.post(f"{edges.inside}/v1/jobs/{done}/shares", json={}, timeout=30).json()["url"]
            visits = [requests.get(base + path, headers={"Accept": "text/html"}, timeout=30)
                      for path in (link, link + "/job") for base in edges.both for _ in range(2)]
            statuses = [v.status_code for v in visits]
            assert statuses[:4] == [200] * 4 and statuses[4:] == [429] * 4, statuses  # one budget per address
            refused = [seen(v) for v in visits[4:]]
            assert refused[0] == refused[2] and refused[1] == refused[3], refused
    finally:
        service.stop()


# ---------------------------------------------------------------------------------------------- streams


def events(base: str, path: str, headers: dict[str, str], read_s: float = 1.0) -> tuple[int, dict[str, Any], list]:
    """A stream's status, headers and lines (read for `read_s`), or a plain answer's status, headers and body."""
    started = time.monotonic()
    with requests.get(base + path, headers=headers, stream=True, timeout=10) as response:
        shown = seen(response, body=False)["headers"]
        if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
            return response.status_code, shown, [normal(response.json()) if response.content else None]
        lines = []
        for line in response.iter_lines(decode_unicode=True):
            lines.append(normal(json.loads(line[6:])) if line.startswith("data: ") else line)
            if time.monotonic() - started > read_s:
                break
        return response.status_code, shown, lines


def alike(answer: tuple[int, dict[str, Any], list]) -> tuple[int, dict[str, Any], list]:
    """An answer of `events` without its keep-alive lines (when they come depends on the host's load)."""
    status, headers, lines = answer
    return status, headers, [line for line in lines if line != ": keep-alive"]


def test_streams_answer_alike(edges: Edges, world: World) -> None:
    auth = {"Authorization": world.api.headers["Authorization"]}
    job = f"/v1/jobs/{world.ids['job_id']}/events"
    for path, headers in ((job, auth), (job, {}), ("/v1/jobs/nope/events", auth), ("/v1/events", {}),
                          (job, {**auth, "Last-Event-ID": "999"}), (job, {**auth, "Last-Event-ID": "\x7f"}),
                          (job + "?last_event_id=nope", auth)):
        # Each of these ends by itself (a terminal job's stream after its state event, the rest refused), so each is
        # read to its end; keep-alives are dropped: on a loaded host a first event later than PHONOS_SSE_KEEPALIVE_S
        # opens the stream before it (the read used to stop after 0.2 s, before a late first event arrived).
        inside, separate = (alike(events(base, path, headers, read_s=10)) for base in edges.both)
        assert inside == separate, (path, headers)
    done = events(edges.inside, job, auth, read_s=0.2)
    assert done[0] == 200 and "event: state" in done[2]
    last = next(line.removeprefix("id: ") for line in reversed(done[2])  # the job's last event (ids are opaque)
                if isinstance(line, str) and line.startswith("id: "))
    resumed = [events(base, job, {**auth, "Last-Event-ID": last}) for base in edges.both]
    assert resumed[0] == resumed[1] and resumed[0][0] == 204  # nothing newer: EventSource stops


def test_a_stream_refused_before_its_first_event_always_carries_the_rate_limit_headers(edges: Edges,
                                                                                         world: World) -> None:
    """The job service sends a stream's rate-limit state as initial metadata, then may refuse it at once (a bad
    cursor, not this account's job). grpc.aio dropped that metadata about once in 100 calls, and the separate
    gateway then answered without X-RateLimit-*; the refusal repeats it in its trailers. 400 tries: before the
    fix, at least one lacked the headers in nearly every run."""
    auth = {"Authorization": world.api.headers["Authorization"]}
    session = requests.Session()
    paths = (f"/v1/jobs/{world.ids['job_id']}/events?last_event_id=nope", "/v1/jobs/nope/events")
    lacking = [path for n in range(400) for path in paths[n % 2:n % 2 + 1]
               if "X-RateLimit-Limit" not in session.get(edges.separate + path, headers=auth, timeout=30).headers]
    assert lacking == []


def test_a_stream_with_nothing_newer_always_carries_the_rate_limit_headers(edges: Edges, world: World) -> None:
    """A watch resumed after the job's last event ends at once without a message (a 204). That call may reach the
    separate gateway as trailers only, and grpc.aio then sometimes drops the initial metadata: the 204 lacked
    X-RateLimit-* (seen once in a parity run on a loaded host). The job service repeats the rate-limit state in a
    stream's trailers and the gateway reads them at the end."""
    path = f"/v1/jobs/{world.ids['job_id']}/events"
    lines = events(edges.inside, path, {"Authorization": world.api.headers["Authorization"]}, read_s=0.2)[2]
    last = next(line.removeprefix("id: ") for line in reversed(lines)  # the job's last event (ids are opaque)
                if isinstance(line, str) and line.startswith("id: "))
    auth = {"Authorization": world.api.headers["Authorization"], "Last-Event-ID": last}
    session = requests.Session()
    answers = [session.get(edges.separate + path, headers=auth, timeout=30) for _ in range(300)]
    # 204, or (a call slower than the 0.3 s keep-alive on a loaded host: the stream opens rather than leave the
    # client without a status line, by design) a 200 that ends without an event.
    assert [(a.status_code, a.text) for a in answers
            if a.status_code != 204 and not (a.status_code == 200 and "data:" not in a.text)] == []
    assert [answer.headers for answer in answers if "X-RateLimit-Limit" not in answer.headers] == []


def test_a_stream_accepted_slower_than_the_keepalive_still_carries_the_rate_limit_headers(
        edges: Edges, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded job service that takes longer than PHONOS_SSE_KEEPALIVE_S to accept a stream (authentication and
    the rate-limit count come before its initial metadata): both edges used to open the stream without waiting for
    that metadata, so the 200 lacked X-RateLimit-* (seen as a flaky parity failure on a busy CI host)."""
    limiter = edges.service.running.service.rate_limits
    fast = limiter.check

    async def slow_check(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(KEEPALIVE_S * 3)
        return await fast(*args, **kwargs)

    monkeypatch.setattr(limiter, "check", slow_check)
    auth = {"Authorization": world.api.headers["Authorization"]}
    for base in edges.both:
        status, headers, lines = events(base, "/v1/events", auth, read_s=0.2)
        assert status == 200 and lines[0] == "retry: 3000", (base, lines)
        assert headers["X-RateLimit-Limit"] == "100000" and headers["X-RateLimit-Remaining"] == "<present>", (
            base, headers)


def test_the_account_stream_keeps_alive_at_the_configured_interval_on_both_edges(edges: Edges, world: World) -> None:
    """An account with no active job: /v1/events opens at once with `retry:` and then keeps alive at
    PHONOS_SSE_KEEPALIVE_S. The separate gateway used to ignore the setting (15 s without even a status line,
    past many proxies' idle timeouts set to match it)."""
    auth = {"Authorization": world.api.headers["Authorization"]}
    for base in edges.both:
        started = time.monotonic()
        status, headers, lines = events(base, "/v1/events", auth, read_s=1.2)
        assert status == 200 and headers["Content-Type"].startswith("text/event-stream"), base
        assert lines[0] == "retry: 3000" and lines.count(": keep-alive") >= 2, (base, lines)
        assert time.monotonic() - started < 5, base


# ---------------------------------------------------------------------------------------------- bodies


def a3m_of(sequence: str, size: int) -> str:
    """An A3M of about `size` bytes: the query, then copies of it as hits."""
    rows = [f">query\n{sequence}"] + [f">hit{n}\n{sequence}" for n in range(size // (len(sequence) + 10))]
    return "\n".join(rows) + "\n"


def test_big_compressed_and_oversized_bodies_answer_alike(edges: Edges) -> None:
    walk = Walk(edges)
    api = account(edges, "bodies")
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDF"
    big = {"model": "alphafold2", "sequence": sequence, "params": {"a3m": a3m_of(sequence, 3_000_000)}}
    inside, separate = walk.same("POST", "/v1/predict", session=api, json=big)
    assert inside.status_code == 200, inside.text
    walk.same("POST", "/v1/predict", session=api, data=gzip.compress(json.dumps(big).encode()),
              headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    walk.same("POST", "/v1/predict", session=api, data=b"not gzip",
              headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    walk.same("POST", "/v1/predict", session=api, data=b"{}",
              headers={"Content-Type": "application/json", "Content-Encoding": "br"})
    walk.same("POST", "/v1/predict", session=api, data=gzip.compress(b"{" + b" " * 80_000_000 + b"}"),
              headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})  # a gzip bomb: 413
    walk.same("POST", "/v1/keys", session=api, json={"name": "x" * 70_000})  # 64 KiB for small rpcs
    walk.same("POST", "/v1/predict", session=api, json={"model": "esmfold", "sequence": "M" * 3_000_000})
    walk.check()


# ---------------------------------------------------------------------------------------------- pages and files


def test_pages_files_share_links_and_documents_answer_alike(edges: Edges, world: World) -> None:
    walk = Walk(edges)
    html = {"Accept": "text/html"}
    token = world.ids["token"]
    for path, headers in (("/", {}), ("/jobs", html), ("/submit", html), (f"/jobs/{world.ids['job_id']}", html),
                          ("/sign-in", html), ("/no/such/page", html), ("/no/such/page", {}), ("/v1/nothing", html),
                          ("/static/no-such-file.js", html), ("/favicon.ico", {}), ("/static/css/app.css", {}),
                          ("/static/css/app.css", {"Accept-Encoding": "gzip"}), ("/v1/openapi.json", {}),
                          ("/openapi.json", {}), ("/v1/health", {}), (f"/shared/{token}", html),
                          ("/shared/nope", html), ("/shared/nope", {}), (f"/shared/{token}/job", {}),
                          (f"/shared/{token}/download?format=pdb", {}), (f"/shared/{token}/download?format=nope", {}),
                          ("/auth/session", {})):
        walk.same("GET", path, headers=headers)
    css = requests.get(edges.inside + "/static/css/app.css", timeout=30)
    assert css.headers["ETag"]
    walk.same("GET", "/static/css/app.css", headers={"If-None-Match": css.headers["ETag"]})  # 304 on both
    walk.same("HEAD", "/v1/health")
    for base in edges.both:  # the caller's request id comes back, to quote in a support request
        assert requests.get(f"{base}/v1/nothing", headers={"X-Request-Id": "mine-1"},
                            timeout=30).headers["X-Request-Id"] == "mine-1"
    walk.check()


def test_a_degraded_service_says_so_alike(edges: Edges) -> None:
    """The model server gone: /v1/health is the seed's body with 503 on both edges (monitors probe either). The
    separate gateway has no model server of its own to ask: it reports what the job service reports."""
    walk = Walk(edges)
    edges.service.inference.available = False
    try:
        inside, _ = walk.same("GET", "/v1/health")
        walk.same("HEAD", "/v1/health", body=False)
    finally:
        edges.service.inference.available = True
    assert inside.status_code == 503 and inside.json()["status"] == "degraded"
    walk.check()


# ---------------------------------------------------------------------------------------------- sessions


def signed_in(base: str, username: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    browser.headers.update({"Origin": base, "X-Forwarded-For": CLIENT})  # behind a proxy
    answer = browser.post(f"{base}/auth/sign-in", json={"username": username, "password": PASSWORD}, timeout=30)
    assert answer.status_code == 200, answer.text
    return browser, answer.json()["csrf_token"]


def test_dashboard_sessions_answer_alike(edges: Edges) -> None:
    """Sign-in, CSRF-protected writes with the session cookie, a password change (which ends the other sessions),
    the account's activity log, sign-out everywhere: one account per edge, the same answers."""
    shown: list[list[dict[str, Any]]] = []
    for base in edges.both:
        username = f"ada{time.monotonic_ns()}"
        edges.service.new_key(username=username)
        asyncio.run(admin.set_password(edges.service.settings, username=username, password=PASSWORD))
        browser, csrf = signed_in(base, username)
        other, _ = signed_in(base, username)  # a second browser
        third, third_csrf = signed_in(base, username)
        new_password = {"current_password": PASSWORD, "new_password": "another long passphrase"}
        steps = [
            seen(browser.get(f"{base}/auth/session", timeout=30)),
            seen(browser.post(f"{base}/v1/keys", json={"name": "no token"}, timeout=30)),
            seen(browser.post(f"{base}/v1/keys", json={"name": "wrong"}, headers={"X-CSRF-Token": "x"}, timeout=30)),
            seen(browser.post(f"{base}/v1/keys", json={"name": "web"}, headers={"X-CSRF-Token": csrf}, timeout=30)),
            seen(browser.get(f"{base}/v1/account", timeout=30)),
            seen(browser.post(f"{base}/auth/sign-in", json={"username": username, "password": PASSWORD},
                              headers={"Origin": "https://elsewhere.example"}, timeout=30)),
            seen(browser.post(f"{base}/auth/sign-in", data=b"{", headers={"Content-Type": "application/json"},
                              timeout=30)),
            seen(third.post(f"{base}/auth/password", json={**new_password, "current_password": "not it at all"},
                            headers={"X-CSRF-Token": third_csrf}, timeout=30)),
            seen(third.post(f"{base}/auth/password", json=new_password, timeout=30)),  # no CSRF token
            seen(changed := third.post(f"{base}/auth/password", json=new_password,
                                       headers={"X-CSRF-Token": third_csrf}, timeout=30)),  # ends the other two
            seen(browser.get(f"{base}/v1/jobs", timeout=30)),
            seen(third.get(f"{base}/v1/account/activity", timeout=30)),
            seen(third.post(f"{base}/auth/sign-out", json={"all_sessions": True}, timeout=30,
                            headers={"X-CSRF-Token": third_csrf})),  # the change rotated the session: 403
            seen(third.post(f"{base}/auth/sign-out", json={"all_sessions": True}, timeout=30,
                            headers={"X-CSRF-Token": changed.json()["csrf_token"]})),
            seen(third.get(f"{base}/v1/jobs", timeout=30)),
            seen(other.get(f"{base}/auth/session", timeout=30)),
        ]
        shown.append(json.loads(json.dumps(steps).replace(username, "<username>")))
    differences = [f"in process: {a}\n  separate:   {b}" for a, b in zip(*shown, strict=True) if a != b]
    assert not differences, "\n".join(differences)
    assert [s["status"] for s in shown[0]] == [200, 403, 403, 200, 200, 403, 400, 400, 403, 200, 401, 200, 403,
                                               200, 401, 401]
    assert "Set-Cookie" in shown[0][9]["headers"]  # the password change rotated the session: a new cookie
    activity = shown[0][11]["body"]["entries"]
    assert {e["client_address"] for e in activity if e["actor"]["kind"] == "session"} == {CLIENT}


def test_the_failed_sign_in_throttle_is_one_for_both_edges(edges: Edges) -> None:
    """The throttle lives in the job service (per username): failures through either edge count together, and
    both answer the refusal alike."""
    username = f"mallory{time.monotonic_ns()}"
    wrong = {"username": username, "password": "not the password at all"}
    answers = []
    for attempt in range(12):
        base = edges.both[attempt % 2]
        answers.append(requests.post(f"{base}/auth/sign-in", json=wrong, timeout=30))
    statuses = [a.status_code for a in answers]
    assert 401 in statuses and statuses[-1] == 429 and statuses == sorted(statuses), statuses
    refused = [a for a in answers if a.status_code == 429]
    assert {a.json()["message"].split("; try again")[0] for a in refused} == {
        f'Too many failed sign-ins for "{username}"'}
    assert all(a.headers["Retry-After"].isdigit() for a in refused)
    walk = Walk(edges)
    walk.same("POST", "/auth/sign-in", json=wrong, body=False)
    walk.check()


# ---------------------------------------------------------------------------------------------- by design


def exchange(base: str, head: bytes, wait_s: float = 1.0) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as sock:
        sock.sendall(head)
        try:
            return sock.recv(65536)
        except TimeoutError:
            return b""


def test_by_design_only_the_in_process_edge_refuses_a_bad_key_before_the_upload(edges: Edges) -> None:
    """The in-process gateway admits callers with the job service's own key store before it reads a body; a
    separate gateway has no key store (docs/gateway.md, "Admission"), so `Expect: 100-continue` is answered
    `100 Continue` and the job service refuses the key once the body has come. The answer is the same 401."""
    head = (b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\nAuthorization: Bearer pk_" + b"x" * 43 + b"\r\n\r\n")
    assert exchange(edges.inside, head).startswith(b"HTTP/1.1 401 ")
    assert exchange(edges.separate, head).startswith(b"HTTP/1.1 100 Continue")
    refused = requests.post(edges.separate + "/v1/predict", json={}, headers={"Authorization": "Bearer pk_" + "x" * 43},
                            timeout=30)
    assert refused.status_code == 401 and refused.json()["message"].startswith("Invalid API key")


def test_by_design_a_separate_gateway_says_when_the_job_service_is_unreachable(tmp_path: Path) -> None:
    """Only a separate gateway can outlive its job service. Its callers get a 503 in their words with a
    Retry-After (the SDK and `phonos` retry it), never gRPC's "connections to all backends failing; last error:
    ... ipv4:10.0.0.7:50051: Connection refused"; the pages themselves still load."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # nothing listens here once closed
    with separate_gateway(f"127.0.0.1:{port}") as gateway:
        # /v1/health stays the health body monitors parse, degraded with 503, as a degraded job service says it.
        health = requests.get(gateway + "/v1/health", timeout=30)
        assert health.status_code == 503 and health.headers["Retry-After"] == "5"
        assert health.json() == {"status": "degraded", "version": "v1", "message": UNREACHABLE_MESSAGE,
                                 "components": {"job_service": "unavailable"}}
        assert requests.head(gateway + "/v1/health", timeout=30).status_code == 503
        for method, path, kwargs in (("GET", "/v1/jobs", {}),
                                     ("POST", "/auth/sign-in", {"json": {"username": "a", "password": "b"}}),
                                     ("GET", "/v1/events", {})):
            answer = requests.request(method, gateway + path, timeout=30, **kwargs)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json() == {"error": "Service unavailable", "message": UNREACHABLE_MESSAGE}, path
            assert answer.headers["Retry-After"] == "5" and answer.headers["X-Request-Id"]
        page = requests.get(gateway + "/jobs", headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
