"""Settings of the public edge (REST gateway and gRPC server): timeouts, failed-auth throttling, logging,
the proxies trusted to name the client.

Defaults are sized for one machine facing untrusted clients: a slow or hostile client may hold a
socket for seconds, never indefinitely, and a flood of bad requests costs a log line a second, not one
per request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Self

from phonos_config.env import env_float, env_int

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# The headers PHONOS_FORWARDED_HEADER may name (phonos_common/forwarded.py reads them), by their lower-case name.
FORWARDED_HEADERS = {"x-forwarded-for": "X-Forwarded-For", "forwarded": "Forwarded"}


@dataclass(frozen=True)
class EdgeSettings:
    # A new connection must deliver its first request's headers within this many seconds.
    header_timeout_s: float = 10.0
    # An idle keep-alive connection (or one trickling the next request's headers) is closed after this.
    keepalive_timeout_s: float = 30.0
    # The whole request body (REST) or request message (gRPC) must arrive within this many seconds.
    # 120 s carries the largest accepted input (an AlphaFold2 A3M, ~64 MB) at ~0.5 MB/s.
    body_timeout_s: float = 120.0
    # Failed authentications one client address may make per rolling minute before it is refused
    # (HTTP 429 / RESOURCE_EXHAUSTED) without the key being looked up. Keys that worked stay usable.
    auth_failures_per_minute: int = 30
    # Requests to share links (/shared/<token>: the page, its JSON, its downloads) one client address may make per
    # rolling minute (429 after). A page view takes about 4; a lab behind one NAT address shares the budget.
    shared_requests_per_minute: int = 120
    # Client-error log lines (bad HTTP, undecodable messages, ...) per minute and kind; the rest are counted.
    client_error_logs_per_minute: int = 20
    # Proxies whose word on the client's address is believed (PHONOS_TRUSTED_PROXIES: comma-separated IPs and
    # CIDR networks). The REST edge reads X-Forwarded-For, the gRPC edge the gateway's x-phonos-client-address
    # metadata, only from a peer in this list (phonos_common/forwarded.py); empty: nobody's, the peer is the client.
    trusted_proxies: tuple[Network, ...] = ()
    # Which header of a trusted proxy names the client at the REST edge (PHONOS_FORWARDED_HEADER):
    # "X-Forwarded-For" or the standard "Forwarded" (RFC 7239); the one the proxies in front write. Only that one
    # is read: the other passes through them unchecked, as the client wrote it.
    forwarded_header: str = FORWARDED_HEADERS["x-forwarded-for"]
    # The names the REST edge answers to (PHONOS_ALLOWED_HOSTS: comma-separated, `phonos.lab.org`, `.lab.org` for
    # every name under it, `localhost`, `127.0.0.1`, `[::1]`); a request whose Host header names another is a 400
    # on every route. Against DNS rebinding: a page of another site whose name was made to resolve to this server
    # (or to 127.0.0.1) reaches it in a person's browser under its own origin. Empty: any Host, as before.
    allowed_hosts: tuple[str, ...] = ()
    # File downloads (job outputs, share links' files) in progress at once from one client address
    # (PHONOS_DOWNLOADS_PER_CLIENT) and in all (PHONOS_MAX_DOWNLOADS); one more is a 429 with Retry-After. Each is
    # held whole in memory, about twice the file's size, until the client has taken it (gateway/downloads.py).
    # `phonos fold` fetches 4 at once, a job page 2-3: 16 lets a few people behind one NAT address open pages side by
    # side (the dashboard and the SDK ask again after Retry-After when they are refused).
    downloads_per_client: int = 16
    max_downloads: int = 64
    # A download not taken by the client within this many seconds has its connection closed (and its memory
    # freed): 600 s carries the largest output (256 MiB) at ~0.5 MB/s, as PHONOS_BODY_TIMEOUT_S does uploads.
    download_send_timeout_s: float = 600.0
    # Request body bytes in flight (read, parsed, validated, until answered) from one client address
    # (PHONOS_UPLOAD_BYTES_PER_CLIENT) and in all (PHONOS_MAX_UPLOAD_BYTES); a body past either is a 429 with
    # Retry-After (gateway/uploads.py). A body takes about three times its size at its peak. One body alone always
    # fits: 256 MiB is four of the largest (an AlphaFold2 A3M, ~64 MB) from one address at once.
    upload_bytes_per_client: int = 256 * 1024 * 1024
    max_upload_bytes: int = 1024 * 1024 * 1024
    # The gRPC port's own count of the same two (jobservice/grpc_in_flight.py), with the same defaults: downloads in
    # progress per client address (PHONOS_GRPC_DOWNLOADS_PER_CLIENT) and in all (PHONOS_GRPC_MAX_DOWNLOADS), held
    # until grpc has sent the file; request message bytes in flight, from read until answered, per client address
    # (PHONOS_GRPC_UPLOAD_BYTES_PER_CLIENT) and in all (PHONOS_GRPC_MAX_UPLOAD_BYTES). Past either:
    # RESOURCE_EXHAUSTED with retry-after (HTTP 429). A separate gateway's calls count for the client it forwards
    # for, so these should be no lower than the REST numbers there.
    grpc_downloads_per_client: int = 16
    grpc_max_downloads: int = 64
    grpc_upload_bytes_per_client: int = 256 * 1024 * 1024
    grpc_max_upload_bytes: int = 1024 * 1024 * 1024
    # Open connections to the REST port from one client address, an IPv6 client counted per /64
    # (PHONOS_CONNECTIONS_PER_CLIENT), and in all (PHONOS_MAX_CONNECTIONS); one more is closed as soon as it is
    # accepted (gateway/protocol.py). Each holds a file descriptor from its first moment: 2,000 idle ones from one
    # client were accepted in 0.9 s and held for the header timeout. Over HTTP/1.1 every watch stream is a
    # connection of its own, and `phonos fold` follows each job on its own stream: one key may hold
    # PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT (2,000) streams, so a client address gets that, its downloads and a lab's
    # browsers behind one NAT (~6 each): 4,096. A trusted proxy's connections count only in the total (its clients
    # are many). Keep PHONOS_MAX_CONNECTIONS well under the open-files limit (`ulimit -n`; raised to its hard limit,
    # at most 2^20, at start; a warning says when it is not).
    connections_per_client: int = 4096
    max_connections: int = 16384
    # gRPC port: a connection must finish HTTP/2's opening (the client preface and its SETTINGS) within this many
    # seconds, or it is closed (grpc's own default held a silent one 120 s). A connection silent after it is
    # closed by the keepalive pings (jobservice/server.py), within about 80 s.
    grpc_handshake_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        settings = cls(
            header_timeout_s=env_float(env, "PHONOS_HTTP_HEADER_TIMEOUT_S", cls.header_timeout_s),
            keepalive_timeout_s=env_float(env, "PHONOS_HTTP_KEEPALIVE_TIMEOUT_S", cls.keepalive_timeout_s),
            body_timeout_s=env_float(env, "PHONOS_BODY_TIMEOUT_S", cls.body_timeout_s),
            auth_failures_per_minute=env_int(env, "PHONOS_AUTH_FAILURES_PER_MINUTE", cls.auth_failures_per_minute),
            shared_requests_per_minute=env_int(env, "PHONOS_SHARED_REQUESTS_PER_MINUTE",
                                               cls.shared_requests_per_minute),
            client_error_logs_per_minute=env_int(
                env, "PHONOS_CLIENT_ERROR_LOGS_PER_MINUTE", cls.client_error_logs_per_minute
            ),
            trusted_proxies=_trusted_proxies(env.get("PHONOS_TRUSTED_PROXIES") or ""),
            forwarded_header=_forwarded_header(env.get("PHONOS_FORWARDED_HEADER") or cls.forwarded_header),
            allowed_hosts=host_names(env.get("PHONOS_ALLOWED_HOSTS") or "", "PHONOS_ALLOWED_HOSTS"),
            downloads_per_client=env_int(env, "PHONOS_DOWNLOADS_PER_CLIENT", cls.downloads_per_client),
            max_downloads=env_int(env, "PHONOS_MAX_DOWNLOADS", cls.max_downloads),
            download_send_timeout_s=env_float(env, "PHONOS_DOWNLOAD_SEND_TIMEOUT_S", cls.download_send_timeout_s),
            upload_bytes_per_client=env_int(env, "PHONOS_UPLOAD_BYTES_PER_CLIENT", cls.upload_bytes_per_client),
            max_upload_bytes=env_int(env, "PHONOS_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            grpc_downloads_per_client=env_int(env, "PHONOS_GRPC_DOWNLOADS_PER_CLIENT", cls.grpc_downloads_per_client),
            grpc_max_downloads=env_int(env, "PHONOS_GRPC_MAX_DOWNLOADS", cls.grpc_max_downloads),
            grpc_upload_bytes_per_client=env_int(env, "PHONOS_GRPC_UPLOAD_BYTES_PER_CLIENT",
                                                 cls.grpc_upload_bytes_per_client),
            grpc_max_upload_bytes=env_int(env, "PHONOS_GRPC_MAX_UPLOAD_BYTES", cls.grpc_max_upload_bytes),
            connections_per_client=env_int(env, "PHONOS_CONNECTIONS_PER_CLIENT", cls.connections_per_client),
            max_connections=env_int(env, "PHONOS_MAX_CONNECTIONS", cls.max_connections),
            grpc_handshake_timeout_s=env_float(env, "PHONOS_GRPC_HANDSHAKE_TIMEOUT_S", cls.grpc_handshake_timeout_s),
        )
        settings.check()
        return settings

    def check(self) -> None:
        for name, value in (("PHONOS_HTTP_HEADER_TIMEOUT_S", self.header_timeout_s),
                            ("PHONOS_HTTP_KEEPALIVE_TIMEOUT_S", self.keepalive_timeout_s),
                            ("PHONOS_BODY_TIMEOUT_S", self.body_timeout_s),
                            ("PHONOS_DOWNLOAD_SEND_TIMEOUT_S", self.download_send_timeout_s),
                            ("PHONOS_GRPC_HANDSHAKE_TIMEOUT_S", self.grpc_handshake_timeout_s)):
            if not value > 0:
                raise ValueError(f"{name} must be more than 0, got {value}")
        if self.auth_failures_per_minute < 1:
            raise ValueError(f"PHONOS_AUTH_FAILURES_PER_MINUTE must be at least 1, got {self.auth_failures_per_minute}")
        if self.shared_requests_per_minute < 1:
            raise ValueError(
                f"PHONOS_SHARED_REQUESTS_PER_MINUTE must be at least 1, got {self.shared_requests_per_minute}")
        for name, count in (("PHONOS_DOWNLOADS_PER_CLIENT", self.downloads_per_client),
                            ("PHONOS_MAX_DOWNLOADS", self.max_downloads),
                            ("PHONOS_UPLOAD_BYTES_PER_CLIENT", self.upload_bytes_per_client),
                            ("PHONOS_MAX_UPLOAD_BYTES", self.max_upload_bytes),
                            ("PHONOS_GRPC_DOWNLOADS_PER_CLIENT", self.grpc_downloads_per_client),
                            ("PHONOS_GRPC_MAX_DOWNLOADS", self.grpc_max_downloads),
                            ("PHONOS_GRPC_UPLOAD_BYTES_PER_CLIENT", self.grpc_upload_bytes_per_client),
                            ("PHONOS_GRPC_MAX_UPLOAD_BYTES", self.grpc_max_upload_bytes),
                            ("PHONOS_CONNECTIONS_PER_CLIENT", self.connections_per_client),
                            ("PHONOS_MAX_CONNECTIONS", self.max_connections)):
            if count < 1:
                raise ValueError(f"{name} must be at least 1, got {count}")
        if self.client_error_logs_per_minute < 0:
            raise ValueError("PHONOS_CLIENT_ERROR_LOGS_PER_MINUTE must be 0 or more")
        if self.forwarded_header not in FORWARDED_HEADERS.values():
            raise ValueError(f"PHONOS_FORWARDED_HEADER must be X-Forwarded-For or Forwarded, got {self.forwarded_header!r}")


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """IP addresses and CIDR networks ("10.0.0.0/8", "::1"); ValueError naming the entry that is neither (or a
    network with host bits set, "10.1.2.3/8": a typo that would trust more than meant)."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip()))
        except ValueError as exc:
            raise ValueError(f"{entry.strip()!r} is not an IP address or network ({exc})") from None
    return tuple(networks)


def _forwarded_header(text: str) -> str:
    header = FORWARDED_HEADERS.get(text.strip().lower())
    if header is None:
        raise ValueError(f"PHONOS_FORWARDED_HEADER must be X-Forwarded-For or Forwarded, got {text!r}")
    return header


def _trusted_proxies(text: str) -> tuple[Network, ...]:
    try:
        return parse_networks(entry for entry in text.split(",") if entry.strip())
    except ValueError as exc:
        raise ValueError(f"PHONOS_TRUSTED_PROXIES must be comma-separated IP addresses or networks "
                         f"(10.244.0.0/16,::1), but {exc}") from None


# A host name or IP address as a Host header carries it, without its port: letters, digits, hyphens, underscores,
# dots; an IPv6 address in brackets.
_HOST_ENTRY = re.compile(r"^(\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])$")


def host_names(text: str, variable: str) -> tuple[str, ...]:
    """The names of a host list setting (PHONOS_ALLOWED_HOSTS, PHONOS_METRICS_ALLOWED_HOSTS), lower-case, each once
    in its order; ValueError naming `variable` and an entry that is no host name (a URL, a port: the Host header's
    port is not compared, so `phonos.lab:8080` would never match)."""
    hosts: list[str] = []
    # A trailing dot (the DNS root) is dropped: the Host header's name is compared without one (`.lab.org.` never
    # matched anything).
    for entry in (part.strip().lower().rstrip(".") for part in text.split(",")):
        if not entry:
            continue
        if not _HOST_ENTRY.match(entry) or (entry.startswith("[") and not _is_ipv6(entry[1:-1])):
            raise ValueError(f"{variable} must be comma-separated host names without scheme or port "
                             f"(phonos.lab.org,.lab.org,localhost,[::1]), got {entry!r}")
        if entry not in hosts:
            hosts.append(entry)
    return tuple(hosts)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
