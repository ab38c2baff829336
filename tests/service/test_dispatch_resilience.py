"""Dispatch keeps going after a job fails inside the job service, and refunds that job."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from jobservice.admin import create_key
from jobservice.modelspecs.base import ModelResult, ValidatedJob
from jobservice.modelspecs.echo import EchoSpec
from jobservice.server import create_server
from jobservice.service import SubmitItem
from jobservice.states import JobStatus
from phonos_config.service import ServiceSettings
from tests.support import TritonFixture

pytestmark = pytest.mark.triton


class FragileEcho(EchoSpec):
    """The real echo model behind a spec whose result decoding breaks on one input."""

    def decode(self, job: ValidatedJob, outputs: Mapping[str, np.ndarray]) -> ModelResult:
        if job.sequence == "BOOM":
            raise ValueError("cannot decode")
        return super().decode(job, outputs)


def test_a_job_failing_in_the_service_is_refunded_and_the_worker_carries_on(
    triton_esmfold: TritonFixture, tmp_path: Path
) -> None:
    async def scenario() -> tuple[list[JobStatus], int, str | None]:
        settings = ServiceSettings(data_dir=tmp_path, grpc_port=0, triton_url=triton_esmfold.grpc_url,
                                   max_inflight_per_model=1)
        key = await create_key(settings.database_path, username="u", email=None, credits=10, rate_limit=100)
        running = await create_server(settings, specs={"echo": FragileEcho()})
        service = running.service
        try:
            ids = [(await service.submit(key.account_id, SubmitItem("echo", text, None, {}))).job_id
                   for text in ("BOOM", "fine")]
            for _ in range(300):
                jobs = [await service.get_job(key.account_id, job_id) for job_id in ids]
                if all(job.status in (JobStatus.COMPLETED, JobStatus.FAILED) for job in jobs):
                    break
                await asyncio.sleep(0.05)
            balance = (await service.account(key.account_id)).credits
            return [job.status for job in jobs], balance, jobs[0].error
        finally:
            await running.stop()

    statuses, balance, error = asyncio.run(scenario())
    assert statuses == [JobStatus.FAILED, JobStatus.COMPLETED]
    assert balance == 10 - 1  # the failed job was refunded, the completed one paid
    assert error is not None and "refunded" in error
