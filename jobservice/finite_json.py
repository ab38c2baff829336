"""JSON a job's stored result can always be written back out as.

A model's result may carry a float that is not a number (a NaN from a degenerate input, an infinity):
Python's json writes and reads them as `NaN`/`Infinity`, but JSON has no such values and a protobuf
Struct cannot encode them, so one such number in a job's stored metadata made that job, and every
listing that showed it, answer 500 for good. Stored results hold `null` there instead (and what was
stored before this read back the same way), and the job service logs where it was found.
"""

from __future__ import annotations

import json
import math
from typing import Any


def without_non_finite(value: Any, path: str = "", found: list[str] | None = None) -> tuple[Any, list[str]]:
    """`value` with every NaN or ±infinity float replaced by None, and the paths where they were
    (`metadata.pocket.center[0]`)."""
    found = [] if found is None else found
    if isinstance(value, float) and not math.isfinite(value):
        found.append(path or "(the value)")
        return None, found
    if isinstance(value, dict):
        return {key: without_non_finite(item, f"{path}.{key}" if path else str(key), found)[0]
                for key, item in value.items()}, found
    if isinstance(value, list | tuple):
        return [without_non_finite(item, f"{path}[{n}]", found)[0] for n, item in enumerate(value)], found
    return value, found


def _null(_constant: str) -> None:
    return None


def loads_finite(text: str) -> Any:
    """json.loads, with `NaN`, `Infinity` and `-Infinity` (which json.dumps writes by default) read as null."""
    return json.loads(text, parse_constant=_null)
