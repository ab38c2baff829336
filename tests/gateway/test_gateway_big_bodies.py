"""A big body's work leaves the event loop free for everyone else (gateway/body.py `off_loop`).

The gateway has one event loop for every client. Inflating a big gzip body, parsing a big JSON body into its message
and encoding a big reply are done in threads, so another client's request is answered while that work is in
progress. Was: on the loop, every other request, SSE stream and download waited for it (~0.4 s for a 54 MB
AlphaFold2 submission, bench/loop_stall.py).

Each test holds the big work in the middle (a `Hold` around the real call, released by the test) and asks
GET /v1/health meanwhile: answered while held, the work is off the loop; on the loop, the health request could
only be answered once the hold gave up by itself (`HOLD_S`), and the test says so.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import threading
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import http_writer

from gateway import app as gateway_app
from gateway import big_json, json_shape, transcode
from gateway.body import INLINE_BYTES, off_loop
from gateway.invoker import InProcessInvoker
from gateway.server import start_gateway
from phonos.v1 import phonos_pb2 as pb
from phonos_common.limits import BodyLimits
from tests.gateway.test_gateway_edge import (
    PREDICT,
    HealthServicer,
    assert_json_error,
    exchange,
    gateway,
    post,
    run,
)
from tests.gateway.test_gateway_integration import AUTH

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
HOLD_S = 3.0  # how long a held call waits for the test before going on by itself (only on the old code)
LIMITS = BodyLimits(default=1024, per_method={PREDICT: 8 * MIB})
HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
BIG_PREDICT = json.dumps({"model": "esmfold", "sequence": "MKTV", "name": "n" * (2 * MIB)}).encode()


class Hold:
    """Holds the first call it wraps (in whatever thread runs it) until `release`, or HOLD_S at most."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.released_in_time: bool | None = None

    def hold(self) -> None:
        if not self.started.is_set():
            self.started.set()
            self.released_in_time = self.release.wait(HOLD_S)

    def around(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.hold()
            return call(*args, **kwargs)

        return held


async def started(hold: Hold) -> None:
    """Wait (without blocking the loop) until the held call has begun."""
    for _ in range(500):
        if hold.started.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the big request's work never began")


async def health_while_held(port: int, hold: Hold, big_request: bytes) -> bytes:
    """The big request's answer, after asserting that GET /v1/health was answered while its work was held."""
    big = asyncio.ensure_future(exchange(port, big_request, wait_s=30))
    await started(hold)
    health = await exchange(port, HEALTH, wait_s=30)
    hold.release.set()
    answer = await big
    assert health.startswith(b"HTTP/1.1 503"), health[:200]  # HealthServicer: degraded, 503
    assert hold.released_in_time, (f"GET /v1/health was answered only after the big request's work went on by "
                                   f"itself ({HOLD_S} s): that work held the event loop")
    return answer


class _HeldInflater:
    """zlib's decompress object, held once the body has inflated past INLINE_BYTES (the part done in a thread)."""

    def __init__(self, real: Any, hold: Hold) -> None:
        self._real = real
        self._hold = hold
        self._out = 0

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._out > INLINE_BYTES:
            self._hold.hold()
        part: bytes = self._real.decompress(data, max_length)
        self._out += len(part)
        return part

    def __getattr__(self, name: str) -> Any:  # eof, unconsumed_tail, unused_data
        return getattr(self._real, name)


def test_another_request_is_answered_while_a_big_body_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    monkeypatch.setattr(json_shape, "check", hold.around(json_shape.check))  # inside the parse of the body

    async def scenario() -> None:
        async with gateway(body_limits=LIMITS) as (port, _):
            answer = await health_while_held(port, hold, post("/v1/predict", BIG_PREDICT))
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]

    run(scenario)


def test_another_request_is_answered_while_a_big_body_is_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    real = zlib.decompressobj
    monkeypatch.setattr(zlib, "decompressobj", lambda *args: _HeldInflater(real(*args), hold))

    async def scenario() -> None:
        async with gateway(body_limits=LIMITS) as (port, _):
            body = gzip.compress(BIG_PREDICT, mtime=0)
            answer = await health_while_held(port, hold, post("/v1/predict", body, extra="Content-Encoding: gzip\r\n"))
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]

    run(scenario)


class BigInputServicer(HealthServicer):
    async def GetJobInput(self, request: pb.GetJobInputRequest, context: Any) -> pb.GetJobInputResponse:
        answer = pb.GetJobInputResponse(model="alphafold2", sequence="MKTV")
        answer.params.update({"msa_mode": "a3m", "a3m": ">q\nMKTV\n" * (MIB // 4)})
        return answer


def test_another_request_is_answered_while_a_big_reply_is_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    monkeypatch.setattr(gateway_app, "render_response", hold.around(gateway_app.render_response))

    async def scenario() -> None:
        runner, port = await start_gateway(InProcessInvoker(BigInputServicer()), "127.0.0.1", 0, body_limits=LIMITS)
        try:
            get = f"GET /v1/jobs/j1/input HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n\r\n".encode()
            answer = await health_while_held(port, hold, get)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
            assert json.loads(answer.partition(b"\r\n\r\n")[2])["params"]["a3m"].startswith(">q\nMKTV\n")
        finally:
            await runner.cleanup()

    run(scenario)


def _damaged_in_the_middle() -> bytes:
    """A gzip body damaged at three quarters of its stream (inflated there in a thread)."""
    letters = random.Random(0).choices(b"ACDEFGHIKLMNPQRSTVWY", k=2 * MIB)
    data = bytearray(gzip.compress(b'{"model": "esmfold", "sequence": "' + bytes(letters) + b'"}', mtime=0))
    middle = len(data) * 3 // 4
    data[middle:middle + 64] = bytes(64)
    return bytes(data)


@pytest.mark.parametrize(("body", "status", "needle"), [
    (gzip.compress(BIG_PREDICT, mtime=0)[:-20], 400, "is not one complete gzip stream"),
    (_damaged_in_the_middle(), 400, "is not valid gzip data"),
    (gzip.compress(b"\0" * (9 * MIB), mtime=0), 413, "inflated request body is larger than this route accepts"),
    (gzip.compress(b'{"model": "esmfold", "x": "' + b"y" * MIB + b'"}', mtime=0), 400, 'unknown field "x"'),
])
def test_a_big_bodys_errors_off_the_loop_are_the_same_json_answers(body: bytes, status: int, needle: str) -> None:
    async def scenario() -> None:
        async with gateway(body_limits=LIMITS) as (port, _):
            answer = await exchange(port, post("/v1/predict", body, extra="Content-Encoding: gzip\r\n"), wait_s=30)
            assert needle in assert_json_error(answer, status)["message"]

    run(scenario)


def test_a_lone_surrogate_deep_in_a_big_string_is_found() -> None:
    """Big strings are searched for lone surrogates a chunk at a time (so the loop can run between the chunks), an
    ASCII one (the other tests' bodies) not at all: the 400 still names one past the first chunk."""
    far = ('{"model": "esmfold", "sequence": "MKTV", "name": "' + "é" * (3 * MIB) + '\\ud800"}').encode()

    async def scenario() -> None:
        async with gateway(body_limits=LIMITS) as (port, _):
            answer = await exchange(port, post("/v1/predict", far), wait_s=30)
            assert "name holds an unpaired surrogate" in assert_json_error(answer, 400)["message"]

    run(scenario)


def test_cancelled_work_off_the_loop_is_waited_for() -> None:
    """A request cancelled (the server stopping) while its body is worked on returns only once that work has
    ended: until then the body is held, and its bytes stay counted in the upload budget."""
    hold = Hold()
    stopped: list[bool] = []

    async def scenario() -> None:
        task = asyncio.ensure_future(off_loop(hold.around(lambda: None), stop=lambda: stopped.append(True)))
        await started(hold)
        task.cancel()
        for _ in range(5):  # a few turns of the loop: still waiting for the held work
            await asyncio.sleep(0)
        assert not task.done() and stopped == [True]
        hold.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario)


def test_a_big_bodys_and_replys_long_strings_go_through_json_a_piece_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread lets the loop run only between its C calls, and json.loads of a big body (json.dumps of a big
    reply) was one call over all of it: the loop waited for the whole parse (~0.1-0.3 s for 54 MB) although it ran in
    a thread. Now no json call is given more than a piece (gateway/big_json.py) of the 2 MiB strings."""
    sizes: list[int] = []
    real_loads, real_dumps = json.loads, json.dumps

    def loads(text: Any, **kwargs: Any) -> Any:
        sizes.append(len(text))
        return real_loads(text, **kwargs)

    def dumps(value: Any, **kwargs: Any) -> str:
        sizes.append(len(value) if isinstance(value, str) else 0)
        return real_dumps(value, **kwargs)

    async def scenario() -> None:
        runner, port = await start_gateway(InProcessInvoker(BigInputServicer()), "127.0.0.1", 0, body_limits=LIMITS)
        try:
            monkeypatch.setattr(json, "loads", loads)
            monkeypatch.setattr(json, "dumps", dumps)
            answer = await exchange(port, post("/v1/predict", BIG_PREDICT), wait_s=30)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
            get = f"GET /v1/jobs/j1/input HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n\r\n".encode()
            answer = await exchange(port, get, wait_s=30)
            monkeypatch.undo()
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
            assert json.loads(answer.partition(b"\r\n\r\n")[2])["params"]["a3m"] == ">q\nMKTV\n" * (MIB // 4)
        finally:
            await runner.cleanup()

    run(scenario)
    assert sizes and max(sizes) <= big_json.PIECE_CHARS + 2, f"{max(sizes)} characters in one json call"


class SmallInputServicer(HealthServicer):
    async def GetJobInput(self, request: pb.GetJobInputRequest, context: Any) -> pb.GetJobInputResponse:
        answer = pb.GetJobInputResponse(model="alphafold2", sequence="MKTV")
        answer.params.update({"msa_mode": "a3m", "a3m": ">q\nMKTV\n"})
        return answer


def test_a_reply_that_may_be_big_is_not_measured_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply whose type holds free-form JSON (a job's input, its result) is encoded in a thread whatever its size:
    measuring it first on the loop (protobuf's ByteSize serializes it whole: ~0.2 s for a 50 MB A3M) held every
    other request. A reply of a bounded type (GET /v1/health) is still encoded on the loop, with no thread hop."""
    threads: list[tuple[str, str]] = []
    real = gateway_app.render_response

    def render(plan: Any, message: Any) -> Any:
        threads.append((plan.rule.method.name, threading.current_thread().name))
        return real(plan, message)

    monkeypatch.setattr(gateway_app, "render_response", render)

    async def scenario() -> None:
        runner, port = await start_gateway(InProcessInvoker(SmallInputServicer()), "127.0.0.1", 0, body_limits=LIMITS)
        try:
            get = f"GET /v1/jobs/j1/input HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n\r\n".encode()
            assert (await exchange(port, get, wait_s=30)).startswith(b"HTTP/1.1 200")
            assert (await exchange(port, HEALTH, wait_s=30)).startswith(b"HTTP/1.1 503")
        finally:
            await runner.cleanup()

    run(scenario)
    assert [(method, name.startswith("gateway-body")) for method, name in threads] == [
        ("GetJobInput", True), ("GetHealth", False)]


def test_a_big_reply_is_handed_to_the_connection_a_piece_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: one write of the whole answer, which asyncio copied into the connection's buffer on the loop (after
    aiohttp joined it to the headers): tens of ms for 54 MB, every other client waiting. Now WRITE_PIECE_BYTES a
    write, the loop free between them; the client gets the same bytes."""
    writes: list[int] = []
    real = http_writer.StreamWriter.write

    async def write(self: http_writer.StreamWriter, chunk: Any, **kwargs: Any) -> None:
        writes.append(len(chunk))
        await real(self, chunk, **kwargs)

    monkeypatch.setattr(http_writer.StreamWriter, "write", write)

    async def scenario() -> None:
        runner, port = await start_gateway(InProcessInvoker(BigInputServicer()), "127.0.0.1", 0, body_limits=LIMITS)
        try:
            get = f"GET /v1/jobs/j1/input HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n\r\n".encode()
            answer = await exchange(port, get, wait_s=30)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {len(body)}".encode() in head, head
            assert json.loads(body)["params"]["a3m"] == ">q\nMKTV\n" * (MIB // 4)
        finally:
            await runner.cleanup()

    run(scenario)
    assert len(writes) >= 2 and max(writes) <= gateway_app.WRITE_PIECE_BYTES, writes


LONG = "x" * (big_json.PIECE_CHARS + 1000)  # a literal read a piece at a time


@pytest.mark.parametrize("body", [
    f'{{"model": "esmfold", "name": "{LONG}", "model": "alphafold2"}}'.encode(),  # a key given twice
    f'{{"model": "esmfold", "name": "{LONG}", "params": {"[" * 21}{"]" * 21}}}'.encode(),  # too deep
    f'{{"model": "esmfold", "name": "{LONG}", "params": {{"a": [{", ".join(["0"] * 20_001)}]}}}}'.encode(),  # values
    f'{{"model": "esmfold", "name": "{LONG}\\udc00"}}'.encode(),  # a lone surrogate in the long string
    b'{"model": "esmfold", "name": "' + LONG.encode() + b'\xc3("}',  # not UTF-8 in the long string
    f'{{"model": "esmfold", "name": "{LONG}" "sequence": "MKTV"}}'.encode(),  # a missing comma
    f'{{"model": "esmfold", "name": "{LONG}\\q"}}'.encode(),  # an escape JSON does not have
], ids=["duplicate-key", "depth", "values", "surrogate", "not-utf-8", "malformed", "bad-escape"])
def test_a_big_bodys_400_is_the_one_reading_it_whole_gives(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the gateway, over INLINE_BYTES with a literal over big_json.PIECE_CHARS: the 400's words are those of
    the old way, json.loads of the whole text (computed here with the pieces turned off)."""
    async def scenario() -> str:
        async with gateway(body_limits=LIMITS) as (port, _):
            answer = await exchange(port, post("/v1/predict", body), wait_s=30)
            return str(assert_json_error(answer, 400)["message"])

    message = asyncio.run(scenario())
    monkeypatch.setattr(big_json, "_loads_in_pieces", lambda data, object_pairs_hook: big_json._UNFIT)
    with pytest.raises(transcode.TranscodeError) as whole:
        transcode._parse_json(body)
    assert message == str(whole.value)
