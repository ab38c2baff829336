"""A call that ended with a non-OK status, as a value both edges hand around.

The job service's admission (jobservice/admission.py) decides refusals before a call runs and returns them as
RpcFailure; the gateway's invokers raise it for a call's non-OK status (gateway/invoker.py), and
gateway/rpc_failure.py turns it into the HTTP answer.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc


class RpcFailure(Exception):
    """A call that ended with a non-OK status (from the wire or from the in-process servicer)."""

    def __init__(
        self, code: grpc.StatusCode, details: str, metadata: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.metadata: Mapping[str, str] = metadata or {}
