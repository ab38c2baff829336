"""What one client, and every client together, may have in progress on the gRPC port: downloads and request bytes.

The REST edge bounds both for its own clients (gateway/downloads.py, gateway/uploads.py); the job service's gRPC
port (grpc clients, grpcurl, the SDK's grpc:// transport) had neither. Measured (bench/grpc_pressure.py): 40 unread
gRPC downloads of a 32 MB result from one client took the job service from 0.1 to 3.9 GB (about three times each file:
the response message, its serialized bytes and grpc core's copy), held until the client left; now 16 are served and
held, each twice its file (1.1 GB: jobservice/edge.py `_guard_download`), and 24 are told to come back. 8 Predict messages of 50 MB at once: peak 1.9-2.0 GB, now 1.3-1.5 GB (the
edge drops the raw message once parsed; the budget refused 0-2 of the 8, as their reads happened to overlap).

Downloads (DownloadJobOutput, DownloadSharedJobOutput) take a slot once the call is admitted, before the file is
read, and give it back when grpc has finished the call: its message and status taken by the transport within the
client's flow-control window, or the call cancelled, or its connection gone (`context.add_done_callback`; the
handler's return is not the send, which waits for the client to read). grpc.aio offers no way to end one call from
the server, so PHONOS_DOWNLOAD_SEND_TIMEOUT_S cannot be applied here as the REST edge applies it: a client that
reads nothing and answers nothing has its connection closed by the keepalive pings (jobservice/server.py, within
about 80 s), which ends its calls and frees their memory; one that answers the pings but never opens its window
holds its slots, at most `per_client`, until it leaves.

Request bytes: a unary call's message over 64 KiB (message_limits.SMALL_REQUEST_BYTES, what any rpc may send: polls,
lists and health checks are never refused for others' bytes) is counted from when the edge has read it until its
handler has answered
(the raw message, the parsed one and what the handler makes of them: about three times its size at the peak).
grpc core receives the whole message before the edge can see any of it, so the budget cannot refuse a message
before it arrives: core's own buffering is bounded per call by `max_receive_message_length` (message_limits) and
happens only for callers whose key the edge admitted from the metadata; what the budget bounds is everything after,
and a message refused is dropped at once. One message alone always fits, however large within its rpc's limit.

Both are counted per client unit (phonos_common.forwarded.client_unit: an IPv4 address, an IPv6 /64) of the
client the edge determined: the peer, or the client a trusted proxy names. So a separate REST gateway's calls
(a trusted proxy) count against the client it forwards for, never all under the gateway's address (which would
shut every REST client out after `per_client`), and several gateways together still meet this port's totals. The
gateway counts the same client with its own budget first, and its slot spans the whole call, so with equal
settings this count is almost never the one that refuses its clients (one that left a download and asks again at
once may meet it until grpc has ended the first call: a 429 all the same). The gateway inside the job service's process does
not call through this port at all: its own budget (gateway/downloads.py, gateway/uploads.py) is the one there.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass

from jobservice import metrics
from jobservice.errors import TooManyInProgress
from phonos_common.ratelog import RateLimitedLog

logger = logging.getLogger(__name__)
MIB = 1024 * 1024


@dataclass(frozen=True)
class Counted:
    """What a budget counts, in the words of its refusals and log lines."""

    what: str  # "downloads", "request bytes"
    metric: str  # the `limit` label of phonos_grpc_in_flight_rejections_total
    action: str  # the log lines' action prefix
    total_setting: str  # named in the warning when the server-wide total refuses
    amount: Callable[[int], str]  # a limit in words: "2 at once", "at most 256 MiB at once"
    wait: str  # what a client refused for its own in-progress ones should wait for


DOWNLOADS = Counted("downloads", "downloads", "grpc.downloads", "PHONOS_GRPC_MAX_DOWNLOADS", lambda n: f"{n} at once",
                    "wait for one to finish")
REQUEST_BYTES = Counted("request bytes", "request_bytes", "grpc.uploads", "PHONOS_GRPC_MAX_UPLOAD_BYTES",
                        lambda n: f"at most {n / MIB:g} MiB at once", "wait for your other requests to finish")


class InFlight:
    """Amounts in progress per client unit and in all; past `per_client` or `total` a `TooManyInProgress`, unless
    nothing else is in progress there (one alone always fits)."""

    def __init__(self, counted: Counted, *, per_client: int, total: int, log: RateLimitedLog | None = None) -> None:
        self.counted = counted
        self.per_client = per_client
        self.total = total
        self.in_progress = 0
        self._by_client: collections.Counter[str] = collections.Counter()
        self._log = log or RateLimitedLog(logger, per_minute=20)

    def held_by(self, client: str) -> int:
        return self._by_client[client]

    def take(self, client: str, amount: int) -> Held:
        """Count `amount` for `client` (a client unit) until the returned `Held` is given back."""
        counted, held = self.counted, self._by_client[client]
        if held > 0 and held + amount > self.per_client:
            metrics.in_flight_refused(counted.metric, "client")
            self._log.log(logging.INFO, f"{counted.action}_refused", "refused %s from %s: %d in progress from that "
                          "address", counted.what, client, held)
            raise TooManyInProgress(f"Too many {counted.what} in progress from your address "
                                    f"({counted.amount(self.per_client)}); {counted.wait}")
        if self.in_progress > 0 and self.in_progress + amount > self.total:
            metrics.in_flight_refused(counted.metric, "server")
            self._log.log(logging.WARNING, f"{counted.action}_full", "refused %s from %s: %d in progress in all "
                          "(%s)", counted.what, client, self.in_progress, counted.total_setting)
            raise TooManyInProgress(f"Too many {counted.what} in progress on this server "
                                    f"({counted.amount(self.total)}); try again in {TooManyInProgress.retry_after_s} s")
        self._by_client[client] += amount
        self.in_progress += amount
        return Held(self, client, amount)

    def _give_back(self, client: str, amount: int) -> None:
        self.in_progress -= amount
        self._by_client[client] -= amount
        if self._by_client[client] <= 0:
            del self._by_client[client]


class Held:
    """One call's count in an `InFlight`; given back once, however often `give_back` is called (a done callback
    and a `finally` may both)."""

    def __init__(self, budget: InFlight | None, client: str, amount: int) -> None:
        self._budget: InFlight | None = budget
        self._client = client
        self._amount = amount

    def give_back(self, *_: object) -> None:
        if self._budget is not None:
            self._budget._give_back(self._client, self._amount)
            self._budget = None


NOTHING_HELD = Held(None, "", 0)  # where nothing is counted (an edge without budgets)


@dataclass
class GrpcInFlight:
    """The gRPC port's two budgets (module docstring), made from the edge settings."""

    downloads: InFlight
    request_bytes: InFlight

    @classmethod
    def create(cls, *, downloads_per_client: int, max_downloads: int, upload_bytes_per_client: int,
               max_upload_bytes: int, log: RateLimitedLog | None = None) -> GrpcInFlight:
        return cls(InFlight(DOWNLOADS, per_client=downloads_per_client, total=max_downloads, log=log),
                   InFlight(REQUEST_BYTES, per_client=upload_bytes_per_client, total=max_upload_bytes, log=log))
