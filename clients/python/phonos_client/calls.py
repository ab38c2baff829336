"""Every API method described once, in the API's own terms, for both transports.

A `Call` names its rpc (`Route`: the rpc and its `google.api.http` rule, as protos/phonos/v1/phonos.proto
declares them), the request's fields and how to read the answer. REST sends it as the rule says (path
variables, the rest in the query or the JSON body); gRPC sends the same fields as the rpc's request
message. Either way the answer is read from the same JSON document: the HTTP body, or the response
message in proto3 JSON with the rule's `response_body` field picked out, so both transports give the
same typed results. tests/unit/test_sdk_calls.py checks this table against the protos.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from phonos_client.models import (
    Account,
    ActivityPage,
    ApiKey,
    Batch,
    Cancellation,
    CreditPage,
    Deletion,
    DeliveryPage,
    Download,
    Job,
    JobEvent,
    JobPage,
    JobShare,
    SharedJob,
    Submission,
    Webhook,
    WebhookDelivery,
    WebhookTest,
)

T = TypeVar("T")
GRPC_SCHEME = "grpc://"  # a URL with it names the job service's gRPC port (client.choose_transport)


@dataclass(frozen=True)
class Route:
    """One rpc of phonos.v1.PhonosService and its HTTP rule."""

    rpc: str
    http_method: str
    path: str  # template, `{field}` for a path variable
    body: bool = False  # `body: "*"`: the fields that are not in the path are the JSON body (else the query)
    response_body: str | None = None  # the response field that is the whole HTTP body
    streaming: bool = False  # server-streaming: Server-Sent Events over REST

    @property
    def path_fields(self) -> tuple[str, ...]:
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.path) if name)

    @property
    def is_file(self) -> bool:
        """The answer is a file (`google.api.HttpBody`), not JSON."""
        return self.response_body == "file"


ROUTES: dict[str, Route] = {r.rpc: r for r in (
    Route("GetHealth", "GET", "/v1/health"),
    Route("ListModels", "GET", "/v1/models"),
    Route("Predict", "POST", "/v1/predict", body=True),
    Route("SubmitBatch", "POST", "/v1/batch", body=True),
    Route("GetJob", "GET", "/v1/jobs/{job_id}", response_body="job"),
    Route("GetJobInput", "GET", "/v1/jobs/{job_id}/input"),
    Route("ListJobs", "GET", "/v1/jobs"),
    Route("DownloadJobOutput", "GET", "/v1/jobs/{job_id}/download", response_body="file"),
    Route("WatchJob", "GET", "/v1/jobs/{job_id}/events", response_body="event", streaming=True),
    Route("WatchJobs", "GET", "/v1/events", response_body="event", streaming=True),
    Route("CreateJobShare", "POST", "/v1/jobs/{job_id}/shares", body=True),
    Route("ListJobShares", "GET", "/v1/jobs/{job_id}/shares"),
    Route("RevokeJobShare", "DELETE", "/v1/jobs/{job_id}/shares/{share_id}"),
    Route("GetSharedJob", "GET", "/shared/{token}/job"),
    Route("DownloadSharedJobOutput", "GET", "/shared/{token}/download", response_body="file"),
    Route("CancelJob", "POST", "/v1/jobs/{job_id}/cancel"),
    Route("DeleteJob", "DELETE", "/v1/jobs/{job_id}"),
    Route("GetAccount", "GET", "/v1/account"),
    Route("ListCreditEntries", "GET", "/v1/account/credits"),
    Route("ListAccountActivity", "GET", "/v1/account/activity"),
    Route("GetUsage", "GET", "/v1/usage"),
    Route("ListWebhooks", "GET", "/v1/webhooks"),
    Route("CreateWebhook", "POST", "/v1/webhooks", body=True),
    Route("DeleteWebhook", "DELETE", "/v1/webhooks/{webhook_id}"),
    Route("TestWebhook", "POST", "/v1/webhooks/{webhook_id}/test"),
    Route("RotateWebhookSecret", "POST", "/v1/webhooks/{webhook_id}/rotate-secret", body=True),
    Route("ListWebhookDeliveries", "GET", "/v1/webhooks/{webhook_id}/deliveries"),
    Route("RedeliverWebhookDelivery", "POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
    Route("ListApiKeys", "GET", "/v1/keys"),
    Route("CreateApiKey", "POST", "/v1/keys", body=True),
    Route("RevokeApiKey", "POST", "/v1/keys/{key_id}/revoke", body=True),
    Route("UpdateApiKey", "PATCH", "/v1/keys/{key_id}", body=True),
)}


@dataclass(frozen=True)
class Call(Generic[T]):
    route: Route
    read: Callable[[Any], T]  # the answer's JSON document (a `Download` for a file route) -> the typed result
    fields: dict[str, Any] = field(default_factory=dict)  # the request message's fields, None left out
    idempotency_key: str | None = None  # set on the rpcs that accept one

    @property
    def retryable(self) -> bool:
        """Safe to send again: a read or a delete, or a POST the server deduplicates by its key."""
        return self.route.http_method in ("GET", "DELETE") or self.idempotency_key is not None


def _call(rpc: str, read: Callable[[Any], T], *, idempotency_key: str | None = None, **fields: Any) -> Call[T]:
    route = ROUTES[rpc]
    for name in route.path_fields:
        # An empty id would make another address (`/v1/jobs//cancel`, or `/v1/jobs/`: the jobs list), so the
        # server's answer would be about the wrong route; it is refused here, naming the argument.
        if not str(fields.get(name) or "").strip():
            raise ValueError(f"{name} must not be empty")
    return Call(route, read, {k: v for k, v in fields.items() if v is not None}, idempotency_key)


def _key(given: str | None) -> str:
    """The caller's key, or a fresh one: the same one goes with every retry of this call. A key an HTTP header
    cannot carry is a ValueError saying so (was a bare UnicodeEncodeError as the request was built)."""
    odd = next((c for c in given or "" if not (c.isascii() and c.isprintable())), None)
    if odd is not None:
        raise ValueError(f"idempotency_key must be printable ASCII (it goes in the Idempotency-Key header); it holds "
                         f"U+{ord(odd):04X}")
    return given or str(uuid.uuid4())


def _file(download: Download) -> Download:
    return download


def _created_webhook(data: dict[str, Any]) -> Webhook:
    return Webhook.from_dict(data["webhook"], secret=data.get("secret"), raw=data)


def health() -> Call[dict[str, Any]]:
    return _call("GetHealth", dict)


def models() -> Call[list[dict[str, Any]]]:
    return _call("ListModels", lambda d: list(d["models"]))


def predict(model: str, sequence: str, name: str | None, params: dict[str, Any] | None,
            idempotency_key: str | None) -> Call[Submission]:
    return _call("Predict", Submission.from_dict, idempotency_key=_key(idempotency_key), model=model,
                 sequence=sequence, name=name, params=params)


def submit_batch(jobs: list[dict[str, Any]], idempotency_key: str | None) -> Call[Batch]:
    return _call("SubmitBatch", Batch.from_dict, idempotency_key=_key(idempotency_key), jobs=jobs)


def get_job(job_id: str) -> Call[Job]:
    return _call("GetJob", Job.from_dict, job_id=job_id)


def list_jobs(status: str | None, model: str | None, limit: int | None, offset: int | None,
              name: str | None = None, starting_after: str | None = None) -> Call[JobPage]:
    return _call("ListJobs", JobPage.from_dict, status=status, model=model, limit=limit, offset=offset, name=name,
                 starting_after=starting_after)


def download(job_id: str, format: str | None) -> Call[Download]:
    return _call("DownloadJobOutput", _file, job_id=job_id, format=format)


def delete_job(job_id: str) -> Call[Deletion]:
    return _call("DeleteJob", Deletion.from_dict, job_id=job_id)


def job_input(job_id: str) -> Call[dict[str, Any]]:
    return _call("GetJobInput", dict, job_id=job_id)


def share_job(job_id: str, expires_in_days: int | None) -> Call[JobShare]:
    return _call("CreateJobShare", lambda d: JobShare.from_dict(d["share"], url=d.get("url"), raw=d), job_id=job_id,
                 expires_in_days=expires_in_days)


def job_shares(job_id: str) -> Call[list[JobShare]]:
    return _call("ListJobShares", lambda d: [JobShare.from_dict(x) for x in d.get("shares", ())], job_id=job_id)


def revoke_share(job_id: str, share_id: str) -> Call[dict[str, Any]]:
    return _call("RevokeJobShare", dict, job_id=job_id, share_id=share_id)


def share_token(link: str) -> str:
    """The token of a share link given whole ("https://host/shared/<token>"), as its path, or as the token."""
    return link.rstrip("/").rsplit("/shared/", 1)[-1].split("/", 1)[0]


def shared_job(link: str) -> Call[SharedJob]:
    return _call("GetSharedJob", SharedJob.from_dict, token=share_token(link))


def shared_download(link: str, format: str | None) -> Call[Download]:
    return _call("DownloadSharedJobOutput", _file, token=share_token(link), format=format)


def cancel_job(job_id: str, idempotency_key: str | None) -> Call[Cancellation]:
    return _call("CancelJob", Cancellation.from_dict, idempotency_key=_key(idempotency_key), job_id=job_id)


def account() -> Call[Account]:
    return _call("GetAccount", Account.from_dict)


def credit_history(limit: int | None, offset: int | None, starting_after: str | None = None) -> Call[CreditPage]:
    return _call("ListCreditEntries", CreditPage.from_dict, limit=limit, offset=offset, starting_after=starting_after)


def account_activity(limit: int | None, offset: int | None, starting_after: str | None = None,
                     action: str | None = None) -> Call[ActivityPage]:
    return _call("ListAccountActivity", ActivityPage.from_dict, limit=limit, offset=offset,
                 starting_after=starting_after, action=action)


def usage(days: int | None) -> Call[dict[str, Any]]:
    return _call("GetUsage", dict, days=days)


def list_webhooks() -> Call[list[Webhook]]:
    return _call("ListWebhooks", lambda d: [Webhook.from_dict(w) for w in d["webhooks"]])


def create_webhook(url: str, events: list[str] | None, idempotency_key: str | None) -> Call[Webhook]:
    return _call("CreateWebhook", _created_webhook, idempotency_key=_key(idempotency_key), url=url, events=events)


def delete_webhook(webhook_id: str) -> Call[Deletion]:
    return _call("DeleteWebhook", Deletion.from_dict, webhook_id=webhook_id)


def test_webhook(webhook_id: str, idempotency_key: str | None) -> Call[WebhookTest]:
    return _call("TestWebhook", WebhookTest.from_dict, idempotency_key=_key(idempotency_key), webhook_id=webhook_id)


def rotate_webhook_secret(webhook_id: str, expire_current_after_s: int | None,
                          idempotency_key: str | None) -> Call[Webhook]:
    # With an idempotency key like creation: a POST retried after a lost answer returns the secret the first one
    # made instead of rotating again (which would end the overlap of the secret the caller never saw).
    return _call("RotateWebhookSecret", _created_webhook, idempotency_key=_key(idempotency_key),
                 webhook_id=webhook_id, expire_current_after_s=expire_current_after_s)


def webhook_deliveries(webhook_id: str, status: str | None, limit: int | None, offset: int | None,
                       starting_after: str | None = None, event: str | None = None) -> Call[DeliveryPage]:
    return _call("ListWebhookDeliveries", DeliveryPage.from_dict, webhook_id=webhook_id, status=status, limit=limit,
                 offset=offset, starting_after=starting_after, event=event)


def redeliver(webhook_id: str, delivery_id: str, idempotency_key: str | None) -> Call[WebhookDelivery]:
    return _call("RedeliverWebhookDelivery", lambda d: WebhookDelivery.from_dict(d["delivery"], raw=d),
                 idempotency_key=_key(idempotency_key), webhook_id=webhook_id, delivery_id=delivery_id)


def list_api_keys() -> Call[list[ApiKey]]:
    return _call("ListApiKeys", lambda d: [ApiKey.from_dict(k) for k in d.get("keys", ())])


def _answered_key(data: dict[str, Any]) -> ApiKey:
    """The key of a create, revoke or update answer (the secret only in a create's)."""
    return ApiKey.from_dict(data["key"], secret=data.get("api_key"), raw=data)


def create_api_key(name: str | None, rate_limit: int | None, expires_in_days: int | None,
                   read_only: bool) -> Call[ApiKey]:
    return _call("CreateApiKey", _answered_key, name=name, rate_limit=rate_limit, expires_in_days=expires_in_days,
                 scope="read_only" if read_only else None)


def update_api_key(key_id: str, name: str | None, rate_limit: int | None, expires_in_days: int | None) -> Call[ApiKey]:
    return _call("UpdateApiKey", _answered_key, key_id=key_id, name=name, rate_limit=rate_limit,
                 expires_in_days=expires_in_days)


def revoke_api_key(key_id: str, confirm_last_key: bool) -> Call[ApiKey]:
    return _call("RevokeApiKey", _answered_key, key_id=key_id, confirm_last_key=confirm_last_key)


def watch(job_id: str | None, last_event_id: str | None) -> Call[JobEvent]:
    """One (re)connection of a watch stream, resuming after `last_event_id`; each message is one event."""
    if job_id is None:
        return _call("WatchJobs", JobEvent.from_dict, last_event_id=last_event_id)
    return _call("WatchJob", JobEvent.from_dict, job_id=job_id, last_event_id=last_event_id)
