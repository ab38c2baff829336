"""What a direct gRPC integrator meets: watch streams behind an L7 proxy, and a request id on every answer.

Keep-alives. An L7 proxy (Envoy's stream_idle_timeout, 5 minutes by default; an ALB's idle timeout) ends a stream
without a message for a while, whatever HTTP/2 pings say, and a WatchJob on a job waiting in the queue sends none
for minutes. A watch request with `keep_alive` now gets a `keep_alive` message after every PHONOS_SSE_KEEPALIVE_S
of silence (0.3 s here). A client that does not ask gets none: one written before them would read the message as an
event without a job (`message.event.job.status` ""; the SDK's reader raised KeyError). The REST gateway asks for
them on every stream and turns none into a JSON event: its SSE stream keeps its own `: keep-alive` comments.

Request ids. Every answer of the job service carries `x-request-id` in its trailers (the caller's, or a new one),
so a support ticket can quote it. A call to a method or service the server does not have (UNIMPLEMENTED, from grpc
itself), and the answers of the health and reflection services, carried none.
"""

from __future__ import annotations

import asyncio
import http.client
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from jobservice.memory_inference import Slow
from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService

pytestmark = pytest.mark.integration

KEEPALIVE_S = 0.3  # PHONOS_SSE_KEEPALIVE_S
WAIT_S = 30.0  # the longest any single wait below may take (a loaded host); the tests wait for conditions


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    running = InProcessService(tmp_path_factory.mktemp("keepalive"), {"PHONOS_SSE_KEEPALIVE_S": str(KEEPALIVE_S)})
    yield running
    running.stop()


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


class Reader:
    """The messages of one gRPC watch stream, read on a thread as they arrive."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.messages: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.messages.put(message)
        except grpc.RpcError:
            pass  # cancelled at the test's end

    def next(self) -> Any:
        return self.messages.get(timeout=WAIT_S)


def test_a_watch_that_asks_gets_keep_alives_while_nothing_happens_and_one_that_does_not_gets_none(
        service: InProcessService) -> None:
    key = service.new_key()
    channel, stub = service.grpc_stub()
    with channel:
        asking = Reader(stub.WatchJobs(pb.WatchJobsRequest(keep_alive=True), metadata=auth(key), timeout=WAIT_S * 2))
        as_before = Reader(stub.WatchJobs(pb.WatchJobsRequest(), metadata=auth(key), timeout=WAIT_S * 2))
        # The account has no job: nothing but keep-alives, each one nothing else (no event to mistake).
        for _ in range(3):
            message = asking.next()
            assert message.WhichOneof("kind") == "keep_alive" and not message.HasField("event"), message
        job_id = service.client(key).predict().json()["job_id"]

        def first_event(reader: Reader) -> Any:
            while (message := reader.next()).WhichOneof("kind") == "keep_alive":
                pass
            return message.event

        assert first_event(asking).job_id == job_id
        # The stream that did not ask stayed silent through those keep-alives: its first message is the job's.
        first = as_before.next()
        assert first.WhichOneof("kind") == "event" and first.event.job_id == job_id and first.event.type == "state"
        asking.call.cancel()
        as_before.call.cancel()
    service.client(key).post(f"/v1/jobs/{job_id}/cancel")


def test_a_job_watch_that_asks_gets_its_state_then_keep_alives(service: InProcessService) -> None:
    """WatchJob too: the job's current state at once, then keep-alives while it stays quiet."""
    key = service.new_key()
    service.settle()
    service.inference.script("esmfold", Slow(600))
    job_id = service.client(key).predict().json()["job_id"]
    channel, stub = service.grpc_stub()
    with channel:
        reader = Reader(stub.WatchJob(pb.WatchJobRequest(job_id=job_id, keep_alive=True), metadata=auth(key),
                                      timeout=WAIT_S * 2))
        assert reader.next().event.job_id == job_id
        kinds: list[str] = []
        while kinds.count("keep_alive") < 2:
            message = reader.next()
            kinds.append(message.WhichOneof("kind"))
        reader.call.cancel()
    service.client(key).post(f"/v1/jobs/{job_id}/cancel")


def test_the_sse_stream_keeps_its_comments_and_never_sends_a_keep_alive_as_an_event(
        service: InProcessService) -> None:
    """The gateway asks the job service for keep-alives (the hop between them may be proxied too): none becomes an
    SSE event, and the client still gets `: keep-alive` comments. `keep_alive` is the gateway's field, no query
    parameter (passed on, `?keep_alive=true` would have turned each keep-alive into `data: {}`)."""
    key = service.new_key()
    connection = http.client.HTTPConnection("127.0.0.1", service.http_port, timeout=WAIT_S)
    try:
        connection.request("GET", "/v1/events", headers={"Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        assert response.status == 200
        lines: list[str] = []
        deadline = time.monotonic() + WAIT_S
        while lines.count(": keep-alive") < 4 and time.monotonic() < deadline:
            lines.append(response.readline().decode().rstrip("\n"))
        assert lines.count(": keep-alive") == 4, lines
        assert [line for line in lines if line and line != ": keep-alive" and not line.startswith("retry:")] == []
    finally:
        connection.close()

    # stream=True: where the parameter is taken, the answer is a stream that never ends.
    with service.client(key).get("/v1/events", params={"keep_alive": "true"}, stream=True) as refused:
        assert refused.status_code == 400, refused.status_code
        assert "keep_alive" in refused.json()["message"]


@pytest.mark.parametrize("method", ["/phonos.v1.PhonosService/NoSuchMethod", "/acme.v1.Nothing/Call"])
def test_a_call_to_a_method_the_server_does_not_have_names_its_request_id(service: InProcessService,
                                                                           method: str) -> None:
    with grpc.insecure_channel(service.grpc_target) as channel:
        unary = channel.unary_unary(method)
        with pytest.raises(grpc.RpcError) as refused:
            unary(b"", metadata=(("x-request-id", "ticket-4711"),), timeout=WAIT_S)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert ("x-request-id", "ticket-4711") in tuple(refused.value.trailing_metadata() or ())
        assert method in (refused.value.details() or "")  # which method, where grpc said "Method not found!"

        streaming = channel.unary_stream(method)(b"", timeout=WAIT_S)  # no id sent: a new one
        with pytest.raises(grpc.RpcError) as refused:
            list(streaming)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert dict(refused.value.trailing_metadata() or ()).get("x-request-id")


def test_health_and_reflection_answers_name_their_request_id(service: InProcessService) -> None:
    with grpc.insecure_channel(service.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer, call = health.Check.with_call(health_pb2.HealthCheckRequest(service=""),
                                              metadata=(("x-request-id", "health-1"),), timeout=WAIT_S)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        assert ("x-request-id", "health-1") in tuple(call.trailing_metadata() or ())

        # A handler that writes with `context.write` (not a generator) still answers through the edge's wrapper.
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=WAIT_S)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        listed = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
            metadata=(("x-request-id", "reflect-1"),), timeout=WAIT_S)
        assert [s.name for s in next(listed).list_services_response.service]
        for _ in listed:
            pass
        assert ("x-request-id", "reflect-1") in tuple(listed.trailing_metadata() or ())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_sdk_over_grpc_asks_for_keep_alives_hides_them_and_takes_silence_for_a_dead_link(
        service: InProcessService, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """The SDK's gRPC watch asks for keep-alives and never yields one (its reader raised KeyError on a message
    without an event); they keep its silence watchdog quiet, and a stream silent for WATCH_SILENCE_S (a frozen
    server, a link dead without a reset: the HTTP/2 pings notice after 6 minutes) ends with APITimeoutError, as
    REST's read timeout does."""
    from phonos_client import calls, errors, grpc_transport
    from phonos_client.grpc_transport import AsyncGrpcTransport, GrpcTransport

    key = service.new_key()
    service.settle()
    service.inference.script("esmfold", Slow(600))
    job_id = service.client(key).predict().json()["job_id"]
    url = f"grpc://{service.grpc_target}"

    def statuses() -> list[str]:
        """One watch stream of the job straight from a transport: its events' statuses until it ends."""
        if mode == "sync":
            transport = GrpcTransport(url, key, 30.0)
            try:
                return [event.job.status for event in transport.stream(calls.watch(job_id, None))]
            finally:
                transport.close()

        async def read() -> list[str]:  # an aio channel lives in one event loop: a transport per run
            transport = AsyncGrpcTransport(url, key, 30.0)
            try:
                return [event.job.status async for event in transport.stream(calls.watch(job_id, None))]
            finally:
                await transport.close()
        return asyncio.run(read())

    cancel = threading.Timer(3.0, lambda: service.client(key).post(f"/v1/jobs/{job_id}/cancel"))
    try:
        # A watchdog shorter than the keep-alive period takes the quiet running job's stream for a dead link.
        monkeypatch.setattr(grpc_transport, "WATCH_SILENCE_S", KEEPALIVE_S / 3)
        with pytest.raises(errors.APITimeoutError, match="sent nothing for"):
            statuses()
        # Keep-alives every 0.3 s keep a 1.2 s watchdog quiet: the stream lasts until the job is cancelled (3 s)
        # and yields the job's events only, never a keep-alive.
        monkeypatch.setattr(grpc_transport, "WATCH_SILENCE_S", KEEPALIVE_S * 4)
        cancel.start()
        assert statuses() == ["running", "cancelled"]
    finally:
        cancel.cancel()
        service.client(key).post(f"/v1/jobs/{job_id}/cancel")
