"""Idempotency-Key: a retried POST gets the first response back and is not run (or charged) again.

Clients send `Idempotency-Key: <1-255 printable ASCII>` over HTTP (the gateway forwards it) or the
`idempotency-key` metadata over gRPC, on the rpcs in `IDEMPOTENT` (submissions, cancel, webhook
creation and test). The first successful response is stored per account for `ttl_s` (24 h) with a
fingerprint of the request message; a later request with the same key and the same request gets that
response (header `Idempotent-Replayed: true`), one with a different request is refused (422, as the
IETF httpapi idempotency-key draft says), and one arriving while the first still runs waits for it.

That wait holds across job services on one PostgreSQL: the request that runs a key's work first claims the key in
the store (`claim_idempotency_key`, a row of `idempotency_claims` naming it), and renews the claim every third of
its lease while it works; another request with the key, on any service, waits (bounded by its own deadline) until
the claim is released and then replays the stored response, or runs the work itself when the first failed (nothing
stored). A claim its owner stopped renewing (the service died) is taken over once its lease has passed. Within one
process the requests with a key also queue on a lock, so they wake the moment it is released, and on SQLite (one
process) any claim left in the file is a dead process's and is taken over at once.

The claim fences the work (`KeyGuard`): the transaction that writes a keyed call's work (the jobs and their charge,
the webhook, the rotated secret, the cancel, the test's delivery record) first checks, in that transaction, that this
request still holds the claim (`renew_idempotency_claim` must return its row, which it then holds until the commit),
and last stores the response, in the same transaction. Was: an owner that stalled past its lease while alive (a long
GC pause, a SIGSTOP, a database hiccup) had its claim taken over by another service, which ran the work too, and
then committed its own work as well: two jobs charged, only a log line `idempotency.claim_lost` said so. Now such a
stale owner's write rolls back (`ClaimLost`), and the request waits for the key again and replays the winner's answer
(or runs the work, when the winner failed and stored nothing): one job, one charge. So a job that was stored always
has its key's response, even when the client's connection died right after: the retry replays it. The work and
storing its response run as one unit shielded from the caller going away. Failed requests are not stored: a retry
runs them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from jobservice.db import now
from jobservice.errors import InvalidArgument, PhonosError, ServiceUnavailable, json_value_text
from jobservice.periodic import PURGE_BATCH_ROWS, Periodic, purge_in_batches
from jobservice.routes import idempotent_methods
from jobservice.store import Params, Store, Transaction

log = logging.getLogger(__name__)

KEY_METADATA = "idempotency-key"
REPLAYED_METADATA = "idempotent-replayed"
MAX_KEY_LENGTH = 255
IDEMPOTENT = idempotent_methods()  # as protos/ marks them, which the OpenAPI document also says
# Messages whose `name` of "" is no name (a job's: README, "A field with no value is left out"), and whose `params`
# of {} are no params (the job runs with the model's defaults either way).
_EMPTY_IS_NONE = frozenset({"PredictRequest", "BatchJob"})
_EMPTY_MEANS_UNSET = ("name", "params")
T = TypeVar("T")
R = TypeVar("R")
PURGE_EVERY_S = 600.0
PURGE_BATCH = PURGE_BATCH_ROWS
DEFAULT_LEASE_S = 30.0  # as PHONOS_JOB_LEASE_S, whose value the job service passes
# A request waiting for another service's claim asks again this often, doubling from the first to the last:
# a retry meets a claim only while its first attempt still runs, which for most rpcs is well under a second.
WAIT_FIRST_S = 0.05
WAIT_MAX_S = 0.5
RELEASE_RETRY_S = 0.5  # a release the database did not take is tried again this often, for at most the lease
# A request whose claim was taken over waits for the key again and replays the winner's answer; only an owner stalled
# past its lease each time goes round again, so a few rounds are plenty (then ClaimLost, a 503: retry for the answer).
MAX_ROUNDS = 3


def _canonical(request: Message) -> Message:
    """The request as its fingerprint reads it: a job's `"name": ""` is the job without a name (the service stores
    neither), and its `"params": {}` the job without params, so a retry that sends one where the first sent the other
    is the same request. Was: a 422 "Idempotency key reused" (for params: an API integrator's retry code). The request
    itself is left as it is."""
    if not any(_empty_fields(m) for m in _messages(request)):
        return request
    copy = type(request)()
    copy.CopyFrom(request)
    for message in _messages(copy):
        for name in _empty_fields(message):
            message.ClearField(name)
    return copy


def _messages(message: Message) -> list[Message]:
    """`message` and every message in its repeated message fields (a batch's jobs)."""
    found = [message]
    for field, value in message.ListFields():
        repeated_messages = field.message_type is not None and field.is_repeated
        if repeated_messages and not field.message_type.GetOptions().map_entry:
            for item in value:
                found += _messages(item)
    return found


def _empty_fields(message: Message) -> list[str]:
    """The fields of a job's message set to their empty value (`name` "", `params` {}), which mean them unset."""
    if message.DESCRIPTOR.name not in _EMPTY_IS_NONE:
        return []
    return [field.name for field, value in message.ListFields()
            if field.name in _EMPTY_MEANS_UNSET and (value == "" if field.name == "name" else not value.fields)]


class IdempotencyKeyReused(PhonosError):
    """The key was used before with a different request (HTTP 422)."""

    title = "Idempotency key reused"


class ClaimLost(ServiceUnavailable):
    """This request's claim of its key was taken over (it stalled past the lease) before its work committed: the
    work was rolled back. `Idempotency.once` then replays the winner's answer; the error reaches a caller only when
    that kept happening, as a 503 (the SDK retries it, and the retry replays the answer)."""

    retry_after_s = 1

    def __init__(self, key: str) -> None:
        super().__init__(f"The request with Idempotency-Key {json_value_text(key)} stalled on this server while "
                         "another attempt with the same key took it over; nothing was done twice. Send it again "
                         "to get that attempt's answer")


class Claim:
    """One request that carries a key: what identifies it, and whether its response is stored yet."""

    def __init__(self, account_id: int, key: str, method: str, fingerprint: str, ttl_s: float, *,
                 lease_s: float = DEFAULT_LEASE_S) -> None:
        self.account_id = account_id
        self.key = key
        self.method = method
        self.fingerprint = fingerprint
        self.ttl_s = ttl_s
        self.lease_s = lease_s
        self.token = ""  # the claim row's owner while this request holds it (`Idempotency.hold`)
        self.stored = False  # set once the response is in the database

    def guard(self, respond: Callable[[R], Message]) -> KeyGuard[R]:
        """The fence of this request's work: see KeyGuard. `respond(result)`: the response the work's result makes."""
        return KeyGuard(self, respond)

    async def check(self, tx: Transaction) -> None:
        """ClaimLost unless this request still holds the claim, checked (and the row held) in `tx`."""
        row = await tx.fetch_one("renew_idempotency_claim", {
            "account_id": self.account_id, "key": self.key, "owner": self.token, "expires_at": now() + self.lease_s})
        if row is None:
            raise ClaimLost(self.key)

    def row(self, response: Message) -> Params:
        """The `insert_idempotency_key` parameters that store `response` for this key."""
        stamp = now()
        return {"account_id": self.account_id, "key": self.key, "method": self.method,
                "fingerprint": self.fingerprint, "response": response.SerializeToString(), "now": stamp,
                "since": stamp - self.ttl_s}


class KeyGuard(Generic[R]):
    """A `jobservice.store.Guard`: the claim checked first in the work's transaction, the response stored last."""

    def __init__(self, claim: Claim, respond: Callable[[R], Message]) -> None:
        self._claim = claim
        self._respond = respond

    async def check(self, tx: Transaction) -> None:
        await self._claim.check(tx)

    async def done(self, tx: Transaction, result: R) -> None:
        await tx.execute("insert_idempotency_key", self._claim.row(self._respond(result)))
        self._claim.stored = True  # read once the transaction committed (a rollback raises past every reader)


class Hold:
    """A request's claim of its key, held from `Idempotency.hold` until this context exits (renewed meanwhile)."""

    def __init__(self, owner: Idempotency, claim: Claim, token: str, lock: asyncio.Lock) -> None:
        self._owner = owner
        self._claim = claim
        self._token = token
        self._lock = lock
        self._renewal = asyncio.create_task(owner._renew(claim, token), name="idempotency-renewal")

    async def __aenter__(self) -> Hold:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._renewal.cancel()
        try:
            await self._owner._release(self._claim, self._token)
        finally:
            self._lock.release()  # after the row went: a request of this process waiting for the lock claims at once


class Idempotency:
    """Claims, replays and stores responses; see the module docstring."""

    def __init__(self, db: Store, ttl_s: float, *, owner: str = "", lease_s: float = DEFAULT_LEASE_S) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._owner = owner  # this service's name (JobService.instance), in the claims it holds
        self._lease_s = lease_s
        self._tokens = itertools.count(1)
        self._locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._releases: set[asyncio.Task[None]] = set()  # releases that could not be made at once
        self._purger = Periodic("idempotency-purge", PURGE_EVERY_S, self.purge, "idempotency.purge_failed")

    def claim(self, metadata: Mapping[str, str], account_id: int, method: str, request: Message) -> Claim | None:
        """The claim of a request that carries a key (None without one); InvalidArgument for a bad key."""
        key = metadata.get(KEY_METADATA)
        if key is None or method not in IDEMPOTENT:
            return None
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise InvalidArgument(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
        digest = hashlib.sha256(method.encode() + b"\0" + _canonical(request).SerializeToString(deterministic=True))
        return Claim(account_id, key, method, digest.hexdigest(), self._ttl_s, lease_s=self._lease_s)

    async def once(self, claim: Claim, response_class: type[Message], work: Callable[[], Awaitable[tuple[Message, T]]],
                   nothing: T) -> tuple[Message, T, bool]:
        """`work()`'s (response, extra) the first time the key is used, stored for its retries; a retry's is the
        stored response with `nothing`. The bool: replayed."""
        # A retry after the first request finished (the usual one) replays at once, without claiming the key.
        replayed = await self.replay(claim, response_class)
        if replayed is not None:
            return replayed, nothing, True
        # Waits while another request with the key runs, on any job service of the store; a caller that goes away
        # meanwhile (its deadline) just stops waiting.
        hold = await self.hold(claim)

        async def shielded(hold: Hold) -> tuple[Message, T, bool]:
            rounds = 1
            while True:
                async with hold:
                    replayed = await self.replay(claim, response_class)  # the one that ran while this one waited
                    if replayed is not None:
                        return replayed, nothing, True
                    try:
                        response, extra = await work()
                        if not claim.stored:  # the keyed writes store theirs with their work (KeyGuard)
                            await self.store(claim, response)
                        return response, extra, False
                    except ClaimLost:
                        # Taken over while this one stalled: its work rolled back. Wait for the winner, then
                        # replay its answer (or run the work, when it failed and stored none).
                        log.warning("an idempotency claim was taken over before its work committed; the work was "
                                    "rolled back, and the winner's answer is awaited", extra={
                                        "action": "idempotency.claim_lost_rolled_back"})
                        if rounds == MAX_ROUNDS:
                            raise
                rounds += 1
                hold = await self.hold(claim)

        # One unit, the key's claim included: a caller that goes away (a 1 ms deadline) can leave neither the work
        # done but its response unstored, nor the claim released while its work still runs, which let the caller's
        # retry with the same key run it a second time (two jobs charged, the second response replayed).
        return await asyncio.shield(shielded(hold))

    async def hold(self, claim: Claim) -> Hold:
        """Wait until this request holds its key: no other request with the key runs, on this service or any other
        on the same store. Cancelled with its caller (a deadline), it leaves the key as it found it. The work and
        the Hold's exit belong in one unit shielded from the caller going away, so a cut call's claim lasts while
        its work goes on (a retry then waits for it and replays; was: ran the work a second time)."""
        lock = self._locks.get((claim.account_id, claim.key))
        if lock is None:
            lock = asyncio.Lock()
            self._locks[(claim.account_id, claim.key)] = lock
        await lock.acquire()
        token = f"{self._owner}#{next(self._tokens)}"
        claim.token = token
        try:
            wait_s = WAIT_FIRST_S
            while not await self._take(claim, token):
                await asyncio.sleep(wait_s)
                wait_s = min(wait_s * 2, WAIT_MAX_S)
        except BaseException:
            # A claim statement cut by the caller (or by the database going away) may have taken the row all the
            # same: give it back, after this.
            self._later(self._release(claim, token))
            lock.release()
            raise
        return Hold(self, claim, token, lock)

    async def _take(self, claim: Claim, token: str) -> bool:
        stamp = now()
        # On SQLite this process is the only one using the file and holds the key's lock: any claim there is left
        # by a process that died (or a release that failed), never a live one, so it is taken over at once.
        stale_before = stamp if self._db.shared else math.inf
        row = await self._db.write_one("claim_idempotency_key", {
            "account_id": claim.account_id, "key": claim.key, "owner": token, "expires_at": stamp + self._lease_s,
            "stale_before": stale_before})
        return row is not None

    async def _renew(self, claim: Claim, token: str) -> None:
        """Every third of the lease while the work runs: a claim goes stale only when its service stops."""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                row = await self._db.write_one("renew_idempotency_claim", {
                    "account_id": claim.account_id, "key": claim.key, "owner": token,
                    "expires_at": now() + self._lease_s})
            except Exception:
                log.warning("renewing an idempotency claim failed; retrying", exc_info=True,
                            extra={"action": "idempotency.renew_failed"})
                continue
            if row is None:
                log.warning("an idempotency claim was taken over while its work still ran (renewals late by more "
                            "than its lease): its write is refused", extra={"action": "idempotency.claim_lost"})
                return

    async def _release(self, claim: Claim, token: str) -> None:
        """Give the claim back (only ours: one taken over is the new owner's). A release that fails is not raised
        (the work's answer stands) but tried again until the database answers: the client's retry of a call that
        met a database restart would otherwise wait out the lease."""
        params = {"account_id": claim.account_id, "key": claim.key, "owner": token}
        try:
            await self._db.write_one("release_idempotency_claim", params)
        except Exception:
            log.warning("releasing an idempotency claim failed; retrying", exc_info=True,
                        extra={"action": "idempotency.release_failed"})
            self._later(self._release_when_back(params))

    async def _release_when_back(self, params: Params) -> None:
        give_up = time.monotonic() + self._lease_s  # by then the claim has expired: any request takes it over
        while time.monotonic() < give_up:
            await asyncio.sleep(RELEASE_RETRY_S)
            try:
                await self._db.write_one("release_idempotency_claim", params)
                return
            except Exception:
                continue

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` on its own (kept until it ends; cancelled by `stop`)."""
        task = asyncio.create_task(work)
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def replay(self, claim: Claim, response_class: type[Message]) -> Message | None:
        """The stored response for this key, None if there is none; IdempotencyKeyReused if it was another request."""
        row = await self._db.read.fetch_one("get_idempotency_key", {
            "account_id": claim.account_id, "key": claim.key, "since": now() - self._ttl_s})
        if row is None:
            return None
        if row["method"] != claim.method or row["fingerprint"] != claim.fingerprint:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {json_value_text(claim.key)} was already used with a different request in the last "
                f"{self._ttl_s / 3600:g} h; use a new key for a new request")
        return response_class.FromString(row["response"])

    async def store(self, claim: Claim, response: Message) -> None:
        """Store the response of a work that did not store it itself (no KeyGuard: a batch with no valid item, a
        write not fenced yet), only while the claim is still this request's."""
        try:
            async with self._db.transaction() as tx:
                await claim.check(tx)
                await tx.execute("insert_idempotency_key", claim.row(response))
        except ClaimLost:
            # The work is done (and not fenced): its answer stands, but the key is the new owner's to answer for.
            log.warning("an idempotency claim was taken over while its work still ran (renewals late by more than "
                        "its lease); the response was not stored", extra={"action": "idempotency.claim_lost"})
            return
        claim.stored = True

    # -- retention --------------------------------------------------------------------------------

    def start(self) -> None:
        self._purger.start()

    async def stop(self) -> None:
        await self._purger.stop()
        for task in list(self._releases):
            task.cancel()
        await asyncio.gather(*self._releases, return_exceptions=True)

    async def purge(self) -> int:
        """Delete the records past their TTL and the claims past their lease, a batch per transaction; how many
        records went."""
        stamp = now()
        await purge_in_batches(self._db, "purge_idempotency_claims", {"now": stamp - self._lease_s}, batch=PURGE_BATCH)
        return await purge_in_batches(self._db, "purge_idempotency_keys", {"since": stamp - self._ttl_s},
                                      batch=PURGE_BATCH)
