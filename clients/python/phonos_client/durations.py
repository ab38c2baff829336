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

