"""The SDK's gRPC transport where it differs from REST: retries against the real job service through a
loopback gRPC proxy that can lose an answer or refuse a call, what the client says when it cannot speak
gRPC (no extra installed, nothing listening, not a phonos server), and that the light client imports
neither grpcio for REST nor any server code for gRPC. (The calls themselves run over both transports in
tests/service/test_sdk.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import phonos_client
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from phonos_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    MissingExtraError,
    NotFoundError,
    PhonosError,
)

from launcher.ports import free_port
from phonos.v1 import phonos_pb2 as pb
from tests.support import REPO, InProcessService

pytestmark = pytest.mark.integration

SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"
STREAMS = {"/phonos.v1.PhonosService/WatchJob", "/phonos.v1.PhonosService/WatchJobs"}
BIDI = {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}


class Proxy(grpc.GenericRpcHandler):
    """A gRPC server on a loopback port in front of the job service, forwarding every call byte for byte.
    `script[method name]` holds what happens to that method's next calls, in order:
    "drop" forwards the call and then fails it UNAVAILABLE, as a connection that broke before the answer
    came back; ("refuse", code, metadata) answers without forwarding."""

    def __init__(self, upstream: str) -> None:
        self.script: dict[str, list[Any]] = {}
        self.seen: list[tuple[str, dict[str, str], float]] = []  # (method name, metadata, monotonic time)
        self.requests: list[tuple[str, bytes]] = []  # (method name, the request message's bytes), unary calls
        self._upstream = grpc.insecure_channel(upstream)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers((self,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    def __enter__(self) -> Proxy:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(0).wait(5)
        self._upstream.close()

    def calls_of(self, name: str) -> list[dict[str, str]]:
        return [metadata for seen, metadata, _ in self.seen if seen == name]

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = details.method  # type: ignore[attr-defined]
        metadata = [(k, v) for k, v in details.invocation_metadata  # type: ignore[attr-defined]
                    if k != "user-agent" and not k.startswith("grpc-")]
        if method in BIDI:
            return grpc.stream_stream_rpc_method_handler(
                lambda requests, context: self._upstream.stream_stream(method)(requests, metadata=metadata))
        if method in STREAMS:
            return grpc.unary_stream_rpc_method_handler(
                lambda request, context: self._upstream.unary_stream(method)(request, metadata=metadata))
        return grpc.unary_unary_rpc_method_handler(lambda request, context: self._unary(method, metadata, request,
                                                                                          context))

    def _unary(self, method: str, metadata: list[tuple[str, str]], request: bytes,
               context: grpc.ServicerContext) -> bytes:
        name = method.rpartition("/")[2]
        self.seen.append((name, dict(metadata), time.monotonic()))
        self.requests.append((name, request))
        plan = self.script.get(name, [])
        action = plan.pop(0) if plan else "forward"
        if isinstance(action, tuple):
            _, code, trailing = action
            context.abort_with_status(_Status(code, "refused by the proxy", trailing))
        try:
            response, call = self._upstream.unary_unary(method).with_call(request, metadata=metadata)
        except grpc.RpcError as failure:
            context.set_trailing_metadata(failure.trailing_metadata())
            context.abort(failure.code(), failure.details())
        if action == "drop":
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset by the proxy")
        context.set_trailing_metadata(call.trailing_metadata())
        return response  # type: ignore[no-any-return]


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, str], ...]) -> None:
        self.code, self.details, self.trailing_metadata = code, details, trailing


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


@pytest.fixture
def proxy(service: InProcessService) -> Iterator[Proxy]:
    with Proxy(service.grpc_target) as running:
        yield running


def sync_predict(url: str, key: str) -> str:
    with Client(url, key, max_retries=2) as phonos:
        return phonos.predict("esmfold", SEQUENCE).job_id


def async_predict(url: str, key: str) -> str:
    async def run() -> str:
        async with AsyncClient(url, key, max_retries=2) as phonos:
            return (await phonos.predict("esmfold", SEQUENCE)).job_id
    return asyncio.run(run())


@pytest.mark.parametrize("predict", [sync_predict, async_predict], ids=["sync", "async"])
def test_a_submission_whose_answer_was_lost_is_retried_with_its_key_and_charged_once(
        service: InProcessService, proxy: Proxy, predict: Callable[[str, str], str]) -> None:
    key = service.new_key(credits=100)
    proxy.script["Predict"] = ["drop"]  # the job service stores the job, its answer never arrives
    job_id = predict(proxy.url, key)
    tries = proxy.calls_of("Predict")
    assert len(tries) == 2 and tries[0]["idempotency-key"] == tries[1]["idempotency-key"]
    assert all(t["authorization"] == f"Bearer {key}" for t in tries)
    with Client(f"grpc://{service.grpc_target}", key) as phonos:
        assert [j.job_id for j in phonos.iter_jobs()] == [job_id]  # one job,
        assert phonos.account().balance == 90  # charged once


@pytest.mark.parametrize("walk", ["sync", "async"])
def test_a_walk_from_a_cursor_asks_for_each_page_after_the_last_and_survives_a_lost_page(
        service: InProcessService, proxy: Proxy, walk: str) -> None:
    """iter_jobs(starting_after=ID) over gRPC: each ListJobs asks for the jobs after the last one seen (the
    cursor first), and a page whose answer was lost is asked for again: every job after ID, once."""
    key = service.new_key(credits=100)
    with Client(f"grpc://{service.grpc_target}", key) as phonos:
        batch = phonos.submit_batch([{"model": "esmfold", "sequence": SEQUENCE}] * 5)
        jobs = [j.job_id for j in phonos.list_jobs(limit=100).jobs]  # newest first
    proxy.script["ListJobs"] = ["forward", "drop"]  # the second page's answer never arrives

    async def walk_async() -> list[str]:
        async with AsyncClient(proxy.url, key, max_retries=1) as client:
            return [j.job_id async for j in client.iter_jobs(page_size=2, starting_after=jobs[0])]
    if walk == "sync":
        with Client(proxy.url, key, max_retries=1) as phonos:
            walked = [j.job_id for j in phonos.iter_jobs(page_size=2, starting_after=jobs[0])]
    else:
        walked = asyncio.run(walk_async())
    assert walked == jobs[1:]
    asked = [pb.ListJobsRequest.FromString(body) for name, body in proxy.requests if name == "ListJobs"]
    assert [(r.starting_after, r.limit) for r in asked] == [(jobs[0], 2), (jobs[2], 2), (jobs[2], 2)]  # the repeat
    with Client(f"grpc://{service.grpc_target}", key) as phonos:  # done before another test scripts the twin
        for job_id in [item.job_id for item in batch.results]:
            assert job_id and phonos.wait(job_id, timeout=30).status == "completed"


def test_a_refused_call_is_retried_after_the_servers_retry_after(service: InProcessService, proxy: Proxy) -> None:
    limited = ((("phonos-error-title", "Rate limit exceeded"), ("retry-after", "1")))
    proxy.script["GetAccount"] = [("refuse", grpc.StatusCode.RESOURCE_EXHAUSTED, limited)]
    with Client(proxy.url, service.new_key(credits=7), max_retries=1) as phonos:
        assert phonos.account().balance == 7
    (_, _, first), (_, _, second) = [s for s in proxy.seen if s[0] == "GetAccount"]
    assert second - first >= 1.0  # waited as the refusal said


def test_a_delete_whose_answer_was_lost_is_repeated_and_its_404_means_done(service: InProcessService,
                                                                          proxy: Proxy) -> None:
    """The first try deleted the webhook and its answer was lost: the repeat finds nothing, which means the
    delete is done (not a NotFoundError for a delete that worked). Without a lost answer a 404 stays one."""
    proxy.script["DeleteWebhook"] = ["drop"]
    with Client(proxy.url, service.new_key(), max_retries=2) as phonos:
        hook = phonos.create_webhook("http://127.0.0.1:9/hook")
        assert phonos.delete_webhook(hook.webhook_id).raw["webhook_id"] == hook.webhook_id  # as the answer would be
        assert phonos.list_webhooks() == []
        with pytest.raises(NotFoundError):
            phonos.delete_webhook(hook.webhook_id)
    assert len(proxy.calls_of("DeleteWebhook")) == 3  # dropped, repeated (404: done), the plain 404


def test_a_server_that_accepts_and_never_answers_times_out() -> None:
    """The first call learns the service's types by reflection; that exchange has the client's timeout
    too, so a peer that accepts TCP and stays silent cannot hold a call (and the client) forever."""
    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(silent.accept()[0])

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    url = f"grpc://127.0.0.1:{silent.getsockname()[1]}"
    try:
        started = time.monotonic()
        with Client(url, "pk_x", timeout=1.0, max_retries=0) as phonos, pytest.raises(APITimeoutError):
            phonos.account()

        async def async_call() -> None:
            async with AsyncClient(url, "pk_x", timeout=1.0, max_retries=0) as phonos:
                await phonos.account()

        with pytest.raises(APITimeoutError):
            asyncio.run(async_call())
        assert time.monotonic() - started < 20  # two timeouts of 1 s, not a hang
    finally:
        stop.set()
        acceptor.join(5)
        for connection in accepted:
            connection.close()
        silent.close()


def test_nothing_listening_is_a_connection_error_after_the_retries() -> None:
    url = f"grpc://127.0.0.1:{free_port()}"
    with Client(url, "pk_x", max_retries=1) as phonos, \
            pytest.raises(APIConnectionError, match=f"could not reach the server at {url}: "):  # as REST names it
        phonos.account()


def test_a_grpc_server_that_is_not_phonos_is_named() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    # Its reflection answers from a pool of its own: this process's default pool holds phonos.v1 (the service).
    reflection.enable_server_reflection((health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                         reflection.SERVICE_NAME), server, pool=descriptor_pool.DescriptorPool())
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Client(f"grpc://127.0.0.1:{port}", "pk_x") as phonos, \
                pytest.raises(PhonosError, match="does not serve phonos.v1.PhonosService"):
            phonos.account()
    finally:
        server.stop(0).wait(5)


def test_grpc_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("grpc_transport", "grpc_schema"):  # as if never imported
        monkeypatch.delitem(sys.modules, f"phonos_client.{module}", raising=False)
        monkeypatch.delattr(phonos_client, module, raising=False)
    monkeypatch.setitem(sys.modules, "grpc", None)  # what `import grpc` finds without grpcio
    with pytest.raises(MissingExtraError, match=r"pip install 'phonos-client\[grpc\]'") as missing:
        Client("grpc://127.0.0.1:50051", "pk_x")
    assert isinstance(missing.value, ImportError) and missing.value.exit_code == 2


LIGHT = """
import sys
from phonos_client import Client
Client("http://127.0.0.1:1", "pk_x").close()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("grpc", "grpc_reflection") or m.startswith("google.protobuf"))
assert not loaded, loaded
Client("grpc://127.0.0.1:1", "pk_x").close()
assert "grpc" in sys.modules
server = sorted(m for m in sys.modules if m.split(".")[0] in
                ("jobservice", "gateway", "launcher", "phonos", "phonos_config", "phonos_models", "torch"))
assert not server, server
print("ok")
"""


def test_the_light_client_imports_grpc_only_for_grpc_and_never_server_code() -> None:
    ran = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(REPO / "clients" / "python")}, cwd=REPO / "clients")
    assert ran.returncode == 0 and ran.stdout.strip() == "ok", ran.stderr
