"""The job service's edge against a real `python -m jobservice` (no Triton needed: it is left down).

Work before authentication (gRPC metadata checked before the message is read, REST keys before the
body), per-method message limits, undecodable messages, slow messages, failed-auth throttling,
readiness (HTTP 503 and gRPC health), and a private data directory.
"""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from phonos_client import errors as sdk_errors
from phonos_client import retry

from gateway import errors as gateway_errors
from launcher.ports import free_port
from phonos.v1 import phonos_pb2 as pb
from tests.support import ServiceProcess

pytestmark = pytest.mark.e2e

PREDICT = "/phonos.v1.PhonosService/Predict"
GET_JOB = "/phonos.v1.PhonosService/GetJob"
GET_ACCOUNT = "/phonos.v1.PhonosService/GetAccount"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    process = ServiceProcess.start(tmp_path_factory.mktemp("edge") / "var", f"127.0.0.1:{free_port()}", {
        "PHONOS_AUTH_FAILURES_PER_MINUTE": "1000", "PHONOS_BODY_TIMEOUT_S": "1",
    })
    yield process
    process.stop()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def raw_call(target: str, method: str, payload: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> grpc.RpcError:
    """A unary call with a raw (already serialised, or garbage) request; returns the error it ended with."""
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", -1)]) as channel:
        call = channel.unary_unary(method)
        with pytest.raises(grpc.RpcError) as failed:
            call(payload, metadata=metadata, timeout=60)
    return failed.value


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


# --- gRPC: nothing is read before the key is checked ---------------------------------------------------


def test_unauthenticated_big_messages_are_refused_unread(service: ServiceProcess) -> None:
    size = 48 * 1024 * 1024  # under the Predict limit: without the edge the server would buffer and parse each
    payload = pb.PredictRequest(model="esmfold", sequence="M" * size).SerializeToString()
    before = peak_rss_mb(service.popen.pid)

    async def three() -> list[grpc.StatusCode]:
        async with grpc.aio.insecure_channel(service.grpc_target,
                                             options=[("grpc.max_send_message_length", -1)]) as channel:
            call = channel.unary_unary(PREDICT)

            async def one(key: str) -> grpc.StatusCode:
                try:
                    await call(payload, metadata=bearer(key), timeout=60)
                except grpc.aio.AioRpcError as exc:
                    return exc.code()
                return grpc.StatusCode.OK

            return list(await asyncio.gather(*(one(f"pk_guess{i}") for i in range(3))))

    assert asyncio.run(three()) == [grpc.StatusCode.UNAUTHENTICATED] * 3
    grown = peak_rss_mb(service.popen.pid) - before
    assert grown < 40, f"job service peak memory grew by {grown:.0f} MB for refused messages"


def test_messages_are_size_checked_per_method(service: ServiceProcess) -> None:
    key = service.new_key()
    big_get = pb.GetJobRequest(job_id="j" * 100_000).SerializeToString()
    refused = raw_call(service.grpc_target, GET_JOB, big_get, bearer(key))
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "GetJob accepts at most 65536" in refused.details()
    assert dict(refused.trailing_metadata())["phonos-error-title"] == "Request too large"
    beyond_server = raw_call(service.grpc_target, PREDICT, b"\n" + b"\x00" * (80 * 1024 * 1024), bearer(key))
    assert beyond_server.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The same sizes over REST: the webhook route takes 64 KiB, Predict megabytes.
    client = service.client(key)
    assert client.post("/v1/webhooks", json={"url": "https://example.org/" + "a" * 70_000}).status_code == 413
    big_predict = client.post("/v1/predict", json={"model": "esmfold", "sequence": "M" * 1_000_000})
    assert big_predict.status_code == 400 and "residues" in big_predict.json()["message"]


@pytest.mark.parametrize("payload", [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x12" + b"\x80" * 11])
def test_undecodable_messages_are_invalid_argument_without_a_traceback(service: ServiceProcess, payload: bytes) -> None:
    key = service.new_key()
    failed = raw_call(service.grpc_target, PREDICT, payload, bearer(key))
    assert failed.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failed.details() == "the request is not a valid phonos.v1.PredictRequest message"
    anonymous = raw_call(service.grpc_target, PREDICT, payload)
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED  # the key is checked first
    assert not [line for line in service.log_lines if "Traceback" in line]


def test_a_message_that_never_comes_times_out(service: ServiceProcess) -> None:
    key = service.new_key()

    async def stall() -> grpc.aio.AioRpcError:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            call = channel.stream_unary(GET_ACCOUNT)  # same wire format as the unary call, minus the message

            async def nothing() -> AsyncIterator[bytes]:
                await asyncio.sleep(30)
                yield b""

            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await call(nothing(), metadata=bearer(key), timeout=20)
            return failed.value

    started = time.monotonic()
    failed = asyncio.run(stall())
    assert failed.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "did not arrive within 1 s" in failed.details()
    assert time.monotonic() - started < 10
    # The client was too slow, not the server: 408 as the gateway's slow body (README's *Slow clients*), in the
    # gateway's table and the SDK's alike, told from a real deadline's 504 by the reason trailer.
    trailers = {k: v for k, v in failed.trailing_metadata() or () if isinstance(v, str)}
    assert (trailers["phonos-error-title"], trailers["phonos-error-reason"]) == ("Request timeout", "REQUEST_TIMEOUT")
    assert trailers["x-request-id"]
    answer = gateway_errors.from_status(failed.code(), failed.details() or "", trailers, request_id="r")
    assert (answer.status, answer.title) == (408, "Request timeout")
    seen_by_sdk = sdk_errors.from_grpc_status(failed.code().name, failed.details() or "", trailers)
    assert (type(seen_by_sdk), seen_by_sdk.status, seen_by_sdk.error) == (sdk_errors.APIStatusError, 408,
                                                                         "Request timeout")
    assert not retry.transient(seen_by_sdk)  # a slow upload sent again would be as slow: not retried, as over REST


def test_a_callers_own_deadline_is_still_a_gateway_timeout(service: ServiceProcess) -> None:
    """The caller's deadline passes while its message is awaited: gRPC's own DEADLINE_EXCEEDED, untitled, which
    stays 504 in the gateway's table and a retried timeout in the SDK (only the edge's wait is a 408)."""
    key = service.new_key()

    async def short_deadline() -> grpc.aio.AioRpcError:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            call = channel.stream_unary(GET_ACCOUNT)

            async def nothing() -> AsyncIterator[bytes]:
                await asyncio.sleep(30)
                yield b""

            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await call(nothing(), metadata=bearer(key), timeout=0.3)  # well before the edge's 1 s
            return failed.value

    failed = asyncio.run(short_deadline())
    assert failed.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    trailers = {k: v for k, v in failed.trailing_metadata() or () if isinstance(v, str)}
    assert "phonos-error-reason" not in trailers
    assert gateway_errors.from_status(failed.code(), failed.details() or "", trailers, request_id="r").status == 504
    assert isinstance(sdk_errors.from_grpc_status(failed.code().name, failed.details() or "", trailers),
                      sdk_errors.APITimeoutError)


# --- REST: nothing is read before the key is checked ---------------------------------------------------


def test_rest_bad_key_with_a_huge_declared_body_is_answered_at_once(service: ServiceProcess) -> None:
    async def post_headers_only() -> tuple[int, dict[str, str], float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", service.http_port)
        started = time.monotonic()
        writer.write(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pk_nope\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{\"model\":")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        elapsed = time.monotonic() - started
        writer.close()
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        return int(lines[0].split()[1]), headers, elapsed

    status, headers, elapsed = asyncio.run(post_headers_only())
    assert status == 401 and headers["content-type"] == "application/json"
    assert elapsed < 2


# --- failed-auth throttling --------------------------------------------------------------------------


def test_failed_authentication_is_throttled_per_address(tmp_path: Path) -> None:
    throttled = ServiceProcess.start(tmp_path / "var", f"127.0.0.1:{free_port()}",
                                     {"PHONOS_AUTH_FAILURES_PER_MINUTE": "3"})
    try:
        good = throttled.new_key()
        assert throttled.client(good).get("/v1/account").status_code == 200

        async def from_address(address: str, key: str, n: int) -> list[tuple[int, str | None]]:
            connector = aiohttp.TCPConnector(local_addr=(address, 0))
            async with aiohttp.ClientSession(connector=connector) as session:
                answers = []
                for _ in range(n):
                    async with session.get(f"{throttled.base_url}/v1/account",
                                           headers={"Authorization": f"Bearer {key}"}) as response:
                        body = await response.json()
                        answers.append((response.status, response.headers.get("Retry-After")))
                        assert set(body) == {"error", "message"} or response.status == 200
                return answers

        bad = asyncio.run(from_address("127.0.0.1", "pk_wrong", 5))
        assert [s for s, _ in bad] == [401, 401, 401, 429, 429]
        assert 1 <= int(bad[3][1] or 0) <= 60
        refused = requests.get(f"{throttled.base_url}/v1/account", headers={"Authorization": "Bearer pk_x"}, timeout=10)
        assert refused.status_code == 429 and "failed authentication attempts" in refused.json()["message"]
        # A key that worked from this address still works; another address is not affected.
        assert throttled.client(good).get("/v1/account").status_code == 200
        assert [s for s, _ in asyncio.run(from_address("127.0.0.2", "pk_wrong", 1))] == [401]
        # gRPC shares the throttle (same address, same counter).
        channel, stub = throttled.grpc_stub()
        with channel, pytest.raises(grpc.RpcError) as grpc_refused:
            stub.GetAccount(pb.GetAccountRequest(), metadata=bearer("pk_wrong"))
        assert grpc_refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert int(dict(grpc_refused.value.trailing_metadata())["retry-after"]) >= 1
    finally:
        throttled.stop()


# --- readiness -------------------------------------------------------------------------------------------


def test_degraded_health_is_a_503_and_grpc_not_serving(service: ServiceProcess) -> None:
    response = requests.get(f"{service.base_url}/v1/health", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert {k: body[k] for k in ("status", "version")} == {"status": "degraded", "version": "v1"}
    assert body["components"]["triton"] == "unavailable"
    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        live = stub.Check(health_pb2.HealthCheckRequest(service=""))
        ready = stub.Check(health_pb2.HealthCheckRequest(service="phonos.v1.PhonosService"))
        over_grpc = pb.GetHealthResponse.FromString(
            channel.unary_unary("/phonos.v1.PhonosService/GetHealth")(b"", timeout=10))
    assert live.status == health_pb2.HealthCheckResponse.SERVING
    assert ready.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert over_grpc.status == "degraded"  # gRPC callers read the body; the call itself succeeds


# --- usage stays bounded -------------------------------------------------------------------------------


def test_401_and_429_storms_do_not_grow_the_usage_table(service: ServiceProcess) -> None:
    def usage_rows() -> int:
        with sqlite3.connect(service.data_dir / "phonos.sqlite3") as conn:
            return int(conn.execute("SELECT COUNT(*) FROM usage_hourly").fetchone()[0])

    client = service.client(service.new_key(rate_limit=1))
    before = usage_rows()
    statuses = [client.get("/v1/account").status_code for _ in range(300)]
    assert (statuses.count(200), statuses.count(429)) == (1, 299)
    anonymous = service.client("pk_not_a_key")
    assert {anonymous.get("/v1/account").status_code for _ in range(100)} == {401}
    time.sleep(0.5)  # two flush intervals
    assert usage_rows() - before == 2  # (route, OK) and (route, RESOURCE_EXHAUSTED); 401s are no one's usage


# --- the data directory ----------------------------------------------------------------------------------


def test_the_data_directory_is_private(service: ServiceProcess) -> None:
    service.new_key()
    assert stat.S_IMODE(service.data_dir.stat().st_mode) == 0o700
    for name in ("phonos.sqlite3", "phonos.sqlite3-wal", "phonos.sqlite3-shm", "jobservice.lock"):
        path = service.data_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
