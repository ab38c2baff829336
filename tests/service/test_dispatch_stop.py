"""A stopping service's job workers stop, whatever their job was doing at that moment (in-process service).

The races here need one exact order of the event loop, so each test drives a worker's supervision of one job
(`Dispatcher._supervise`) on the service's own loop rather than hoping a whole stop lands on it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.support import InProcessService

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    started = InProcessService(tmp_path_factory.mktemp("dispatch-stop") / "var", {})
    yield started
    started.stop()


def test_a_worker_cancelled_as_its_job_ends_stops(service: InProcessService) -> None:
    """The job finishes and the stop cancels its worker in the same loop iteration: the worker must end
    cancelled. It used to return as if only the job had been cancelled and went on working, so the stop,
    which waits for every worker, never ended."""
    dispatcher = service.running.service.dispatcher

    async def scenario() -> bool:
        async def job() -> None:
            return None

        async def worker() -> None:
            await dispatcher._supervise("job-ends-with-the-stop", job())
            await asyncio.sleep(3600)  # a worker that was not stopped would wait here for its next job

        running = asyncio.create_task(worker())
        await asyncio.sleep(0)  # the worker starts the job and waits for it; the job ends in the next iteration
        running.cancel()
        try:
            await asyncio.wait_for(running, 5)
        except asyncio.CancelledError:
            return True
        return False

    assert service.call(scenario()) is True


def test_a_job_cancelled_by_its_user_leaves_its_worker_working(service: InProcessService) -> None:
    dispatcher = service.running.service.dispatcher

    async def scenario() -> str:
        started = asyncio.Event()

        async def job() -> None:
            started.set()
            await asyncio.sleep(3600)

        async def worker() -> str:
            await dispatcher._supervise("job-cancelled-by-its-user", job())
            return "next job"

        running = asyncio.create_task(worker())
        await started.wait()
        assert dispatcher.cancel_running("job-cancelled-by-its-user")
        return await asyncio.wait_for(running, 5)

    assert service.call(scenario()) == "next job"
