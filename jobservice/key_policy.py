"""What an API key may do and until when: its scope (full, or read-only) and its expiry.

- scope: "full" calls every rpc; "read_only" calls only the rpcs the contract marks
  `(phonos.v1.doc).read_only` (jobservice.routes.read_only_methods: GET routes and the watch streams) and
  is refused the rest with 403 / PERMISSION_DENIED. Fixed when the key is created: to widen a key, create
  another. Dashboard sessions have full scope.
- expiry: whole days from the moment of creation or update (1 to MAX_EXPIRY_DAYS), or none. Authentication
  compares it with the clock on every request (there is no key cache to outlive it), and an expired key gets
  a 401 saying when it expired, counted by the failed-auth throttle once, as a wrong key would be.
- an expiring key cannot outlive itself: a key or a share link it creates, and any expiry it sets (its own
  included), must end by its own expiry (`check_within`, 403 otherwise). Else a key handed out for a week could
  make itself, or a new key, never expire, or share every job it can read for a year (a share link reads without
  a key), and its expiry would bound nothing. Keys that never expire, dashboard sessions (the person, with the
  password) and the operator's `phonos keys` set any expiry.
- webhooks: an expiring key creates none (`ExpiringKeyWebhook`, 403). A webhook has no expiry to bound: it kept
  receiving every job event of the account after the key that made it expired or was revoked, so a leaked
  week-long key planted a receiver for good. Keys that never expire and the dashboard create them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from jobservice.activity import CALLER, ActorKind
from jobservice.errors import Forbidden, InvalidArgument, Unauthenticated
from jobservice.routes import route_templates
from jobservice.store import Store
from phonos_config.json_text import json_value_text

FULL = "full"
READ_ONLY = "read_only"
SCOPES = (FULL, READ_ONLY)
MAX_EXPIRY_DAYS = 3650  # ten years: a longer expiry is "never" with extra steps
DAY_S = 86400.0


def check_scope(scope: str | None) -> str:
    """The scope a new key gets: `scope`, or full when unset."""
    if scope is None or scope == "":
        return FULL
    if scope not in SCOPES:
        # JSON's quotes, as every other refusal quotes a value (Python's repr wrote 'admin')
        raise InvalidArgument(f"scope must be one of {', '.join(SCOPES)}, got {json_value_text(scope[:40])}")
    return scope


def lifetime(expires_in_days: int | None) -> float | None:
    """How long a key given `expires_in_days` lives, in seconds: None for never (unset or 0)."""
    if not expires_in_days:
        return None
    if not 0 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise InvalidArgument(f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS} (0: never expires), "
                              f"got {expires_in_days}")
    return expires_in_days * DAY_S


def expiry(expires_in_days: int | None, now: float) -> float | None:
    """When a key given `expires_in_days` at `now` expires: None for never (unset or 0)."""
    seconds = lifetime(expires_in_days)
    return None if seconds is None else now + seconds


def is_expired(expires_at: float | None, now: float) -> bool:
    return expires_at is not None and expires_at <= now


def when(epoch: float) -> str:
    """A time as messages say it: RFC 3339 UTC, to the second."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyExpired(Unauthenticated):
    """The key was valid and expired (HTTP 401, not the generic "invalid key")."""

    def __init__(self, expires_at: float) -> None:
        super().__init__(f"This API key expired at {when(expires_at)}. Create a new key (the dashboard's API keys page "
                         "or POST /v1/keys with a key that works), or extend this one's expiry with "
                         "PATCH /v1/keys/{key_id}.", bearer_error="invalid_token")
        self.expires_at = expires_at


class ReadOnlyKey(Forbidden):
    """A read-only key called an rpc that changes state or spends credits (HTTP 403)."""

    def __init__(self, method: str) -> None:
        route = route_templates().get(method) or method
        super().__init__(f"This API key is read-only: {method} ({route}) changes state or spends credits and needs "
                         f"a key with the '{FULL}' scope. Use a full key, or create one in the dashboard's API keys page.")
        self.method = method


class OutlivesCallingKey(Forbidden):
    """An expiring key asked for a key, or an expiry, that would last longer than itself (HTTP 403)."""

    def __init__(self, caller_expires_at: float, now: float) -> None:
        days = max(0, int((caller_expires_at - now) // DAY_S))
        most = (f"expires_in_days at most {days}" if days else
                "this key has less than a day left, so it can set no expiry")
        super().__init__(f"This API key expires at {when(caller_expires_at)}: a key or share link it creates, and any "
                         f"expiry it sets (its own included), must end by then ({most}). For a longer one use a key that "
                         "never expires, the dashboard's API keys page, or the operator's `phonos keys`.")
        self.caller_expires_at = caller_expires_at


class ExpiringKeyWebhook(Forbidden):
    """An expiring key asked to create a webhook, or for a webhook's new secret (HTTP 403): either would outlive it
    (the receiver keeps receiving; the secret keeps signing, so whoever holds it can forge deliveries)."""

    def __init__(self, caller_expires_at: float, *, rotating: bool = False) -> None:
        why = ("cannot rotate a webhook's secret (the new secret signs the account's deliveries after the key that "
               "saw it has expired or been revoked: whoever holds it could forge them)") if rotating else (
               "cannot create webhooks (a webhook keeps receiving the account's job events after the key that made "
               "it has expired or been revoked)")
        super().__init__(f"This API key expires at {when(caller_expires_at)}: a key that expires {why}. Use a key "
                         "that never expires, or the dashboard's Webhooks page.")
        self.caller_expires_at = caller_expires_at


def check_within(caller_expires_at: float | None, expires_at: float | None, now: float) -> None:
    """OutlivesCallingKey when a key expiring at `caller_expires_at` asks for `expires_at` (None: never) later than
    that; a caller that never expires (None) may ask for anything."""
    if caller_expires_at is None:
        return
    if expires_at is None or expires_at > caller_expires_at:
        raise OutlivesCallingKey(caller_expires_at, now)


async def calling_key_expiry(db: Store, account_id: int) -> float | None:
    """When the API key making this call expires (None: never, or the call is a dashboard session's or the
    operator's). The servicer names the calling key in jobservice.activity.CALLER for every call."""
    caller = CALLER.get()
    if caller.kind != ActorKind.API_KEY or caller.key_id is None:
        return None
    row = await db.read.fetch_one("get_api_key", {"id": caller.key_id, "account_id": account_id})
    return None if row is None or row["expires_at"] is None else float(row["expires_at"])
