"""Durations as a person types them on the command line (`90`, `90s`, `15m`, `1h`, `7d`), in whole seconds; and
`jobs ls --since`'s time (a duration back from now, or a date).

Used by `phonos webhooks rotate-secret --expire-current-after`: the API takes seconds
(`expire_current_after_s`), a person thinks in hours and days.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta, timezone

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd]?)")


def duration_seconds(text: str) -> int:
    """`text` in seconds; a bare number is seconds. argparse's `type`: a bad one is a usage error (exit 2)."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not found:
        # Quoted as every value the command repeats is ("-1", JSON's quotes: inputs.quoted), not Python's '-1'.
        raise argparse.ArgumentTypeError(f"{json.dumps(text, ensure_ascii=False)} is not a duration: a number with "
                                         "s, m, h or d (90s, 15m, 1h, 2d)")
    return int(found.group(1)) * UNITS[found.group(2) or "s"]



# The API's bounds for a rotation's overlap (`expire_current_after_s`: 0 to 604800 s, jobservice/webhooks.py).
MAX_OVERLAP = "7d"


def overlap_seconds(text: str) -> int:
    """`--expire-current-after`: a duration (`duration_seconds`) from 0 (at once) to 7 days. Checked here, before
    any request, so the refusal is said in the flag's units as typed ("got 9d"): the server's says seconds
    ("604800 (7 days), got 777600"), which a person who typed days has to work back."""
    seconds = duration_seconds(text)
    if seconds > duration_seconds(MAX_OVERLAP):
        raise argparse.ArgumentTypeError(f"must be between 0 (at once) and {MAX_OVERLAP}, got {text.strip()}")
    return seconds


_AGO = re.compile(r"(\d+)([smhdw])")
_WEEK_S = 7 * 86400


def since_time(text: str) -> datetime:
    """`jobs ls --since`: a time back from now (`90m`, `2h`, `3d`, `1w`: a unit is needed, a bare `2` says neither
    hours nor days) or a UTC date or time as the command shows them (`2026-12-01`, `2026-12-01T09:00Z`,
    `2026-12-01 09:00`; one without a zone is UTC, as every time the command prints). argparse's `type`: a bad one
    is a usage error (exit 2) before any request."""
    said = text.strip()
    if found := _AGO.fullmatch(said.lower()):
        unit = found.group(2)
        seconds = int(found.group(1)) * (_WEEK_S if unit == "w" else UNITS[unit])
        return datetime.now(timezone.utc) - timedelta(seconds=seconds)  # noqa: UP017 (3.10: no datetime.UTC)
    try:
        # Python 3.10's fromisoformat does not read "Z" (3.11's does): said as the offset it reads
        when = datetime.fromisoformat(said[:-1] + "+00:00" if said.upper().endswith("Z") else said)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{json.dumps(said)} is neither a time back from now (90m, 2h, 3d, 1w) nor a UTC date or time "
            "(2026-12-01, 2026-12-01T09:00Z)") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when  # noqa: UP017 (3.10: no datetime.UTC)


def created_time(stamp: str | None) -> datetime | None:
    """A job's `created_at` (RFC 3339, `2026-12-01T19:34:18.656Z`) as a time; None when it has none."""
    if not stamp:
        return None
    return datetime.fromisoformat(stamp[:-1] + "+00:00" if stamp.endswith("Z") else stamp)
