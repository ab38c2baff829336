"""The largest request each rpc accepts, as one value: the job service sizes them (jobservice/message_limits.py),
the REST gateway reads bodies under them (gateway/body.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # for services that do not size their routes
# The most JSON values (numbers, strings, booleans, nulls, arrays, objects) one request may hold, the REST body as
# the gateway parses it and a gRPC request's Structs (`params`) as the job service reads them. Bytes are not the
# cost: a submission may be 63.5 MB (an A3M is one string), but 2 MB of `[0,0,...]` in params is a million values,
# which took 8.6 s of the one event loop to convert and check (every other request waited: /v1/health 6.3 s),
# and 60 MB would have taken minutes. No real request comes near: a batch of 10 DiffDock jobs with 1,000-residue
# pockets is ~10,000.
MAX_JSON_VALUES = 20_000


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The largest body (after inflating) each rpc accepts; `default` for the ones not listed."""

    default: int = DEFAULT_MAX_BODY_BYTES
    per_method: Mapping[str, int] = field(default_factory=dict)  # "/pkg.Service/Method" -> bytes

    def for_method(self, full_method: str) -> int:
        return self.per_method.get(full_method, self.default)

    @property
    def largest(self) -> int:
        return max([self.default, *self.per_method.values()])
