"""Admission: the check an rpc's caller must pass before the gateway reads the request body.

The gateway knows no keys or sessions; the job service does. It hands the gateway an `Admission` that
looks at the method and the caller's credentials (the `authorization` metadata, or the dashboard
session the gateway turned into metadata) and the client's address (the peer, or the client a trusted
proxy forwards for: phonos_common.forwarded), for throttling, and answers
None (go on) or the `RpcFailure` the call would have ended with anyway (UNAUTHENTICATED,
RESOURCE_EXHAUSTED). So a request with a bad key costs a header check, never a body read or a
JSON parse, and its answer is exactly the one the service would give.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from phonos_common.rpc import RpcFailure


class Admission(Protocol):
    async def admit(self, full_method: str, credentials: Mapping[str, str], client: str | None,
                    transport: str = "grpc") -> RpcFailure | None:
        """None to let the request in; else the failure to answer with (its body stays unread), which the service
        counts among its calls of `transport` ("rest": the gateway's)."""
        ...
