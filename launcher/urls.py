"""Where to reach a listener bound to a host setting: the address a person or the launcher can open.

A server bound to 0.0.0.0 (or "", or ::) listens on every interface, but 0.0.0.0 is no address to
connect to: a browser cannot open http://0.0.0.0:8080/. Such a listener is reached on loopback
instead. An IPv6 literal needs brackets in a URL and in a gRPC target ("[::1]:50051").
"""

from __future__ import annotations

from dataclasses import dataclass

from phonos_config.service import bracketed

# Bind hosts meaning "every interface", and the loopback address that reaches each. "::" is IPv6 only:
# asyncio sets IPV6_V6ONLY on the sockets it binds, so 127.0.0.1 would not reach an aiohttp site there.
_WILDCARDS = {"": ("127.0.0.1", "all interfaces"), "0.0.0.0": ("127.0.0.1", "all interfaces"),
              "::": ("::1", "all IPv6 interfaces")}


@dataclass(frozen=True)
class Reachable:
    host: str  # ready for a URL or a host:port target: "127.0.0.1", "[::1]", "[fd00::5]", "api.example.org"
    listening_on: str | None  # "all interfaces" when bound to a wildcard, else None

    def address(self, port: int) -> str:
        return f"{self.host}:{port}"

    def url(self, port: int, path: str = "/") -> str:
        return f"http://{self.address(port)}{path}"

    def note(self) -> str:
        """'listening on all interfaces; ' for a wildcard bind (prefixed to a banner line's hint), else ''."""
        return f"listening on {self.listening_on}; " if self.listening_on else ""


def reachable(bind_host: str) -> Reachable:
    """The host to connect to for a listener bound to `bind_host` (a PHONOS_*_HOST setting)."""
    host, listening_on = _WILDCARDS.get(bind_host.strip(), (bind_host.strip(), None))
    return Reachable(bracketed(host), listening_on)
