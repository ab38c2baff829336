"""Typed results: what the API's JSON means, one frozen dataclass per shape (`raw` keeps the whole body)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str
    model: str
    name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    credits_used: int = 0
    output_file: str | None = None
    download_url: str | None = None
    error: str | None = None
    error_code: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    formats: tuple[str, ...] = ()
    started_at: str | None = None
    completed_at: str | None = None
    results_deleted_at: str | None = None  # set once the server's result retention deleted the files (410)
    # Set once the job went back from running to pending (why: requeue_reason) or is on its 2nd run or later.
    attempt: int | None = None
    max_attempts: int | None = None
    requeue_reason: str | None = None  # service_stopped, service_lost, service_restarted, model_unavailable or model_restarted
    # Pending jobs only, where the server said (one job's read, its watch's first event): the jobs of its model that
    # will start before it (an estimate by the server's fair-share rule; 0: next to start), and those running now.
    jobs_ahead: int | None = None
    model_running: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def status_text(self) -> str:
        """The status as a person reads it: a pending job with its place, "pending (2 jobs ahead)"."""
        if self.status != "pending" or self.jobs_ahead is None:
            return self.status
        if self.jobs_ahead == 0:
            return "pending (next to start)"
        return f"pending ({self.jobs_ahead} job{'' if self.jobs_ahead == 1 else 's'} ahead)"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(job_id=data["job_id"], status=data["status"], model=data.get("model", ""), name=data.get("name"),
                   created_at=data.get("created_at"), updated_at=data.get("updated_at"),
                   credits_used=int(data.get("credits_used", 0)), output_file=data.get("output_file"),
                   download_url=data.get("download_url"), error=data.get("error"), error_code=data.get("error_code"),
                   metrics=dict(data.get("metrics") or {}), metadata=dict(data.get("metadata") or {}),
                   formats=tuple(data.get("formats") or ()), started_at=data.get("started_at"),
                   completed_at=data.get("completed_at"), results_deleted_at=data.get("results_deleted_at"),
                   attempt=_optional_int(data.get("attempt")), max_attempts=_optional_int(data.get("max_attempts")),
                   requeue_reason=data.get("requeue_reason"), jobs_ahead=_optional_int(data.get("jobs_ahead")),
                   model_running=_optional_int(data.get("model_running")), raw=data)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Submission:
    """An accepted job (POST /v1/predict)."""

    job_id: str
    model: str
    status: str
    credits_used: int
    message: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Submission:
        return cls(data["job_id"], data["model"], data["status"], int(data["credits_used"]), data.get("message", ""),
                   raw=data)


@dataclass(frozen=True)
class BatchItem:
    index: int
    success: bool
    model: str
    job_id: str | None = None
    credits_used: int = 0
    error: str | None = None
    message: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchItem:
        return cls(int(data["index"]), bool(data["success"]), data.get("model", ""), data.get("job_id"),
                   int(data.get("credits_used", 0)), data.get("error"), data.get("message"))


@dataclass(frozen=True)
class Batch:
    """A batch's answer (POST /v1/batch): one `BatchItem` a job, in the order sent; those refused say why."""

    results: tuple[BatchItem, ...]
    total_credits_used: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        return cls(tuple(BatchItem.from_dict(r) for r in data["results"]),
                   int(data["summary"]["total_credits_used"]), raw=data)

    @property
    def accepted(self) -> tuple[BatchItem, ...]:
        """The jobs the server took (each has its `job_id`)."""
        return tuple(item for item in self.results if item.success)

    @property
    def refused(self) -> tuple[BatchItem, ...]:
        """The jobs the server refused, with their `error` and `message`; nothing was charged for them."""
        return tuple(item for item in self.results if not item.success)


def _pagination(data: dict[str, Any]) -> tuple[int, int, int, bool, str | None]:
    """A list page's `pagination` object, as every page type (JobPage, DeliveryPage, ActivityPage, CreditPage) holds
    it after its items: total, limit, offset, has_more, next_starting_after (None from a server older than the
    cursor, and on the last page)."""
    page = data["pagination"]
    return (int(page["total"]), int(page["limit"]), int(page["offset"]), bool(page["has_more"]),
            page.get("next_starting_after"))


@dataclass(frozen=True)
class JobPage:
    jobs: tuple[Job, ...]
    total: int
    limit: int
    offset: int
    has_more: bool
    next_starting_after: str | None = None  # pass as starting_after= for the next page; None on the last
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobPage:
        return cls(tuple(Job.from_dict(j) for j in data["jobs"]), *_pagination(data), raw=data)


@dataclass(frozen=True)
class Cancellation:
    job_id: str
    status: str
    credits_refunded: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cancellation:
        return cls(data["job_id"], data["status"], int(data.get("credits_refunded", 0)), raw=data)


@dataclass(frozen=True)
class Deletion:
    """A deleted job or webhook (DELETE /v1/jobs/{job_id}, /v1/webhooks/{webhook_id}): `id` is the one deleted."""

    id: str
    success: bool
    message: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deletion:
        return cls(str(data.get("job_id") or data.get("webhook_id") or ""), bool(data.get("success", True)),
                   data.get("message", ""), raw=data)


@dataclass(frozen=True)
class Progress:
    stage: str
    step: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float | None:
        return None if self.total <= 0 else min(1.0, self.step / self.total)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        return cls(data.get("stage", ""), int(data.get("step", 0)), int(data.get("total", 0)), data.get("message", ""))


@dataclass(frozen=True)
class JobEvent:
    """One event of a watch stream: a state change (`type == "state"`, with an `event_id` to resume
    after) or the model's progress (`type == "progress"`)."""

    type: str
    job_id: str
    job: Job
    event_id: str = ""
    progress: Progress | None = None
    time: str | None = None

    @property
    def terminal(self) -> bool:
        return self.type == "state" and self.job.done

    def describe(self) -> str:
        """One line for a person following many jobs: the job (and its name), then what happened."""
        job = f"{self.job_id} ({self.job.name})" if self.job.name else self.job_id
        if self.progress is not None:
            return f"{job}: {self.progress.message or self.progress.stage}"
        return f"{job}: {self.job.status}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobEvent:
        progress = data.get("progress")
        return cls(data.get("type", ""), data.get("job_id", ""), Job.from_dict(data["job"]), data.get("event_id", ""),
                   Progress.from_dict(progress) if progress else None, data.get("time"))


@dataclass(frozen=True)
class Download:
    content: bytes
    media_type: str
    file_name: str | None  # one plain file name (server_file_name), never a path


# Characters no file name written from a server's word may hold: path separators of every platform, NUL and the
# other control characters (a name shown in a terminal must not move its cursor or recolour it).
_NOT_IN_FILE_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:]")
MAX_FILE_NAME = 200


def server_file_name(name: str | None) -> str | None:
    """The file name a server gave a download (Content-Disposition, gRPC `file_name`) as one plain name to write in
    the current or the --out folder, or None when nothing usable is left (the caller then names the file itself).

    The name is the server's word, and `phonos jobs download` and `phonos fold --out` join it to a folder: a
    server that is not what it claims (a look-alike address, a proxy in the middle of plain HTTP) answered
    `filename="../x"` or `filename="/home/you/.bashrc"` and the command wrote there. Only the last part of the
    name is kept, separators and control characters become `_`, leading dots are dropped (no hidden file, no
    `..`), and it is cut to MAX_FILE_NAME characters; phonos's own names (`<job id>.pdb`) pass unchanged."""
    if not name:
        return None
    last = re.split(r"[/\\]", name)[-1]
    cleaned = _NOT_IN_FILE_NAMES.sub("_", last).lstrip(". ")[:MAX_FILE_NAME].rstrip(". ")
    return cleaned or None


@dataclass(frozen=True)
class WebhookLastDelivery:
    """A webhook's newest job-event delivery, as its listing sums it up (test events are left out)."""

    delivery_id: str  # as the delivery log's: `webhook_deliveries(...)` has the whole entry
    event: str
    status: str  # pending (queued or waiting for a retry), delivered or failed
    at: str | None  # its last attempt (RFC 3339); when it was queued if none was made yet
    status_code: int | None = None  # the receiver's HTTP status; None before the first attempt or with no answer
    error: str | None = None  # why the last attempt did not deliver, as the log words it

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WebhookLastDelivery:
        return cls(data["delivery_id"], data["event"], data["status"], data.get("at"), data.get("status_code"),
                   data.get("error"))


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    url: str
    events: tuple[str, ...]
    created_at: str | None = None
    secret: str | None = None  # only when just created, or its secret just rotated
    # The API's JSON: the webhook object; for one just created, the whole answer of POST /v1/webhooks
    # ({"success", "webhook", "secret", "message"}); for a rotation, that of POST …/rotate-secret.
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Until when deliveries are signed with the secret a rotation replaced too (RFC 3339): on a rotation's answer
    # always (the rotation's own time when it stopped at once); on a listed webhook only while that overlap runs,
    # None once only the current secret signs.
    previous_secret_expires_at: str | None = None
    # Delivery health, on a listed webhook (None on one just created or rotated): its newest job-event delivery,
    # and while the newest job-event deliveries keep failing, since when (RFC 3339); cleared by the next success.
    last_delivery: WebhookLastDelivery | None = None
    failing_since: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], secret: str | None = None, raw: dict[str, Any] | None = None) -> Webhook:
        answer = data if raw is None else raw
        # a rotation's answer says it beside the webhook (set even for an overlap of 0); a listing, in the webhook
        until = answer.get("previous_secret_expires_at") or data.get("previous_secret_expires_at")
        last = data.get("last_delivery")
        return cls(data["webhook_id"], data["url"], tuple(data.get("events") or ()), data.get("created_at"), secret,
                   raw=answer, previous_secret_expires_at=until,
                   last_delivery=WebhookLastDelivery.from_dict(last) if isinstance(last, dict) else None,
                   failing_since=data.get("failing_since"))


@dataclass(frozen=True)
class ApiKey:
    """One API key of the account (never its secret, except `secret` on a key just created)."""

    key_id: str
    prefix: str
    name: str | None
    rate_limit: int  # requests per minute
    created_at: str
    scope: str = "full"  # "full", or "read_only": reads only, 403 on anything that changes state or spends credits
    expires_at: str | None = None  # None: never expires
    expired: bool = False  # the server's clock says expires_at has passed
    revoked: bool = False
    last_used_at: str | None = None
    secret: str | None = None  # only when just created: send it as `Authorization: Bearer <secret>`
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @property
    def read_only(self) -> bool:
        return self.scope == "read_only"

    @classmethod
    def from_dict(cls, data: dict[str, Any], secret: str | None = None, raw: dict[str, Any] | None = None) -> ApiKey:
        return cls(data["key_id"], data["prefix"], data.get("name"), int(data["rate_limit"]), data["created_at"],
                   data.get("scope") or "full", data.get("expires_at"), bool(data.get("expired")),
                   bool(data.get("revoked")), data.get("last_used_at"), secret, raw=data if raw is None else raw)


@dataclass(frozen=True)
class JobShare:
    """A share link of a job: anyone holding it sees the job's results, read-only, until `expires_at` or until it
    is revoked. `url` (the path "/shared/<token>") only when just created: the token is not shown again."""

    share_id: str
    job_id: str
    created_at: str
    expires_at: str
    url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any], url: str | None = None, raw: dict[str, Any] | None = None) -> JobShare:
        return cls(data["share_id"], data["job_id"], data["created_at"], data["expires_at"], url,
                   raw=data if raw is None else raw)


@dataclass(frozen=True)
class SharedJob:
    """A job as a share link shows it (GET /shared/{token}/job): no credits; downloads go through the link."""

    job: Job
    expires_at: str  # when the link stops working
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SharedJob:
        return cls(Job.from_dict(data["job"]), data["expires_at"], raw=data)


@dataclass(frozen=True)
class WebhookTest:
    success: bool
    status_code: int
    message: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WebhookTest:
        return cls(bool(data["success"]), int(data.get("status_code", 0)), data.get("message", ""), raw=data)


@dataclass(frozen=True)
class WebhookDelivery:
    """One job event queued for a webhook, and what became of it (`pending`, `delivered`, `failed`)."""

    delivery_id: str
    event: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str | None
    last_attempt_at: str | None
    next_attempt_at: str | None
    job_id: str | None
    payload: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any], raw: dict[str, Any] | None = None) -> WebhookDelivery:
        """`raw`: the whole answer it came in, when that is more than the delivery (a redelivery's)."""
        code = data.get("last_status_code")
        return cls(data["delivery_id"], data["event"], data["status"], int(data.get("attempts", 0)),
                   None if code is None else int(code), data.get("last_error"), data.get("created_at"),
                   data.get("last_attempt_at"), data.get("next_attempt_at"), data.get("job_id"),
                   dict(data.get("payload") or {}), raw=data if raw is None else raw)


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: tuple[WebhookDelivery, ...]
    total: int
    limit: int
    offset: int
    has_more: bool
    next_starting_after: str | None = None  # pass as starting_after= for the next page; None on the last
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveryPage:
        return cls(tuple(WebhookDelivery.from_dict(d) for d in data.get("deliveries", ())), *_pagination(data), raw=data)


# The seed's order of an account's job counts, then phonos's `cancelled`: gRPC's map gives them in no set order, and
# `phonos account` said "2 cancelled, 0 active" there where REST said "0 active, 0 failed, 2 cancelled".
_JOB_COUNT_ORDER = ("total", "completed", "active", "failed", "cancelled")


def _job_counts(counts: dict[str, Any]) -> dict[str, int]:
    """The counts in one order on every transport: the known ones first, any others after in the order given."""
    ordered = [k for k in _JOB_COUNT_ORDER if k in counts] + [k for k in counts if k not in _JOB_COUNT_ORDER]
    return {k: int(counts[k]) for k in ordered}


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    email: str | None
    balance: int
    jobs: dict[str, int]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        account = data["account"]
        return cls(int(account["id"]), account["username"], account.get("email"), int(data["credits"]["balance"]),
                   _job_counts(data["jobs"]), raw=data)


@dataclass(frozen=True)
class CreditEntry:
    """One change of the balance: `amount` is signed (+ in, - out), `kind` grant, charge or refund."""

    id: int
    created_at: str
    amount: int
    balance_after: int
    kind: str
    job_id: str | None = None
    job_deleted: bool = False  # the job was deleted; its entries stay
    note: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CreditEntry:
        return cls(int(data["id"]), data["created_at"], int(data["amount"]), int(data["balance_after"]), data["kind"],
                   data.get("job_id"), bool(data.get("job_deleted", False)), data.get("note"), raw=data)


@dataclass(frozen=True)
class ActivityEntry:
    """One change of the account's access (GET /v1/account/activity): `action` (api_key.created,
    session.signed_in, ...), how the caller was authenticated (`actor_kind` api_key, session or operator, with
    the key's id and name), from which address, what it was done to (`target`) and a few `details`."""

    id: int
    created_at: str
    action: str
    actor_kind: str
    actor_key_id: str | None = None
    actor_key_name: str | None = None
    client_address: str | None = None  # None for an operator
    user_agent: str | None = None  # the browser's, on a dashboard sign-in
    target: dict[str, str] = field(default_factory=dict)  # key_id, webhook_id, job_id and share_id, where set
    details: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActivityEntry:
        actor = data.get("actor") or {}
        return cls(int(data["id"]), data["created_at"], data["action"], actor.get("kind", ""), actor.get("key_id"),
                   actor.get("key_name"), data.get("client_address"), data.get("user_agent"),
                   dict(data.get("target") or {}), dict(data.get("details") or {}), raw=data)


@dataclass(frozen=True)
class ActivityPage:
    entries: tuple[ActivityEntry, ...]
    total: int
    limit: int
    offset: int
    has_more: bool
    next_starting_after: str | None = None  # pass as starting_after= for the next page; None on the last
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActivityPage:
        return cls(tuple(ActivityEntry.from_dict(e) for e in data.get("entries", ())), *_pagination(data), raw=data)


@dataclass(frozen=True)
class CreditPage:
    entries: tuple[CreditEntry, ...]
    total: int
    limit: int
    offset: int
    has_more: bool
    next_starting_after: str | None = None  # pass as starting_after= for the next page; None on the last
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the API's JSON, whole

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CreditPage:
        return cls(tuple(CreditEntry.from_dict(e) for e in data.get("entries", ())), *_pagination(data), raw=data)
