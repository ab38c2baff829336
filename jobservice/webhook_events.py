"""Webhook event payloads, queued in the same transaction as the job transition they report.

Queuing inside the transaction makes delivery at-least-once and the event
itself exactly-once: a transition that commits always has its deliveries,
one that rolls back never does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jobservice.db import Queries, now

if TYPE_CHECKING:
    from jobservice.jobs import JobRecord

JOB_EVENTS = ("job.started", "job.completed", "job.failed")
TEST_EVENT = "webhook.test"


def rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def download_url(job_id: str) -> str:
    return f"/v1/jobs/{job_id}/download"


def job_event_payload(job: JobRecord, event: str) -> dict[str, Any]:
    data: dict[str, Any] = {"job_id": job.id, "status": str(job.status), "model": job.model}
    if job.name is not None:
        data["name"] = job.name
    if event == "job.completed":
        data["download_url"] = download_url(job.id)
    if event == "job.failed" and job.error:
        data["error"] = job.error
    return {"event": event, "timestamp": rfc3339(job.updated_at), "data": data}


def encode_payload(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


async def enqueue_job_event(tx: Queries, job: JobRecord, event: str) -> int:
    """Queue one delivery per subscribed webhook of the job's account; returns how many."""
    hooks = await tx.fetch_all("subscribed_webhooks", {"account_id": job.account_id, "event": event})
    if not hooks:
        return 0
    body = encode_payload(job_event_payload(job, event))
    stamp = now()
    for hook in hooks:
        await tx.execute("insert_delivery", {"webhook_id": hook["id"], "event": event, "payload": body, "now": stamp})
    return len(hooks)
