"""Reading a text/event-stream body line by line into the events' JSON documents (the SSE rules of the
HTML standard that the API uses: `id:`, `event:`, `data:`, comments, blank line ends an event)."""

from __future__ import annotations

import json
from typing import Any

from phonos_client import errors


class SseParser:
    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id = ""

    def feed(self, line: str) -> list[Any]:
        """One line (without its newline); the events it completes (an error event raises)."""
        line = line.rstrip("\r\n")
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return []  # keep-alive comment
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return []

    def _dispatch(self) -> list[Any]:
        if not self._data:
            self._event = ""
            return []
        payload = json.loads("\n".join(self._data))
        kind, self._data, self._event = self._event, [], ""
        if kind == "error":
            raise errors.from_response(_error_status(payload), payload, {})
        return [payload]


def _error_status(payload: Any) -> int:
    """The HTTP status an `event: error` stands for: its `status` (a 503 when the job service went away
    mid-stream is waited out and resumed like a broken connection); a server that sends none (before
    the field existed) said 500 or, by the body's title, a refusal."""
    status = payload.get("status") if isinstance(payload, dict) else None
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        return status
    return 500 if isinstance(payload, dict) and payload.get("error") == "Internal server error" else 400
