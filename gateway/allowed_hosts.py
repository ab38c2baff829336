"""The names the REST edge answers to (PHONOS_ALLOWED_HOSTS), against DNS rebinding.

A page of another site can make its own name resolve to this server (or to 127.0.0.1, where `phonos serve`
listens) and then call it from a person's browser as its own origin: the browser's same-origin rule protects
names, not addresses. Such requests still carry the attacker's name in their Host header, so a server that
knows its own names refuses them: 400 in the API's JSON error shape, on every route (pages, /v1, /auth, share
links), before anything else is done. Unset, every Host is served (as before). The rule itself
(`allowed`) is phonos_common/hosts.py's, shared with the Prometheus listeners.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import HttpError, client_error
from phonos_common.hosts import allowed, refused_host_text

ALLOWED_HOSTS_KEY = web.AppKey("phonos_allowed_hosts", tuple[str, ...])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def allowed_hosts_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the error middleware (the 400 gets its JSON body and request id there)."""
    allowed_hosts = request.app.get(ALLOWED_HOSTS_KEY, ())
    if allowed_hosts:
        host = request.headers.get("Host", "")
        if not allowed(host, allowed_hosts):
            raise HttpError(client_error(400, refused_host_text(host, "PHONOS_ALLOWED_HOSTS")))
    return await handler(request)
