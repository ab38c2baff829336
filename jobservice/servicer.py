"""PhonosService over gRPC: authentication, rate limits, usage and error mapping around `JobService`.

Every method runs through `_handle`, so REST (via the gateway) and gRPC share
one behaviour. Handlers only translate between protobuf and the domain.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from jobservice import big_work, call_charge, metrics, tracing
from jobservice.accounts import Principal
from jobservice.activity import CALLER, ActorKind, Caller
from jobservice.api_keys import KeyRecord
from jobservice.credit_history import CreditEntry
from jobservice.edge import abort_for_bug, call_client, call_request_id, call_transport
from jobservice.errors import DatabaseUnavailable, InvalidArgument, PhonosError, RateLimited
from jobservice.idempotency import REPLAYED_METADATA, Claim
from jobservice.job_ids import canonical_job_id
from jobservice.jobs import JobRecord
from jobservice.key_policy import ReadOnlyKey
from jobservice.messages import activity_message, struct, timestamp
from jobservice.opaque_ids import PLAIN, IdCipher
from jobservice.paging import PageInfo
from jobservice.ratelimit import RateLimits
from jobservice.request_text import refuse_nul
from jobservice.routes import public_methods, read_only_methods, route_templates, state_changing_methods
from jobservice.service import BatchItem, Download, JobService, Submission, SubmitItem
from jobservice.sessions import SessionView
from jobservice.shares import SharedJob, ShareRecord, share_url
from jobservice.states import ACTIVE, TERMINAL, JobStatus
from jobservice.status_map import TITLE_KEY, grpc_status
from jobservice.stream_guard import until_ended
from jobservice.usage import usage_event
from jobservice.watch import Event, KeepAlive, ProgressEvent, StateEvent, parse_cursor, with_keepalives
from jobservice.webhook_deliveries import DeliveryRecord
from jobservice.webhook_events import download_url
from jobservice.webhooks import Rotation, TestResult, WebhookRecord
from phonos.v1 import phonos_pb2 as pb
from phonos.v1 import phonos_pb2_grpc
from phonos_common.ratelog import OncePerSubject

log = logging.getLogger(__name__)
# A key meeting its rate limit: once a minute per key (a line per refused call would let a client fill the log).
_rate_limit_log = OncePerSubject(log, per_minute=20)

HTTP_CODE_KEY = "x-http-code"  # the gateway's status override for a successful call (gateway.app)

Handler = Callable[[Principal], Awaitable[tuple[Message, "Charge"]]]
# A handler of an idempotent rpc: also gets the request's Idempotency-Key claim (None without a key).
ClaimingHandler = Callable[[Principal, Claim | None], Awaitable[tuple[Message, "Charge"]]]


def _call_origin(metadata: Mapping[str, Any], peer: str) -> tuple[str, str]:
    """The call's request id (the gateway's, or a new one) and transport ("rest" via the gateway, else "grpc":
    edge.call_transport says when the gateway's mark is believed)."""
    return call_request_id(metadata), call_transport(metadata, peer)


class Charge:
    """What a request spent, for the usage record."""

    __slots__ = ("credits", "model")

    def __init__(self, credits: int = 0, model: str | None = None) -> None:
        self.credits = credits
        self.model = model


NO_CHARGE = Charge()
# What the handler of a public rpc (no key: health, share links) is given as its caller; it must not use it. The
# call is then nobody's: no per-key rate limit (admission limits share links per client address) and no usage.
NOBODY = Principal(account_id=0, key_hash="", rate_limit=0)
# The dashboard session rpcs whose request carries the browser's User-Agent (the gateway's /auth routes fill it).
SESSION_REQUESTS_WITH_USER_AGENT = (pb.CreateSessionRequest, pb.DeleteSessionRequest, pb.ChangePasswordRequest,
                                    pb.EndSessionRequest)


def _params(request: pb.PredictRequest | pb.BatchJob) -> dict[str, Any]:
    if not request.HasField("params"):
        return {}
    try:
        return json_format.MessageToDict(request.params)
    except ValueError:  # NaN or ±Infinity in a Struct (e.g. JSON 1e309) has no JSON form
        raise InvalidArgument("params must hold only finite numbers") from None


def _optional(request: Message, *fields: str) -> dict[str, Any]:
    """The request's optional fields by name, None where unset (a list's limit, offset, starting_after and
    filters), as keyword arguments of the service's call."""
    return {name: getattr(request, name) if request.HasField(name) else None for name in fields}


def _submit_item(request: pb.PredictRequest | pb.BatchJob) -> SubmitItem:
    return SubmitItem(
        model=request.model, sequence=request.sequence,
        name=request.name if request.HasField("name") else None, params=_params(request),
    )


async def _submit_items(requests: Sequence[pb.PredictRequest | pb.BatchJob]) -> list[SubmitItem]:
    """The submissions' items; their params turned into dicts in a thread (jobservice/big_work.py) when a text in
    them may be big (a 50 MB A3M: ~30 ms). A Struct's size is not known without that work (ByteSize encodes it:
    ~60 ms), so any string or nested value sends it there; numbers and booleans alone stay on the loop."""
    size = sum(_params_size(request) for request in requests)
    return await big_work.off_loop(size, lambda: [_submit_item(request) for request in requests])


def _params_size(request: pb.PredictRequest | pb.BatchJob) -> int:
    if not request.HasField("params"):
        return 0
    cheap = ("number_value", "bool_value", "null_value")
    big = any(value.WhichOneof("kind") not in cheap for value in request.params.fields.values())
    return big_work.INLINE_CHARS + 1 if big else 0


def job_fields(job: JobRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "job_id": job.id, "status": str(job.status), "model": job.model,
        "created_at": timestamp(job.created_at), "updated_at": timestamp(job.updated_at),
        "credits_used": job.credits_used - job.refunded,
        "started_at": None if job.started_at is None else timestamp(job.started_at),
        "completed_at": None if job.finished_at is None or job.status in ACTIVE else timestamp(job.finished_at),
    }
    if job.name is not None:
        fields["name"] = job.name
    if job.error:
        fields["error"] = job.error
    if job.error_code:
        fields["error_code"] = job.error_code
    # Why a job went back to pending and which run this is (jobs.RequeueReason): running -> pending -> running
    # said nothing before.
    if job.requeue_reason is not None:
        fields["requeue_reason"] = str(job.requeue_reason)
        if job.max_attempts is not None:
            fields["max_attempts"] = job.max_attempts
    if job.attempt > 1 or (job.requeue_reason is not None and job.attempt > 0):
        fields["attempt"] = job.attempt
    if job.place is not None and job.status == JobStatus.PENDING:
        fields["jobs_ahead"] = job.place.jobs_ahead
        fields["model_running"] = job.place.model_running
    if job.status == JobStatus.COMPLETED and job.result:
        artifacts = job.result["artifacts"]
        fields["output_file"] = artifacts[0]["file"]
        fields["download_url"] = download_url(job.id)
        fields["formats"] = [a["format"] for a in artifacts]
        fields["metrics"] = struct(job.result.get("metrics"))
        fields["metadata"] = struct(job.result.get("metadata"))
        if job.results_deleted_at is not None:
            fields["results_deleted_at"] = timestamp(job.results_deleted_at)
    return {k: v for k, v in fields.items() if v is not None}


def session_message(view: SessionView) -> pb.DashboardSession:
    """One row of the "Signed in" list: its handle, never its token."""
    message = pb.DashboardSession(session_id=view.handle, created_at=timestamp(view.created_at),
                                  expires_at=timestamp(view.expires_at), current=view.current)
    if view.last_seen_at is not None:
        message.last_active_at.CopyFrom(timestamp(view.last_seen_at))
    if view.user_agent:
        message.user_agent = view.user_agent
    if view.client_address:
        message.client_address = view.client_address
    return message


def pagination(page: PageInfo) -> pb.Pagination:
    """One page of a list (jobs, credit history, webhook deliveries), as jobservice.paging read it."""
    return pb.Pagination(total=page.total, limit=page.limit, offset=page.offset, has_more=page.has_more,
                         next_starting_after=page.next_starting_after)


def credit_entry_message(entry: CreditEntry) -> pb.CreditEntry:
    message = pb.CreditEntry(id=entry.id, created_at=timestamp(entry.created_at), amount=entry.amount,
                             balance_after=entry.balance_after, kind=str(entry.kind), job_deleted=entry.job_deleted)
    if entry.job_id is not None:
        message.job_id = entry.job_id
    if entry.note is not None:
        message.note = entry.note
    return message


def caller_of(principal: Principal, client_address: str) -> Caller:
    """Who the activity log says made a change in this call (jobservice/activity.py)."""
    if principal.via_session:
        return Caller(ActorKind.SESSION, client_address=client_address)
    return Caller(ActorKind.API_KEY, key_id=principal.key_id, key_name=principal.key_name,
                  client_address=client_address)


def key_message(key: KeyRecord) -> pb.ApiKey:
    message = pb.ApiKey(key_id=key.id, prefix=key.prefix, created_at=timestamp(key.created_at),
                        rate_limit=key.rate_limit, revoked=key.revoked, scope=key.scope, expired=key.expired())
    if key.name is not None:
        message.name = key.name
    if key.last_used_at is not None:
        message.last_used_at.CopyFrom(timestamp(key.last_used_at))
    if key.revoked_at is not None:
        message.revoked_at.CopyFrom(timestamp(key.revoked_at))
    if key.expires_at is not None:
        message.expires_at.CopyFrom(timestamp(key.expires_at))
    return message
_RESULT_FIELDS = ("output_file", "download_url", "formats", "metrics", "metadata", "error", "error_code",
                  "results_deleted_at")


def job_fields_at(job: JobRecord, status: JobStatus, at: float) -> dict[str, Any]:
    """The job's public view as of a state event: a past, non-terminal state shows no results and what
    was charged then (refunds happen only on the way to a terminal state)."""
    fields = job_fields(job)
    if job.requeued_at is not None and at < job.requeued_at:  # an event from before its latest hand-back (its first
        for key in ("attempt", "max_attempts", "requeue_reason"):  # run's, replayed): not that hand-back's reason
            fields.pop(key, None)
    if status == job.status:
        return fields
    fields.update(status=str(status), updated_at=timestamp(at))
    fields.pop("jobs_ahead", None)  # a place is read for the job as it is now, not as of a past event
    fields.pop("model_running", None)
    if status not in TERMINAL:
        fields["credits_used"] = job.credits_used
        for key in (*_RESULT_FIELDS, "completed_at"):
            fields.pop(key, None)
        if status == JobStatus.PENDING:
            fields.pop("started_at", None)  # not started yet, as of this event
    return fields


def job_event(event: Event, ids: IdCipher = PLAIN.events) -> pb.JobEvent:
    """`ids`: how a state event's row number is shown (opaque_ids; the service's `ids.events`)."""
    if isinstance(event, ProgressEvent):
        update = event.progress
        return pb.JobEvent(
            type="progress", job_id=event.job_id, time=timestamp(event.at),
            job=pb.Job(**job_fields_at(event.job, JobStatus.RUNNING, event.job.updated_at)),
            progress=pb.Progress(stage=update.stage, step=update.step, total=update.total, message=update.message),
        )
    assert isinstance(event, StateEvent)
    return pb.JobEvent(type="state", event_id=ids.text(event.event_id), job_id=event.job_id, time=timestamp(event.at),
                       job=pb.Job(**job_fields_at(event.job, event.status, event.at)))


def still_wanted(context: grpc.aio.ServicerContext) -> Callable[[], bool]:
    """Whether the caller still waits for this call's answer: not cancelled, its deadline (if any) not passed."""
    def check() -> bool:
        remaining = context.time_remaining()
        return not context.cancelled() and (remaining is None or remaining > 0)
    return check


def predict_response(sub: Submission) -> pb.PredictResponse:
    return pb.PredictResponse(success=True, job_id=sub.job_id, model=sub.model, status="pending",
                              credits_used=sub.cost, message="Job submitted successfully")


def batch_response(items: list[BatchItem]) -> pb.SubmitBatchResponse:
    results = []
    for item in items:
        if item.submission is not None:
            results.append(pb.BatchResult(index=item.index, success=True, job_id=item.submission.job_id,
                                          model=item.model, credits_used=item.submission.cost))
        else:
            assert item.error is not None
            results.append(pb.BatchResult(index=item.index, success=False, model=item.model, credits_used=0,
                                          error=item.error.title, message=item.error.message))
    ok = [i.submission for i in items if i.submission is not None]
    spent = sum(s.cost for s in ok)
    summary = pb.BatchSummary(total=len(items), successful=len(ok), failed=len(items) - len(ok),
                              total_credits_used=spent)
    return pb.SubmitBatchResponse(success=bool(ok), summary=summary, results=results)


def cancel_response(job: JobRecord) -> pb.CancelJobResponse:
    return pb.CancelJobResponse(success=True, job_id=job.id, status=str(job.status),
                                message="Job cancelled successfully", credits_refunded=job.refunded)


def created_response(made: tuple[WebhookRecord, str]) -> pb.CreateWebhookResponse:
    hook, secret = made
    return pb.CreateWebhookResponse(success=True, webhook=webhook_message(hook), secret=secret,
                                    message="Webhook created. Store the secret now: it is not shown again.")


def rotated_response(rotation: Rotation) -> pb.RotateWebhookSecretResponse:
    return pb.RotateWebhookSecretResponse(
        success=True, webhook=webhook_message(rotation.webhook), secret=rotation.secret,
        previous_secret_expires_at=timestamp(rotation.previous_secret_expires_at),
        message="Webhook secret rotated. Store the new secret now: it is not shown again.")


def share_message(share: ShareRecord) -> pb.JobShare:
    return pb.JobShare(share_id=share.id, job_id=share.job_id, created_at=timestamp(share.created_at),
                       expires_at=timestamp(share.expires_at))


def shared_job_fields(token: str, shared: SharedJob) -> dict[str, Any]:
    """The job as a link's holder sees it: nothing about the owner's account (credits), downloads through the link."""
    fields = job_fields(shared.job)
    fields.pop("credits_used", None)
    if "download_url" in fields:
        fields["download_url"] = share_url(token) + "/download"
    return fields


def webhook_message(hook: WebhookRecord, ids: IdCipher = PLAIN.deliveries) -> pb.Webhook:
    """`ids`: how the last delivery's row number is shown, as the delivery log shows it (opaque_ids)."""
    overlap_end = hook.previous_secret_expires_at  # unset (absent from the JSON) when only one secret signs
    health = hook.health
    last = None if health is None else health.last_delivery
    failing = None if health is None else health.failing_since
    return pb.Webhook(webhook_id=hook.id, url=hook.url, events=list(hook.events), created_at=timestamp(hook.created_at),
                      previous_secret_expires_at=None if overlap_end is None else timestamp(overlap_end),
                      last_delivery=None if last is None else pb.WebhookLastDelivery(
                          delivery_id=ids.text(last.id), event=last.event, status=last.status, at=timestamp(last.at),
                          status_code=last.status_code, error=last.error),
                      failing_since=None if failing is None else timestamp(failing))


def delivery_message(d: DeliveryRecord, ids: IdCipher = PLAIN.deliveries) -> pb.WebhookDelivery:
    """`ids`: how the delivery's row number is shown (opaque_ids; the service's `ids.deliveries`)."""
    return pb.WebhookDelivery(
        delivery_id=ids.text(d.id), event=d.event, status=d.status, attempts=d.attempts,
        last_status_code=d.last_status_code, last_error=d.last_error, created_at=timestamp(d.created_at),
        last_attempt_at=None if d.last_attempt_at is None else timestamp(d.last_attempt_at),
        next_attempt_at=None if d.next_attempt_at is None else timestamp(d.next_attempt_at),
        job_id=d.job_id, payload=struct(d.payload),
    )


class PhonosServicer(phonos_pb2_grpc.PhonosServiceServicer):
    def __init__(self, service: JobService, limiter: RateLimits | None = None) -> None:
        self._svc = service
        self._limiter = limiter or service.rate_limits
        self._routes = route_templates()
        self._changing = state_changing_methods()
        self._reads = read_only_methods()
        self._public = public_methods()
        self._path_fields = {method: re.findall(r"\{(\w+)\}", route) for method, route in self._routes.items()}

    async def _handle(self, method: str, request: Message, context: grpc.aio.ServicerContext,
                      handler: Handler) -> Message:
        metadata = {k: v for k, v in (context.invocation_metadata() or ())}
        with tracing.rpc_span(method, self._routes[method], metadata), call_charge.watching() as submissions:
            return await self._answer(method, request, context, handler, metadata, submissions)

    async def _answer(self, method: str, request: Message, context: grpc.aio.ServicerContext, handler: Handler,
                      metadata: dict[str, Any], submissions: call_charge.SubmissionWatch) -> Message:
        started = time.perf_counter()
        request_id, transport = _call_origin(metadata, context.peer())
        trailers: list[tuple[str, str]] = [("x-request-id", request_id)]
        principal: Principal | None = None
        charge = NO_CHARGE
        failure: PhonosError | None = None
        code = grpc.StatusCode.OK
        try:
            if method in self._public:
                refuse_nul(request)
                response, charge = await handler(NOBODY)
            else:
                principal = await self._svc.auth.authenticate(metadata, state_changing=method in self._changing,
                                                              client_address=call_client(metadata, context.peer()))
                trailers += (await self._limiter.check(principal.key_hash, principal.rate_limit)).headers()
                self._check_scope(principal, method)  # after the limit: a refused call still counts as a request
                refuse_nul(request)  # after the key: a bad key is a 401 whatever the request holds
                self._check_path_ids(method, request)
                # Who the activity log names for a change made in this call; reset after it (the gateway in
                # process serves its calls in its own request's task).
                as_caller = CALLER.set(caller_of(principal, call_client(metadata, context.peer())))
                try:
                    response, charge = await handler(principal)
                finally:
                    CALLER.reset(as_caller)
        except PhonosError as exc:
            failure = exc
        except asyncio.CancelledError:
            # The caller cancelled or its deadline passed (grpc cancels the handler): no answer went out, so the
            # metrics and the usage row must not count it as an OK.
            remaining = context.time_remaining()
            code = (grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0
                    else grpc.StatusCode.CANCELLED)
            # Jobs its submission stored all the same (shielded: it commits or rolls back whole) are charged: their
            # credits belong in the usage row, as the balance and the jobs have them (jobservice/call_charge.py).
            await submissions.settled()
            if submissions.credits:
                charge = Charge(submissions.credits, submissions.model)
            raise
        except Exception:
            log.exception("unhandled error", extra={"action": "rpc.internal_error", "method": method,
                                                   "request_id": request_id})
            code = grpc.StatusCode.INTERNAL
        finally:
            if failure is not None:
                code = grpc_status(failure)[0]
            self._finished(method, transport, code, started, principal, charge, failure)
        if failure is not None:
            status, extra = grpc_status(failure)
            if isinstance(failure, RateLimited):
                trailers = [t for t in trailers if not t[0].startswith("x-ratelimit")]
            await context.abort(status, failure.message, trailing_metadata=tuple(trailers + extra))
        if code == grpc.StatusCode.INTERNAL:
            await context.abort(
                code, f"Internal server error (request id {request_id}); the error was logged",
                trailing_metadata=tuple([*trailers, (TITLE_KEY, "Internal server error")]),
            )
        context.set_trailing_metadata(tuple(trailers))
        return response

    def _check_path_ids(self, method: str, request: Message) -> None:
        """INVALID_ARGUMENT for an id the rpc's route has in its path (`{job_id}`) left empty: proto3 sends an
        unset field as "", which read as an id was `Job  not found`. grpc-gateway's answer for a missing path
        parameter; over REST an empty path segment matches no route (404) and never gets here. A job id in
        capitals is read as the stored lower-case one (jobservice/job_ids.py): the request is changed in place,
        so the handler, its answer and an Idempotency-Key's stored request all see the id the service knows."""
        for name in self._path_fields[method]:
            value = getattr(request, name)
            if value == "":
                raise InvalidArgument(f"{name} is required")
            if name == "job_id":
                setattr(request, name, canonical_job_id(value))

    def _check_scope(self, principal: Principal, method: str) -> None:
        """ReadOnlyKey (403) for a read-only key on an rpc the contract does not mark as a read."""
        if principal.read_only and method not in self._reads:
            raise ReadOnlyKey(method)

    def _finished(self, method: str, transport: str, code: grpc.StatusCode, started: float,
                  principal: Principal | None, charge: Charge, failure: PhonosError | None) -> None:
        """One call's metrics, trace outcome and usage row (a streaming rpc's: once it is open or refused)."""
        if isinstance(failure, RateLimited):
            metrics.rate_limited(transport)
            if principal is not None and failure.limit:  # a key's (or session's) own limit, not a server-wide one
                who = f"key {principal.key_id}" if principal.key_id else "a dashboard session"
                _rate_limit_log.log(principal.key_hash, logging.INFO, "ratelimit.exceeded",
                                    "%s met its rate limit of %d requests a minute; refused for %d s", who,
                                    failure.limit, failure.retry_after_s, extra={"key_id": principal.key_id or ""})
        elapsed_s = time.perf_counter() - started
        metrics.rpc_finished(method, transport, code.name, elapsed_s)
        tracing.set_rpc_outcome(code.name, principal.account_id if principal else None)
        if principal is not None:
            self._svc.usage.record(usage_event(
                principal.account_id, self._routes[method], key_id=principal.key_id, model=charge.model,
                credits_used=charge.credits, status_code=code.value[0], elapsed_ms=elapsed_s * 1000,
                transport="dashboard" if principal.via_session else transport,
            ))

    def _idempotent(self, method: str, request: Message, context: grpc.aio.ServicerContext,
                    response_class: type[Message], run: ClaimingHandler,
                    allowed: Callable[[Principal], Awaitable[None]] | None = None) -> Handler:
        """`run` once per Idempotency-Key: a retry gets the stored response (jobservice/idempotency.py).
        `allowed`: the caller's own permission to what `run` does, raising if it has none, asked before a keyed
        call's claim too: a replay hands the first call's answer (a webhook's secret) to whichever key of the
        account sends the same Idempotency-Key, so it must be a key that could have made the call itself."""
        async def handler(who: Principal) -> tuple[Message, Charge]:
            metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
            claim = self._svc.idempotency.claim(metadata, who.account_id, method, request)
            if claim is None:
                return await run(who, None)
            if allowed is not None:
                await allowed(who)
            response, charge, replayed = await self._svc.idempotency.once(
                claim, response_class, lambda: run(who, claim), NO_CHARGE)
            if replayed:
                await context.send_initial_metadata(((REPLAYED_METADATA, "true"),))
            return response, charge
        return handler

    async def _open_stream(self, method: str,
                           context: grpc.aio.ServicerContext) -> tuple[Principal, tuple[tuple[str, str], ...]]:
        """A streaming rpc's `_handle`: authenticate, count one request against the rate limit and in usage,
        and send the rate-limit state as initial metadata (HTTP headers before the first event). Returns the
        caller and that metadata, which a refusal before the first event repeats in its trailers."""
        started = time.perf_counter()
        metadata = {k: v for k, v in (context.invocation_metadata() or ())}
        request_id, transport = _call_origin(metadata, context.peer())
        principal: Principal | None = None
        code = grpc.StatusCode.OK
        try:
            principal = await self._svc.auth.authenticate(metadata, state_changing=False,
                                                          client_address=call_client(metadata, context.peer()))
            state = await self._limiter.check(principal.key_hash, principal.rate_limit)
            self._check_scope(principal, method)
        except PhonosError as failure:
            code, extra = grpc_status(failure)
            self._finished(method, transport, code, started, principal, NO_CHARGE, failure)
            await context.abort(code, failure.message, trailing_metadata=(("x-request-id", request_id), *extra))
        self._finished(method, transport, code, started, principal, NO_CHARGE, None)  # the stream is open
        assert principal is not None
        opened = (("x-request-id", request_id), *state.headers())
        await context.send_initial_metadata(opened)
        # And in the trailers of a stream that ends well (the job terminal, the server's time limit), as on every
        # call: a refusal's trailers (`_watch`) replace these. The rate-limit state too: a stream that ends without
        # a message (nothing newer than the cursor: the edges' 204) may reach a client as trailers only, and
        # grpc.aio then sometimes drops the initial metadata (seen as a separate gateway's 204 without
        # X-RateLimit-* on a loaded host).
        context.set_trailing_metadata(opened)
        return principal, opened

    async def _watch(self, method: str, request: pb.WatchJobRequest | pb.WatchJobsRequest,
                     context: grpc.aio.ServicerContext,
                     events: Callable[[Principal, int | None], AsyncIterator[Event | KeepAlive]],
                     wrap: Callable[..., Message]) -> AsyncIterator[Message]:
        request_id = call_request_id(dict(context.invocation_metadata() or ()))
        guard = self._svc.stream_guard
        try:
            since = guard.mark()  # before the key is read: a revoke from now on ends this stream at once
            who, opened = await self._open_stream(method, context)
            try:
                refuse_nul(request)
                self._check_path_ids(method, request)
                after = parse_cursor(request.last_event_id if request.HasField("last_event_id") else None,
                                     self._svc.ids.events)
                # Ended by the guard, with a new request's refusal, when its key or session goes.
                with guard.holding(who.key_hash, since=since, expires_at=who.expires_at) as hold:
                    stream: AsyncIterator[Event | KeepAlive] = until_ended(events(who, after), hold)
                    if request.keep_alive:  # asked for: a client older than keep-alives would read one as an event
                        stream = with_keepalives(stream, self._svc.settings.sse_keepalive_s)
                    async for item in stream:
                        if isinstance(item, KeepAlive):
                            if request.keep_alive:  # the account stream's "open, nothing yet" too (watch.py)
                                yield wrap(keep_alive=pb.KeepAlive())
                        else:
                            yield wrap(event=job_event(item, self._svc.ids.events))
            except PhonosError as failure:  # before the first event: not this account's job, a bad cursor
                code, extra = grpc_status(failure)
                # The rate-limit state again: grpc.aio may end a call that aborts right after its initial metadata
                # without sending that metadata (about 1 call in 100 here), and a gateway in another process would
                # then answer this 404 or 400 without X-RateLimit-* (tests/service/test_separate_gateway_parity.py).
                await context.abort(code, failure.message, trailing_metadata=(*opened, *extra))
        except grpc.aio.AbortError:
            raise
        except Exception:
            await abort_for_bug(context, method, request_id)

    # -- routes ---------------------------------------------------------------------------------------

    async def GetHealth(self, request: pb.GetHealthRequest, context: grpc.aio.ServicerContext) -> pb.GetHealthResponse:
        # Not through `_handle` (no key, no usage), but like every call it names its request id.
        request_id = call_request_id(dict(context.invocation_metadata() or ()))
        try:
            status, message, components = await self._svc.health()
        except Exception:
            await abort_for_bug(context, "GetHealth", request_id)
        trailers = [("x-request-id", request_id)]
        if status != "operational":
            # Readiness over HTTP: the same body with a 503, so a probe can act on the status alone. With the
            # database away every other call is a 503 with Retry-After too: the health says when to ask again.
            trailers.append((HTTP_CODE_KEY, "503"))
            if components.get("database") != "ready":
                trailers.append(("retry-after", str(DatabaseUnavailable.retry_after_s)))
        context.set_trailing_metadata(tuple(trailers))
        return pb.GetHealthResponse(status=status, version="v1", message=message, components=components)

    async def ListModels(self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(_: Principal) -> tuple[Message, Charge]:
            models = [
                pb.Model(id=s.info.id, name=s.info.name, description=s.info.description, type=s.info.type,
                         cost_credits=s.info.cost_credits)
                for s in self._svc.models()
            ]
            return pb.ListModelsResponse(models=models), NO_CHARGE
        return await self._handle("ListModels", request, context, run)

    async def Predict(self, request: pb.PredictRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal, claim: Claim | None) -> tuple[Message, Charge]:
            guard = None if claim is None else claim.guard(predict_response)
            sub = await self._svc.submit(who.account_id, (await _submit_items([request]))[0], guard,
                                         endpoint=self._routes["Predict"], still_wanted=still_wanted(context))
            return predict_response(sub), Charge(sub.cost, sub.model)
        handler = self._idempotent("Predict", request, context, pb.PredictResponse, run)
        return await self._handle("Predict", request, context, handler)

    async def SubmitBatch(self, request: pb.SubmitBatchRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal, claim: Claim | None) -> tuple[Message, Charge]:
            guard = None if claim is None else claim.guard(batch_response)
            items = await self._svc.submit_batch(who.account_id, await _submit_items(request.jobs), guard,
                                                 endpoint=self._routes["SubmitBatch"],
                                                 still_wanted=still_wanted(context))
            response = batch_response(items)
            return response, Charge(response.summary.total_credits_used)
        handler = self._idempotent("SubmitBatch", request, context, pb.SubmitBatchResponse, run)
        return await self._handle("SubmitBatch", request, context, handler)

    async def GetJob(self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            job = await self._svc.get_job(who.account_id, request.job_id)
            return pb.GetJobResponse(job=pb.Job(**job_fields(job))), NO_CHARGE
        return await self._handle("GetJob", request, context, run)

    async def GetJobInput(self, request: pb.GetJobInputRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            model, name, stored = await self._svc.job_input(who.account_id, request.job_id)
            answer = pb.GetJobInputResponse(model=model, name=name, sequence=stored.sequence, params=struct(stored.params))
            return answer, NO_CHARGE
        return await self._handle("GetJobInput", request, context, run)

    async def ListJobs(self, request: pb.ListJobsRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            jobs, page = await self._svc.list_jobs(
                who.account_id,
                status=request.status if request.HasField("status") and request.status else None,
                model=request.model if request.HasField("model") and request.model else None,
                **_optional(request, "limit", "offset", "name", "starting_after"),
            )
            return pb.ListJobsResponse(jobs=[pb.Job(**job_fields(j)) for j in jobs],
                                       pagination=pagination(page)), NO_CHARGE
        return await self._handle("ListJobs", request, context, run)

    async def DownloadJobOutput(self, request: pb.DownloadJobOutputRequest,
                                context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            fmt = request.format if request.HasField("format") and request.format else None
            download = await self._svc.download(who.account_id, request.job_id, fmt)
            return pb.DownloadJobOutputResponse(file=await self._send_file(context, download),
                                                file_name=download.file_name), NO_CHARGE
        return await self._handle("DownloadJobOutput", request, context, run)

    async def _send_file(self, context: grpc.aio.ServicerContext, download: Download) -> httpbody_pb2.HttpBody:
        await context.send_initial_metadata(
            (("content-disposition", f'attachment; filename="{download.file_name}"'),)
        )
        return httpbody_pb2.HttpBody(content_type=download.media_type, data=download.content)

    # -- share links ----------------------------------------------------------------------------------

    async def CreateJobShare(self, request: pb.CreateJobShareRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            days = request.expires_in_days if request.HasField("expires_in_days") else None
            share, token = await self._svc.share_job(who.account_id, request.job_id, days)
            return pb.CreateJobShareResponse(
                success=True, share=share_message(share), url=share_url(token),
                message="Share link created: anyone with it can see this job's results. It is not shown again.",
            ), NO_CHARGE
        return await self._handle("CreateJobShare", request, context, run)

    async def ListJobShares(self, request: pb.ListJobSharesRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            shares = await self._svc.job_shares(who.account_id, request.job_id)
            return pb.ListJobSharesResponse(shares=[share_message(s) for s in shares]), NO_CHARGE
        return await self._handle("ListJobShares", request, context, run)

    async def RevokeJobShare(self, request: pb.RevokeJobShareRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            await self._svc.revoke_share(who.account_id, request.job_id, request.share_id)
            return pb.RevokeJobShareResponse(success=True, share_id=request.share_id,
                                             message="Share link revoked: it no longer opens the job"), NO_CHARGE
        return await self._handle("RevokeJobShare", request, context, run)

    async def GetSharedJob(self, request: pb.GetSharedJobRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(_: Principal) -> tuple[Message, Charge]:
            shared = await self._svc.shared_job(request.token)
            return pb.GetSharedJobResponse(job=pb.Job(**shared_job_fields(request.token, shared)),
                                           expires_at=timestamp(shared.expires_at)), NO_CHARGE
        return await self._handle("GetSharedJob", request, context, run)

    async def DownloadSharedJobOutput(self, request: pb.DownloadSharedJobOutputRequest,
                                      context: grpc.aio.ServicerContext) -> Message:
        async def run(_: Principal) -> tuple[Message, Charge]:
            fmt = request.format if request.HasField("format") and request.format else None
            download = await self._svc.shared_download(request.token, fmt)
            return pb.DownloadSharedJobOutputResponse(file=await self._send_file(context, download),
                                                      file_name=download.file_name), NO_CHARGE
        return await self._handle("DownloadSharedJobOutput", request, context, run)

    async def WatchJob(self, request: pb.WatchJobRequest,  # type: ignore[override]
                       context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
        def events(who: Principal, after: int | None) -> AsyncIterator[Event | KeepAlive]:
            return self._svc.watch_job(who.account_id, request.job_id, after)
        async for message in self._watch("WatchJob", request, context, events, pb.WatchJobResponse):
            yield message

    async def WatchJobs(self, request: pb.WatchJobsRequest,  # type: ignore[override]
                        context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
        def events(who: Principal, after: int | None) -> AsyncIterator[Event | KeepAlive]:
            return self._svc.watch_jobs(who.account_id, after)
        async for message in self._watch("WatchJobs", request, context, events, pb.WatchJobsResponse):
            yield message

    async def DeleteJob(self, request: pb.DeleteJobRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            job_id = await self._svc.delete_job(who.account_id, request.job_id)
            return pb.DeleteJobResponse(success=True, job_id=job_id,
                                        message="Job deleted: its results and inputs are gone"), NO_CHARGE
        return await self._handle("DeleteJob", request, context, run)

    async def CancelJob(self, request: pb.CancelJobRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal, claim: Claim | None) -> tuple[Message, Charge]:
            job = await self._svc.cancel(who.account_id, request.job_id,
                                         None if claim is None else claim.guard(cancel_response))
            return cancel_response(job), NO_CHARGE
        return await self._handle("CancelJob", request, context,
                                  self._idempotent("CancelJob", request, context, pb.CancelJobResponse, run))

    async def GetAccount(self, request: pb.GetAccountRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            view = await self._svc.account(who.account_id)
            # The id shown is opaque (opaque_ids, 0077): the row number told how many accounts came before.
            account = pb.Account(id=self._svc.ids.accounts.shown(view.id), username=view.username,
                                 created_at=timestamp(view.created_at))
            if view.email:
                account.email = view.email
            jobs = pb.JobCounts(total=view.jobs.total, completed=view.jobs.completed, active=view.jobs.active,
                                failed=view.jobs.failed, cancelled=view.jobs.cancelled)
            return pb.GetAccountResponse(account=account, credits=pb.Credits(balance=view.credits, currency="credits"),
                                         jobs=jobs), NO_CHARGE
        return await self._handle("GetAccount", request, context, run)

    async def ListCreditEntries(self, request: pb.ListCreditEntriesRequest,
                                context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            entries, page = await self._svc.credit_history(who.account_id,
                                                           **_optional(request, "limit", "offset", "starting_after"))
            return pb.ListCreditEntriesResponse(entries=[credit_entry_message(e) for e in entries],
                                                pagination=pagination(page)), NO_CHARGE
        return await self._handle("ListCreditEntries", request, context, run)

    async def ListAccountActivity(self, request: pb.ListAccountActivityRequest,
                                  context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            entries, page = await self._svc.account_activity(
                who.account_id, **_optional(request, "limit", "offset", "starting_after", "action"))
            return pb.ListAccountActivityResponse(entries=[activity_message(e) for e in entries],
                                                  pagination=pagination(page)), NO_CHARGE
        return await self._handle("ListAccountActivity", request, context, run)

    async def GetUsage(self, request: pb.GetUsageRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            report = await self._svc.usage_report(who.account_id, request.days if request.HasField("days") else None)
            return pb.GetUsageResponse(
                period=pb.UsagePeriod(days=report.days, start_date=report.start_date, end_date=report.end_date),
                totals=pb.UsageTotals(requests=report.requests, credits_used=report.credits_used,
                                      avg_response_time_ms=report.avg_response_time_ms),
                by_endpoint=[pb.EndpointUsage(**r) for r in report.by_endpoint],
                by_model=[pb.ModelUsage(**r) for r in report.by_model],
                daily=[pb.DailyUsage(**r) for r in report.daily],
            ), NO_CHARGE
        return await self._handle("GetUsage", request, context, run)

    async def ListWebhooks(self, request: pb.ListWebhooksRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            hooks = await self._svc.list_webhooks(who.account_id)
            return pb.ListWebhooksResponse(
                webhooks=[webhook_message(h, self._svc.ids.deliveries) for h in hooks]), NO_CHARGE
        return await self._handle("ListWebhooks", request, context, run)

    async def CreateWebhook(self, request: pb.CreateWebhookRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal, claim: Claim | None) -> tuple[Message, Charge]:
            made = await self._svc.create_webhook(who.account_id, request.url, list(request.events),
                                                  None if claim is None else claim.guard(created_response))
            return created_response(made), NO_CHARGE
        async def allowed(who: Principal) -> None:
            await self._svc.webhooks.refuse_expiring_caller(who.account_id)
        return await self._handle("CreateWebhook", request, context,
                                  self._idempotent("CreateWebhook", request, context, pb.CreateWebhookResponse, run,
                                                   allowed))

    async def DeleteWebhook(self, request: pb.DeleteWebhookRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            await self._svc.delete_webhook(who.account_id, request.webhook_id)
            return pb.DeleteWebhookResponse(success=True, webhook_id=request.webhook_id,
                                            message="Webhook deleted"), NO_CHARGE
        return await self._handle("DeleteWebhook", request, context, run)

    async def TestWebhook(self, request: pb.TestWebhookRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal, claim: Claim | None) -> tuple[Message, Charge]:
            def respond(result: TestResult) -> pb.TestWebhookResponse:
                return pb.TestWebhookResponse(success=result.delivered, webhook_id=request.webhook_id,
                                              status_code=result.status_code, message=result.message)
            result = await self._svc.test_webhook(who.account_id, request.webhook_id,
                                                  None if claim is None else claim.guard(respond))
            return respond(result), NO_CHARGE
        return await self._handle("TestWebhook", request, context,
                                  self._idempotent("TestWebhook", request, context, pb.TestWebhookResponse, run))

    async def RotateWebhookSecret(self, request: pb.RotateWebhookSecretRequest,
                                  context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal, claim: Claim | None) -> tuple[Message, Charge]:
            rotation = await self._svc.rotate_webhook_secret(
                who.account_id, request.webhook_id, **_optional(request, "expire_current_after_s"),
                guard=None if claim is None else claim.guard(rotated_response))
            return rotated_response(rotation), NO_CHARGE
        # Idempotent as creation is: a retried POST (the SDK's, after a lost answer) gets the same new secret
        # back instead of rotating again and dropping the secret the receiver was just given.
        async def allowed(who: Principal) -> None:
            await self._svc.webhooks.refuse_expiring_caller(who.account_id, rotating=True)
        return await self._handle("RotateWebhookSecret", request, context,
                                  self._idempotent("RotateWebhookSecret", request, context,
                                                   pb.RotateWebhookSecretResponse, run, allowed))

    async def ListWebhookDeliveries(self, request: pb.ListWebhookDeliveriesRequest,
                                    context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            deliveries, page = await self._svc.webhook_deliveries(
                who.account_id, request.webhook_id, **_optional(request, "status", "limit", "offset", "starting_after",
                                                                  "event"))
            shown = [delivery_message(d, self._svc.ids.deliveries) for d in deliveries]
            return pb.ListWebhookDeliveriesResponse(deliveries=shown, pagination=pagination(page)), NO_CHARGE
        return await self._handle("ListWebhookDeliveries", request, context, run)

    async def RedeliverWebhookDelivery(self, request: pb.RedeliverWebhookDeliveryRequest,
                                       context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal, claim: Claim | None) -> tuple[Message, Charge]:
            def respond(delivery: DeliveryRecord) -> pb.RedeliverWebhookDeliveryResponse:
                return pb.RedeliverWebhookDeliveryResponse(
                    success=True, delivery=delivery_message(delivery, self._svc.ids.deliveries),
                    message=f"Delivery {self._svc.ids.deliveries.text(delivery.id)} queued: the event is sent again now")
            delivery = await self._svc.redeliver(who.account_id, request.webhook_id, request.delivery_id,
                                                 None if claim is None else claim.guard(respond))
            return respond(delivery), NO_CHARGE
        return await self._handle("RedeliverWebhookDelivery", request, context,
                                  self._idempotent("RedeliverWebhookDelivery", request, context,
                                                   pb.RedeliverWebhookDeliveryResponse, run))

    # -- API keys -------------------------------------------------------------------------------------

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            keys, ceiling = await self._svc.list_keys(who.account_id)
            return pb.ListApiKeysResponse(keys=[key_message(k) for k in keys], max_rate_limit=ceiling), NO_CHARGE
        return await self._handle("ListApiKeys", request, context, run)

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            key, new = await self._svc.create_key(
                who.account_id, request.name if request.HasField("name") else None,
                request.rate_limit if request.HasField("rate_limit") else None,
                request.expires_in_days if request.HasField("expires_in_days") else None,
                request.scope if request.HasField("scope") else None,
            )
            return pb.CreateApiKeyResponse(
                success=True, key=key_message(key), api_key=new.api_key,
                message="API key created. Store it now: it is not shown again.",
            ), NO_CHARGE
        return await self._handle("CreateApiKey", request, context, run)

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            key = await self._svc.revoke_key(who.account_id, request.key_id, confirm_last_key=request.confirm_last_key)
            return pb.RevokeApiKeyResponse(success=True, key=key_message(key),
                                           message="API key revoked; requests made with it are refused"), NO_CHARGE
        return await self._handle("RevokeApiKey", request, context, run)

    async def UpdateApiKey(self, request: pb.UpdateApiKeyRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(who: Principal) -> tuple[Message, Charge]:
            key = await self._svc.update_key(
                who.account_id, request.key_id, request.name if request.HasField("name") else None,
                request.rate_limit if request.HasField("rate_limit") else None,
                request.expires_in_days if request.HasField("expires_in_days") else None,
            )
            return pb.UpdateApiKeyResponse(success=True, key=key_message(key), message="API key updated"), NO_CHARGE
        return await self._handle("UpdateApiKey", request, context, run)

    # -- dashboard sessions (no HTTP rules: the gateway's /auth routes call these) ---------------------

    async def _session_call(self, request: Message, context: grpc.aio.ServicerContext,
                            work: Callable[[dict[str, str]], Awaitable[Message]]) -> Message:
        """Error mapping without API-key auth, rate limits or usage (sessions authenticate themselves)."""
        metadata = {k: v for k, v in (context.invocation_metadata() or ())}
        request_id = call_request_id(metadata)
        trailers = [("x-request-id", request_id)]
        # Sign-ins, sign-outs and password changes are the activity log's (jobservice/activity.py): a session,
        # from this address, with the browser's User-Agent the gateway passed.
        user_agent = request.user_agent if isinstance(request, SESSION_REQUESTS_WITH_USER_AGENT) else None
        as_caller = CALLER.set(Caller(ActorKind.SESSION, client_address=call_client(metadata, context.peer()),
                                      user_agent=user_agent or None))
        try:
            refuse_nul(request)
            response = await work(metadata)
        except PhonosError as exc:
            status, extra = grpc_status(exc)
            await context.abort(status, exc.message, trailing_metadata=tuple(trailers + extra))
        except Exception:
            log.exception("unhandled error", extra={"action": "rpc.internal_error", "request_id": request_id})
            await context.abort(
                grpc.StatusCode.INTERNAL, f"Internal server error (request id {request_id}); the error was logged",
                trailing_metadata=tuple([*trailers, (TITLE_KEY, "Internal server error")]),
            )
        finally:
            CALLER.reset(as_caller)
        context.set_trailing_metadata(tuple(trailers))
        return response

    async def CreateSession(self, request: pb.CreateSessionRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(_: dict[str, str]) -> Message:
            new = await self._svc.sessions.sign_in(request.username, request.password, request.user_agent,
                                                   client_address=CALLER.get().client_address)
            return pb.CreateSessionResponse(session_token=new.token, csrf_token=new.csrf_token, username=new.username,
                                            expires_at=timestamp(new.expires_at))
        return await self._session_call(request, context, run)

    async def GetSession(self, request: pb.GetSessionRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(metadata: dict[str, str]) -> Message:
            info = await self._svc.auth.session(metadata, state_changing=False)
            return pb.GetSessionResponse(username=info.username,
                                         account_id=self._svc.ids.accounts.shown(info.account_id),  # as GetAccount
                                         csrf_token=info.csrf_token, expires_at=timestamp(info.expires_at))
        return await self._session_call(request, context, run)

    async def DeleteSession(self, request: pb.DeleteSessionRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(metadata: dict[str, str]) -> Message:
            info = await self._svc.auth.session(metadata, state_changing=True)
            revoked = await self._svc.sessions.sign_out(info, everywhere=request.all_sessions)
            return pb.DeleteSessionResponse(success=True, revoked=revoked)
        return await self._session_call(request, context, run)

    async def ChangePassword(self, request: pb.ChangePasswordRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(metadata: dict[str, str]) -> Message:
            info = await self._svc.auth.session(metadata, state_changing=True)
            changed = await self._svc.sessions.change_password(
                info, request.current_password, request.new_password, user_agent=request.user_agent,
                client_address=CALLER.get().client_address)
            new = changed.session
            return pb.ChangePasswordResponse(success=True, other_sessions_ended=changed.other_sessions_ended,
                                             session_token=new.token, csrf_token=new.csrf_token,
                                             expires_at=timestamp(new.expires_at))
        return await self._session_call(request, context, run)

    async def ListSessions(self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(metadata: dict[str, str]) -> Message:
            info = await self._svc.auth.session(metadata, state_changing=False,
                                                client_address=CALLER.get().client_address)
            views = await self._svc.sessions.list_sessions(info)
            return pb.ListSessionsResponse(sessions=[session_message(view) for view in views])
        return await self._session_call(request, context, run)

    async def EndSession(self, request: pb.EndSessionRequest, context: grpc.aio.ServicerContext) -> Message:
        async def run(metadata: dict[str, str]) -> Message:
            info = await self._svc.auth.session(metadata, state_changing=True,
                                                client_address=CALLER.get().client_address)
            current = await self._svc.sessions.end_session(info, request.session_id)
            return pb.EndSessionResponse(success=True, current=current)
        return await self._session_call(request, context, run)
