"""The dashboard's session cookie, and how a cookie request reaches the job service.

The cookie holds the session token: HttpOnly (page scripts cannot read it), SameSite=Strict (other
sites' pages cannot make the browser send it), Path=/, Secure on HTTPS (or always, with
PHONOS_COOKIE_SECURE behind a TLS proxy). For /v1 routes the gateway forwards it as
`x-phonos-session` metadata, with the page's X-CSRF-Token header as `x-phonos-csrf`; an
Authorization header wins over the cookie.

A Secure cookie is named `__Host-phonos_session`, and then only that name is read. SameSite does not stop a
sibling host (`wiki.lab.example` beside `phonos.lab.example`: the same site) from setting a cookie of our name
for the whole domain (`Domain=lab.example`, "cookie tossing"): the browser sends both, the server read one of
them, and with the tosser's own session's cookie a person signed in (or not yet) worked in the tosser's account,
CSRF token included (GET /auth/session answered for that session), submitting their sequences where the tosser
reads them. Browsers accept a `__Host-` cookie only from this very host, Secure, with Path=/ and no Domain, so
no other host can set or shadow it. Plain HTTP cannot have one (no Secure): there the name stays `phonos_session`.
"""

from __future__ import annotations

import re

from aiohttp import web

COOKIE_NAME = "phonos_session"  # plain HTTP
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME  # HTTPS, or PHONOS_COOKIE_SECURE
CSRF_HEADER = "X-CSRF-Token"
SESSION_METADATA = "x-phonos-session"  # jobservice.auth reads these two
CSRF_METADATA = "x-phonos-csrf"
# Whether the deployment's cookies are Secure whatever the request's scheme (PHONOS_COOKIE_SECURE): set by
# gateway.dashboard.install, read wherever the cookie is.
COOKIE_SECURE_KEY = web.AppKey("phonos_cookie_secure", bool)
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{20,128}$")  # secrets.token_urlsafe / hex: anything else is not ours


def secure_cookies(request: web.Request) -> bool:
    """Whether this request's session cookie is (to be) Secure: HTTPS, or a TLS proxy in front."""
    return request.secure or request.app.get(COOKIE_SECURE_KEY, False)


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE_NAME if secure else COOKIE_NAME


def _valid(token: str | None) -> str | None:
    return token if token and _TOKEN.match(token) else None


def session_token(request: web.Request) -> str | None:
    """The session token of the request's cookie: on a Secure deployment the `__Host-` cookie's only."""
    return _valid(request.cookies.get(cookie_name(secure_cookies(request))))


def legacy_session_token(request: web.Request) -> str | None:
    """On a Secure deployment, a plain `phonos_session` cookie's token (one set before the `__Host-` name, or one
    another host tossed in): never a session of this request, only a cookie a sign-in clears."""
    return _valid(request.cookies.get(COOKIE_NAME)) if secure_cookies(request) else None


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
    response.set_cookie(cookie_name(secure), token, max_age=max(0, max_age_s), path="/", httponly=True,
                        secure=secure, samesite="Strict")


def clear_session_cookie(response: web.StreamResponse, *, secure: bool) -> None:
    response.set_cookie(cookie_name(secure), "", max_age=0, path="/", httponly=True, secure=secure,
                        samesite="Strict")


def clear_legacy_cookie(response: web.StreamResponse) -> None:
    """A Secure deployment's plain-named cookie of this host, from before the `__Host-` name: gone at sign-in."""
    response.set_cookie(COOKIE_NAME, "", max_age=0, path="/", httponly=True, secure=True, samesite="Strict")
