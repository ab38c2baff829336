"""The web dashboard served by the gateway: pages, static files, cookie sessions.

`install(app, invoker, options)` adds its routes to the gateway's application (before the /v1
catch-all); `session_metadata(request)` is how a cookie request's session reaches the job service.
"""

from __future__ import annotations

from aiohttp import web

from gateway.dashboard.assets import Assets
from gateway.dashboard.cookies import COOKIE_SECURE_KEY, session_metadata
from gateway.dashboard.routes import Dashboard, DashboardOptions
from gateway.invoker import Invoker


def install(app: web.Application, invoker: Invoker, options: DashboardOptions) -> None:
    app[COOKIE_SECURE_KEY] = options.cookie_secure  # which cookie name a request's session is read from
    Dashboard(invoker, options, Assets.load()).add_routes(app)


__all__ = ["DashboardOptions", "install", "session_metadata"]
