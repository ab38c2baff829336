"""The names the REST edge answers to (PHONOS_ALLOWED_HOSTS), against DNS rebinding.

A page of another site can make its own name resolve to this server (or to 127.0.0.1, where `phonos serve`
listens) and then call it from a person's browser as its own origin: the browser's same-origin rule protects
names, not addresses. Such requests still carry the attacker's name in their Host header, so a server that
knows its own names refuses them: 400 in the API's JSON error shape, on every route (pages, /v1, /auth, share
links), before anything else is done. Unset, every Host is served (as before).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import HttpError, client_error
from phonos_config.json_text import json_value_text

ALLOWED_HOSTS_KEY = web.AppKey("phonos_allowed_hosts", tuple[str, ...])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_name(header: str) -> str:
    """The name of a Host header, lower-case, without its port or a trailing dot: `[::1]:8080` -> `[::1]`."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header if end < 0 else header[:end + 1]
    return header.rsplit(":", 1)[0].rstrip(".") if header.count(":") <= 1 else header


def is_address(name: str) -> bool:
    """Whether a Host header's name is an IP address (`10.0.0.5`, `[::1]`), not a DNS name."""
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return False
    return True


def allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    """Whether `host` (a Host header) names one of `allowed_hosts` (an exact name, or under a `.name` entry) or is
    an IP address. Rebinding needs a name the attacker's DNS answers for: a browser sends an address as the Host
    only for a page whose origin is that address, i.e. this server's own pages. So addresses always pass, which
    keeps working what reaches the server by address: `phonos serve`'s and `phonos status`'s health checks on
    127.0.0.1, a Kubernetes probe on the pod's IP, a person using the server's address."""
    name = host_name(host)
    if is_address(name):
        return True
    for entry in allowed_hosts:
        if entry.startswith("."):
            if name == entry[1:] or name.endswith(entry):
                return True
        elif name == entry.rstrip("."):
            return True
    return False


@web.middleware
async def allowed_hosts_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the error middleware (the 400 gets its JSON body and request id there)."""
    allowed_hosts = request.app.get(ALLOWED_HOSTS_KEY, ())
    if allowed_hosts:
        host = request.headers.get("Host", "")
        if not allowed(host, allowed_hosts):
            raise HttpError(client_error(400, f"This server does not answer to the host {json_value_text(host[:100])} "
                                              "(the Host header); "
                                              "use one of its own names. The operator lists them in "
                                              "PHONOS_ALLOWED_HOSTS."))
    return await handler(request)
