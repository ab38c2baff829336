"""Opaque ids for rows numbered by a platform-wide counter: watch events (`event_id`), webhook deliveries
(`delivery_id`, `X-Phonos-Delivery`), credit history entries and account activity entries (their `id`).

Both tables number their rows with one sequence for every account. Shown as numbers, two ids a user saw told
how many events or deliveries the whole platform made between them: a rival's activity, to the hour. An id made
after this module came is the row number under a keyed 64-bit permutation (an 8-round Feistel network whose round
function is HMAC-SHA256 under the store's secret for that kind of id), written `evt_<16 hex>` / `dlv_<16 hex>`:
unique, stable, and reversible only with the secret, so the server turns it back into the row number for a resume
cursor, a page cursor or a redelivery, and nobody else learns anything from it.

Ids shown before (numbers up to the highest at the upgrade, `legacy_max`, recorded by migration 0074) stay as they
were, so a client's saved `Last-Event-ID` resumes and a receiver deduplicating on `X-Phonos-Delivery` sees a retry
of an old delivery under the id it already has. A number above `legacy_max` is refused as a cursor: accepting any
number would let a user binary-search "events after N" for the row number of an event of their own.

The secret and `legacy_max` live in the store (`opaque_ids`), made by the migration, so every job service on a
shared PostgreSQL and every restart read the same ids. Until `load` has run (and in code that never opens a store)
`PLAIN` keeps the numbers as they are.

Credit and activity entries (migration 0076) have an `int32 id` in the API, so theirs stay numbers: `NumberCipher`
maps the row numbers above `legacy_max` onto the numbers above it up to 2**31 - 1 by the same keyed permutation
(on 32 bits, walked again until it lands in that range), and back. Any number above `legacy_max` is then some
row's opaque id, so these are refused as cursors by the lists' own check instead (a cursor must be one of the
caller's entries): a guessed number turns back into a random row number, nothing to binary-search with.

Account ids (migration 0077, kind `account`) are the same: `GET /v1/account`'s `account.id` and GetSession's
`account_id` were the account's row number, so a user read off how many accounts had been made before theirs. The
seed contract shows the id as an integer, so a NumberCipher. Nothing a user sends names an account by its id (the
caller is the key's or the session's account), so only the way out is mapped. The server keeps the row number
everywhere else (logs, traces, the database); the operator's `keys create --json` / `keys add --json` print both
(`account_id`, as the user sees it, and `account_row`), the text line the first: `account_ids` gives the cipher.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from jobservice.store import Store, open_store
from phonos_config.service import ServiceSettings

_HALF = 32
# Rounds of the Feistel network: 8, as small-domain ciphers use (NIST FF3-1 has 8, FF1 10), not the Luby-Rackoff
# minimum of 4: a user can make many consecutive ids (jobs, credit entries), so related inputs are cheap to get.
_ROUNDS = 8
_HEX_DIGITS = 16
# What the old numeric ids were at most (paging.numeric_id): 18 digits.
_MAX_LEGACY_DIGITS = 18
_MAX_ROW = (1 << 63) - 1  # SQLite's and PostgreSQL's BIGINT


def _feistel(value: int, half_bits: int, round_of: Callable[[int, int], int], *, forward: bool) -> int:
    """`value` (2 * half_bits bits) through a balanced Feistel network of _ROUNDS rounds (`round_of(index, half)`
    keyed by the caller's secret; its result is cut to half_bits), or back (`forward` False): a permutation."""
    mask = (1 << half_bits) - 1
    left, right = (value >> half_bits) & mask, value & mask
    if forward:
        for index in range(_ROUNDS):
            left, right = right, left ^ (round_of(index, right) & mask)
    else:
        for index in reversed(range(_ROUNDS)):
            left, right = right ^ (round_of(index, left) & mask), left
    return (left << half_bits) | right


@dataclass(frozen=True)
class IdCipher:
    """One kind of id: its prefix, its secret, and the last row number that was shown as a plain number."""

    prefix: str
    secret: bytes
    legacy_max: int

    def text(self, number: int) -> str:
        """The id a client sees for row `number`."""
        if number <= self.legacy_max or not self.secret:
            return str(number)
        return f"{self.prefix}{self._permute(number, forward=True):0{_HEX_DIGITS}x}"

    def number(self, text: str) -> int | None:
        """The row number of an id `text` gave out, or None when it is none (a cursor then is a 400, an id a 404)."""
        text = text.strip()
        if text.isascii() and text.isdigit() and len(text) <= _MAX_LEGACY_DIGITS:
            number = int(text)
            return number if number <= self.legacy_max or not self.secret else None
        digits = text[len(self.prefix):] if text.startswith(self.prefix) and self.secret else ""
        if len(digits) != _HEX_DIGITS or not all(c in "0123456789abcdef" for c in digits):
            return None
        number = self._permute(int(digits, 16), forward=False)
        # Not above legacy_max: never given out as evt_/dlv_. Past a signed 64-bit integer: no row's (the store's
        # integers would overflow on a forged id, a 500).
        return number if self.legacy_max < number <= _MAX_ROW else None

    def _round(self, index: int, half: int) -> int:
        message = index.to_bytes(1, "big") + half.to_bytes(4, "big")
        return int.from_bytes(hmac.new(self.secret, message, hashlib.sha256).digest()[:4], "big")

    def _permute(self, value: int, *, forward: bool) -> int:
        return _feistel(value, _HALF, self._round, forward=forward)


_INT32_MAX = (1 << 31) - 1  # the API's int32 ids
_SMALL_HALF = 16


@dataclass(frozen=True)
class NumberCipher:
    """One kind of id the API shows as a positive int32 (credit and activity entries): numbers up to `legacy_max`
    are shown as they are, those above it permuted within (legacy_max, 2**31 - 1]."""

    secret: bytes
    legacy_max: int

    def shown(self, number: int) -> int:
        """The id a client sees for row `number`."""
        if number <= self.legacy_max or not self.secret or number > _INT32_MAX:
            # Past int32 the API could not show it anyway (protobuf refuses it): left for that error to say so.
            return number
        return self.legacy_max + 1 + self._walk(number - self.legacy_max - 1, forward=True)

    def number(self, text: str) -> int | None:
        """The row number of an id `text` gave out (a cursor, in decimal), or None when it is none."""
        text = text.strip()
        if not text.isascii() or not text.isdigit() or len(text) > _MAX_LEGACY_DIGITS:
            return None
        shown = int(text)
        if shown <= self.legacy_max or not self.secret:
            return shown
        if shown > _INT32_MAX:
            return None  # never given out: a signed 32-bit integer
        return self.legacy_max + 1 + self._walk(shown - self.legacy_max - 1, forward=False)

    def _walk(self, index: int, *, forward: bool) -> int:
        # Cycle-walking: the permutation of 0..2**32-1, applied again until the value is below `size`, is a
        # permutation of 0..size-1 (a value below size starts a walk that ends at the next one on its cycle).
        # size >= 2**31 - legacy_max, so about two steps while the ids fit an int32 at all.
        size = _INT32_MAX - self.legacy_max
        value = self._permute(index, forward=forward)
        while value >= size:
            value = self._permute(value, forward=forward)
        return value

    def _round(self, index: int, half: int) -> int:
        message = b"n" + index.to_bytes(1, "big") + half.to_bytes(2, "big")
        return int.from_bytes(hmac.new(self.secret, message, hashlib.sha256).digest()[:2], "big")

    def _permute(self, value: int, *, forward: bool) -> int:
        return _feistel(value, _SMALL_HALF, self._round, forward=forward)


PLAIN_NUMBERS = NumberCipher(b"", 0)


@dataclass(frozen=True)
class OpaqueIds:
    events: IdCipher
    deliveries: IdCipher
    # Defaults: code that builds OpaqueIds with the first two only (tests) keeps working.
    credits: NumberCipher = PLAIN_NUMBERS
    activity: NumberCipher = PLAIN_NUMBERS
    accounts: NumberCipher = PLAIN_NUMBERS  # GET /v1/account's account.id, GetSession's account_id (0077)


# Numbers as they are: before `load`, and for code that runs without a store.
PLAIN = OpaqueIds(IdCipher("evt_", b"", 0), IdCipher("dlv_", b"", 0))


async def load(db: Store) -> OpaqueIds:
    """The store's secrets and cut-offs (migrations 0074, 0076 and 0077 made them)."""
    rows = {str(row["kind"]): row for row in await db.read.fetch_all("opaque_id_keys")}

    def cipher(kind: str, prefix: str) -> IdCipher:
        row = rows[kind]
        return IdCipher(prefix, bytes.fromhex(str(row["secret"])), int(row["legacy_max"]))

    def numbers(kind: str) -> NumberCipher:
        row = rows[kind]
        return NumberCipher(bytes.fromhex(str(row["secret"])), int(row["legacy_max"]))

    return OpaqueIds(cipher("event", "evt_"), cipher("delivery", "dlv_"), numbers("credit_entry"), numbers("activity"),
                     numbers("account"))


async def account_ids(settings: ServiceSettings) -> NumberCipher:
    """The store's account id cipher, for the operator's CLI, which opens the store itself (jobservice.admin)."""
    db = await open_store(settings)
    try:
        return (await load(db)).accounts
    finally:
        await db.close()
