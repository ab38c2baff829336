"""The dashboard's session cookie, and how a cookie request reaches the job service.

The cookie holds the session token: HttpOnly (page scripts cannot read it), SameSite=Strict (other
sites' pages cannot make the browser send it), Path=/, Secure on HTTPS (or always, with
PHONOS_COOKIE_SECURE behind a TLS proxy). For /v1 routes the gateway forwards it as
`x-phonos-session` metadata, with the page's X-CSRF-Token header as `x-phonos-csrf`; an
Authorization header wins over the cookie.
"""

from __future__ import annotations

import re

from aiohttp import web

COOKIE_NAME = "phonos_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_METADATA = "x-phonos-session"  # jobservice.auth reads these two
CSRF_METADATA = "x-phonos-csrf"
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{20,128}$")  # secrets.token_urlsafe / hex: anything else is not ours


def session_token(request: web.Request) -> str | None:
    token = request.cookies.get(COOKIE_NAME)
    return token if token and _TOKEN.match(token) else None


def session_metadata(request: web.Request) -> list[tuple[str, str]]:
    """Metadata for a request authenticated by the cookie; empty when it carries an Authorization header."""
    token = session_token(request)
    if token is None or "Authorization" in request.headers:
        return []
    metadata = [(SESSION_METADATA, token)]
    csrf = request.headers.get(CSRF_HEADER, "")
    if csrf and _TOKEN.match(csrf):
        metadata.append((CSRF_METADATA, csrf))
    return metadata


def set_session_cookie(response: web.StreamResponse, token: str, *, max_age_s: int, secure: bool) -> None:
    response.set_cookie(COOKIE_NAME, token, max_age=max(0, max_age_s), path="/", httponly=True, secure=secure,
                        samesite="Strict")


def clear_session_cookie(response: web.StreamResponse, *, secure: bool) -> None:
    response.set_cookie(COOKIE_NAME, "", max_age=0, path="/", httponly=True, secure=secure, samesite="Strict")
