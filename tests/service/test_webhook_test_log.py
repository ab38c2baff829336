"""A test event (POST /v1/webhooks/{id}/test) is kept in the webhook's delivery log, finished when written (sent
once, never retried), so a test sent by any client shows wherever the log is read (the dashboard's "Last test"
reads the newest); `event=` lists one event's deliveries. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from phonos_client import Client, cli

from tests.support import ALL_STORES, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES


def test_test_events_are_kept_in_the_log_and_listed_by_event(twin_service: InProcessService) -> None:
    client = twin_service.client(twin_service.new_key())
    with WebhookReceiver([500]) as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]["webhook_id"]
        assert client.post(f"/v1/webhooks/{hook_id}/test").json()["status_code"] == 500
        assert client.post(f"/v1/webhooks/{hook_id}/test").json()["success"] is True
        client.wait_for(client.predict().json()["job_id"])
    log = f"/v1/webhooks/{hook_id}/deliveries"
    tests = client.get(log, params={"event": "webhook.test"}).json()
    assert [(d["status"], d["attempts"], d["last_status_code"], d.get("next_attempt_at"), d.get("job_id"))
            for d in tests["deliveries"]] == [("delivered", 1, 200, None, None), ("failed", 1, 500, None, None)]
    assert tests["pagination"]["total"] == 2
    assert "answered HTTP 500" in tests["deliveries"][1]["last_error"]
    assert tests["deliveries"][0]["payload"]["event"] == "webhook.test"
    # With the status filter and the cursor, as the other filters go.
    failed = client.get(log, params={"event": "webhook.test", "status": "failed"}).json()["deliveries"]
    assert [d["last_status_code"] for d in failed] == [500]
    after = client.get(log, params={"event": "webhook.test", "limit": 1,
                                    "starting_after": tests["deliveries"][0]["delivery_id"]}).json()["deliveries"]
    assert [d["status"] for d in after] == ["failed"]
    # Job events are listed apart; unfiltered, the log holds both.
    started = client.get(log, params={"event": "job.started"}).json()["deliveries"]
    assert [d["event"] for d in started] == ["job.started"]
    assert client.get(log).json()["pagination"]["total"] == 2 + 2  # the tests, job.started and job.completed
    refused = client.get(log, params={"event": "webhook.tested"})
    assert refused.status_code == 400 and refused.json()["error"] and "event must be one of" in refused.json()["message"]


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_the_sdk_and_the_cli_list_one_events_deliveries(
        twin_service: InProcessService, transport: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = twin_service.new_key()
    url = twin_service.url_for(transport)
    with WebhookReceiver() as receiver, Client(url, key) as sdk:
        hook_id = sdk.create_webhook(receiver.url, events=["job.completed"]).webhook_id
        sdk.test_webhook(hook_id)
        sdk.wait(sdk.predict("esmfold", "MKTAYIAKQRQISFVKSHFSRQ").job_id)
        wait_until(lambda: len(receiver.requests) == 2, 15)
        assert [d.event for d in sdk.iter_webhook_deliveries(hook_id, event="webhook.test")] == ["webhook.test"]
        assert [d.event for d in sdk.webhook_deliveries(hook_id, event="job.completed").deliveries] == [
            "job.completed"]
    monkeypatch.setenv("PHONOS_URL", url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))  # not the real home
    assert cli.main(["webhooks", "deliveries", hook_id, "--event", "webhook.test", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["deliveries"]
    assert [d["event"] for d in listed] == ["webhook.test"]


def test_a_test_event_is_not_sent_again(twin_service: InProcessService) -> None:
    """Redelivering a logged test copied it into the job-event queue: retried (X-Phonos-Attempt 2, 3, ...) on a
    failing receiver until the webhook was deleted, though a test is sent once. It is a 400 that says to send a new one."""
    client = twin_service.client(twin_service.new_key())
    with WebhookReceiver([500, 500, 500]) as receiver:
        hook_id = client.post("/v1/webhooks", json={"url": receiver.url}).json()["webhook"]["webhook_id"]
        assert client.post(f"/v1/webhooks/{hook_id}/test").json()["status_code"] == 500
        [logged] = client.get(f"/v1/webhooks/{hook_id}/deliveries", params={"event": "webhook.test"}).json()["deliveries"]
        again = client.post(f"/v1/webhooks/{hook_id}/deliveries/{logged['delivery_id']}/redeliver")
        assert again.status_code == 400, again.text
        assert again.json()["error"] == "Invalid request"
        assert f"is a test event: a test is sent once and not again; send a new one (POST /v1/webhooks/{hook_id}/test" \
            in again.json()["message"]
        deliveries = client.get(f"/v1/webhooks/{hook_id}/deliveries").json()
        assert deliveries["pagination"]["total"] == 1  # nothing queued
        assert len(receiver.requests) == 1
