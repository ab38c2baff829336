"""Share links of completed jobs over real HTTP and gRPC against a real job service (in process, on the
inference twin), on SQLite and PostgreSQL: the owner creates, lists and revokes links; anyone holding one reads
the job and downloads its files without a key; a revoked, expired, unknown or deleted one is a 404 that does not
say which; result retention's deletion is a 410; read-only keys may list but not create or revoke; the public
routes are limited per client address."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
import requests

from jobservice.memory_inference import Failure
from phonos.v1 import phonos_pb2 as pb
from tests.support import ALL_STORES, ApiClient, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES
DAY_S = 86400
NOT_FOUND = {"error": "Not found",
             "message": "This share link does not exist: it may have been revoked or have expired"}


def completed_job(api: ApiClient) -> str:
    response = api.predict(name="shared fold")
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    assert api.wait_for(job_id)["status"] == "completed"
    return job_id


def share(api: ApiClient, job_id: str, **body: object) -> dict:
    response = api.post(f"/v1/jobs/{job_id}/shares", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def public(service: InProcessService, path: str, **kwargs: object) -> requests.Response:
    """A request with no key and no cookie, as a colleague's browser or script makes it."""
    return requests.get(service.base_url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_link_shows_the_job_and_its_files_to_anyone_until_revoked(twin_service: InProcessService) -> None:
    owner = twin_service.client(twin_service.new_key(username="sha"))
    job_id = completed_job(owner)
    before = time.time()
    created = share(owner, job_id)
    link = created["url"]
    token = link.removeprefix("/shared/")
    assert link.startswith("/shared/") and len(token) >= 43  # 32 random bytes, url-safe base64
    entry = created["share"]
    assert entry["job_id"] == job_id and entry["share_id"].startswith("shr_")
    assert before + 30 * DAY_S - 2 <= epoch(entry["expires_at"]) <= time.time() + 30 * DAY_S + 2  # the default
    assert token not in str(twin_service.sql("SELECT * FROM job_shares"))  # only its hash is stored

    seen = public(twin_service, f"{link}/job")
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["job"]["job_id"] == job_id and body["job"]["status"] == "completed"
    assert body["job"]["name"] == "shared fold" and body["expires_at"] == entry["expires_at"]
    assert body["job"]["credits_used"] == 0  # the owner's account is not shown
    assert body["job"]["download_url"] == f"{link}/download"
    pdb = public(twin_service, f"{link}/download")
    assert pdb.status_code == 200 and pdb.content == owner.get(f"/v1/jobs/{job_id}/download").content
    assert f'filename="{job_id}.pdb"' in pdb.headers["Content-Disposition"]
    for fmt in body["job"]["formats"]:  # every format, as the owner gets it
        assert public(twin_service, f"{link}/download", params={"format": fmt}).content == owner.get(
            f"/v1/jobs/{job_id}/download", params={"format": fmt}).content, fmt
    assert public(twin_service, f"{link}/download", params={"format": "nope"}).status_code == 400

    listed = owner.get(f"/v1/jobs/{job_id}/shares").json()["shares"]
    assert listed == [entry]  # never the token

    revoked = owner.delete(f"/v1/jobs/{job_id}/shares/{entry['share_id']}")
    assert revoked.status_code == 200 and revoked.json()["success"] is True
    for path in (f"{link}/job", f"{link}/download"):
        gone = public(twin_service, path)
        assert (gone.status_code, gone.json()) == (404, NOT_FOUND), path
    assert owner.get(f"/v1/jobs/{job_id}/shares").json()["shares"] == []
    again = owner.delete(f"/v1/jobs/{job_id}/shares/{entry['share_id']}")
    assert again.status_code == 404


def test_unknown_and_expired_links_are_the_same_404(twin_service: InProcessService) -> None:
    owner = twin_service.client(twin_service.new_key(username="exp"))
    job_id = completed_job(owner)
    created = share(owner, job_id, expires_in_days=1)
    assert epoch(created["share"]["expires_at"]) == pytest.approx(time.time() + DAY_S, abs=5)
    assert public(twin_service, created["url"] + "/job").status_code == 200
    twin_service.sql("UPDATE job_shares SET expires_at = ? WHERE id = ?", time.time() - 1,
                     created["share"]["share_id"])
    expired = public(twin_service, created["url"] + "/job")
    unknown = public(twin_service, "/shared/" + "A" * 43 + "/job")
    assert (expired.status_code, expired.json()) == (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    assert owner.get(f"/v1/jobs/{job_id}/shares").json()["shares"] == []  # an expired link is not listed


@pytest.mark.parametrize("days", [0, 366, -3])
def test_an_expiry_out_of_range_is_a_400(twin_service: InProcessService, days: int) -> None:
    owner = twin_service.client(twin_service.new_key(username=f"rng{days}"))
    job_id = completed_job(owner)
    response = owner.post(f"/v1/jobs/{job_id}/shares", json={"expires_in_days": days})
    assert response.status_code == 400
    assert "expires_in_days must be between 1 and 365" in response.json()["message"]


def test_only_the_owners_completed_job_can_be_shared(twin_service: InProcessService) -> None:
    owner = twin_service.client(twin_service.new_key(username="own"))
    other = twin_service.client(twin_service.new_key(username="oth"))
    twin_service.settle()
    twin_service.inference.script("esmfold", Failure.INVALID_INPUT)
    failed = owner.predict().json()["job_id"]
    assert owner.wait_for(failed)["status"] == "failed"
    refused = owner.post(f"/v1/jobs/{failed}/shares", json={})
    assert refused.status_code == 400 and refused.json()["error"] == "Invalid request"
    assert "is failed; only a completed job's results can be shared" in refused.json()["message"]

    job_id = completed_job(owner)
    share(owner, job_id)
    for response in (other.post(f"/v1/jobs/{job_id}/shares", json={}), other.get(f"/v1/jobs/{job_id}/shares"),
                     other.delete(f"/v1/jobs/{job_id}/shares/shr_0000000000000000")):
        assert response.status_code == 404 and response.json()["message"] == f"Job {job_id} not found"


def test_deleting_the_job_ends_its_links_and_retention_answers_410(twin_service: InProcessService) -> None:
    owner = twin_service.client(twin_service.new_key(username="del"))
    kept, deleted = completed_job(owner), completed_job(owner)
    kept_link, deleted_link = share(owner, kept)["url"], share(owner, deleted)["url"]

    assert owner.delete(f"/v1/jobs/{deleted}").status_code == 200
    assert twin_service.sql("SELECT COUNT(*) FROM job_shares WHERE job_id = ?", deleted) == [(0,)]
    gone = public(twin_service, deleted_link + "/job")
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)

    twin_service.sql("UPDATE jobs SET results_deleted_at = ? WHERE id = ?", time.time(), kept)
    for path in ("/job", "/download"):
        answer = public(twin_service, kept_link + path)
        assert answer.status_code == 410 and answer.json()["error"] == "Gone", path
        assert f"The result files of job {kept} were deleted on" in answer.json()["message"]
    again = owner.post(f"/v1/jobs/{kept}/shares", json={})
    assert again.status_code == 400 and "no result files any more" in again.json()["message"]


def test_a_read_only_key_lists_links_but_cannot_make_or_revoke_them(twin_service: InProcessService) -> None:
    owner = twin_service.client(twin_service.new_key(username="rok"))
    job_id = completed_job(owner)
    entry = share(owner, job_id)["share"]
    viewer_key = owner.post("/v1/keys", json={"scope": "read_only"}).json()["api_key"]
    viewer = twin_service.client(viewer_key)
    assert viewer.get(f"/v1/jobs/{job_id}/shares").json()["shares"] == [entry]
    for response in (viewer.post(f"/v1/jobs/{job_id}/shares", json={}),
                     viewer.delete(f"/v1/jobs/{job_id}/shares/{entry['share_id']}")):
        assert response.status_code == 403 and response.json()["error"] == "Forbidden"
    assert len(owner.get(f"/v1/jobs/{job_id}/shares").json()["shares"]) == 1


def test_over_grpc_the_owner_shares_and_anyone_reads_without_a_key(twin_service: InProcessService) -> None:
    key = twin_service.new_key(username="grp")
    job_id = completed_job(twin_service.client(key))
    owners_pdb = twin_service.client(key).get(f"/v1/jobs/{job_id}/download").content
    auth = [("authorization", f"Bearer {key}")]
    channel, stub = twin_service.grpc_stub()
    with channel:
        created = stub.CreateJobShare(pb.CreateJobShareRequest(job_id=job_id, expires_in_days=7), metadata=auth,
                                      timeout=10)
        token = created.url.removeprefix("/shared/")
        shared = stub.GetSharedJob(pb.GetSharedJobRequest(token=token), timeout=10)  # no metadata at all
        assert shared.job.job_id == job_id and shared.expires_at == created.share.expires_at
        pdb = stub.DownloadSharedJobOutput(pb.DownloadSharedJobOutputRequest(token=token), timeout=10)
        assert (pdb.file_name, pdb.file.data) == (f"{job_id}.pdb", owners_pdb)
        listed = stub.ListJobShares(pb.ListJobSharesRequest(job_id=job_id), metadata=auth, timeout=10)
        assert [s.share_id for s in listed.shares] == [created.share.share_id]
        stub.RevokeJobShare(pb.RevokeJobShareRequest(job_id=job_id, share_id=created.share.share_id),
                            metadata=auth, timeout=10)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetSharedJob(pb.GetSharedJobRequest(token=token), timeout=10)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert raised.value.details() == NOT_FOUND["message"]


def test_link_reads_are_not_the_owners_usage(twin_service: InProcessService) -> None:
    owner = twin_service.client(twin_service.new_key(username="use"))
    link = share(owner, completed_job(owner))["url"]
    for _ in range(3):
        assert public(twin_service, link + "/download").status_code == 200
    time.sleep(0.3)  # usage is flushed every 0.1 s here
    endpoints = {row["endpoint"] for row in owner.get("/v1/usage").json()["by_endpoint"]}
    assert "/v1/jobs/{job_id}/shares" in endpoints and not any(e.startswith("/shared/") for e in endpoints)


def test_the_public_routes_are_limited_per_client_address(twin_factory: type, tmp_path: Path) -> None:
    service = twin_factory.start(data_dir=tmp_path / "limited", PHONOS_SHARED_REQUESTS_PER_MINUTE="3")
    owner = service.client(service.new_key(username="lim"))
    link = share(owner, completed_job(owner))["url"]
    answers = [public(service, link + "/job") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    refused = public(service, link + "/download")
    assert refused.status_code == 429 and refused.json()["error"] == "Rate limit exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    page = public(service, link, headers={"Accept": "text/html"})  # the page is counted too
    assert page.status_code == 429
    assert owner.get("/v1/account").status_code == 200  # keys are limited per key, not by this


def test_the_page_route_serves_the_dashboard_or_its_not_found_page(twin_service: InProcessService) -> None:
    owner = twin_service.client(twin_service.new_key(username="pag"))
    job_id = completed_job(owner)
    created = share(owner, job_id)
    html = {"Accept": "text/html"}
    page = public(twin_service, created["url"], headers=html)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<div id="app"' in page.text and job_id not in page.text  # the shell; its script reads the job
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]

    owner.delete(f"/v1/jobs/{job_id}/shares/{created['share']['share_id']}")
    missing = public(twin_service, created["url"], headers=html)
    assert missing.status_code == 404 and '<div id="app"' in missing.text  # the dashboard's "not found" page
    as_json = public(twin_service, created["url"])
    assert (as_json.status_code, as_json.json()) == (404, NOT_FOUND)
