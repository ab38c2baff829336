"""The SDK's default retries ride out a server restart: `phonos serve` restarting its job service refuses
connections (or its gateway answers 502/503) for about 3 s, and a default `Client` must still get its answer.
Only calls that are safe to repeat are repeated; the budget is the client's `max_retry_wait` (PHONOS_MAX_RETRY_WAIT
for the command)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from phonos_client import AsyncClient, Client, calls, config, errors
from phonos_client.retry import DEFAULT_RETRY_WAIT_S, RetryPolicy, Tries

pytestmark = pytest.mark.unit

DOWN_S = 5.0  # the brief: ride out ~5 s of refused connections, 502 and 503
# The gateway's 502/503 spell: shorter (the same pauses as refusals, whose 5 s are ridden out below; the jitter
# test shows every draw of the default pauses reaches past DOWN_S), so the suite waits 3 s here, not 10.
GATEWAY_DOWN_S = 1.5
JOB = {"job_id": "j1", "model": "esmfold", "status": "completed", "created_at": "2026-01-01T00:00:00Z"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Scripted(BaseHTTPRequestHandler):
    """Answers 502 and 503 (no Retry-After) until `up_at` (monotonic), then a job; counts every request."""

    up_at = 0.0
    seen: list[str] = []

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if time.monotonic() < type(self).up_at:
            status = 502 if len(type(self).seen) % 2 else 503
            body = {"error": "Service unavailable", "message": "the job service is restarting"}
        else:
            status, body = 200, {**JOB, "share_id": "s1", "url": "/s/x", "expires_at": "2026-02-01T00:00:00Z"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@contextmanager
def serve(port: int, delay_s: float = 0.0) -> Iterator[None]:
    """The scripted server on `port`, listening only after `delay_s` (until then the port refuses)."""
    box: list[ThreadingHTTPServer] = []

    def start() -> None:
        time.sleep(delay_s)
        server = ThreadingHTTPServer(("127.0.0.1", port), Scripted)
        box.append(server)
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    try:
        yield
    finally:
        deadline = time.monotonic() + delay_s + 5
        while not box and time.monotonic() < deadline:
            time.sleep(0.05)
        if box:
            box[0].shutdown()
            box[0].server_close()


@pytest.fixture
def scripted() -> Iterator[int]:
    """A port whose server answers 502/503 for GATEWAY_DOWN_S, then the job."""
    port = free_port()
    Scripted.seen = []
    Scripted.up_at = time.monotonic() + GATEWAY_DOWN_S
    with serve(port):
        yield port


def test_the_default_pauses_ride_out_five_seconds_and_stop_at_the_budget() -> None:
    """Every draw of the jitter: the tries reach past 5 s of failures, the pauses end at max_retry_wait (8 s),
    and the first retry still comes quickly (a blip costs well under a second)."""
    policy = RetryPolicy()
    refused = errors.APIConnectionError("could not reach the server at http://127.0.0.1:1: refused")
    for _ in range(200):
        tries, pauses = Tries(), []
        with pytest.raises(errors.APIConnectionError):
            while True:
                pauses.append(policy.delay(calls.get_job("j1"), refused, tries))
        assert pauses[0] <= 0.5
        assert max(pauses) <= 2.0
        assert sum(pauses) == pytest.approx(DEFAULT_RETRY_WAIT_S) and sum(pauses) >= DOWN_S + 2


def test_a_timeout_is_tried_again_twice_and_a_zero_budget_not_at_all() -> None:
    timed_out = errors.APITimeoutError("the server did not answer in time")
    tries = Tries()
    RetryPolicy().delay(calls.get_job("j1"), timed_out, tries)
    RetryPolicy().delay(calls.get_job("j1"), timed_out, tries)
    with pytest.raises(errors.APITimeoutError):
        RetryPolicy().delay(calls.get_job("j1"), timed_out, tries)
    with pytest.raises(errors.APIConnectionError):
        RetryPolicy(max_retry_wait=0).delay(calls.get_job("j1"), errors.APIConnectionError("x"), Tries())


def test_a_default_client_rides_out_refused_connections(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens for DOWN_S (connection refused), then the server answers: the GET succeeds, and the
    pause was logged once (the command shows it on stderr)."""
    port = free_port()
    Scripted.seen, Scripted.up_at = [], 0.0
    started = time.monotonic()
    with caplog.at_level("INFO", logger="phonos_client"), serve(port, DOWN_S):
        with Client(f"http://127.0.0.1:{port}", "pk_x") as client:
            assert client.get_job("j1").job_id == "j1"
    assert time.monotonic() - started >= DOWN_S
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith(f"could not reach the server at http://127.0.0.1:{port}")
    assert "trying again for up to 8 s" in said[0]


def test_a_default_client_rides_out_502_and_503_but_repeats_no_unsafe_post(scripted: int) -> None:
    """The gateway's 502/503 for GATEWAY_DOWN_S: a GET and a POST with its idempotency key (a cancel) get through;
    a POST without one (a share link: a second one would be a second link) is refused at its first 502/503."""
    async def cancel() -> str:
        async with AsyncClient(f"http://127.0.0.1:{scripted}", "pk_x") as client:
            return (await client.cancel_job("j1")).job_id

    with Client(f"http://127.0.0.1:{scripted}", "pk_x") as client:
        with pytest.raises(errors.APIStatusError) as refused:
            client.share_job("j1")
        assert refused.value.status in (502, 503) and Scripted.seen == ["POST /v1/jobs/j1/shares"]
        assert client.get_job("j1").job_id == "j1"
    assert len(Scripted.seen) > 3  # tried again and again through the spell
    Scripted.seen, Scripted.up_at = [], time.monotonic() + GATEWAY_DOWN_S
    assert asyncio.run(cancel()) == "j1"
    assert len(Scripted.seen) > 2 and all(seen.startswith("POST /v1/jobs/j1") for seen in Scripted.seen)


def test_the_budget_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_URL", "http://127.0.0.1:1")  # configured: nothing at all is refused (test_client_config)
    monkeypatch.setenv("PHONOS_MAX_RETRY_WAIT", "30")
    assert config.load().max_retry_wait == 30.0
    with Client.from_config() as client:
        assert client.max_retry_wait == 30.0
    monkeypatch.setenv("PHONOS_MAX_RETRY_WAIT", "soon")
    with pytest.raises(config.ConfigError, match="PHONOS_MAX_RETRY_WAIT is seconds, 0 or more"):
        config.load()
    with pytest.raises(ValueError, match="max_retry_wait"):
        Client("http://127.0.0.1:1", "pk_x", max_retry_wait=-1)
