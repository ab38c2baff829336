"""A gRPC submission cancelled after its jobs' transaction asked for the caller, and before the answer: the jobs are
stored and charged all the same (the submission is shielded and commits whole), so its usage row carries their
credits. It said 0 credits, so `/v1/usage` never counted such jobs while the balance and `by_model` did (an API
integrator's 15 cancelled Predicts: by_model +150, totals +130). Every store; in-process service on the twin."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES

SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"


def committed_then_slow(service: InProcessService) -> None:
    """The jobs' transaction commits, then the answer takes a moment: a cancel lands after the commit."""
    jobs = service.running.service.jobs
    submit = jobs.submit

    async def slow(*args: Any, **kwargs: Any) -> list[str]:
        ids = await submit(*args, **kwargs)
        await asyncio.sleep(0.6)
        return ids

    jobs.submit = slow  # type: ignore[method-assign]


def test_a_call_cancelled_after_its_jobs_were_stored_counts_their_credits(twin_factory: type) -> None:
    service = twin_factory.start()
    committed_then_slow(service)
    key = service.new_key(credits=1_000)
    client = service.client(key)
    channel, stub = service.grpc_stub()
    auth = (("authorization", f"Bearer {key}"),)
    batch = pb.SubmitBatchRequest(jobs=[pb.BatchJob(model="esmfold", sequence=SEQUENCE),
                                        pb.BatchJob(model="esmfold", sequence=SEQUENCE[:-2])])
    with channel:
        for start in (lambda: stub.Predict.future(pb.PredictRequest(model="esmfold", sequence=SEQUENCE), metadata=auth),
                      lambda: stub.SubmitBatch.future(batch, metadata=auth)):
            call = start()
            time.sleep(0.3)  # the jobs are stored; the answer is still on its way
            call.cancel()
            with pytest.raises(grpc.FutureCancelledError):
                call.result()
    wait_until(lambda: len(client.get("/v1/jobs").json()["jobs"]) == 3, 10)
    assert client.balance() == 1_000 - 3 * 10

    def credits_counted() -> int:
        return int(client.get("/v1/usage?days=1").json()["totals"]["credits_used"])
    wait_until(lambda: credits_counted() == 30, 10)  # the cancelled calls' rows land as their handlers end
    usage = client.get("/v1/usage?days=1").json()
    assert sum(m["credits_used"] for m in usage["by_model"]) == usage["totals"]["credits_used"] == 30
    charged = {e["endpoint"]: e["credits_used"] for e in usage["by_endpoint"] if e["credits_used"]}
    assert charged == {"/v1/predict": 10, "/v1/batch": 20}
    service.stop()
