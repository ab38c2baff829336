"""Webhook event vocabulary and payload helpers.

Job events (job.started, job.completed, job.failed, job.cancelled) are queued by
the `jobs_webhook_events` trigger (sql/migrations/0083_webhook_job_cancelled.sql)
in the same statement as the transition they report: a transition that commits
always has its deliveries, one that does not never does. Delivery is at-least-once.

A webhook created without `events` gets the seed's three (DEFAULT_EVENTS). job.cancelled is opt-in: it came
after the seed, and a receiver written to the seed's list must not start getting an event it never heard of.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

DEFAULT_EVENTS = ("job.started", "job.completed", "job.failed")  # the seed's: a webhook without `events` gets these
# Sent only to a webhook that lists them. job.cancelled: a job cancelled while pending or running (a pipeline
# waiting for a terminal event after job.started otherwise waited for ever).
OPT_IN_EVENTS = ("job.cancelled",)
JOB_EVENTS = (*DEFAULT_EVENTS, *OPT_IN_EVENTS)
TEST_EVENT = "webhook.test"


def rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def download_url(job_id: str) -> str:
    return f"/v1/jobs/{job_id}/download"


def encode_payload(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))
