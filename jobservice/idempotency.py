"""Idempotency-Key: a retried POST gets the first response back and is not run (or charged) again.

Clients send `Idempotency-Key: <1-255 printable ASCII>` over HTTP (the gateway forwards it) or the
`idempotency-key` metadata over gRPC, on the rpcs in `IDEMPOTENT` (submissions, cancel, webhook
creation and test). The first successful response is stored per account for `ttl_s` (24 h) with a
fingerprint of the request message; a later request with the same key and the same request gets that
response (header `Idempotent-Replayed: true`), one with a different request is refused (422, as the
IETF httpapi idempotency-key draft says), and one arriving while the first still runs waits for it.

A submission's row is written **in the same transaction as its jobs** (JobStore.submit), so a job that
was stored always has its key's response, even when the client's connection died right after: the
retry replays it instead of charging again. Other rpcs run and store their response as one unit
shielded from the caller going away. Failed requests are not stored: a retry runs them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import weakref
from collections.abc import AsyncIterator, Mapping

from google.protobuf.message import Message

from jobservice.db import now
from jobservice.errors import InvalidArgument, PhonosError, json_value_text
from jobservice.periodic import PURGE_BATCH_ROWS, Periodic, purge_in_batches
from jobservice.routes import idempotent_methods
from jobservice.store import Params, Store

log = logging.getLogger(__name__)

KEY_METADATA = "idempotency-key"
REPLAYED_METADATA = "idempotent-replayed"
MAX_KEY_LENGTH = 255
IDEMPOTENT = idempotent_methods()  # as protos/ marks them, which the OpenAPI document also says
PURGE_EVERY_S = 600.0
PURGE_BATCH = PURGE_BATCH_ROWS


class IdempotencyKeyReused(PhonosError):
    """The key was used before with a different request (HTTP 422)."""

    title = "Idempotency key reused"


class Claim:
    """One request that carries a key: what identifies it, and whether its response is stored yet."""

    def __init__(self, account_id: int, key: str, method: str, fingerprint: str, ttl_s: float) -> None:
        self.account_id = account_id
        self.key = key
        self.method = method
        self.fingerprint = fingerprint
        self.ttl_s = ttl_s
        self.stored = False  # set once the response is in the database

    def row(self, response: Message) -> Params:
        """The `insert_idempotency_key` parameters that store `response` for this key."""
        stamp = now()
        return {"account_id": self.account_id, "key": self.key, "method": self.method,
                "fingerprint": self.fingerprint, "response": response.SerializeToString(), "now": stamp,
                "since": stamp - self.ttl_s}


class Idempotency:
    """Claims, replays and stores responses; see the module docstring."""

    def __init__(self, db: Store, ttl_s: float) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._purger = Periodic("idempotency-purge", PURGE_EVERY_S, self.purge, "idempotency.purge_failed")

    def claim(self, metadata: Mapping[str, str], account_id: int, method: str, request: Message) -> Claim | None:
        """The claim of a request that carries a key (None without one); InvalidArgument for a bad key."""
        key = metadata.get(KEY_METADATA)
        if key is None or method not in IDEMPOTENT:
            return None
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise InvalidArgument(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
        digest = hashlib.sha256(method.encode() + b"\0" + request.SerializeToString(deterministic=True))
        return Claim(account_id, key, method, digest.hexdigest(), self._ttl_s)

    @contextlib.asynccontextmanager
    async def exclusive(self, claim: Claim) -> AsyncIterator[None]:
        """Requests with the same key run one at a time (the second then replays the first)."""
        lock = self._locks.get((claim.account_id, claim.key))
        if lock is None:
            lock = asyncio.Lock()
            self._locks[(claim.account_id, claim.key)] = lock
        async with lock:
            yield

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
        await self._db.write_one("insert_idempotency_key", claim.row(response))
        claim.stored = True

    # -- retention --------------------------------------------------------------------------------

    def start(self) -> None:
        self._purger.start()

    async def stop(self) -> None:
        await self._purger.stop()

    async def purge(self) -> int:
        """Delete the records past their TTL, a batch per transaction; how many went."""
        return await purge_in_batches(self._db, "purge_idempotency_keys", {"since": now() - self._ttl_s},
                                      batch=PURGE_BATCH)
