"""A pending job's place in its model's queue (`jobs_ahead`, `model_running`; sql `queue_place`), on both stores:
two accounts flood one model with one slot, and each waiting job's `jobs_ahead` is checked against the fair order
(jobservice/fairness.py) the jobs then actually start in."""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import pytest
from phonos_client import cli

from jobservice.memory_inference import Slow
from phonos.v1 import phonos_pb2 as pb
from tests.service.test_fair_sharing import flood, start_order
from tests.support import ALL_STORES, ApiClient, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # SQLite's in-memory fair queue and PostgreSQL's claim query: one estimate must fit both



def three_held(twin_factory: type, *scripted: object) -> tuple[InProcessService, str, ApiClient, list[str]]:
    """One slot; an account's three jobs, the first running (held until cancelled), two waiting behind it."""
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    service.inference.script("esmfold", Slow(60), *scripted)
    key = service.new_key(credits=1000)
    client = service.client(key)
    jobs = flood(client, 3)
    client.wait_for(jobs[0], ("running",))
    return service, key, client, jobs


def test_jobs_ahead_matches_the_fair_order_the_jobs_start_in(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    service.inference.script("esmfold", Slow(60), *[Slow(0.2)] * 8)  # the first holds the slot until cancelled
    flooder, other = (service.client(service.new_key(credits=1000)) for _ in range(2))
    a = flood(flooder, 5)
    flooder.wait_for(a[0], ("running",))
    b = flood(other, 4)  # a newcomer to the model: its turn comes before the flooder's next
    owner = {job_id: (flooder if job_id in a else other) for job_id in a + b}
    waiting = a[1:] + b
    seen = {job_id: owner[job_id].get(f"/v1/jobs/{job_id}").json() for job_id in waiting}
    assert all(job["status"] == "pending" and job["model_running"] == 1 for job in seen.values())
    listed = {job["job_id"]: job.get("jobs_ahead") for job in flooder.get("/v1/jobs").json()["jobs"]}
    assert listed == {a[0]: None, **{job_id: seen[job_id]["jobs_ahead"] for job_id in a[1:]}}  # one grouped query
    running = flooder.get(f"/v1/jobs/{a[0]}").json()
    assert "jobs_ahead" not in running and "model_running" not in running  # pending jobs only
    assert flooder.post(f"/v1/jobs/{a[0]}/cancel").status_code == 200  # the slot frees: the queue moves
    for job_id in waiting:
        owner[job_id].wait_for(job_id, timeout_s=30)
    started = start_order(service)[1:]
    assert {job_id: seen[job_id]["jobs_ahead"] for job_id in waiting} == {job_id: started.index(job_id)
                                                                           for job_id in waiting}
    assert sorted(seen[j]["jobs_ahead"] for j in waiting) == list(range(8))  # 0 (next to start) to 7
    done = flooder.get(f"/v1/jobs/{a[1]}").json()
    assert done["status"] == "completed" and "jobs_ahead" not in done


def test_get_job_and_watch_job_over_grpc_carry_the_place(twin_factory: type) -> None:
    service, key, client, jobs = three_held(twin_factory, Slow(60), Slow(60))
    auth = (("authorization", f"Bearer {key}"),)
    channel, stub = service.grpc_stub()
    with channel:
        job = stub.GetJob(pb.GetJobRequest(job_id=jobs[2]), metadata=auth).job
        assert (job.status, job.jobs_ahead, job.model_running) == ("pending", 1, 1)
        first = next(iter(stub.WatchJob(pb.WatchJobRequest(job_id=jobs[1]), metadata=auth, timeout=10)))
        watched = first.event.job
        assert (watched.status, watched.jobs_ahead, watched.model_running) == ("pending", 0, 1)
        running = stub.GetJob(pb.GetJobRequest(job_id=jobs[0]), metadata=auth).job
        assert not running.HasField("jobs_ahead") and not running.HasField("model_running")
    for job_id in jobs:
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200


@pytest.mark.sqlite_only  # what the command prints of the server's answer, the same on both stores (tested above)
def test_the_cli_says_pending_with_the_jobs_ahead_in_jobs_show_and_jobs_watch(
        twin_factory: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    service, key, client, jobs = three_held(twin_factory, Slow(0.1), Slow(0.1))
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    assert cli.main(["jobs", "show", jobs[2]]) == 0
    assert re.search(r"^status: +pending \(1 job ahead\)$", capsys.readouterr().out, re.MULTILINE)
    assert cli.main(["jobs", "show", jobs[2], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["jobs_ahead"], shown["model_running"]) == ("pending", 1, 1)
    # `jobs ls`: piped, the STATUS column is the bare word a script compares; on a terminal, the place too.
    assert cli.main(["jobs", "ls"]) == 0
    piped = {line.split("\t")[0]: line.split("\t")[2] for line in capsys.readouterr().out.splitlines()}
    assert piped[jobs[2]] == "pending"
    with monkeypatch.context() as terminal:
        terminal.setattr(sys.stdout, "isatty", lambda: True)
        assert cli.main(["jobs", "ls"]) == 0
        row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(jobs[2]))
    assert "pending (1 job ahead)" in row, row
    said: list[str] = []

    def heard(text: str) -> bool:
        said.append(capsys.readouterr().err)
        return text in "".join(said)

    watcher = threading.Thread(target=cli.main, args=(["jobs", "watch", jobs[1]],))
    watcher.start()
    try:
        wait_until(lambda: heard(": pending (next to start)\n"), timeout_s=20)
    finally:
        assert client.post(f"/v1/jobs/{jobs[0]}/cancel").status_code == 200  # the queue moves: the watch ends
        watcher.join(timeout=30)
    assert not watcher.is_alive()
    assert client.wait_for(jobs[2])["status"] == "completed"


def test_a_watch_of_a_waiting_job_says_each_new_place_as_the_jobs_ahead_start(twin_factory: type) -> None:
    """The job's latest state again, with its new place (the same event id: a resume is unchanged); a start or a
    cancel that leaves the place as it was sends nothing."""
    service, key, client, jobs = three_held(twin_factory, Slow(60), Slow(60))
    channel, stub = service.grpc_stub()
    with channel:
        stream = stub.WatchJob(pb.WatchJobRequest(job_id=jobs[2]), metadata=(("authorization", f"Bearer {key}"),),
                               timeout=30)
        first = next(stream).event
        assert (first.type, first.job.status, first.job.jobs_ahead) == ("state", "pending", 1)
        assert client.post(f"/v1/jobs/{jobs[0]}/cancel").status_code == 200  # still 1 ahead, then none
        moved = next(stream).event
        assert (moved.type, moved.job.status, moved.job.jobs_ahead, moved.event_id) == ("state", "pending", 0,
                                                                                        first.event_id)
        assert client.post(f"/v1/jobs/{jobs[1]}/cancel").status_code == 200  # its turn
        started = next(stream).event
        assert (started.job.status, started.job.HasField("jobs_ahead")) == ("running", False)
        stream.cancel()
    assert client.post(f"/v1/jobs/{jobs[2]}/cancel").status_code == 200
