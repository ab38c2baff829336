"""Dispatch keeps no more of a model's jobs in flight than its server computes at once (jobservice/capacity.py).
AlphaFold2 (one instance, no batching) had 8 jobs `running` at once where one computed: the rest waited in
Triton's queue with `started_at` set and no place in the queue, taken out of the fair order between accounts."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from jobservice.capacity import Slots
from jobservice.memory_inference import InMemoryInference, Slow
from jobservice.modelspecs.registry import build_specs
from tests.support import ALL_STORES, DEFAULT_MODEL_REPOSITORY, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQ"


def test_a_one_instance_model_runs_one_job_and_the_others_wait_their_turn(twin_factory: type) -> None:
    service: InProcessService = twin_factory.start(PHONOS_MODELS="esmfold,alphafold2")
    service.inference.script("alphafold2", Slow(1.0), Slow(1.0), Slow(1.0))
    ada, bob = (service.client(service.new_key(username=name)) for name in ("ada", "bob"))
    first, second = (ada.predict(SEQUENCE, model="alphafold2").json()["job_id"] for _ in range(2))
    third = bob.predict(SEQUENCE, model="alphafold2").json()["job_id"]
    waiting = wait_until(lambda: [job for job in (ada.get(f"/v1/jobs/{second}").json(),)
                                  if job["status"] == "pending" and ada.get(f"/v1/jobs/{first}").json()["status"]
                                  == "running"], timeout_s=30)
    assert "started_at" not in waiting[0] and waiting[0]["jobs_ahead"] >= 1  # it waits here, with its place
    done = {job_id: (bob if job_id == third else ada).wait_for(job_id) for job_id in (first, second, third)}
    assert all(job["status"] == "completed" for job in done.values())
    runs = sorted((stamp(job["started_at"]), stamp(job["completed_at"]), job_id) for job_id, job in done.items())
    for (_, ended, _), (started, _, _) in pairwise(runs):
        assert started >= ended, runs  # one at a time: each started once the one before had ended
    assert [job_id for _, _, job_id in runs] == [first, third, second]  # bob's before ada's second: the fair order


def test_a_size_unknown_at_start_is_learned_before_the_first_jobs_run(tmp_path: Path) -> None:
    """At start Triton is still loading (its config cannot be read): the workers took their slots, sized as
    `max_inflight`, and the first burst of AlphaFold2 jobs all went to Triton at once (found by a reviewer)."""
    specs = build_specs(["esmfold", "alphafold2"])
    twin = InMemoryInference.for_specs(specs, DEFAULT_MODEL_REPOSITORY)
    twin.capacities["alphafold2"] = None  # still loading
    service = InProcessService(tmp_path / "var", {"PHONOS_MODELS": "esmfold,alphafold2"}, twin, specs)
    try:
        time.sleep(1.0)  # the workers have asked, and wait for work
        twin.capacities["alphafold2"] = 1  # loaded: one instance, no batching
        twin.script("alphafold2", *[Slow(0.5)] * 3)
        api = service.client(service.new_key())
        ids = [api.predict(SEQUENCE, model="alphafold2").json()["job_id"] for _ in range(3)]
        done = [api.wait_for(job_id) for job_id in ids]
        runs = sorted((stamp(job["started_at"]), stamp(job["completed_at"])) for job in done)
        for (_, ended), (started, _) in pairwise(runs):
            assert started >= ended, runs
    finally:
        service.stop()


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_batching_model_keeps_several_in_flight(twin_factory: type) -> None:
    service: InProcessService = twin_factory.start()
    service.inference.script("esmfold", *[Slow(2)] * 3)
    api = service.client(service.new_key())
    ids = [api.predict(SEQUENCE).json()["job_id"] for _ in range(3)]
    wait_until(lambda: all(api.get(f"/v1/jobs/{i}").json()["status"] == "running" for i in ids), timeout_s=30)


def test_slots_shrunk_under_their_holders_admit_no_more_until_they_are_under_the_new_size() -> None:
    async def scenario() -> None:
        slots = Slots(3)
        for _ in range(3):
            await slots.__aenter__()
        slots.resize(1)
        for _ in range(2):
            await slots.__aexit__(None, None, None)
        assert slots.used == 1
        waiter = asyncio.create_task(slots.__aenter__())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # one in use, size one
        await slots.__aexit__(None, None, None)
        await asyncio.wait_for(waiter, 5)
        assert slots.used == 1
        slots.resize(4)
        for _ in range(3):
            await asyncio.wait_for(slots.__aenter__(), 5)
        assert slots.used == 4

    asyncio.run(scenario())
