"""A compressed body is inflated a step at a time (gateway/body.py): a small body that inflates past its route's
limit (a "gzip bomb") holds about the limit before its 413, and inflated bytes are counted into the client's upload
budget as they come, so one past the budget is a 429 before the rest is inflated. Was: one `decompress` to the
limit, holding twice the limit (the inflated bytes and their copy) before the 413, and inflated bytes counted only
once all were inflated. Memory is the gateway's own (it runs in this process), traced with tracemalloc."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from gateway.body import UPLOAD_BUDGET_KEY
from gateway.invoker import InProcessInvoker
from gateway.server import start_gateway
from gateway.uploads import UploadBudget
from phonos_common.limits import BodyLimits
from phonos_config.edge import EdgeSettings
from tests.gateway.test_gateway_edge import PREDICT, HealthServicer, assert_json_error, exchange, post

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
LIMIT = 16 * MIB  # the Predict route's limit here


@asynccontextmanager
async def gateway(edge: EdgeSettings) -> AsyncIterator[tuple[int, web.AppRunner]]:
    runner, port = await start_gateway(InProcessInvoker(HealthServicer()), "127.0.0.1", 0, edge=edge,
                                       body_limits=BodyLimits(default=1024, per_method={PREDICT: LIMIT}))
    try:
        yield port, runner
    finally:
        await runner.cleanup()


async def traced_peak(request: bytes, port: int) -> tuple[bytes, int]:
    """The answer to `request`, and the most memory the process held (tracemalloc) while it was answered."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        answer = await exchange(port, request, wait_s=10)
        return answer, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def gzip_of_zeros(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9, mtime=0)


def test_a_gzip_bomb_holds_about_the_limit_before_its_413() -> None:
    async def scenario() -> None:
        async with gateway(EdgeSettings()) as (port, _):
            bomb = gzip_of_zeros(2 * LIMIT)  # 32 KB that inflates to 32 MiB
            answer, peak = await traced_peak(post("/v1/predict", bomb, extra="Content-Encoding: gzip\r\n"), port)
            assert "inflated request body" in assert_json_error(answer, 413)["message"]
            assert peak < LIMIT * 5 // 4, f"{peak / MIB:.1f} MiB held for a {len(bomb)}-byte body"  # was ~2x the limit

    asyncio.run(scenario())


def test_inflated_bytes_past_the_upload_budget_are_refused_as_they_come() -> None:
    async def scenario() -> None:
        edge = EdgeSettings(upload_bytes_per_client=MIB)
        async with gateway(edge) as (port, runner):
            budget: UploadBudget = runner.app[UPLOAD_BUDGET_KEY]  # type: ignore[assignment]
            # Another upload from this address in flight: its declared 512 KiB are counted while it trickles.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(post("/v1/predict", b"").replace(b"Content-Length: 0",
                                                               f"Content-Length: {MIB // 2}".encode()) + b"{")
                deadline = time.monotonic() + 10
                while budget.in_flight < MIB // 2:
                    assert time.monotonic() < deadline, "the held upload was never counted"
                    await asyncio.sleep(0.02)
                # 8 KB that inflate to 8 MiB (under the route's limit): past the address's budget at the first step.
                body = gzip_of_zeros(8 * MIB)
                answer, peak = await traced_peak(post("/v1/predict", body, extra="Content-Encoding: gzip\r\n"), port)
                assert "Too many request bytes in progress from your address" in assert_json_error(answer, 429)["message"]
                assert peak < 3 * MIB, f"{peak / MIB:.1f} MiB held before the 429"  # was the 8 MiB and a copy
            finally:
                writer.close()
            # A lone body that inflates past the budget still fits (its own bytes never refuse it): a 200.
            deadline = time.monotonic() + 10
            while budget.in_flight:
                assert time.monotonic() < deadline, "the held upload was never given back"
                await asyncio.sleep(0.02)
            alone = gzip.compress(json.dumps({"model": "esmfold", "sequence": "MKTV", "name": "n" * (2 * MIB)}).encode())
            answer = await exchange(port, post("/v1/predict", alone, extra="Content-Encoding: gzip\r\n"), wait_s=10)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]

    asyncio.run(scenario())
