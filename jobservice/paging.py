"""The one rule for a list's page: `limit` (1-100) and `offset` (0 or more), as GET /v1/jobs takes them."""

from __future__ import annotations

from jobservice.errors import InvalidArgument

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def check_page(limit: int | None, offset: int | None, *, default_limit: int = DEFAULT_LIMIT) -> tuple[int, int]:
    """A list's `limit` (`default_limit` when unset) and `offset` (0 when unset), or InvalidArgument."""
    limit = default_limit if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise InvalidArgument(f"offset must be 0 or more, got {offset}")
    return limit, offset
