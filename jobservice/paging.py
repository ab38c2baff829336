"""The one rule for a list's page: `limit` (1-100) and `offset` (0 or more), as GET /v1/jobs takes them, or
`starting_after` (a cursor) instead of the offset.

An offset counts from the list's newest entry, so a job submitted while a reader pages shifts every later
page by one (an entry seen twice) and a deletion shifts it back (an entry missed). `starting_after` names the
last entry the reader saw; the next page is the entries after it in the list's order (a keyset query on the
list's ORDER BY), whatever came or went before it. Every page that has more says which id to pass next
(`next_starting_after`), offset pages too, so a reader may start with a plain first page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from jobservice.errors import InvalidArgument, json_value_text

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
# The API's offset is an int32; the operator's CLI takes any integer, which past 2**63 SQLite refuses outright.
MAX_OFFSET = 2**31 - 1

T = TypeVar("T")
A = TypeVar("A")  # a cursor as a list reads after it: a job's seq, an entry's number


@dataclass(frozen=True)
class PageInfo:
    """What `pagination` says of one page."""

    total: int  # entries the filters match now, the whole list's (not only those after the cursor)
    limit: int
    offset: int  # the request's: 0 in a cursor page
    has_more: bool
    next_starting_after: str | None  # the page's last entry's id when has_more


def check_page(limit: int | None, offset: int | None, *, default_limit: int = DEFAULT_LIMIT,
               starting_after: str | None = None) -> tuple[int, int]:
    """A list's `limit` (`default_limit` when unset) and `offset` (0 when unset), or InvalidArgument; an offset
    beside a cursor is refused: the two would count from different places."""
    limit = default_limit if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument(f"offset must be 0 or more, got {offset}" if offset < 0
                              else f"offset must be at most {MAX_OFFSET}, got {offset}")
    if starting_after is not None and offset:
        raise InvalidArgument(f"starting_after and offset cannot be used together (offset {offset}): the next page "
                              f"after an entry is starting_after alone")
    return limit, offset


def cursor(starting_after: str | None) -> str | None:
    """The request's cursor; None when unset or empty (an empty query parameter means unset, as the filters'
    do)."""
    return starting_after or None


def numeric_id(text: str) -> int | None:
    """An id the store keeps as a number (a credit entry's, a delivery's) from its text; None when it cannot be
    one."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def unknown_cursor(starting_after: str, what: str) -> InvalidArgument:
    """The error for a cursor that names nothing the list can start after."""
    return InvalidArgument(f"starting_after {json_value_text(starting_after)} is not {what}; start again without "
                           f"starting_after (its first page), then pass each page's pagination.next_starting_after")


def offset_page(items: Sequence[T], *, total: int, limit: int, offset: int,
                id_of: Callable[[T], str]) -> tuple[list[T], PageInfo]:
    """A page read at `offset`: more follow when the entries before it and in it are fewer than the total."""
    has_more = offset + len(items) < total
    return list(items), PageInfo(total, limit, offset, has_more, id_of(items[-1]) if has_more and items else None)


def cursor_page(rows: Sequence[T], *, total: int, limit: int, id_of: Callable[[T], str]) -> tuple[list[T], PageInfo]:
    """A page read after a cursor from `limit + 1` rows: the extra row only says that more follow (the total
    counts entries before the cursor too, so it cannot)."""
    items, has_more = list(rows[:limit]), len(rows) > limit
    return items, PageInfo(total, limit, 0, has_more, id_of(items[-1]) if has_more else None)


async def read_page(starting_after: str | None, *, limit: int, offset: int,
                    read: Callable[[int, int, A | None], Awaitable[tuple[Sequence[T], int]]],
                    place: Callable[[str], Awaitable[A | None]], what: str,
                    id_of: Callable[[T], str]) -> tuple[list[T], PageInfo]:
    """One page of a list at `offset`, or after the entry `starting_after` (`limit`, `offset` and the cursor as
    `check_page` and `cursor` left them).

    `read(limit, offset, after)` reads the entries and the list's total: `after` is None for a page at an
    offset, else what `place` made of the cursor (where the list goes on after it). `place` gives None for a
    cursor that names nothing the list can start after, refused as not `what`; it is asked only then."""
    if starting_after is None:
        items, total = await read(limit, offset, None)
        return offset_page(items, total=total, limit=limit, offset=offset, id_of=id_of)
    after = await place(starting_after)
    if after is None:
        raise unknown_cursor(starting_after, what)
    rows, total = await read(limit + 1, 0, after)
    return cursor_page(rows, total=total, limit=limit, id_of=id_of)
