"""Durations as a person types them on the command line (`90`, `90s`, `15m`, `1h`, `7d`), in whole seconds.

Used by `phonos webhooks rotate-secret --expire-current-after`: the API takes seconds
(`expire_current_after_s`), a person thinks in hours and days.
"""

from __future__ import annotations

import argparse
import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd]?)")


def duration_seconds(text: str) -> int:
    """`text` in seconds; a bare number is seconds. argparse's `type`: a bad one is a usage error (exit 2)."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: a number with s, m, h or d (90s, 15m, 1h, 2d)")
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
