"""Integration: real HTTP into the gateway, through BOTH invokers, to a fixed PhonosService servicer.

The channel invoker talks to a real grpc.aio server on a free port; the in-process invoker calls the
same servicer class directly. Every scenario runs against both, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import aiohttp
import grpc
import pytest
from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from multidict import CIMultiDict
from phonos_client import AsyncClient

from gateway.invoker import (
    UNREACHABLE_MESSAGE,
    ChannelInvoker,
    InProcessInvoker,
    Invoker,
    RpcFailure,
    open_channel,
)
from gateway.server import start_gateway
from phonos.v1 import phonos_pb2 as pb
from phonos.v1 import phonos_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

AUTH = "Bearer pk_test"
LIMITED = "Bearer pk_limited"
JOB_ID = "550e8400-e29b-41d4-a716-446655440000"
T0 = timestamp_pb2.Timestamp(seconds=1765967400)  # 2025-12-17T10:30:00Z
T1 = timestamp_pb2.Timestamp(seconds=1765967520)  # 2025-12-17T10:32:00Z
PDB = b"REMARK   1 TINY RANDOM WEIGHTS: NOT A REAL PREDICTION\nATOM      1  N   MET A   1\nEND\n"
MODELS = [
    ("esmfold", "ESMFold", "Fast protein structure prediction from Meta AI", "structure_prediction", 10),
    (
        "alphafold2",
        "AlphaFold2",
        "High-accuracy protein structure prediction from DeepMind",
        "structure_prediction",
        50,
    ),
    ("diffdock", "DiffDock", "Molecular docking for protein-ligand interactions", "docking", 30),
]


class FixedServicer(pb_grpc.PhonosServiceServicer):
    """Returns fixed messages and fails the way the job service does (codes + phonos-error-* metadata)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Message, dict[str, str]]] = []

    async def _authorize(self, name: str, request: Message, context: Any) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        self.seen.append((name, request, metadata))
        auth = metadata.get("authorization")
        if auth == LIMITED:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "You have exceeded the rate limit of 60 requests per minute",
                (
                    ("phonos-error-title", "Rate limit exceeded"),
                    ("retry-after", "17"),
                    ("x-ratelimit-limit", "60"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1765967460"),
                ),
            )
        if auth != AUTH:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "Invalid or missing API key",
                (("phonos-error-title", "Unauthorized"),),
            )
        await context.send_initial_metadata((("x-ratelimit-limit", "60"),))
        context.set_trailing_metadata((("x-ratelimit-remaining", "59"), ("x-ratelimit-reset", "1765967460")))

    async def GetHealth(self, request: pb.GetHealthRequest, context: Any) -> pb.GetHealthResponse:
        return pb.GetHealthResponse(status="operational", version="v1", message="PHONOS API is running")

    async def ListModels(self, request: pb.ListModelsRequest, context: Any) -> pb.ListModelsResponse:
        await self._authorize("ListModels", request, context)
        models = [pb.Model(id=i, name=n, description=d, type=t, cost_credits=c) for i, n, d, t, c in MODELS]
        return pb.ListModelsResponse(models=models)

    async def Predict(self, request: pb.PredictRequest, context: Any) -> pb.PredictResponse:
        await self._authorize("Predict", request, context)
        if not request.sequence:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "sequence is required")
        if request.model == "alphafold2":
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "This job costs 50 credits; your balance is 5",
                (
                    ("phonos-error-title", "Insufficient credits"),
                    ("phonos-error-reason", "INSUFFICIENT_CREDITS"),
                ),
            )
        return pb.PredictResponse(
            success=True,
            job_id=JOB_ID,
            model=request.model,
            status="pending",
            credits_used=10,
            message="Job submitted successfully",
        )

    async def GetJob(self, request: pb.GetJobRequest, context: Any) -> pb.GetJobResponse:
        await self._authorize("GetJob", request, context)
        if request.job_id == "boom":
            raise RuntimeError("secret internals /srv/phonos/db.sqlite")
        if request.job_id == "slow":
            await asyncio.sleep(2)
        if request.job_id not in (JOB_ID, "done", "slow"):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Job {request.job_id} not found")
        job = pb.Job(
            job_id=request.job_id, name="My Protein Structure", status="pending", created_at=T0, updated_at=T0
        )
        if request.job_id == "done":
            job.status = "completed"
            job.updated_at.CopyFrom(T1)
            job.output_file = "done.pdb"
            job.download_url = "/v1/jobs/done/download"
            job.credits_used = 10
            job.formats.extend(["pdb", "cif"])
            job.metrics.update({"mean_plddt": 87.25, "num_recycles": 4})
            job.metadata.update({"weights": "esmfold-tiny-random", "note": "not a real prediction"})
        return pb.GetJobResponse(job=job)

    async def ListJobs(self, request: pb.ListJobsRequest, context: Any) -> pb.ListJobsResponse:
        await self._authorize("ListJobs", request, context)
        limit = request.limit if request.HasField("limit") else 50
        job = pb.Job(
            job_id=JOB_ID, name="Insulin Structure", status=request.status or "completed", model="esmfold"
        )
        job.created_at.CopyFrom(T0)
        job.download_url = f"/v1/jobs/{JOB_ID}/download"
        return pb.ListJobsResponse(
            jobs=[job], pagination=pb.Pagination(total=150, limit=limit, offset=request.offset, has_more=True)
        )

    async def DownloadJobOutput(
        self, request: pb.DownloadJobOutputRequest, context: Any
    ) -> pb.DownloadJobOutputResponse:
        await self._authorize("DownloadJobOutput", request, context)
        fmt = request.format if request.HasField("format") else "pdb"
        if fmt not in ("pdb", "cif"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"format must be pdb or cif, not {fmt!r}")
        context.set_trailing_metadata(
            (
                ("content-disposition", f'attachment; filename="{request.job_id}.{fmt}"'),
                ("x-ratelimit-remaining", "58"),
            )
        )
        content_type = "chemical/x-pdb" if fmt == "pdb" else "chemical/x-mmcif"
        body = httpbody_pb2.HttpBody(content_type=content_type, data=PDB if fmt == "pdb" else b"data_tiny\n")
        return pb.DownloadJobOutputResponse(file=body, file_name=f"{request.job_id}.{fmt}")

    async def WatchJob(self, request: pb.WatchJobRequest, context: Any) -> AsyncIterator[pb.WatchJobResponse]:
        """First connection: the job running, then the job service "goes away" (UNAVAILABLE, no title: what a
        channel to a stopped job service raises). A resumed one (after event "1"): the job completed."""
        await self._authorize("WatchJob", request, context)
        status, event_id = ("completed", "2") if request.last_event_id == "1" else ("running", "1")
        job = pb.Job(job_id=request.job_id, name="My Protein Structure", status=status, created_at=T0, updated_at=T1)
        yield pb.WatchJobResponse(event=pb.JobEvent(type="state", event_id=event_id, job_id=request.job_id, job=job))
        if status == "running":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "connection to the job service lost")

    async def CancelJob(self, request: pb.CancelJobRequest, context: Any) -> pb.CancelJobResponse:
        await self._authorize("CancelJob", request, context)
        return pb.CancelJobResponse(
            success=True, job_id=request.job_id, status="cancelled", message="Job cancelled successfully"
        )

    async def GetAccount(self, request: pb.GetAccountRequest, context: Any) -> pb.GetAccountResponse:
        await self._authorize("GetAccount", request, context)
        return pb.GetAccountResponse(
            account=pb.Account(id=123, username="researcher", email="user@example.com", created_at=T0),
            credits=pb.Credits(balance=5000, currency="credits"),
            jobs=pb.JobCounts(total=150, completed=142, active=3, failed=5),
        )

    async def GetUsage(self, request: pb.GetUsageRequest, context: Any) -> pb.GetUsageResponse:
        await self._authorize("GetUsage", request, context)
        days = request.days if request.HasField("days") else 30
        return pb.GetUsageResponse(
            period=pb.UsagePeriod(days=days, start_date="2025-11-17", end_date="2025-12-17"),
            totals=pb.UsageTotals(requests=1250, credits_used=15000, avg_response_time_ms=45.2),
        )


KINDS = ["channel", "in_process"]


@asynccontextmanager
async def stack(
    kind: str, rpc_timeout: float = 1.0, **gateway_options: Any
) -> AsyncIterator[tuple[str, FixedServicer, Invoker]]:
    """A gateway on a free port in front of FixedServicer; yields (base URL, servicer, invoker)."""
    servicer = FixedServicer()
    server = None
    channel = None
    if kind == "channel":
        server = grpc.aio.server()
        pb_grpc.add_PhonosServiceServicer_to_server(servicer, server)
        grpc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = open_channel(f"127.0.0.1:{grpc_port}")
        invoker: Invoker = ChannelInvoker(channel, timeout=rpc_timeout)
    else:
        invoker = InProcessInvoker(servicer, timeout=rpc_timeout)
    runner, port = await start_gateway(invoker, "127.0.0.1", 0, **gateway_options)
    try:
        yield f"http://127.0.0.1:{port}", servicer, invoker
    finally:
        await runner.cleanup()
        if channel is not None:
            await channel.close()
        if server is not None:
            await server.stop(None)


Scenario = Callable[[aiohttp.ClientSession, str, FixedServicer], Awaitable[None]]


def run(kind: str, scenario: Scenario, **gateway_options: Any) -> None:
    async def main() -> None:
        async with stack(kind, **gateway_options) as (base, servicer, _), aiohttp.ClientSession() as session:
            await scenario(session, base, servicer)

    asyncio.run(main())


async def call(
    session: aiohttp.ClientSession, method: str, url: str, *, auth: str | None = AUTH, **kwargs: Any
) -> tuple[int, Any, Any]:
    headers = dict(kwargs.pop("headers", {}))
    if auth is not None:
        headers["Authorization"] = auth
    async with session.request(method, url, headers=headers, **kwargs) as response:
        raw = await response.read()
        is_json = response.content_type == "application/json"
        return response.status, json.loads(raw) if is_json else raw, response.headers


# --- shapes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_health_models_account_usage_shapes(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        status, body, _ = await call(session, "GET", f"{base}/v1/health", auth=None)
        assert status == 200
        assert body == {
            "status": "operational",
            "version": "v1",
            "message": "PHONOS API is running",
            "components": {},
        }
        status, body, _ = await call(session, "GET", f"{base}/v1/models")
        assert status == 200
        assert body["models"][1] == {
            "id": "alphafold2",
            "name": "AlphaFold2",
            "description": "High-accuracy protein structure prediction from DeepMind",
            "type": "structure_prediction",
            "cost_credits": 50,
        }
        status, body, _ = await call(session, "GET", f"{base}/v1/account")
        assert body == {
            "account": {
                "id": 123,
                "username": "researcher",
                "email": "user@example.com",
                "created_at": "2025-12-17T10:30:00Z",
            },
            "credits": {"balance": 5000, "currency": "credits"},
            "jobs": {"total": 150, "completed": 142, "active": 3, "failed": 5, "cancelled": 0},
        }
        status, body, _ = await call(session, "GET", f"{base}/v1/usage?days=7")
        assert body["period"] == {"days": 7, "start_date": "2025-11-17", "end_date": "2025-12-17"}
        assert body["totals"] == {"requests": 1250, "credits_used": 15000, "avg_response_time_ms": 45.2}
        assert body["by_endpoint"] == [] and body["daily"] == []

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_predict_forwards_headers_and_metadata(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        payload = {
            "model": "esmfold",
            "sequence": "MGSSHHHHHHSSGLVPRGSHMASMTGGQQMGRGS",
            "name": "My Protein Structure",
            "params": {"num_recycles": 4},
        }
        status, body, headers = await call(
            session, "POST", f"{base}/v1/predict", json=payload, headers={"X-Request-Id": "req-42"}
        )
        assert status == 200
        assert body == {
            "success": True,
            "job_id": JOB_ID,
            "model": "esmfold",
            "status": "pending",
            "credits_used": 10,
            "message": "Job submitted successfully",
        }
        assert headers["X-Request-Id"] == "req-42"
        assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("60", "59")
        assert headers["X-RateLimit-Reset"] == "1765967460"
        name, request, metadata = servicer.seen[-1]
        assert name == "Predict"
        assert request.name == "My Protein Structure" and request.params["num_recycles"] == 4
        assert metadata["authorization"] == AUTH
        assert metadata["x-request-id"] == "req-42"
        assert metadata["x-phonos-route"] == "/v1/predict"
        assert metadata["x-phonos-transport"] == "rest"

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_job_shapes(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        status, pending, _ = await call(session, "GET", f"{base}/v1/jobs/{JOB_ID}")
        assert status == 200
        assert pending == {
            "job_id": JOB_ID,
            "name": "My Protein Structure",
            "status": "pending",
            "model": "",
            "created_at": "2025-12-17T10:30:00Z",
            "updated_at": "2025-12-17T10:30:00Z",
            "credits_used": 0,
            "formats": [],
        }
        assert servicer.seen[-1][2]["x-phonos-route"] == "/v1/jobs/{job_id}"
        status, done, _ = await call(session, "GET", f"{base}/v1/jobs/done")
        assert done["status"] == "completed" and done["updated_at"] == "2025-12-17T10:32:00Z"
        assert (done["output_file"], done["download_url"]) == ("done.pdb", "/v1/jobs/done/download")
        assert done["metrics"] == {"mean_plddt": 87.25, "num_recycles": 4}
        assert type(done["metrics"]["num_recycles"]) is int
        assert done["metadata"]["note"] == "not a real prediction"

        status, page, _ = await call(session, "GET", f"{base}/v1/jobs?status=completed&limit=10&offset=20")
        assert page["pagination"] == {"total": 150, "limit": 10, "offset": 20, "has_more": True}
        assert page["jobs"][0]["download_url"] == f"/v1/jobs/{JOB_ID}/download"
        assert "output_file" not in page["jobs"][0]
        request = servicer.seen[-1][1]
        assert request.status == "completed" and not request.HasField("model")

        status, cancelled, _ = await call(session, "POST", f"{base}/v1/jobs/{JOB_ID}/cancel", json={})
        assert (status, cancelled["status"], cancelled["credits_refunded"]) == (200, "cancelled", 0)

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_download_is_raw_bytes(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        status, data, headers = await call(session, "GET", f"{base}/v1/jobs/done/download")
        assert (status, data) == (200, PDB)
        assert headers["Content-Type"] == "chemical/x-pdb"
        assert headers["Content-Disposition"] == 'attachment; filename="done.pdb"'
        assert headers["X-RateLimit-Remaining"] == "58"
        status, data, headers = await call(session, "GET", f"{base}/v1/jobs/done/download?format=cif")
        assert (status, data, headers["Content-Type"]) == (200, b"data_tiny\n", "chemical/x-mmcif")
        status, body, _ = await call(session, "GET", f"{base}/v1/jobs/done/download?format=xyz")
        assert (status, body) == (
            400,
            {"error": "Invalid request", "message": "format must be pdb or cif, not 'xyz'"},
        )

    run(kind, scenario)


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_error_bodies(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        predict = {"model": "esmfold", "sequence": "MKV"}
        status, body, _ = await call(session, "POST", f"{base}/v1/predict", json=predict, auth=None)
        assert (status, body) == (401, {"error": "Unauthorized", "message": "Invalid or missing API key"})

        status, body, _ = await call(
            session, "POST", f"{base}/v1/predict", json={**predict, "model": "alphafold2"}
        )
        assert (status, body) == (
            402,
            {"error": "Insufficient credits", "message": "This job costs 50 credits; your balance is 5"},
        )

        status, body, headers = await call(session, "GET", f"{base}/v1/models", auth=LIMITED)
        assert (status, body) == (
            429,
            {
                "error": "Rate limit exceeded",
                "message": "You have exceeded the rate limit of 60 requests per minute",
            },
        )
        assert (headers["Retry-After"], headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == (
            "17",
            "60",
            "0",
        )

        status, body, _ = await call(session, "GET", f"{base}/v1/jobs/nope")
        assert (status, body) == (404, {"error": "Not found", "message": "Job nope not found"})

        status, body, _ = await call(session, "GET", f"{base}/v2/anything")
        assert (status, body) == (404, {"error": "Not found", "message": "no route for GET /v2/anything"})

        status, body, headers = await call(session, "PATCH", f"{base}/v1/jobs/{JOB_ID}")
        assert status == 405 and body["error"] == "Method not allowed"
        assert headers["Allow"] == "DELETE, GET, HEAD"  # HEAD answers wherever a unary GET does

        status, body, _ = await call(session, "POST", f"{base}/v1/predict", data=b'{"model": ', auth=AUTH)
        assert status == 400 and body["error"] == "Invalid request" and "malformed JSON" in body["message"]

        status, body, _ = await call(session, "POST", f"{base}/v1/predict", json={"model": "esmfold"})
        assert (status, body) == (400, {"error": "Invalid request", "message": "sequence is required"})

        # JSON is UTF-8 (RFC 8259 8.1): other bytes are said so, not in Python's codec words (json.loads took
        # \xff\xfe for UTF-16: "'utf-16-le' codec can't decode byte 0x7b ..."); a byte order mark is ignored.
        for raw, offset in ((b'\xff\xfe{', 0), (b'{"model": "esmfold", "sequence": "MK\xff"}', 36)):
            status, body, _ = await call(session, "POST", f"{base}/v1/predict", data=raw, auth=AUTH)
            assert (status, body["message"]) == (400, f"malformed JSON body: it is not UTF-8 text (byte 0xff at "
                                                      f"offset {offset}); send JSON as UTF-8")
        status, body, _ = await call(session, "POST", f"{base}/v1/predict", data=b'\xef\xbb\xbf{"model": "esmfold"}')
        assert (status, body["message"]) == (400, "sequence is required")  # parsed: the service answered
        # A lone surrogate escape is JSON's grammar but no character: named by its path, not protobuf's words
        # ("Failed to parse sequence field: Unpaired surrogate at PredictRequest.sequence.").
        for raw, where in ((b'{"model": "esmfold", "sequence": "MK\\ud800"}', "sequence"),
                           (b'{"model": "esmfold", "sequence": "MK", "params": {"x": ["\\udc00"]}}', "params.x[0]")):
            status, body, _ = await call(session, "POST", f"{base}/v1/predict", data=raw, auth=AUTH)
            assert status == 400 and body["message"].startswith(f"invalid request body: {where} holds an unpaired "
                                                                 "surrogate"), body

        status, body, _ = await call(session, "GET", f"{base}/v1/jobs?limt=5")
        assert status == 400 and body["message"].endswith("accepted: limit, model, name, offset, starting_after, status")

        status, body, _ = await call(session, "GET", f"{base}/v1/jobs?limit=many")
        assert (status, body["message"]) == (400, 'limit: "many" is not an integer')

        # Too big for the wire type, refused here: in the job service's words for a number out of range.
        status, body, _ = await call(session, "GET", f"{base}/v1/jobs?limit=99999999999999999999")
        assert (status, body["message"]) == (400, "limit must be between 1 and 100, got 99999999999999999999")
        # No maximum in the contract: the side it went past, not int32's "[-2147483648, 2147483647]".
        status, body, _ = await call(session, "GET", f"{base}/v1/jobs?offset=99999999999999999999")
        assert (status, body["message"]) == (400, "offset must be at most 2147483647, got 99999999999999999999")

        # A body field the URL path gives is refused, not ignored (the path's key was renamed).
        status, body, _ = await call(session, "PATCH", f"{base}/v1/keys/k1", json={"key_id": "k2", "name": "x"})
        assert (status, body["message"]) == (400, 'invalid request body: "key_id" is given by the URL path; leave it '
                                                  "out of the body")

        # A form is told which format to send.
        status, body, _ = await call(session, "POST", f"{base}/v1/keys", data={"name": "x"})
        assert status == 400 and body["message"].endswith("; the body must be JSON, sent with Content-Type: "
                                                          "application/json"), body

        status, body, _ = await call(session, "GET", f"{base}/v1/webhooks")  # not implemented by the servicer
        assert status == 501 and body["error"] == "Not implemented"

        big = {"model": "esmfold", "sequence": "M" * 70_000}
        status, body, _ = await call(session, "POST", f"{base}/v1/predict", json=big)
        assert status == 413 and body["error"] == "Request too large"

    run(kind, scenario, max_body_bytes=64 * 1024)


@pytest.mark.parametrize("kind", KINDS)
def test_500_has_no_traceback_but_a_request_id(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        status, body, headers = await call(
            session, "GET", f"{base}/v1/jobs/boom", headers={"X-Request-Id": "r-500"}
        )
        assert status == 500 and body["error"] == "Internal server error"
        assert "secret" not in json.dumps(body) and "Traceback" not in json.dumps(body)
        assert "r-500" in body["message"] and headers["X-Request-Id"] == "r-500"

    with caplog.at_level("ERROR"):
        run(kind, scenario)
    assert any(getattr(r, "request_id", None) == "r-500" for r in caplog.records)


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_in_mid_stream_carries_its_status_and_the_sdk_resumes_after_it(kind: str) -> None:
    """The SSE response said 200 before the job service went away: the `event: error` says 503 itself, so
    the SDK's watch waits it out and resumes after the last event (a 4xx would end the watch)."""
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        status, body, headers = await call(session, "GET", f"{base}/v1/jobs/{JOB_ID}/events")
        assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
        text = body.decode()
        assert "event: state" in text and "event: error" in text
        error = json.loads(text.split("event: error\ndata: ", 1)[1].split("\n", 1)[0])
        # Over a channel an UNAVAILABLE without the job service's error title is the channel's: said in a client's
        # words, gRPC's own details go to the gateway's log (gateway.invoker.channel_failure).
        said = UNREACHABLE_MESSAGE if kind == "channel" else "connection to the job service lost"
        assert error == {"error": "Service unavailable", "message": said, "status": 503}

        async with AsyncClient(base, api_key=AUTH.removeprefix("Bearer "), max_retries=0) as client:
            events = [event async for event in client.watch(JOB_ID)]
        assert [(e.event_id, e.job.status) for e in events] == [("1", "running"), ("2", "completed")]
        resumed = [request for name, request, _ in servicer.seen if name == "WatchJob"][-1]
        assert resumed.last_event_id == "1"

    run(kind, scenario)


@pytest.mark.parametrize("kind", KINDS)
def test_deadline_is_504(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        status, body, _ = await call(session, "GET", f"{base}/v1/jobs/slow")
        assert status == 504 and body["error"] == "Gateway timeout"

    run(kind, scenario, rpc_timeout=0.25)


@pytest.mark.parametrize("kind", KINDS)
def test_request_id_is_generated_when_absent_or_unsafe(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        for given in (None, "has spaces and \u00e9", "x" * 200):
            headers = {} if given is None else {"X-Request-Id": given}
            status, _, response_headers = await call(session, "GET", f"{base}/v1/account", headers=headers)
            generated = response_headers["X-Request-Id"]
            assert status == 200 and len(generated) == 32 and generated != given
            assert servicer.seen[-1][2]["x-request-id"] == generated

    run(kind, scenario)


# --- the invokers on their own ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_invoker_reply_and_failure(kind: str) -> None:
    async def main() -> None:
        async with stack(kind) as (_, servicer, invoker):
            metadata = [("authorization", AUTH), ("x-request-id", "r1")]
            reply = await invoker.unary(
                "/phonos.v1.PhonosService/GetAccount", pb.GetAccountRequest(), metadata
            )
            assert isinstance(reply.message, pb.GetAccountResponse) and reply.message.credits.balance == 5000
            # initial + trailing metadata, merged
            assert (
                reply.metadata["x-ratelimit-limit"] == "60"
                and reply.metadata["x-ratelimit-remaining"] == "59"
            )
            with pytest.raises(RpcFailure) as info:
                await invoker.unary("/phonos.v1.PhonosService/GetJob", pb.GetJobRequest(job_id="x"), metadata)
            assert info.value.code == grpc.StatusCode.NOT_FOUND and info.value.details == "Job x not found"
            with pytest.raises(RpcFailure) as info:
                await invoker.unary("/phonos.v1.PhonosService/ListModels", pb.ListModelsRequest(), [])
            assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
            assert info.value.metadata["phonos-error-title"] == "Unauthorized"

    asyncio.run(main())


def test_in_process_context_surface() -> None:
    seen: dict[str, Any] = {}

    class Probe:
        async def Check(self, request: pb.GetJobRequest, context: Any) -> pb.GetJobResponse:
            seen["peer"] = context.peer()
            seen["remaining"] = context.time_remaining()
            seen["metadata"] = context.invocation_metadata()
            seen["cancelled"] = context.cancelled()
            context.add_done_callback(lambda ctx: seen.setdefault("done", ctx.done()))
            if request.job_id == "soft-fail":
                context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
                context.set_details("not yet")
            return pb.GetJobResponse(job=pb.Job(job_id=request.job_id))

    async def main() -> None:
        invoker = InProcessInvoker(Probe(), timeout=5.0)
        reply = await invoker.unary("/x.Probe/Check", pb.GetJobRequest(job_id="j"), [("k", "v")])
        assert reply.message.job.job_id == "j"
        assert seen["peer"] == "in-process" and 0 < seen["remaining"] <= 5.0
        assert seen["metadata"] == (("k", "v"),) and seen["cancelled"] is False and seen["done"] is True
        with pytest.raises(RpcFailure) as info:
            await invoker.unary("/x.Probe/Check", pb.GetJobRequest(job_id="soft-fail"), [])
        assert (info.value.code, info.value.details) == (grpc.StatusCode.FAILED_PRECONDITION, "not yet")
        with pytest.raises(RpcFailure) as info:
            await invoker.unary("/x.Probe/Missing", pb.GetJobRequest(), [])
        assert info.value.code == grpc.StatusCode.UNIMPLEMENTED

    asyncio.run(main())


# --- another service: custom verbs over HTTP ---------------------------------------------------------


def test_custom_verb_and_additional_bindings_over_http(gwtest: ModuleType) -> None:
    class Things:
        async def GetThing(self, request: Any, context: Any) -> Any:
            return gwtest.Thing(thing_id=request.thing_id, note=request.shelf or "no shelf")

        async def CancelThing(self, request: Any, context: Any) -> Any:
            return gwtest.Thing(thing_id=request.thing_id, labels=["cancelled"])

        async def GetFile(self, request: Any, context: Any) -> Any:
            return gwtest.Thing(thing_id=request.path)

    async def main() -> None:
        service = gwtest.DESCRIPTOR.services_by_name["ThingService"]
        runner, port = await start_gateway(InProcessInvoker(Things()), service_descriptor=service)
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                status, body, _ = await call(session, "POST", f"{base}/v1/things/abc:cancel")
                assert (status, body["thing_id"], body["labels"]) == (200, "abc", ["cancelled"])
                status, body, _ = await call(session, "GET", f"{base}/v1/things/abc:cancel")
                assert status == 405  # never GetThing(thing_id="abc:cancel")
                status, body, _ = await call(session, "GET", f"{base}/v1/things/a%3Ab")
                assert (status, body["thing_id"]) == (200, "a:b")
                status, body, _ = await call(session, "GET", f"{base}/v1/shelves/s1/things/t1")
                assert (body["thing_id"], body["note"]) == ("t1", "s1")
                status, body, _ = await call(session, "GET", f"{base}/v1/files/a/b%2Fc/d.pdb")
                assert body["thing_id"] == "a/b%2Fc/d.pdb"
        finally:
            await runner.cleanup()

    asyncio.run(main())


# --- the gateway's own failures ----------------------------------------------------------------------


class WrongTypeInvoker:
    """An invoker whose reply does not match the rpc: a gateway-side bug must still be a clean 500."""

    async def unary(self, full_method: str, request: Message, metadata: Any) -> Any:
        from gateway.invoker import Reply

        return Reply(httpbody_pb2.HttpBody(data=b"x"), {})


def test_gateway_bug_is_a_json_500_with_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        runner, port = await start_gateway(WrongTypeInvoker())
        try:
            async with aiohttp.ClientSession() as session:
                status, body, headers = await call(
                    session, "GET", f"http://127.0.0.1:{port}/v1/account", headers={"X-Request-Id": "bug-1"}
                )
                assert (status, body["error"]) == (500, "Internal server error")
                assert "bug-1" in body["message"] and "Traceback" not in body["message"]
                assert headers["X-Request-Id"] == "bug-1"
        finally:
            await runner.cleanup()

    with caplog.at_level("ERROR"):
        asyncio.run(main())
    assert any(getattr(r, "request_id", None) == "bug-1" and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("kind", ["in_process"])
def test_non_ascii_authorization_is_401(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        status, body, _ = await call(session, "GET", f"{base}/v1/account", auth="Bearer pk_\u00e9t\u00e9")
        assert (status, body) == (401, {"error": "Unauthorized", "message": "malformed Authorization header"})
        assert servicer.seen == []  # never reached the service

    run(kind, scenario)


@pytest.mark.parametrize("kind", ["in_process"])
def test_two_authorization_headers_are_400(kind: str) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str, servicer: FixedServicer) -> None:
        headers = CIMultiDict([("Authorization", AUTH), ("Authorization", "Bearer pk_other")])
        async with session.get(f"{base}/v1/account", headers=headers) as response:
            assert response.status == 400
            assert await response.json() == {"error": "Invalid request",
                                             "message": "more than one Authorization header: send exactly one"}
        assert servicer.seen == []  # never reached the service

    run(kind, scenario)


# --- the standalone process ----------------------------------------------------------------------------


def test_standalone_gateway_process() -> None:
    import os
    import signal
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    async def main() -> None:
        servicer = FixedServicer()
        server = grpc.aio.server()
        pb_grpc.add_PhonosServiceServicer_to_server(servicer, server)
        grpc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "--target", f"127.0.0.1:{grpc_port}", "--port", "0", "--metrics-port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 15))
            assert ready["event"] == "ready"
            async with aiohttp.ClientSession() as session:
                status, body, headers = await call(
                    session, "GET", f"http://127.0.0.1:{ready['http_port']}/v1/models"
                )
                assert status == 200 and len(body["models"]) == 3 and headers["X-RateLimit-Limit"] == "60"
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await server.stop(None)

    asyncio.run(main())
