"""Watching jobs live: WatchJob/WatchJobs over gRPC and as Server-Sent Events (in-process service, twin).

Progress is scripted on the inference twin (`Progressing`), which hands it to dispatch exactly as the
real decoupled Triton stream does (tests/contract runs both)."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import requests
from phonos_models.common.progress import Progress

from jobservice import admin
from jobservice.memory_inference import Failure, Progressing, Slow
from jobservice.modelspecs.esmfold import build_spec as esmfold_spec
from launcher.ports import free_port
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

RECYCLES = tuple(Progress("recycle", i, 4, f"trunk pass {i} of 4") for i in range(1, 5))


def read_sse(response: http.client.HTTPResponse, comments: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Events of a text/event-stream body, read with nothing but the standard library."""
    event: dict[str, Any] = {}
    while True:
        raw = response.readline()
        if not raw:
            return
        line = raw.decode().rstrip("\n")
        if line == "":
            if "data" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            if comments is not None:
                comments.append(line)
        else:
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value


def open_sse(service: InProcessService, key: str, path: str, **headers: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", service.http_port, timeout=30)
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}", **headers})
    return connection.getresponse()


def states(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["job"]["status"] for e in events if e.get("event") == "state"]


def row_of(service: InProcessService, event_id: str) -> int:
    """The job_events row of an `event_id` the service gave out (opaque: jobservice.opaque_ids)."""
    number = service.running.service.ids.events.number(event_id)
    assert number is not None, event_id
    return number


def logged(service: InProcessService, job_id: str) -> list[tuple[int, str]]:
    return [(int(i), s) for i, s in service.sql("SELECT id, status FROM job_events WHERE job_id = ? ORDER BY id",
                                                job_id)]


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(PHONOS_SSE_KEEPALIVE_S="0.3")


def test_sse_with_a_plain_http_client_follows_a_job_to_the_end(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    key = service.new_key()
    # The blocker keeps ours pending (one worker) until its stream has said so: cancelled then, not after a fixed
    # 0.4 s, which a loaded host could use up before the stream opened (its first state was then "running").
    service.inference.script("esmfold", Slow(60), Progressing(RECYCLES, 0.05))
    blocker = service.client(key).predict().json()["job_id"]
    # Running before ours is submitted: else ours opens 1 job ahead and its stream says "pending" again, at 0 ahead,
    # when the blocker starts (a queue place moving is news: seen once on a loaded host).
    service.client(key).wait_for(blocker, ("running",))
    job_id = service.client(key).predict().json()["job_id"]
    response = open_sse(service, key, f"/v1/jobs/{job_id}/events")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    assert response.getheader("Cache-Control") == "no-store" and response.getheader("X-RateLimit-Limit")
    stream = read_sse(response)
    events = [next(stream)]
    assert service.client(key).post(f"/v1/jobs/{blocker}/cancel").status_code == 200
    events += stream  # the server ends the stream when the job is terminal
    assert states(events) == ["pending", "running", "completed"]
    progress = [e["data"]["progress"] for e in events if e["event"] == "progress"]
    assert [(p["stage"], p["step"], p["total"]) for p in progress] == [("recycle", i, 4) for i in range(1, 5)]
    kinds = [e["event"] for e in events]
    assert kinds.index("progress") > kinds.index("state") and kinds[-1] == "state"  # progress only while running
    ids = [row_of(service, e["id"]) for e in events if e["event"] == "state"]
    assert [(i, s) for i, s in zip(ids, states(events), strict=True)] == logged(service, job_id)
    assert all("id" not in e for e in events if e["event"] == "progress")  # progress is not a resume point
    # ... and its JSON has no `event_id` (was `"event_id": ""`; a field with no value is left out).
    assert all("event_id" not in e["data"] for e in events if e["event"] == "progress"), events
    assert all(e["data"]["event_id"] == e["id"] for e in events if e["event"] == "state")
    final = events[-1]["data"]["job"]
    assert final["download_url"] == f"/v1/jobs/{job_id}/download" and final["formats"] == list(esmfold_spec({}).formats)
    assert all("download_url" not in e["data"]["job"] for e in events[:-1])  # no results before completion
    assert service.client(key).wait_for(blocker)["status"] == "cancelled"


def test_last_event_id_resumes_after_the_last_state_seen_and_204_ends_a_finished_job(
        service: InProcessService) -> None:
    key = service.new_key()
    service.inference.script("esmfold", Slow(0.6))
    job_id = service.client(key).predict().json()["job_id"]
    response = open_sse(service, key, f"/v1/jobs/{job_id}/events")
    first = next(read_sse(response))
    response.close()  # the client goes away after the first event
    service.client(key).wait_for(job_id)
    resumed = list(read_sse(open_sse(service, key, f"/v1/jobs/{job_id}/events", **{"Last-Event-ID": first["id"]})))
    expected = [s for i, s in logged(service, job_id) if i > row_of(service, first["id"])]
    assert states(resumed) == expected and expected[-1] == "completed"
    # The query parameter works too (EventSource cannot send headers on its first request).
    again = open_sse(service, key, f"/v1/jobs/{job_id}/events?last_event_id={resumed[-1]['id']}")
    assert again.status == 204 and again.read() == b""  # nothing newer, and nothing will come: stop


def test_keep_alive_comments_flow_while_nothing_happens(service: InProcessService) -> None:
    key = service.new_key()
    # 2 s of silence: the stream opens a moment after the job starts (longer on a loaded host), and at least two
    # keep-alives 0.3 s apart must fit in what is left.
    service.inference.script("esmfold", Slow(2.0))
    job_id = service.client(key).predict().json()["job_id"]
    comments: list[str] = []
    events = list(read_sse(open_sse(service, key, f"/v1/jobs/{job_id}/events"), comments))
    assert len(comments) >= 2 and set(comments) == {": keep-alive"}  # every 0.3 s during the silence
    assert states(events)[-1] == "completed"


def test_an_idle_account_stream_opens_at_once_with_keep_alives_then_follows_new_jobs(
        service: InProcessService) -> None:
    # /v1/events with no active job has no first event to send: the client must still get its 200 and the
    # keep-alives (a silent connection is cut by proxies and read timeouts), then every new job's events.
    key = service.new_key()
    connection = http.client.HTTPConnection("127.0.0.1", service.http_port, timeout=5)
    connection.request("GET", "/v1/events", headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()  # raises TimeoutError if the gateway waits for a first event
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    assert response.getheader("X-RateLimit-Limit")  # the stream's rate-limit headers, as on every response
    opening = [response.readline() for _ in range(4)]
    assert opening == [b"retry: 3000\n", b"\n", b": keep-alive\n", b"\n"]  # nothing else while nothing happens
    job_id = service.client(key).predict().json()["job_id"]
    seen = []
    for event in read_sse(response):
        seen.append((event["data"]["job_id"], event["data"]["job"]["status"]))
        if seen[-1] == (job_id, "completed"):
            break
    connection.close()
    assert [status for _, status in seen] == ["pending", "running", "completed"][-len(seen):]


def test_an_idle_account_stream_answers_its_status_line_long_before_the_first_keep_alive_is_due(
        twin_factory: type) -> None:
    # With the default 15 s between keep-alives an idle account's /v1/events sent no status line for 15 s (the edge
    # waits for a stream's first message, so that a refusal is a plain 401): httpx's default 5 s read timeout, and
    # any client's like it, gave up. The job service now says "open, nothing yet" as the account stream's first
    # message, and the edge answers at once.
    service = twin_factory.start(PHONOS_SSE_KEEPALIVE_S="30")
    key = service.new_key()
    metadata = (("authorization", f"Bearer {key}"),)
    channel, stub = service.grpc_stub()
    with channel:  # over gRPC, a client that asked for keep-alives gets one at once, one that did not gets nothing
        # The silent stream first, and subscribed before anything else: it says nothing to show it is open, and an
        # account stream sees only what happens after it subscribed (a loaded CI host once created the job below
        # before the server had subscribed it, and the stream waited out its deadline).
        silent = stub.WatchJobs(pb.WatchJobsRequest(), metadata=metadata, timeout=60)
        hub = service.running.service.hub
        wait_until(lambda: sum(len(held) for held in hub._by_account.values()) == 1, 30, 0.02)
        asking = stub.WatchJobs(pb.WatchJobsRequest(keep_alive=True), metadata=metadata, timeout=10)
        assert next(iter(asking)).WhichOneof("kind") == "keep_alive"
        asking.cancel()
        connection = http.client.HTTPConnection("127.0.0.1", service.http_port, timeout=10)  # a third of the 30 s
        connection.request("GET", "/v1/events", headers={"Authorization": f"Bearer {key}"})
        response = connection.getresponse()  # TimeoutError if the edge waits for the first keep-alive
        assert response.status == 200 and response.getheader("X-RateLimit-Limit")
        assert [response.readline(), response.readline()] == [b"retry: 3000\n", b"\n"]  # no event, no comment
        job_id = service.client(key).predict().json()["job_id"]
        first = next(read_sse(response))  # the "nothing yet" is no event: the first one is the new job's
        connection.close()
        message = next(iter(silent))
        silent.cancel()
    assert first["event"] == "state" and first["data"]["job_id"] == job_id
    assert message.WhichOneof("kind") == "event" and message.event.job_id == job_id
    service.client(key).post(f"/v1/jobs/{job_id}/cancel")


def test_a_job_stream_resumed_with_nothing_newer_answers_its_status_line_at_once(twin_factory: type) -> None:
    # The job's own stream opens with its state, but a resume (Last-Event-ID) of a running job at its newest event
    # has nothing to replay: it waited for the first keep-alive (15 s by default) before its status line too.
    service = twin_factory.start(PHONOS_SSE_KEEPALIVE_S="30")
    key = service.new_key()
    service.inference.script("esmfold", Slow(600))
    job_id = service.client(key).predict().json()["job_id"]
    service.client(key).wait_for(job_id, ("running",))
    newest = logged(service, job_id)[-1]
    assert newest[1] == "running"
    event_id = service.running.service.ids.events.text(newest[0])
    connection = http.client.HTTPConnection("127.0.0.1", service.http_port, timeout=10)  # a third of the 30 s
    connection.request("GET", f"/v1/jobs/{job_id}/events",
                       headers={"Authorization": f"Bearer {key}", "Last-Event-ID": event_id})
    response = connection.getresponse()  # TimeoutError if the edge waits for the first keep-alive
    assert response.status == 200
    assert [response.readline(), response.readline()] == [b"retry: 3000\n", b"\n"]
    service.client(key).post(f"/v1/jobs/{job_id}/cancel")
    resumed = list(read_sse(response))  # nothing replayed, no "nothing yet" event: the cancel, then the end
    connection.close()
    assert states(resumed) == ["cancelled"]


def test_a_stream_still_waiting_for_its_first_event_gets_a_503_when_the_gateway_stops(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_SSE_KEEPALIVE_S="30")
    key = service.new_key()

    async def says_nothing(account_id: int, after: int | None) -> Any:
        await asyncio.sleep(3600)  # a job service slow to send the stream's first message
        yield None

    # The account stream's first message comes at once now ("open, nothing yet"): hold it back, so the stream stays
    # in the edge's opening wait.
    service.running.service.watch_jobs = says_nothing  # type: ignore[method-assign]
    answer: dict[str, Any] = {}

    def watch() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", service.http_port, timeout=30)
        connection.request("GET", "/v1/events", headers={"Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        answer.update(status=response.status, body=json.loads(response.read()))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wait_until(lambda: [e for e in service.client(key).get("/v1/usage").json()["by_endpoint"]
                        if e["endpoint"] == "/v1/events"], 30)  # the stream is open at the job service
    service.stop()  # ends every stream at once, this one too (it used to hold the stop for the shutdown timeout)
    watcher.join(10)
    assert answer["status"] == 503  # retried by clients; a 204 would tell EventSource to stop for good
    assert answer["body"]["error"] == "Service unavailable" and set(answer["body"]) == {"error", "message"}


def test_watch_errors_are_json_before_the_stream(service: InProcessService) -> None:
    key = service.new_key()
    other = service.client(service.new_key()).predict().json()["job_id"]
    client = service.client(key)
    for path, status in ((f"/v1/jobs/{other}/events", 404), ("/v1/jobs/nope/events", 404),
                         ("/v1/jobs/nope/events?last_event_id=abc", 400), ("/v1/events?since=1", 400)):
        response = client.get(path)
        assert response.status_code == status, (path, response.text)
        assert set(response.json()) == {"error", "message"}
    assert service.client(None).get(f"/v1/jobs/{other}/events").status_code == 401
    usage = wait_until(lambda: [e for e in client.get("/v1/usage").json()["by_endpoint"]
                                if e["endpoint"] == "/v1/jobs/{job_id}/events"], 30)
    assert usage[0]["requests"] >= 3  # a stream counts as one request, errors included


def test_grpc_watch_job_streams_the_same_events(service: InProcessService) -> None:
    key = service.new_key()
    service.inference.script("esmfold", Progressing(RECYCLES[:2], 0.05, Failure.MODEL_ERROR))
    job_id = service.client(key).predict().json()["job_id"]
    channel, stub = service.grpc_stub()
    auth = (("authorization", f"Bearer {key}"),)
    with channel:
        events = [r.event for r in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=auth, timeout=30)]
        with pytest.raises(grpc.RpcError) as missing:
            list(stub.WatchJob(pb.WatchJobRequest(job_id="nope"), metadata=auth, timeout=10))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert [e.job.status for e in events if e.type == "state"][-1] == "failed"
    assert events[-1].job.error_code == "model_error" and events[-1].job.credits_used == 0  # refunded
    steps = [e.progress.step for e in events if e.type == "progress"]
    assert steps == sorted(steps) and set(steps) <= {1, 2}


def test_watch_jobs_follows_every_job_of_the_account_only(service: InProcessService) -> None:
    key = service.new_key()
    client = service.client(key)
    # The active job runs until cancelled below: it must still be active when the stream opens (a key made, a
    # channel opened: a 0.3 s run could be over by then on a loaded host, and the stream had no first event).
    service.inference.script("esmfold", Slow(60), Slow(0.3))
    active = client.predict().json()["job_id"]
    stranger = service.client(service.new_key())
    channel, stub = service.grpc_stub()
    seen: list[pb.JobEvent] = []
    with channel:
        call = stub.WatchJobs(pb.WatchJobsRequest(), metadata=(("authorization", f"Bearer {key}"),), timeout=30)
        collector = threading.Thread(target=_collect, args=(call, seen), daemon=True)
        collector.start()
        wait_until(lambda: seen, 30)  # the stream opened (slow only on a loaded host)
        later = client.predict().json()["job_id"]
        stranger.predict()
        assert client.post(f"/v1/jobs/{active}/cancel").status_code == 200
        wait_until(lambda: {(e.job_id, e.job.status) for e in seen} >= {(active, "cancelled"), (later, "completed")}, 30)
        call.cancel()
        collector.join(5)
    assert seen[0].job_id == active  # the active job first, at once
    assert {e.job_id for e in seen} == {active, later}  # never another account's job
    later_states = [e.job.status for e in seen if e.job_id == later and e.type == "state"]
    assert later_states == ["pending", "running", "completed"]


def _collect(call: Any, into: list[pb.JobEvent]) -> None:
    try:
        into.extend(response.event for response in call)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.CANCELLED  # the test cancels the call when it has seen enough


def test_a_stream_resumes_across_a_job_service_restart_with_every_transition_once(twin_factory: type,
                                                                                  tmp_path: Path) -> None:
    ports = {"grpc_port": free_port(), "http_port": free_port()}
    first = twin_factory.start(tmp_path / "var", **ports)
    key = first.new_key()
    first.inference.script("esmfold", Slow(60))  # still running when the service stops
    job_id = first.client(key).predict().json()["job_id"]
    wait_until(lambda: first.client(key).get(f"/v1/jobs/{job_id}").json()["status"] == "running", 10)
    response = open_sse(first, key, f"/v1/jobs/{job_id}/events")
    received = []
    stopping = threading.Thread(target=first.stop, daemon=True)
    for event in read_sse(response):  # the stream ends when the service stops
        received.append(event)
        if event["event"] == "state" and event["data"]["job"]["status"] == "running":
            stopping.start()
    stopping.join(30)
    second = twin_factory.start(tmp_path / "var", **ports)  # recovery: running → pending → running → completed
    second.inference.script("esmfold", Slow(0.3))
    resumed = list(read_sse(open_sse(second, key, f"/v1/jobs/{job_id}/events", **{"Last-Event-ID": received[-1]["id"]})))
    everything = [e for e in received + resumed if e["event"] == "state"]
    ids = [row_of(second, e["id"]) for e in everything]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)  # in order, exactly once
    since_opened = [(i, s) for i, s in logged(second, job_id) if i >= ids[0]]
    assert [(row_of(second, e["id"]), e["data"]["job"]["status"]) for e in everything] == since_opened
    assert states(everything) == ["running", "pending", "running", "completed"]


def test_500_idle_watchers_cost_almost_no_database_reads(twin_factory: type) -> None:
    """Fan-out from one source: idle watchers read nothing; one transition is one tail query for all.
    The hub's safety-net poll (every PHONOS_WATCH_POLL_S, 5 s by default) is moved out of the measured
    windows, so a poll that happens to fall in one is not counted as the transition's (it did, once)."""
    service = twin_factory.start(PHONOS_SSE_KEEPALIVE_S="30", PHONOS_WATCH_POLL_S="60")
    key = service.new_key()
    service.inference.script("esmfold", Slow(600))
    job_id = service.client(key).predict().json()["job_id"]
    wait_until(lambda: service.client(key).get(f"/v1/jobs/{job_id}").json()["status"] == "running", 10)
    reads = service.running.service.db.read
    figures = asyncio.run(_idle_watchers(service, key, job_id, reads, watchers=500, idle_s=3.0))
    print(f"\nidle-watcher figures: {json.dumps(figures)}")
    assert figures["watchers"] == 500 and figures["final_events"] == 500
    assert figures["idle_reads"] == 0  # idle watchers cost nothing
    # The cancel request's two key lookups (admission, then the servicer) and one tail query for all 500
    # watchers (measured: get_key, get_key, job_events_after), with room for one more tail should another
    # commit of the job land after the first; on PostgreSQL one more: the hub also hears its own service's
    # NOTIFY of the transition, as it hears the other services'. A read per watcher would be 500 more.
    assert figures["reads_for_the_transition"] <= 4 + service.shared


async def _idle_watchers(service: InProcessService, key: str, job_id: str, reads: Any, *, watchers: int,
                         idle_s: float) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    url = f"{service.base_url}/v1/jobs/{job_id}/events"
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {key}"}) as session:
        opened = asyncio.Event()
        ready = 0
        finals = 0

        async def watch() -> None:
            nonlocal ready, finals
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=120)) as response:
                assert response.status == 200
                async for line in response.content:
                    if line.startswith(b"data:") and b'"status":"running"' in line and b'"type":"state"' in line:
                        ready += 1
                        if ready == watchers:
                            opened.set()
                    if line.startswith(b"data:") and b'"status":"cancelled"' in line:
                        finals += 1
                        return

        started = time.monotonic()
        tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
        await asyncio.wait_for(opened.wait(), 120)
        open_s = time.monotonic() - started
        before = reads.statements
        await asyncio.sleep(idle_s)
        idle = reads.statements - before
        before = reads.statements
        cancel_started = time.monotonic()
        async with session.post(f"{service.base_url}/v1/jobs/{job_id}/cancel") as cancelled:
            assert cancelled.status == 200
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        fan_out_s = time.monotonic() - cancel_started
        transition = reads.statements - before  # the cancel itself writes; every read here is the hub's
    return {"watchers": watchers, "open_all_s": round(open_s, 2), "idle_window_s": idle_s,
            "idle_reads": idle, "idle_reads_per_s": round(idle / idle_s, 2),
            "reads_for_the_transition": transition, "fan_out_s": round(fan_out_s, 3),
            "final_events": finals}


def test_an_open_stream_ends_when_its_key_is_revoked_or_its_session_signed_out(twin_factory: type) -> None:
    """A watch is authorised when it opens; the stream guard (jobservice/stream_guard.py) asks again at the hub's
    cadence and ends it with the refusal a new request would get. Before, a key revoked after the stream opened
    (or a dashboard session signed out) kept receiving the account's job events until the stream's hour was up."""
    service = twin_factory.start(PHONOS_SSE_KEEPALIVE_S="0.3", PHONOS_WATCH_POLL_S="0.3")
    name = f"guarded{id(service)}"
    keeper = service.new_key(username=name)
    api = service.client(keeper)
    doomed = api.post("/v1/keys", json={"name": "doomed"}).json()
    service.inference.script("esmfold", Slow(600))
    job_id = api.predict().json()["job_id"]
    wait_until(lambda: api.get(f"/v1/jobs/{job_id}").json()["status"] == "running", 10)

    response = open_sse(service, doomed["api_key"], f"/v1/jobs/{job_id}/events")
    assert response.status == 200
    events = read_sse(response)
    assert next(events)["data"]["job"]["status"] == "running"
    assert api.post(f"/v1/keys/{doomed['key']['key_id']}/revoke").status_code == 200
    ended = next(events)
    assert ended["event"] == "error" and ended["data"]["status"] == 401, ended
    assert "revoked" in ended["data"]["message"]
    assert next(events, None) is None  # and the stream is closed

    asyncio.run(admin.set_password(service.settings, username=name, password="a long enough password 1"))
    browser = requests.Session()
    signed_in = browser.post(f"{service.base_url}/auth/sign-in", timeout=30,
                             json={"username": name, "password": "a long enough password 1"})
    assert signed_in.status_code == 200, signed_in.text
    watching = browser.get(f"{service.base_url}/v1/jobs/{job_id}/events", stream=True, timeout=30)
    assert watching.status_code == 200
    lines = watching.iter_lines(decode_unicode=True)
    assert any(line.startswith("data:") for line in lines)  # the job's state: the session may watch
    assert browser.post(f"{service.base_url}/auth/sign-out", headers={"X-CSRF-Token": signed_in.json()["csrf_token"]},
                        timeout=30).ok
    after = [line for line in lines if line.startswith(("event:", "data:"))]
    assert after[0] == "event: error" and '"status":401' in after[1], after
    api.post(f"/v1/jobs/{job_id}/cancel")
