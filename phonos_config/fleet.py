"""PHONOS_TRITON_URLS: a fleet of model servers, `host:port` (every model) and `model=host:port` entries.

Parsed here, with the other settings, so a bad entry is refused at start before anything is created;
jobservice/fleet_inference.py routes over the endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointSpec:
    address: str
    models: frozenset[str] | None  # None: every model


def is_address(address: str) -> bool:
    """A gRPC `host:port` ("127.0.0.1:8001", "[::1]:8001"), without a scheme ("http://" is Triton's HTTP port's)."""
    host, colon, port = address.rpartition(":")
    return bool(colon and host and port.isdigit() and int(port) <= 65535 and "/" not in host)


def check_triton_url(url: str) -> None:
    """PHONOS_TRITON_URL: one Triton's gRPC `host:port`; a ValueError naming it otherwise."""
    if not is_address(url):
        raise ValueError(f"PHONOS_TRITON_URL must be a Triton gRPC address host:port (e.g. 127.0.0.1:8001), got {url!r}")


def parse_endpoints(text: str) -> list[EndpointSpec]:
    """`host:port` (every model) and `model=host:port` entries, comma-separated; a bad entry is a ValueError."""
    everything: list[str] = []
    pinned: dict[str, set[str]] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        model, sep, address = entry.rpartition("=")
        address = address.strip()
        if not is_address(address):
            raise ValueError(f"PHONOS_TRITON_URLS entry {entry!r}: expected host:port or model=host:port")
        if sep:
            if not model.strip():
                raise ValueError(f"PHONOS_TRITON_URLS entry {entry!r}: empty model name before '='")
            pinned.setdefault(address, set()).add(model.strip())
        elif address not in everything:
            everything.append(address)
    specs = [EndpointSpec(a, None) for a in everything]
    specs += [EndpointSpec(a, frozenset(m)) for a, m in pinned.items() if a not in everything]
    if not specs:
        raise ValueError("PHONOS_TRITON_URLS lists no endpoint")
    return specs
