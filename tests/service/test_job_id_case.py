"""A job id in capitals names the same job (RFC 9562: a UUID's hex digits read in either case): every route that
takes `{job_id}`, over REST and gRPC, answers for the stored lower-case id, and says that id back."""

from __future__ import annotations

import grpc
import pytest

from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService

pytestmark = pytest.mark.integration


def test_every_job_route_reads_an_upper_case_id_as_the_job(twin_service: InProcessService) -> None:
    client = twin_service.client(twin_service.new_key())
    job_id = client.wait_for(client.predict(name="caps").json()["job_id"])["job_id"]
    upper = job_id.upper()
    assert upper != job_id

    got = client.get(f"/v1/jobs/{upper}")
    assert got.status_code == 200, got.text
    assert got.json()["job_id"] == job_id and got.json()["name"] == "caps"
    assert client.get(f"/v1/jobs/{upper}/input").json()["name"] == "caps"
    download = client.get(f"/v1/jobs/{upper}/download")
    assert download.status_code == 200 and download.content == client.get(f"/v1/jobs/{job_id}/download").content
    assert f'filename="{job_id}.pdb"' in download.headers["Content-Disposition"]
    share = client.post(f"/v1/jobs/{upper}/shares", json={})
    assert share.status_code == 200, share.text
    assert share.json()["share"]["job_id"] == job_id
    assert [s["share_id"] for s in client.get(f"/v1/jobs/{upper}/shares").json()["shares"]] == \
        [share.json()["share"]["share_id"]]
    # A finished job cannot be cancelled: the refusal names the job by its stored id, so the job was found
    refused = client.post(f"/v1/jobs/{upper}/cancel", json={})
    assert refused.status_code == 400 and job_id in refused.json()["message"], refused.text
    with client.get(f"/v1/jobs/{upper}/events", stream=True) as events:
        first = next(line for line in events.iter_lines() if line.startswith(b"data:"))
    assert job_id.encode() in first
    deleted = client.delete(f"/v1/jobs/{upper}")
    assert deleted.status_code == 200 and deleted.json()["job_id"] == job_id, deleted.text
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_over_grpc_an_upper_case_id_is_the_job_and_other_text_stays_as_sent(twin_service: InProcessService) -> None:
    key = twin_service.new_key()
    client = twin_service.client(key)
    job_id = client.wait_for(client.predict().json()["job_id"])["job_id"]
    auth = [("authorization", f"Bearer {key}")]
    channel, stub = twin_service.grpc_stub()
    with channel:
        got = stub.GetJob(pb.GetJobRequest(job_id=job_id.upper()), metadata=auth, timeout=10)
        assert got.job.job_id == job_id
        stored = stub.GetJobInput(pb.GetJobInputRequest(job_id=job_id.upper()), metadata=auth, timeout=10)
        assert stored.model == "esmfold" and stored.sequence
        with pytest.raises(grpc.RpcError) as missing:  # no uuid: named back as it came
            stub.GetJob(pb.GetJobRequest(job_id="NOT-A-JOB"), metadata=auth, timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Job NOT-A-JOB not found" in (missing.value.details() or "")
