"""The REQUEST tensor every job model takes: the job service's accepted params as one JSON object."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from phonos_models.common.errors import BadInput

# The Triton request parameter that carries a job's compute limit from the job service to the model
# (milliseconds, an integer: every Triton version takes int64 request parameters).
COMPUTE_LIMIT_PARAMETER = "phonos_compute_limit_ms"


def request_fields(text: str, allowed: Collection[str], error: type[BadInput] = BadInput) -> dict[str, Any]:
    """The JSON object in `text` (empty text: no fields). `error` (a `BadInput`) for text that is not a JSON
    object or names a field outside `allowed`: the job service checked the same, but Triton can be called
    directly."""
    try:
        fields = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise error(f"REQUEST is not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise error("REQUEST must be a JSON object")
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise error(f"unknown REQUEST fields: {', '.join(unknown)}")
    return fields
