"""A data directory an older release left behind, opened by this one: every SQLite migration since runs on real
data of that release (not a schema built here from today's migration files, as tests/store's `sqlite_before`
does), and nothing the lab had is lost: keys authenticate, balances and their history hold, the jobs and their
results download, the queued job runs, a webhook's waiting delivery goes out signed with the secret the user
stored then, and what came later (shares, the delivery log) works on the old rows.

tests/service/data/release_0060 is what commit 11c0c33 (schema 0060, before the credit ledger, shares and the
delivery log's job ids) wrote: ada, two keys, a webhook, one job completed, one failed (refunded), one queued
when it stopped, the completed job's event waiting for a retry. Made by that commit's own service on the twin;
its database is kept as `sqlite3 .dump` text (plus `PRAGMA user_version`, which a dump leaves out)."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from jobservice.db import migrations
from tests.support import WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

RELEASE = Path(__file__).parent / "data" / "release_0060"


@pytest.fixture
def release_dir(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The release's data directory, as its service left it on disk."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o700)
    shutil.copytree(RELEASE / "results", data_dir / "results")
    with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
        db.executescript((RELEASE / "phonos.sql").read_text())
    return data_dir, json.loads((RELEASE / "release.json").read_text())


def signed_with(secret: str, request: dict[str, Any]) -> bool:
    """The receiver's check, as the README tells users to write it: HMAC-SHA256 of `<t>.<raw body>`."""
    fields = request["headers"]["X-Phonos-Signature"].split(",")
    timestamp = fields[0].removeprefix("t=")
    expected = hmac.new(secret.encode(), f"{timestamp}.{request['body']}".encode(), hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(f"v1={expected}", field) for field in fields[1:])


def test_a_release_0060_data_directory_upgrades_with_nothing_lost(twin_factory: type,
                                                                  release_dir: tuple[Path, dict[str, Any]]) -> None:
    data_dir, release = release_dir
    jobs = release["jobs"]
    with WebhookReceiver() as receiver:
        with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
            assert db.execute("PRAGMA user_version").fetchone() == (60,)
            # The receiver moved (the release's was gone) and the retry's backoff has passed while it was down.
            db.execute("UPDATE webhooks SET url = ?", (receiver.url,))
            db.execute("UPDATE webhook_deliveries SET next_attempt_at = ?", (time.time(),))
        service = twin_factory.start(data_dir)
        with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
            assert db.execute("PRAGMA user_version").fetchone() == (max(n for n, _ in migrations()),)

        for key in release["api_keys"]:
            assert service.client(key).get("/v1/account").status_code == 200
        client = service.client(release["api_keys"][0])
        assert client.balance() == release["balance"] == 980  # 1000, two charges of 10, one refunded
        history = client.get("/v1/account/credits", params={"limit": 100}).json()["entries"]
        assert history[0]["balance_after"] == 980 and sum(e["amount"] for e in history) == 980, history

        assert client.get(f"/v1/jobs/{jobs['completed']}").json()["status"] == "completed"
        pdb = client.get(f"/v1/jobs/{jobs['completed']}/download")
        assert hashlib.sha256(pdb.content).hexdigest() == release["completed_pdb_sha256"]
        for job in client.get("/v1/jobs", params={"limit": 10}).json()["jobs"]:
            for fmt in job.get("formats") or []:
                assert client.get(f"/v1/jobs/{job['job_id']}/download", params={"format": fmt}).status_code == 200
        failed = client.get(f"/v1/jobs/{jobs['failed']}").json()
        assert (failed["status"], failed["error_code"], failed["credits_used"]) == ("failed", "model_error", 0)
        assert client.wait_for(jobs["pending"])["status"] == "completed"  # queued then, run now

        share = client.post(f"/v1/jobs/{jobs['completed']}/shares", json={})
        assert share.status_code == 200, share.text

        # The waiting job.completed goes out, then the new job's, each signed with the secret shown in 0060.
        wait_until(lambda: len(receiver.requests) >= 2, 30)
        events = [json.loads(r["body"])["data"]["job_id"] for r in receiver.requests]
        assert jobs["completed"] in events and jobs["pending"] in events
        assert all(signed_with(release["webhook_secret"], r) for r in receiver.requests)
        deliveries = client.get(f"/v1/webhooks/{release['webhook_id']}/deliveries").json()["deliveries"]
        assert {d["job_id"] for d in deliveries} >= {jobs["completed"], jobs["failed"]}
