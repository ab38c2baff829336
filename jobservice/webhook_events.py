"""Webhook event vocabulary and payload helpers.

Job events (job.started, job.completed, job.failed) are queued by the
`jobs_webhook_events` trigger (sql/migrations/0002_triggers.sql) in the same
statement as the transition they report: a transition that commits always has
its deliveries, one that does not never does. Delivery is at-least-once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

JOB_EVENTS = ("job.started", "job.completed", "job.failed")
TEST_EVENT = "webhook.test"


def rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def download_url(job_id: str) -> str:
    return f"/v1/jobs/{job_id}/download"


def encode_payload(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))
