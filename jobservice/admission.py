"""Who may make a call, decided from its metadata alone, before its message or body is read.

One `KeyAdmission` serves both edges: the gRPC interceptor (`jobservice.edge`) and the REST gateway
(`gateway.admission.Admission`). It refuses a missing or unknown key or dashboard session
(UNAUTHENTICATED, with the message the servicer would give, through the servicer's own
`Authenticator`), a session's state-changing call without its CSRF token (PERMISSION_DENIED), and an
address that keeps failing (`AuthThrottle`). The servicer still authenticates
every call itself (CSRF included): admission only moves the refusal in front of the expensive part.

The share links' public rpcs need no key; their callers are counted per client address instead (the one
thing known about them), `shared_per_minute` requests in any rolling minute, in the service's rate limiter (so
shared by every job service on PostgreSQL). The client address is the edge's decision (phonos_common.forwarded): the
peer, or behind a trusted proxy (a separate gateway process, an ingress) the client it forwards for.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping

from jobservice import metrics
from jobservice.auth import CSRF_METADATA, SESSION_METADATA, Authenticator
from jobservice.auth_throttle import AuthThrottle, LookupsInFlight
from jobservice.errors import (
    Forbidden,
    InvalidArgument,
    PhonosError,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)
from jobservice.idempotency import KEY_METADATA as IDEMPOTENCY_METADATA
from jobservice.message_limits import SERVICE, full_method
from jobservice.ratelimit import RateLimits
from jobservice.routes import public_methods, route_templates, state_changing_methods, token_methods
from jobservice.status_map import grpc_status
from phonos_common.forwarded import client_unit, peer_ip
from phonos_common.ratelog import OncePerSubject
from phonos_common.rpc import RpcFailure

log = logging.getLogger(__name__)
_throttle_log = OncePerSubject(log, per_minute=20)

# PhonosService rpcs anyone may call (marked `(phonos.v1.doc).public`); every other PhonosService rpc needs a
# key. Other services on the server (grpc.health.v1, reflection) are public.
PUBLIC_METHODS = frozenset(full_method(name) for name in public_methods())
# The public rpcs that take a share link's token: limited per client address.
SHARE_LINK_METHODS = frozenset(full_method(name) for name in token_methods())
# The routes a dashboard session calls with its CSRF token only (auth.py). The rpcs without an HTTP rule (the
# sessions' own: GetSession is a read) check their sessions themselves.
STATE_CHANGING_METHODS = frozenset(full_method(name) for name in state_changing_methods() if route_templates()[name])
_PROTECTED_PREFIX = f"/{SERVICE.full_name}/"
RPC_PREFIX = _PROTECTED_PREFIX  # a PhonosService rpc's full method; the rest is its name, the metrics' `rpc`


def needs_key(method: str) -> bool:
    return method.startswith(_PROTECTED_PREFIX) and method not in PUBLIC_METHODS


# Metadata that names one thing: the caller's key, its dashboard session, that session's CSRF token, the
# submission's idempotency key.
SINGLE_ENTRY_METADATA = ("authorization", SESSION_METADATA, CSRF_METADATA, IDEMPOTENCY_METADATA)


def repeated_metadata(metadata: Iterable[tuple[str, object]]) -> RpcFailure | None:
    """Two or more entries of one of `SINGLE_ENTRY_METADATA`: which is meant? A proxy may read the first where
    we would read the last (two sessions: whose call is it?), so the call is refused (INVALID_ARGUMENT, as the
    HTTP edge's 400 for two Authorization headers)."""
    given = Counter(str(key).lower() for key, _ in metadata)
    repeated = next((key for key in SINGLE_ENTRY_METADATA if given[key] > 1), None)
    if repeated is None:
        return None
    return _failure(InvalidArgument(f"more than one {repeated} metadata entry: send exactly one"))


class KeyAdmission:
    def __init__(self, auth: Authenticator, throttle: AuthThrottle, shared: RateLimits | None = None,
                 shared_per_minute: int = 0) -> None:
        self._auth = auth
        self.throttle = throttle
        self._shared = shared
        self._shared_per_minute = shared_per_minute
        # An address's unknown credentials: no more looked up at once than it has failures left (auth_throttle).
        self._lookups = LookupsInFlight(throttle)

    async def admit(self, method: str, credentials: Mapping[str, str], client: str | None,
                    transport: str = "grpc") -> RpcFailure | None:
        """None to let the call through; else its refusal, counted in `phonos_rpc_seconds` under `transport` (the
        servicer, which counts every other call, never sees it: a database outage's 503s and bad keys' 401s were
        missing from the figures, and an alert on UNAVAILABLE answers stayed silent through an outage)."""
        started = time.perf_counter()
        try:
            failure = await self._admit(method, credentials, client)
        except ServiceUnavailable as exc:  # the database away: a 503 as the servicer would answer, not a refusal
            failure = _failure(exc)
        if failure is not None and method.startswith(RPC_PREFIX):
            metrics.rpc_finished(method[len(RPC_PREFIX):], transport, failure.code.name, time.perf_counter() - started)
        return failure

    async def _admit(self, method: str, credentials: Mapping[str, str], client: str | None) -> RpcFailure | None:
        if method in SHARE_LINK_METHODS and self._shared is not None:
            return await self._share_link(client_unit(client))
        if not needs_key(method):
            return None
        address = client_unit(client)
        authorization = credentials.get("authorization")
        credential = authorization or credentials.get(SESSION_METADATA)
        if self.throttle.trusted(credential):  # a credential that worked lately passes whatever its address did
            return await self._authenticate(method, credentials, client, address, credential)
        # Check, look up, count: N bad keys sent at once each passed the check before the first failure was counted
        # (the limit held only for keys sent one by one); lookups under way now count against what is left.
        async with self._lookups.slot(address) as wait_s:
            if wait_s is not None:
                metrics.auth_throttled()
                # The operator's only trace of it otherwise was the metric: in the one-box setup no proxy logs
                # the address. Once a minute per address, a few lines a minute in all.
                _throttle_log.log(address, logging.WARNING, "auth.throttled",
                                  "client address %s is refused keys for %d s: %d failed keys within a minute (a key "
                                  "or dashboard session that worked lately still passes)", address, wait_s,
                                  self.throttle.limit,
                                  extra={"client": address, "retry_after_s": wait_s})
                return _failure(RateLimited(
                    f"Too many failed authentication attempts from {address}; try again in {wait_s} s",
                    limit=0, retry_after_s=wait_s, reset_epoch_s=0,
                ), only=("retry-after",))
            return await self._authenticate(method, credentials, client, address, credential)

    async def _authenticate(self, method: str, credentials: Mapping[str, str], client: str | None, address: str,
                            credential: str | None) -> RpcFailure | None:
        authorization = credentials.get("authorization")
        try:
            if authorization is not None and not (authorization.isascii() and authorization.isprintable()):
                # Header bytes that are not text cannot be a key (and must not reach the key hashing).
                raise Unauthenticated("Malformed Authorization header. Use 'Authorization: Bearer <your key>'.",
                                      bearer_error="invalid_request")
            # A session's state-changing call without its CSRF token is refused here too (403), before its body is
            # read: it was read and parsed first, so a malformed one answered 400 where the docs promise 403. The
            # whole address (not the throttle's IPv6 /64): a session's last use recorded here is recorded with it.
            ip = peer_ip(client) if client else None
            await self._auth.authenticate(credentials, state_changing=method in STATE_CHANGING_METHODS,
                                          client_address=None if ip is None else str(ip))
        except Unauthenticated as exc:
            self.throttle.failed(address)
            return _failure(exc)
        except Forbidden as exc:  # a live session (no failed credential to count) without its CSRF token
            return _failure(exc)
        if credential is not None:
            self.throttle.succeeded(credential)
        return None

    async def _share_link(self, address: str) -> RpcFailure | None:
        assert self._shared is not None
        try:
            await self._shared.check(f"shared:{address}", self._shared_per_minute)
        except RateLimited as exc:
            return _failure(exc)
        return None


def _failure(error: PhonosError, only: tuple[str, ...] | None = None) -> RpcFailure:
    """The failure as the servicer would end the call; `only`: the non-title metadata to keep."""
    code, metadata = grpc_status(error)
    kept = {k: v for k, v in metadata if only is None or k in only or k.startswith("phonos-error")}
    return RpcFailure(code, error.message, kept)
