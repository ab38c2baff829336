"""Webhooks: registration rules, signed POSTs, and the test event (`webhook_sender` delivers the queue).

Signature: `X-Phonos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>,v2=<hex
HMAC-SHA256(secret, "<t>.<delivery id>.<body>")>`. Receivers recompute the HMAC, compare in constant time, and
reject old timestamps to stop replays. v2 covers X-Phonos-Delivery, the id receivers deduplicate on: under v1
alone a captured delivery sent again within the tolerance under a made-up id passed both the check and the
dedup. v2 is an element of the same header, not a header of its own, because it shares the timestamp and every
verifier written to date skips elements it does not know (v1's own rotation already sends several), so it keeps
verifying v1 unchanged. The attempt (X-Phonos-Attempt) is left out of v2: a replay under another attempt number
is the same delivery id and so deduplicated, and a verifier would need one more header to check nothing more.

Rotation (`Webhooks.rotate`): a new secret becomes current and the one it replaces stays valid for an overlap
(`expire_current_after_s`, a day by default, at most a week); meanwhile every attempt carries a v1= for each,
the new one first, and a v2= for each likewise (`t=…,v1=<new>,v1=<old>,v2=<new>,v2=<old>`, as Stripe signs
during a roll), so a receiver may switch to the new secret at any moment of the overlap without refusing a
delivery.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from jobservice import egress
from jobservice.account_lock import lock_account
from jobservice.activity import Action, Target, record
from jobservice.db import now
from jobservice.errors import InvalidArgument, LimitReached, NotFound, echoed_id, json_value_text
from jobservice.key_policy import ExpiringKeyWebhook, calling_key_expiry
from jobservice.labels import check_label
from jobservice.store import Guard, Row, Store
from jobservice.webhook_deliveries import LOOPBACK_REFUSED, NOT_FOLLOWED, worded_error
from jobservice.webhook_events import DEFAULT_EVENTS, JOB_EVENTS, TEST_EVENT, encode_payload, rfc3339

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Phonos-Signature"
# Which attempt of its delivery a POST is (1 for the first; a retry's number is the delivery log's `attempts` + 1).
# A header, not a body field: the body is the event as queued, the same bytes on every attempt (and what the log
# shows). It is outside the signature (X-Phonos-Delivery is inside v2=), so it says what happened, never who sent it.
ATTEMPT_HEADER = "X-Phonos-Attempt"
MAX_URL_LENGTH = 2048
# Characters RFC 3986 never allows raw in a URL: a space, `"<>{}|^` and the backtick (an HTTP client
# percent-encodes them, so the receiver differed from the text shown) and `\` (a path separator to browsers'
# parsers, not to urlsplit). Whitespace of any kind is refused beside them.
_NOT_IN_URLS = frozenset(' "<>\\{}|^`')
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
MAX_RESPONSE_READ = 1024  # bytes of a receiver's answer body read at most
# A test event's answer (`send_test`). It is sent once and never retried (it is not queued); job events are, on
# the backoff: "deliveries to it will be retried" read as if this test would be, and a person waited for it.
NOT_RETRIED = "; a test event is not retried (job events are)"
UNREACHABLE_MESSAGE = "The receiver could not be reached (no HTTP answer)" + NOT_RETRIED
LOOPBACK_MESSAGE = ("The receiver is on this machine (loopback), which this server sends to only when it sets "
                    "PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK=true (it was started without it)")
TIMEOUT_MESSAGE = "The receiver did not answer within {seconds} s" + NOT_RETRIED
DEFAULT_OVERLAP_S = 86400  # a day: time to deploy the new secret to a receiver, as Stripe's default roll
MAX_OVERLAP_S = 7 * 86400  # a week: an old secret that may have leaked must not stay valid indefinitely


@dataclass(frozen=True)
class LastDelivery:
    """A webhook's newest job-event delivery as its listing sums it up (the log has the whole entry)."""

    id: int  # the row number; shown through the deliveries' IdCipher as the log's delivery_id
    event: str
    status: str
    at: float  # its last attempt; when it was queued if none was made yet
    status_code: int | None
    error: str | None  # worded as the log words it (webhook_deliveries.worded_error)

    @classmethod
    def from_row(cls, row: Row) -> LastDelivery:
        status = str(row["status"])
        code = int(row["last_status"]) if row["last_status"] else None
        attempted = row["last_attempt_at"]
        return cls(int(row["id"]), str(row["event"]), status,
                   float(row["created_at"] if attempted is None else attempted), code,
                   None if status == "delivered" else worded_error(code, row["last_error"]))


@dataclass(frozen=True)
class DeliveryHealth:
    """How a webhook's job-event deliveries are going (test events left out: the proto's Webhook.failing_since).

    A receiver that broke was noticed only by opening each webhook's delivery log; the listing now says it."""

    last_delivery: LastDelivery | None = None
    # When the oldest delivery of the failing run since the newest delivered one was queued; None when not failing.
    failing_since: float | None = None


@dataclass(frozen=True)
class WebhookRecord:
    id: str
    url: str
    events: tuple[str, ...]
    created_at: float
    # Until when the secret the last rotation replaced still signs deliveries beside the current one; None when
    # only the current one signs (never rotated, stopped at once, or the overlap has run out).
    previous_secret_expires_at: float | None = None
    # Only on a listed webhook (`Webhooks.for_account`); None on one just created or rotated.
    health: DeliveryHealth | None = None

    @classmethod
    def from_row(cls, row: Row, at: float | None = None) -> WebhookRecord:
        """The webhook as the API shows it at `at` (now when None): the overlap's end only while it runs, decided
        by `signing_secrets` as every delivery's signature is, so what is listed is what a receiver gets."""
        overlapping = len(signing_secrets(row, now() if at is None else at)) > 1
        return cls(row["id"], row["url"], tuple(json.loads(row["events"])), float(row["created_at"]),
                   float(row["previous_secret_expires_at"]) if overlapping else None)


@dataclass(frozen=True)
class TestResult:
    delivered: bool
    status_code: int  # 0 when the receiver could not be reached
    message: str


@dataclass(frozen=True)
class Rotation:
    """A rotation's outcome: the webhook, its new secret (shown once) and when the replaced one stops signing
    (the rotation's own time when it stopped at once)."""

    webhook: WebhookRecord
    secret: str
    previous_secret_expires_at: float


def sign(secrets: str | Sequence[str], timestamp: int, body: str, delivery_id: str | None = None) -> str:
    """The signature header: one timestamp, one v1= per secret in the order given (current first), then, given
    the delivery's X-Phonos-Delivery, one v2= per secret in that order over "<t>.<delivery id>.<body>". The v1s
    come first: a verifier that reads only the first v1 (t and the element after it) keeps working."""
    keys = (secrets,) if isinstance(secrets, str) else tuple(secrets)
    messages = {"v1": f"{timestamp}.{body}"}
    if delivery_id is not None:
        if "." in delivery_id:  # ids are `dlv_<hex>`, `test-<hex>` or a number: "<t>.<id>.<body>" reads one way
            raise ValueError(f"a delivery id with a dot cannot be signed unambiguously: {delivery_id!r}")
        messages["v2"] = f"{timestamp}.{delivery_id}.{body}"
    digests = ",".join(f"{scheme}=" + hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
                       for scheme, message in messages.items() for key in keys)
    return f"t={timestamp},{digests}"


def signing_secrets(row: Row, at: float) -> tuple[str, ...]:
    """The secrets an attempt made at `at` is signed with: the current one, and the one it replaced while that
    one's overlap lasts. Decided at each attempt (not at rotation), so a retry after the overlap carries one."""
    previous = row["previous_secret"]
    until = row["previous_secret_expires_at"]
    if previous and until is not None and float(until) > at:
        return (row["secret"], previous)
    return (row["secret"],)


def overlap_seconds(expire_current_after_s: int | None) -> int:
    """How long the replaced secret keeps signing: the default when unset, 0 for not at all."""
    if expire_current_after_s is None:
        return DEFAULT_OVERLAP_S
    if not 0 <= expire_current_after_s <= MAX_OVERLAP_S:
        raise InvalidArgument(f"expire_current_after_s must be between 0 (at once) and {MAX_OVERLAP_S} (7 days), "
                              f"got {expire_current_after_s}")
    return expire_current_after_s


# A label of a host name as it goes on the wire (after IDNA): letters, digits, hyphens, underscores (some real
# names carry them); neither first nor last a hyphen, 1 to 63 of them (RFC 1035). Anything else that is not an IP
# literal is refused at creation.
_HOST_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
# The longest DNS name, without its trailing dot (RFC 1035's 255 octets on the wire).
MAX_HOST_NAME_LENGTH = 253


def _host_name_problem(host: str) -> str | None:
    """Why `host` (the IDNA form, not an IP literal) is no DNS name, or None: no resolver can look up
    `a..b.org` or `-bad-.org`, so such a receiver would only collect failed deliveries."""
    name = host[:-1] if host.endswith(".") else host  # one trailing dot: the fully qualified spelling
    if len(name) > MAX_HOST_NAME_LENGTH:
        return f"it is {len(name)} characters long; a DNS name has at most {MAX_HOST_NAME_LENGTH}"
    labels = name.split(".")
    if not all(labels):
        return "it has an empty label (two dots in a row, or a dot at the start)"
    for label in labels:
        if not _HOST_LABEL.match(label):
            if len(label) > 63:
                return f"it has a label of {len(label)} characters; a DNS label has at most 63"
            if label.startswith("-") or label.endswith("-"):
                return f"its label {json_value_text(label)} starts or ends with '-'"
            return f"its label {json_value_text(label)} has characters other than letters, digits, '-' and '_'"
    return None


def validate_url(url: str, *, allow_http_loopback: bool, networks: tuple[egress.Network, ...] = ()) -> str:
    """The URL as given, or InvalidArgument. Delivery checks the resolved addresses again (egress).

    `networks` are the operator's trusted private networks (PHONOS_WEBHOOK_ALLOWED_NETWORKS): an address in one
    is accepted, and so is an internal name (`lims.lab.internal`), which only resolving can place; every
    delivery resolves it and refuses it unless each address is public or in those networks."""
    url = url.strip()
    if not url:
        raise InvalidArgument("url is required: the HTTPS address that receives webhook events")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidArgument(f"url is longer than {MAX_URL_LENGTH} characters")
    # The URL comes back in the dashboard, `phonos webhooks ls` and the logs like any name, so the names' rule
    # holds (labels.py). And the address delivered to must be the one shown: the HTTP client silently drops a
    # CR/LF from a path, and percent-encodes a space or `"<>` itself.
    check_label("url", url)
    unsafe = next((char for char in url if char in _NOT_IN_URLS or char.isspace()), None)
    if unsafe is not None:
        named = "a space" if unsafe.isspace() else repr(unsafe)
        raise InvalidArgument(f"url contains {named} (U+{ord(unsafe):04X}), which a URL cannot hold as it is; "
                              f"percent-encode it ({quote(unsafe, safe='')})")
    bad_escape = _BAD_ESCAPE.search(url)
    if bad_escape is not None:
        raise InvalidArgument(f"url has a '%' that starts no percent-escape (at character {bad_escape.start() + 1}); "
                              "write a '%' itself as %25")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a port that is not a number in range
        # The host as the delivery's HTTP client reads it, not as the text spells it (egress.request_host:
        # `https://１２７.０.０.１/` is loopback to aiohttp, and was accepted as a public name here).
        host = egress.request_host(url) if parts.hostname else None
    except ValueError:
        raise InvalidArgument(f"url {json_value_text(url)} is not a valid URL") from None
    if port == 0:  # in urlsplit's range, but nothing listens there: every delivery would fail
        raise InvalidArgument(f"url {json_value_text(url)} has port 0; use a port from 1 to 65535 (or none)")
    if not parts.netloc and "://" not in url:  # `example.org/hook`: a host read as a path; "no host" misled
        raise InvalidArgument(f"url {json_value_text(url)} has no scheme; start it with https://, e.g. "
                              f"{json_value_text('https://' + url)}")
    if not host:
        raise InvalidArgument(f"url {json_value_text(url)} has no host; use e.g. https://example.org/phonos-hook")
    if "#" in url:  # a fragment stays with the client (RFC 9110 §7.1): the receiver would never see it
        sent = url.split("#", 1)[0]
        raise InvalidArgument(f"url {json_value_text(url)} has a fragment ('#' and what follows), which is never sent "
                              f"over HTTP: the receiver would get {json_value_text(sent)}; remove it, or write a '#' "
                              "that belongs to the path or query as %23")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument("url must not contain a user name or password")
    address = egress.parse_ip_literal(host)
    problem = _host_name_problem(host) if address is None else None
    if problem:
        # Percent escapes or other bytes in a name (`127.0.0.1%2e`, `%00`) are no DNS name: what a resolver or
        # a later parser would make of them is anybody's guess, and no receiver needs them.
        raise InvalidArgument(f"url {json_value_text(url)} has a host that is not a DNS name or an IP address: "
                              f"{problem}")
    loopback = host.rstrip(".") == "localhost" or (address is not None and egress.is_loopback(address))
    if allow_http_loopback and parts.scheme in ("http", "https") and loopback:
        return url
    if loopback and parts.scheme in ("http", "https"):
        # A receiver on the server's own machine is what a first try of webhooks registers: say the one setting
        # that allows it, not "use https" (https://127.0.0.1 is refused too) or the private networks' setting
        # (which never admits loopback).
        raise InvalidArgument("url points to this machine (loopback): allowed only when the server sets "
                              "PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK=true (development); else use an https:// "
                              "address on a public host")
    if parts.scheme != "https":
        raise InvalidArgument(
            "url must use https:// (plain http is only allowed to loopback when the server enables it)"
        )
    # Not a way to reach the server's own network (the test route reports what a receiver answers).
    if address is not None:
        refused = not egress.allowed(address, allow_loopback=False, networks=networks)
    else:
        refused = egress.this_machine(host) if networks else egress.internal_name(host)
    if refused:
        raise InvalidArgument("url must point to a public host, not this machine, a private address or an "
                              "internal name" + (" outside the networks this server allows" if networks else
                                                 " (a server can allow its own networks: "
                                                 "PHONOS_WEBHOOK_ALLOWED_NETWORKS)"))
    return url


def wire_url(url: str) -> URL:
    """The URL a delivery requests: its path and query exactly as registered (a non-ASCII character UTF-8
    percent-encoded, as a browser sends it), its host as the HTTP client maps it. Left to yarl, `?sig=a%2Fb`
    went out as `?sig=a/b`, breaking a signed or token query string: the receiver was not the URL shown."""
    parts = urlsplit(url)
    kept = "".join(chr(c) for c in range(0x21, 0x7F))  # every printable ASCII character as it is, `%XX` included
    query = quote(parts.query, safe=kept)
    return URL(f"{parts.scheme}://{URL(url).raw_authority}{quote(parts.path, safe=kept) or '/'}"
               f"{'?' + query if query else ''}", encoded=True)


def validate_events(events: list[str]) -> tuple[str, ...]:
    """The events chosen, in JOB_EVENTS' order; the seed's three (DEFAULT_EVENTS) when none are, never an opt-in
    one (job.cancelled) unless named."""
    if not events:
        return DEFAULT_EVENTS
    unknown = sorted(set(events) - set(JOB_EVENTS))
    if unknown:
        raise InvalidArgument(f"unknown event(s) {', '.join(unknown)}; choose from {', '.join(JOB_EVENTS)}")
    return tuple(e for e in JOB_EVENTS if e in events)


class Webhooks:
    """CRUD for an account's webhooks; delivery is `WebhookSender`."""

    def __init__(self, db: Store, *, max_per_account: int, allow_http_loopback: bool, timeout_s: float,
                 networks: tuple[egress.Network, ...] = ()) -> None:
        self._db = db
        self._networks = networks
        self._max = max_per_account
        self._allow_http_loopback = allow_http_loopback
        self._timeout_s = timeout_s

    async def refuse_expiring_caller(self, account_id: int, *, rotating: bool = False) -> None:
        """ExpiringKeyWebhook when the calling key expires: a receiver it planted, or a secret it saw, would outlive
        it (key_policy). The servicer also asks before replaying a keyed creation or rotation: the stored answer
        holds the secret, and an Idempotency-Key is no secret (the CLI prints it when an answer is lost)."""
        caller_expires_at = await calling_key_expiry(self._db, account_id)
        if caller_expires_at is not None:
            raise ExpiringKeyWebhook(caller_expires_at, rotating=rotating)

    async def create(self, account_id: int, url: str, events: list[str],
                     guard: Guard[tuple[WebhookRecord, str]] | None = None) -> tuple[WebhookRecord, str]:
        """`guard`: a keyed creation's Idempotency-Key claim, checked and its response stored in the transaction."""
        url = validate_url(url, allow_http_loopback=self._allow_http_loopback, networks=self._networks)
        chosen = validate_events(events)
        await self.refuse_expiring_caller(account_id)
        secret = "whsec_" + secrets.token_urlsafe(32)
        hook_id = "wh_" + uuid.uuid4().hex
        stamp = now()
        made = (WebhookRecord(hook_id, url, chosen, stamp), secret)
        async with self._db.transaction() as tx:
            if guard is not None:
                await guard.check(tx)
            # Parallel creates count one at a time (at most max_per_account); a caller ended meanwhile (`phonos
            # accounts lock`) is refused: a receiver it planted would outlive it.
            await lock_account(tx, account_id)
            count = await tx.scalar("count_webhooks", {"account_id": account_id})
            if int(count) >= self._max:
                raise LimitReached(f"An account can have at most {self._max} webhooks; delete one first")
            await tx.execute(
                "insert_webhook",
                {"id": hook_id, "account_id": account_id, "url": url, "events": json.dumps(list(chosen)),
                 "secret": secret, "now": stamp},
            )
            # The receiver's host, not its URL: a URL may carry a token in its query.
            await record(tx, account_id, Action.WEBHOOK_CREATED, target=Target(webhook_id=hook_id),
                         details={"host": urlsplit(url).hostname or "", "events": list(chosen)})
            if guard is not None:
                await guard.done(tx, made)
        return made

    async def rotate(self, account_id: int, webhook_id: str, expire_current_after_s: int | None,
                     guard: Guard[Rotation] | None = None) -> Rotation:
        """Give the webhook a new secret; the current one keeps signing (as a second v1=) for the overlap. `guard`: a
        keyed rotation's Idempotency-Key claim, checked and its response stored in the transaction."""
        overlap = overlap_seconds(expire_current_after_s)
        await self.refuse_expiring_caller(account_id, rotating=True)
        secret = "whsec_" + secrets.token_urlsafe(32)
        stamp = now()
        until = stamp + overlap if overlap else None
        async with self._db.transaction() as tx:
            if guard is not None:
                await guard.check(tx)
            await lock_account(tx, account_id)  # a caller ended meanwhile sees no new secret (jobservice/account_lock.py)
            row = await tx.fetch_one("rotate_webhook_secret", {"id": webhook_id, "account_id": account_id,
                                                               "secret": secret, "previous_until": until})
            if row is None:
                raise NotFound(f"Webhook {echoed_id(webhook_id)} not found")
            # Never a secret in the log: only how long the old one stays valid.
            await record(tx, account_id, Action.WEBHOOK_SECRET_ROTATED, target=Target(webhook_id=webhook_id),
                         details={"expire_current_after_s": overlap})
            rotation = Rotation(WebhookRecord.from_row(row), secret, stamp if until is None else until)
            if guard is not None:
                await guard.done(tx, rotation)
        return rotation

    async def for_account(self, account_id: int) -> list[WebhookRecord]:
        """The account's webhooks with their delivery health: two statements whatever their number (the health of
        all of them is one indexed query, webhook_delivery_health, not one per webhook)."""
        rows = await self._db.read.fetch_all("list_webhooks", {"account_id": account_id})
        health = await self.delivery_health(account_id)
        return [dataclasses.replace(WebhookRecord.from_row(r), health=health.get(r["id"], DeliveryHealth()))
                for r in rows]

    async def delivery_health(self, account_id: int) -> dict[str, DeliveryHealth]:
        """Each of the account's webhooks' `DeliveryHealth`, by webhook id."""
        rows = await self._db.read.fetch_all("webhook_delivery_health", {"account_id": account_id})
        return {str(r["webhook_id"]): DeliveryHealth(
                    None if r["id"] is None else LastDelivery.from_row(r),
                    None if r["failing_since"] is None else float(r["failing_since"]))
                for r in rows}

    async def delete(self, account_id: int, webhook_id: str) -> None:
        async with self._db.transaction() as tx:
            deleted = await tx.fetch_one("delete_webhook", {"id": webhook_id, "account_id": account_id, "now": now()})
            if deleted is None:
                raise NotFound(f"Webhook {echoed_id(webhook_id)} not found")
            await tx.execute("drop_deliveries_of_webhook", {"webhook_id": webhook_id})
            await record(tx, account_id, Action.WEBHOOK_DELETED, target=Target(webhook_id=webhook_id),
                         details=deleted_details(deleted))

    async def send_test(self, account_id: int, webhook_id: str, session: aiohttp.ClientSession,
                        guard: Guard[TestResult] | None = None) -> TestResult:
        """`guard`: a keyed test's Idempotency-Key claim, checked before the event is sent (a stale owner sends
        none) and again, with its response stored, in the transaction that records the delivery."""
        row = await self._db.read.fetch_one("get_webhook", {"id": webhook_id, "account_id": account_id})
        if row is None:
            raise NotFound(f"Webhook {echoed_id(webhook_id)} not found")
        if guard is not None:
            async with self._db.transaction() as tx:
                await guard.check(tx)
        payload: dict[str, Any] = {
            "event": TEST_EVENT,
            "timestamp": rfc3339(now()),
            "data": {"webhook_id": webhook_id, "message": "This is a test event from phonos"},
        }
        body = encode_payload(payload)
        status, reason = await post_event(
            session, row["url"], signing_secrets(row, now()), body, TEST_EVENT, delivery_id_of_a_test(), self._timeout_s,
            allow_loopback=self._allow_http_loopback, networks=self._networks,
        )
        # Kept in the delivery log, finished (sent once, never retried): a test sent by any client (the API, the
        # SDK, `phonos webhooks test`) shows on the dashboard's "Last test", which reads the newest one, as the log
        # words it (the reason stays coarse there too: webhook_deliveries.worded_error).
        result = worded_test_result(status, reason, self._timeout_s)
        async with self._db.transaction() as tx:
            if guard is not None:
                await guard.check(tx)
            await tx.execute("insert_test_delivery", {
                "webhook_id": webhook_id, "event": TEST_EVENT, "payload": body,
                "status": "delivered" if 200 <= status < 300 else "failed", "now": now(),
                "last_status": status or None, "last_error": None if status else reason})
            if guard is not None:
                await guard.done(tx, result)
        return result


def deleted_details(deleted: Row) -> dict[str, Any]:
    """A deleted webhook's activity entry (delete_webhook's row), as its creation's: the receiver's host (never the
    URL, whose query may hold a token) and events."""
    return {"host": urlsplit(deleted["url"]).hostname or "", "events": json.loads(deleted["events"])}


def loopback_refusal(host: str, allow_loopback: bool) -> str:
    """The reason a refused address is logged and shown with: LOOPBACK_REFUSED where the URL itself names this
    machine (`127.0.0.1`, `[::1]`, `localhost`), which its owner typed and creation said the same of, and the
    server was restarted without PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK (deliveries said "could not be reached", and
    people looked for a fault in their receiver); "refused address" otherwise, whose why is not told (a name that
    resolves to a private address: the routes would map the server's network)."""
    address = egress.parse_ip_literal(host)
    named_loopback = host.rstrip(".").lower() == "localhost" or (address is not None and egress.is_loopback(address))
    return LOOPBACK_REFUSED if named_loopback and not allow_loopback else "refused address"


def worded_test_result(status: int, reason: str | None, timeout_s: float) -> TestResult:
    """What a test event's POST answered, as the API says it. Only the HTTP status, a timeout or "unreachable":
    never why (refused, closed port, DNS, TLS), which would make this route a scanner of whatever the server can
    reach. A timeout is said as the delivery log says it (webhook_deliveries.OWN_REASONS): a receiver that hangs is
    not one that cannot be reached."""
    if status == 0 and reason == "timeout":
        return TestResult(False, 0, TIMEOUT_MESSAGE.format(seconds=f"{timeout_s:g}"))
    if status == 0 and reason == LOOPBACK_REFUSED:
        return TestResult(False, 0, LOOPBACK_MESSAGE + NOT_RETRIED)
    if status == 0:
        return TestResult(False, 0, UNREACHABLE_MESSAGE)
    ok = 200 <= status < 300
    why = "" if ok else f" (expected 2xx{NOT_FOLLOWED if 300 <= status < 400 else ''})"
    return TestResult(ok, status, f"Receiver answered HTTP {status}{why}")


def delivery_id_of_a_test() -> str:
    """A test event's `X-Phonos-Delivery`: its own each time (a receiver that drops repeated delivery ids
    must still see the next test), never a number (job events carry their delivery's row id)."""
    return f"test-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class ReceiverAnswer:
    """How one POST of an event ended: `status` 0 with a `reason` when nothing answered; `retry_after_s` when a
    429 or 503 said when to come back (Retry-After in seconds or as an HTTP date)."""

    status: int
    reason: str | None = None
    retry_after_s: float | None = None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's wait in seconds (RFC 9110: delay-seconds or an HTTP-date); None if absent or
    unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        at = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:
        return None
    return max(0.0, at.timestamp() - time.time())


async def post_event(
    session: aiohttp.ClientSession, url: str, secret: str | Sequence[str], body: str, event: str, delivery_id: str,
    timeout_s: float, *, allow_loopback: bool, networks: tuple[egress.Network, ...] = (),
) -> tuple[int, str | None]:
    """POST one signed event: (status, None) on any HTTP answer, (0, reason) when it could not be sent."""
    answer = await post_event_answer(session, url, secret, body, event, delivery_id, timeout_s,
                                     allow_loopback=allow_loopback, networks=networks)
    return answer.status, answer.reason


async def post_event_answer(
    session: aiohttp.ClientSession, url: str, secret: str | Sequence[str], body: str, event: str, delivery_id: str,
    timeout_s: float, *, allow_loopback: bool, networks: tuple[egress.Network, ...] = (), attempt: int = 1,
) -> ReceiverAnswer:
    """POST one signed event and say how it ended (`ReceiverAnswer`); `secret` may be several (a rotation's
    overlap: `signing_secrets`), each giving a v1= and a v2= (over `delivery_id` too) in the signature; `attempt`
    is said in ATTEMPT_HEADER.

    `session` comes from `egress.receiver_session` (public addresses only, no redirects, no
    decompression). The reason is for the log and the delivery row, never for the API caller.
    Of the answer only the status line and headers matter: at most `MAX_RESPONSE_READ` bytes of the
    body are read (and dropped), so a receiver cannot make us buffer or inflate anything big.
    """
    try:
        # As aiohttp will read it (egress.request_host): a URL stored before creation read hosts that way (a
        # fullwidth `１２７.０.０.１`) is refused here rather than connected to.
        host = egress.request_host(url)
    except ValueError:
        return ReceiverAnswer(0, "refused address")
    if egress.literal_refused(host, allow_loopback=allow_loopback, networks=networks):
        return ReceiverAnswer(0, loopback_refusal(host, allow_loopback))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "phonos-webhooks/1",
        "X-Phonos-Event": event,
        "X-Phonos-Delivery": delivery_id,
        ATTEMPT_HEADER: str(attempt),
        SIGNATURE_HEADER: sign(secret, int(time.time()), body, delivery_id),
    }
    try:
        async with session.post(
            wire_url(url), data=body.encode(), headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            # The status is the answer. A body that is slow, cut short or malformed does not make a 200 a timeout
            # or unreachable (that retried an event the receiver had accepted); the read ends at the timeout.
            with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError, ValueError):
                await response.content.read(MAX_RESPONSE_READ)
            later = (retry_after_seconds(response.headers.get("Retry-After"))
                     if response.status in (429, 503) else None)
            return ReceiverAnswer(response.status, None, later)
    except egress.RefusedAddress:
        return ReceiverAnswer(0, loopback_refusal(host, allow_loopback))
    except aiohttp.ClientConnectorDNSError as exc:
        return ReceiverAnswer(0, loopback_refusal(host, allow_loopback) if isinstance(exc.os_error, egress.RefusedAddress)
                              else "unresolvable host")
    except TimeoutError:
        return ReceiverAnswer(0, "timeout")
    except (aiohttp.ClientError, OSError, ValueError) as exc:  # ValueError: a URL yarl refuses
        return ReceiverAnswer(0, f"unreachable ({type(exc).__name__})")
