"""Submitting jobs: validation before credits, atomic debits, batches, listing and cancellation."""

from __future__ import annotations

import concurrent.futures

import pytest

from jobservice.memory_inference import Slow
from tests.support import ALL_STORES, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES  # state: every test runs on SQLite and on PostgreSQL

SEQ = "MGSSHHHHHHSSGLVPRGSHMASMTGGQQMGRGS"


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


BAD_SUBMISSIONS = [
    ({"model": "nofold", "sequence": SEQ}, "Unknown model"),
    ({"model": "esmfold", "sequence": "MKV*J1"}, "invalid amino-acid letters"),
    ({"model": "esmfold", "sequence": ""}, "empty"),
    ({"model": "esmfold", "sequence": "M" * 1001}, "at most 1000"),
    ({"model": "esmfold", "sequence": SEQ, "params": {"num_recycles": 0}}, "num_recycles"),
    ({"model": "esmfold", "sequence": SEQ, "params": {"num_recycles": 25}}, "between 1 and 24"),
    ({"model": "esmfold", "sequence": SEQ, "params": {"num_recycles": 2.5}}, "integer"),
    ({"model": "esmfold", "sequence": SEQ, "params": {"num_recycles": "4"}}, "integer"),
    ({"model": "esmfold", "sequence": SEQ, "params": {"num_recylces": 4}}, "Unknown parameter"),
    ({"model": "esmfold", "sequence": SEQ, "colour": "blue"}, "colour"),
    ({"model": "esmfold", "sequence": 42}, "sequence"),
    ({"model": "esmfold", "sequence": SEQ, "params": [1, 2]}, "params"),
]


@pytest.mark.parametrize(("body", "needle"), BAD_SUBMISSIONS)
def test_bad_submissions_are_400_and_cost_nothing(service: InProcessService, body: dict, needle: str) -> None:
    client = service.client(service.new_key(credits=100))
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert set(error) == {"error", "message"}
    assert needle.lower() in error["message"].lower()
    assert client.balance() == 100
    assert client.get("/v1/jobs").json()["pagination"]["total"] == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"null"])
def test_malformed_json_is_400(service: InProcessService, raw: bytes) -> None:
    client = service.client(service.new_key())
    response = client.post("/v1/predict", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}


def test_predict_response_matches_the_seed_and_job_completes(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=100))
    response = client.predict(SEQ, name="My Protein Structure")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "job_id", "model", "status", "credits_used", "message"}
    assert body["success"] is True and body["model"] == "esmfold" and body["status"] == "pending"
    assert body["credits_used"] == 10 and body["message"] == "Job submitted successfully"
    assert client.balance() == 90
    job = client.wait_for(body["job_id"])
    assert job["status"] == "completed", job
    assert job["name"] == "My Protein Structure"
    assert job["output_file"] == f"{body['job_id']}.pdb"
    assert job["download_url"] == f"/v1/jobs/{body['job_id']}/download"
    assert job["created_at"].endswith("Z") and job["updated_at"].endswith("Z")
    assert "error" not in job
    pdb = client.get(job["download_url"])
    assert pdb.status_code == 200  # the file the model built, byte for byte (tests/e2e check real structures)
    assert pdb.text.startswith("in-memory twin output of esmfold (pdb)")
    account = client.get("/v1/account").json()
    assert account["jobs"] == {"total": 1, "completed": 1, "active": 0, "failed": 0, "cancelled": 0}


def test_running_job_has_no_output_fields_and_cancelling_reaches_the_model(service: InProcessService) -> None:
    client = service.client(service.new_key())
    service.settle()
    service.inference.script("esmfold", Slow(60))
    job_id = client.predict(SEQ).json()["job_id"]
    running = client.wait_for(job_id, ("running",))
    assert "output_file" not in running and "download_url" not in running and not running.get("formats")
    download = client.get(f"/v1/jobs/{job_id}/download")
    assert download.status_code == 400
    assert download.json()["error"] == "Invalid request"  # a wrong job state is "Invalid request" (README's table)
    assert "completed" in download.json()["message"]
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    wait_until(lambda: job_id in service.inference.cancelled, 10)  # the call was cancelled at the model


def test_insufficient_credits_is_402_and_concurrent_submits_never_overdraw(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=55))

    def submit(_: int) -> int:
        return int(client.predict(SEQ).status_code)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(submit, range(12)))
    assert codes.count(200) == 5
    assert codes.count(402) == 7
    assert client.balance() == 5
    refused = client.predict(SEQ)
    assert refused.status_code == 402
    assert refused.json()["error"] == "Insufficient credits"
    assert "balance is 5" in refused.json()["message"]


def test_batch_items_fail_alone_and_cost_the_sum_of_accepted(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=100))
    response = client.post("/v1/batch", json={"jobs": [
        {"model": "esmfold", "sequence": SEQ, "name": "Protein 1"},
        {"model": "esmfold", "sequence": "NOT*A*PROTEIN", "name": "broken"},
        {"model": "esmfold", "sequence": "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQDIAYLRSLGYNIVATPRGYVLAGG"},
    ]})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["summary"] == {"total": 3, "successful": 2, "failed": 1, "total_credits_used": 20}
    ok0, bad, ok2 = body["results"]
    assert ok0["index"] == 0 and ok0["success"] is True and ok0["credits_used"] == 10 and ok0["model"] == "esmfold"
    assert bad == {"index": 1, "success": False, "model": "esmfold", "credits_used": 0,
                   "error": "Invalid request", "message": bad["message"]}
    assert "invalid amino-acid" in bad["message"]
    assert ok2["index"] == 2 and ok2["success"] is True
    assert client.balance() == 80
    for item in (ok0, ok2):
        assert client.wait_for(item["job_id"])["status"] == "completed"


@pytest.mark.parametrize(("jobs", "needle"), [([], "1 to 10"), ([{"model": "esmfold", "sequence": SEQ}] * 11, "at most 10")])
def test_batch_size_limits(service: InProcessService, jobs: list, needle: str) -> None:
    client = service.client(service.new_key())
    response = client.post("/v1/batch", json={"jobs": jobs})
    assert response.status_code == 400
    assert needle in response.json()["message"]
    assert client.balance() == 10_000


def test_batch_that_cannot_be_paid_charges_nothing(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=15))
    response = client.post("/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * 2})
    assert response.status_code == 402
    assert client.balance() == 15


def test_list_jobs_filters_and_pagination(service: InProcessService) -> None:
    client = service.client(service.new_key())
    ids = [client.predict(SEQ, name=f"job {i}").json()["job_id"] for i in range(5)]
    for job_id in ids:
        client.wait_for(job_id)
    page = client.get("/v1/jobs", params={"limit": 2, "offset": 1}).json()
    assert page["pagination"] == {"total": 5, "limit": 2, "offset": 1, "has_more": True,
                                  "next_starting_after": ids[2]}  # the page's last job: where the next one starts
    assert [j["job_id"] for j in page["jobs"]] == [ids[3], ids[2]]  # newest first
    item = page["jobs"][0]
    assert set(item) >= {"job_id", "name", "status", "model", "created_at", "download_url"}
    last = client.get("/v1/jobs", params={"limit": 2, "offset": 4}).json()
    assert last["pagination"]["has_more"] is False and len(last["jobs"]) == 1
    assert "next_starting_after" not in last["pagination"]
    assert client.get("/v1/jobs").json()["pagination"]["limit"] == 50
    assert client.get("/v1/jobs", params={"status": "completed", "model": "esmfold"}).json()["pagination"]["total"] == 5
    assert client.get("/v1/jobs", params={"status": "failed"}).json()["pagination"]["total"] == 0


def test_list_jobs_finds_names_containing_a_text_ignoring_case(service: InProcessService) -> None:
    client = service.client(service.new_key())
    names = ["Insulin B chain", "insulin dimer", "Lysozyme", "100%_sure", None]
    ids = {name: client.predict(SEQ, **({"name": name} if name else {})).json()["job_id"] for name in names}

    def found(text: str) -> list[str | None]:
        page = client.get("/v1/jobs", params={"name": text}).json()
        assert page["pagination"]["total"] == len(page["jobs"])
        return [job.get("name") for job in page["jobs"]]

    assert found("INSULIN") == ["insulin dimer", "Insulin B chain"]  # newest first, any case
    assert found("%") == ["100%_sure"] and found("_") == ["100%_sure"]  # the text itself, no wildcards
    assert found("zyme") == ["Lysozyme"] and found("nothing like it") == []
    assert len(found("")) == 5  # empty: every job
    both = client.get("/v1/jobs", params={"name": "insulin", "limit": 1, "status": "all"}).json()
    assert both["pagination"] == {"total": 2, "limit": 1, "offset": 0, "has_more": True,
                                  "next_starting_after": ids["insulin dimer"]}
    assert both["jobs"][0]["job_id"] == ids["insulin dimer"]
    too_long = client.get("/v1/jobs", params={"name": "x" * 201})
    assert too_long.status_code == 400 and "name must be at most 200 characters" in too_long.json()["message"]


def test_name_search_ignores_case_beyond_ascii(service: InProcessService) -> None:
    # Lab names are not all ASCII: Greek letters for proteins, accents in people's and places' names
    client = service.client(service.new_key())
    for name in ("ALPHA-SYNUCLEIN (Α-SYN)", "Ångström test", "Éric's Fab"):
        client.predict(SEQ, name=name)

    def found(text: str) -> list[str]:
        return [job["name"] for job in client.get("/v1/jobs", params={"name": text}).json()["jobs"]]

    assert found("α-syn") == ["ALPHA-SYNUCLEIN (Α-SYN)"]
    assert found("ÅNGSTRÖM") == ["Ångström test"] and found("ångström") == ["Ångström test"]
    assert found("éric") == ["Éric's Fab"] and found("ERIC") == []  # case, not accents


def test_jobs_of_a_model_no_longer_served_can_still_be_listed(twin_factory: type) -> None:
    service = twin_factory.start(PHONOS_MODELS="esmfold")
    client = service.client(service.new_key())
    client.wait_for(client.predict(SEQ).json()["job_id"])
    # diffdock is not served here (its jobs would be from before PHONOS_MODELS changed): a filter, not an error
    assert client.get("/v1/jobs", params={"model": "diffdock"}).json()["pagination"]["total"] == 0
    assert client.get("/v1/jobs", params={"model": "esmfold"}).json()["pagination"]["total"] == 1
    unknown = client.get("/v1/jobs", params={"model": "alphafold3"})
    assert unknown.status_code == 400 and "model must be one of esmfold" in unknown.json()["message"]


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1},
                                   {"status": "done"}, {"model": "alphafold3"}, {"page": 2}])
def test_list_jobs_bad_query_is_400(service: InProcessService, query: dict) -> None:
    response = service.client(service.new_key()).get("/v1/jobs", params=query)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}


def test_a_404_repeats_an_overlong_id_cut_short(service: InProcessService) -> None:
    client = service.client(service.new_key())
    long_id = "x" * 5000
    for response in (client.get(f"/v1/jobs/{long_id}"), client.post(f"/v1/jobs/{long_id}/cancel"),
                     client.delete(f"/v1/webhooks/{long_id}"), client.post(f"/v1/keys/{long_id}/revoke")):
        assert response.status_code == 404
        message = response.json()["message"]
        assert len(message) < 200 and "(5000 characters)" in message, message
    short = client.get("/v1/jobs/no-such-job").json()["message"]
    assert short == "Job no-such-job not found"


def test_other_accounts_jobs_are_404(service: InProcessService) -> None:
    owner = service.client(service.new_key())
    stranger = service.client(service.new_key())
    job_id = owner.predict(SEQ).json()["job_id"]
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/download"):
        assert stranger.get(path).status_code == 404
    assert stranger.post(f"/v1/jobs/{job_id}/cancel").status_code == 404
    assert stranger.get("/v1/jobs").json()["pagination"]["total"] == 0
    owner.wait_for(job_id)


def test_cancel_completed_job_is_400(service: InProcessService) -> None:
    client = service.client(service.new_key())
    job_id = client.predict(SEQ).json()["job_id"]
    client.wait_for(job_id)
    response = client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}
    assert response.json()["error"] == "Invalid request"  # the README's and OpenAPI's title for a wrong job state
    assert "completed" in response.json()["message"]


def test_download_formats(service: InProcessService) -> None:
    client = service.client(service.new_key())
    job_id = client.predict(SEQ).json()["job_id"]
    job = client.wait_for(job_id)
    assert job["formats"][0] == "pdb"
    for fmt in job["formats"]:
        assert client.get(f"/v1/jobs/{job_id}/download", params={"format": fmt}).status_code == 200
    bad = client.get(f"/v1/jobs/{job_id}/download", params={"format": "docx"})
    assert bad.status_code == 400
    assert "pdb" in bad.json()["message"]
