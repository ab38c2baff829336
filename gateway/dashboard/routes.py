"""The dashboard's HTTP routes: pages, static files, and sign-in / sign-out / session / password / the
account's signed-in sessions.

Pages are one static shell (`static/index.html`) whose ES modules render the page named by the URL
and call the same /v1 API as every client, authenticated by the session cookie. The /auth routes
are the only place the session token exists outside the browser's cookie jar: sign-in puts the
token from the job service's CreateSession into an HttpOnly cookie and answers the page with the
username and CSRF token only.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.typedefs import Handler
from google.protobuf.message import Message

from gateway import errors
from gateway.body import read_body
from gateway.dashboard.assets import Assets
from gateway.dashboard.cookies import (
    CSRF_HEADER,
    CSRF_METADATA,
    SESSION_METADATA,
    clear_legacy_cookie,
    clear_session_cookie,
    legacy_session_token,
    secure_cookies,
    session_metadata,
    session_token,
    set_session_cookie,
)
from gateway.dashboard.security import SECURITY_HEADERS
from gateway.dashboard.signed_out import signed_out_middleware
from gateway.errors import HttpError
from gateway.invoker import Invoker
from gateway.rpc_failure import failure_response
from gateway.transcode import TranscodeError, parse_json_document, surrogate_at
from phonos_common.forwarded import CLIENT_ADDRESS_METADATA
from phonos_common.json_encode import encoder_for
from phonos_common.rpc import RpcFailure

SERVICE = "/phonos.v1.PhonosService/"
SIGN_IN_PAGE = "/sign-in"
PAGES = ("/jobs", "/jobs/{job_id}", "/submit", "/usage", "/webhooks", "/keys", "/account", SIGN_IN_PAGE)
# Paths that are never dashboard pages: their 404s stay the API's JSON whoever asks.
NOT_PAGES = ("/v1/", "/static/", "/auth/")
# A share link's page: the job page, read-only, for whoever holds the link (no session). Its JSON and files are
# the public rpcs GetSharedJob and DownloadSharedJobOutput under /shared/{token}/..., transcoded like /v1.
SHARED_PAGE = "/shared/{token}"
# The shared page's own headers: the token is in its address, so no Referer (even same-origin), no index, no cache.
SHARED_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}
MAX_AUTH_BODY = 4096
# The User-Agent passed on is bounded here; the job service cleans it and keeps 300 characters of what is left.
MAX_USER_AGENT_SENT = 1024


@dataclass(frozen=True)
class DashboardOptions:
    """What the gateway needs to serve the dashboard."""

    cookie_secure: bool = False  # Secure cookies on plain HTTP too (TLS terminated by a proxy)


class Dashboard:
    def __init__(self, invoker: Invoker, options: DashboardOptions, assets: Assets) -> None:
        self._invoker = invoker
        self._options = options
        self._assets = assets

    def add_routes(self, app: web.Application) -> None:
        """Before the gateway's catch-all /v1 route: aiohttp tries resources in the order added."""
        app.router.add_get("/", self.home)
        for path in PAGES:
            app.router.add_get(path, self.page)
        app.router.add_get(SHARED_PAGE, self.shared_page)
        app.router.add_get("/static/{path:.+}", self.static)
        app.router.add_get("/favicon.ico", self.favicon)
        app.router.add_post("/auth/sign-in", self.sign_in)
        app.router.add_post("/auth/sign-out", self.sign_out)
        app.router.add_post("/auth/password", self.change_password)
        app.router.add_get("/auth/session", self.session)
        app.router.add_get("/auth/status", self.status)
        app.router.add_get("/auth/sessions", self.list_sessions)
        app.router.add_post("/auth/sessions/{session_id}/end", self.end_session)
        app.middlewares.append(self.page_not_found)
        app.middlewares.append(signed_out_middleware)  # a page's call after its session ended (signed_out.py)

    @web.middleware
    async def page_not_found(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A browser that opens an address with no page (a typo, a trailing slash, a stale bookmark)
        gets the dashboard's shell, which says "Page not found" inside its navigation, with status
        404; scripts, API clients and every /v1, /static and /auth path keep the API's JSON 404."""
        try:
            return await handler(request)
        except HttpError as exc:
            shell = self._assets.get("index.html")
            if exc.response.status != 404 or shell is None or not _is_page_navigation(request):
                raise
        # No ETag: a 404 is never answered 304 from a cached copy.
        headers = {**SECURITY_HEADERS, "Content-Type": shell.media_type, "Cache-Control": "no-store"}
        return web.Response(status=404, body=shell.body, headers=headers)

    # -- pages and files --------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/jobs", headers=SECURITY_HEADERS)

    async def page(self, request: web.Request) -> web.StreamResponse:
        if request.path == SIGN_IN_PAGE and not _local_path(request.query.get("next", "/")):
            # The page sends the browser to `next` after signing in: only ever a path on this site.
            raise web.HTTPFound(SIGN_IN_PAGE, headers=SECURITY_HEADERS)
        return self._file(request, "index.html")

    async def shared_page(self, request: web.Request) -> web.StreamResponse:
        """The page shell when the link works (its script then reads /shared/{token}/job); the dashboard's
        "not found" page (404) when it does not, however it does not (unknown, revoked, expired, job deleted);
        the shell with 410 once result retention deleted the job's files (the page says so)."""
        from gateway.app import ADMISSION_KEY, client_of  # the app module imports this one
        from phonos.v1 import phonos_pb2 as pb

        method = SERVICE + "GetSharedJob"
        admission = request.app.get(ADMISSION_KEY)
        if admission is not None:  # the share links' per-address limit, as for the JSON and the files
            refused = await admission.admit(method, {}, client_of(request), transport="rest")
            if refused is not None:
                raise HttpError(failure_response(refused, _request_id(request)))
        status = 200
        try:
            await self._call(request, "GetSharedJob", pb.GetSharedJobRequest(token=request.match_info["token"]), [])
        except HttpError as exc:
            if exc.response.status != 410:
                raise  # 404: page_not_found answers a browser with the "not found" page
            status = 410
        shell = self._assets.get("index.html")
        if shell is None:
            raise HttpError(errors.client_error(404, f"no file {request.path}"))
        headers = {**SECURITY_HEADERS, **SHARED_PAGE_HEADERS, "Content-Type": shell.media_type}
        return web.Response(status=status, body=shell.body, headers=headers)

    async def static(self, request: web.Request) -> web.StreamResponse:
        return self._file(request, request.match_info["path"])

    async def favicon(self, request: web.Request) -> web.StreamResponse:
        return self._file(request, "img/favicon.svg")

    def _file(self, request: web.Request, path: str) -> web.StreamResponse:
        asset = self._assets.get(path)
        if asset is None:
            raise HttpError(errors.client_error(404, f"no file {request.path}"))
        return self._assets.response(request, asset)

    # -- sessions ---------------------------------------------------------------------------------

    def _secure(self, request: web.Request) -> bool:
        return secure_cookies(request)

    async def _call(self, request: web.Request, method: str, message: Message,
                    metadata: list[tuple[str, str]]) -> Message:
        from gateway.app import client_of  # the app module imports this one

        request_id = _request_id(request)
        origin = [("x-request-id", request_id), (CLIENT_ADDRESS_METADATA, client_of(request))]
        try:
            reply = await self._invoker.unary(SERVICE + method, message, [*origin, *metadata])
        except RpcFailure as failure:
            raise HttpError(failure_response(failure, request_id)) from None
        return reply.message

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        from phonos.v1 import phonos_pb2 as pb

        _same_origin(request, tls_in_front=self._options.cookie_secure)
        body = await _json_body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise HttpError(errors.client_error(400, "send {\"username\": ..., \"password\": ...} as JSON"))
        reply = await self._call(request, "CreateSession", pb.CreateSessionRequest(
            username=username.strip(), password=password, user_agent=_user_agent(request),
        ), [])
        assert isinstance(reply, pb.CreateSessionResponse)
        response = self._cookie_response(request, reply)
        previous = session_token(request)
        if previous is not None and previous != reply.session_token:
            await self._end_replaced(request, previous)
        # On a Secure deployment a plain-named cookie is only cleared, never ended on the server: it may be one
        # another host tossed in, and ending it with this request (its address, its browser) wrote this person's
        # whereabouts into the tosser's own activity log and session list. One from before the `__Host-` name
        # expires unused (its account's Sessions list shows it and can end it).
        if legacy_session_token(request) is not None:
            clear_legacy_cookie(response)
        return response

    async def _end_replaced(self, request: web.Request, previous: str) -> None:
        """Sign-in rotates the session: the session of the cookie the new one replaces ends on the server too.
        Else it stayed valid for the rest of its TTL, held by nobody this browser knows of (a copy of the old
        cookie kept working) and listed among the account's signed-in sessions. Already ended or expired: nothing
        to do; any other failure leaves it to expire, the sign-in stands."""
        from phonos.v1 import phonos_pb2 as pb

        old = [(SESSION_METADATA, previous)]
        try:
            info = await self._call(request, "GetSession", pb.GetSessionRequest(), old)
            assert isinstance(info, pb.GetSessionResponse)
            await self._call(request, "DeleteSession", pb.DeleteSessionRequest(user_agent=_user_agent(request)),
                             [*old, (CSRF_METADATA, info.csrf_token)])
        except HttpError:
            pass

    async def session(self, request: web.Request) -> web.StreamResponse:
        from phonos.v1 import phonos_pb2 as pb

        reply = await self._call(request, "GetSession", pb.GetSessionRequest(), self._session(request))
        return _json_response(_encode(reply))

    async def status(self, request: web.Request) -> web.StreamResponse:
        """Whether this browser is signed in, as a 200 either way: what each dashboard page asks as it loads.
        A signed-out visitor is the normal first visit, not an error, yet GET /auth/session's 401 for it was logged
        in the browser's console on every page a signed-out visitor opened (on the way to the sign-in page).
        Signed in: GET /auth/session's body with `"signed_in": true`; else `{"signed_in": false}`, and a cookie the
        job service no longer knows (ended elsewhere, a password changed) is cleared, so the next page need not ask
        it again. Other failures (the job service unreachable) stay errors. Same-origin scripts only (no CORS),
        as /auth/session: the body holds the CSRF token."""
        from phonos.v1 import phonos_pb2 as pb

        metadata = self._session(request, required=False)
        if not metadata:
            return _json_response({"signed_in": False})
        try:
            reply = await self._call(request, "GetSession", pb.GetSessionRequest(), metadata)
        except HttpError as exc:
            if exc.response.status != 401:
                raise
            response = _json_response({"signed_in": False})
            clear_session_cookie(response, secure=self._secure(request))
            return response
        return _json_response({"signed_in": True, **_encode(reply)})

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        from phonos.v1 import phonos_pb2 as pb

        _same_origin(request, tls_in_front=self._options.cookie_secure)
        body = await _json_body(request) if request.body_exists else {}
        everywhere = body.get("all_sessions") is True
        reply = await self._call(request, "DeleteSession",
                                 pb.DeleteSessionRequest(all_sessions=everywhere, user_agent=_user_agent(request)),
                                 self._session(request))
        response = _json_response(_encode(reply))
        clear_session_cookie(response, secure=self._secure(request))
        return response

    async def change_password(self, request: web.Request) -> web.StreamResponse:
        """The signed-in person's own password: {"current_password", "new_password"}; every other session of the
        account ends, and this one is rotated: the job service ended its token and gave a new one, which replaces
        the cookie (the body carries the new CSRF token), so the browser stays signed in and a copy of the old
        cookie does not."""
        from phonos.v1 import phonos_pb2 as pb

        _same_origin(request, tls_in_front=self._options.cookie_secure)
        metadata = self._session(request)
        body = await _json_body(request)
        current, new = body.get("current_password"), body.get("new_password")
        if not isinstance(current, str) or not isinstance(new, str):
            raise HttpError(errors.client_error(
                400, "send {\"current_password\": ..., \"new_password\": ...} as JSON"))
        reply = await self._call(request, "ChangePassword",
                                 pb.ChangePasswordRequest(current_password=current, new_password=new,
                                                          user_agent=_user_agent(request)), metadata)
        assert isinstance(reply, pb.ChangePasswordResponse)
        return self._cookie_response(request, reply)

    def _cookie_response(self, request: web.Request, reply: Any) -> web.Response:
        """A reply that carries a new session (sign-in, a password change): its token becomes the cookie, the rest
        the JSON body."""
        view = _encode(reply)
        view.pop("session_token")  # the cookie's; never in a body a script can read
        response = _json_response(view)
        max_age = math.ceil(reply.expires_at.seconds - time.time())
        set_session_cookie(response, reply.session_token, max_age_s=max_age, secure=self._secure(request))
        return response

    async def list_sessions(self, request: web.Request) -> web.StreamResponse:
        """The account's live sessions for the Account page's "Signed in" list: handles, never tokens."""
        from phonos.v1 import phonos_pb2 as pb

        reply = await self._call(request, "ListSessions", pb.ListSessionsRequest(), self._session(request))
        return _json_response(_encode(reply))

    async def end_session(self, request: web.Request) -> web.StreamResponse:
        """End one of the account's sessions by its `session_id` (cookie and X-CSRF-Token, as /auth/password).
        Ending this browser's own session signs it out: its cookie is cleared too."""
        from phonos.v1 import phonos_pb2 as pb

        _same_origin(request, tls_in_front=self._options.cookie_secure)
        metadata = self._session(request)
        reply = await self._call(request, "EndSession", pb.EndSessionRequest(
            session_id=request.match_info["session_id"], user_agent=_user_agent(request)), metadata)
        assert isinstance(reply, pb.EndSessionResponse)
        response = _json_response(_encode(reply))
        if reply.current:
            clear_session_cookie(response, secure=self._secure(request))
        return response

    def _session(self, request: web.Request, *, required: bool = True) -> list[tuple[str, str]]:
        """The cookie's session as rpc metadata; without a cookie a 401, or nothing when not `required`."""
        if session_token(request) is None:
            if not required:
                return []
            raise HttpError(errors.client_error(401, "Not signed in to the dashboard."))
        if "Authorization" in request.headers:
            raise HttpError(errors.client_error(400, "the /auth routes use the session cookie, not an API key"))
        return session_metadata(request)


def _local_path(target: str) -> bool:
    """Whether `target` (the sign-in page's `next`, decoded) can only mean a path on this site. Browsers read a
    backslash as a slash and drop tabs and newlines in a URL, so "/\\evil.example" and "/<tab>/evil.example" are
    "//evil.example", another site (an open redirect right after a real sign-in: a phishing page's best start).
    They also remove dot segments ("." and "..", "%2e" spelled either case), so "/.//evil.example" and
    "/a/..//evil.example" resolve to the path "//evil.example", which the page's own check passed on as a
    protocol-relative address: no page of the dashboard has such a segment, so a `next` with one is refused."""
    return (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and all(ord(char) >= 0x20 and ord(char) != 0x7F for char in target)
            and not _dot_segments(target))


def _dot_segments(target: str) -> bool:
    """Whether the path of `target` (before any ? or #) has a "." or ".." segment as a browser reads it."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    return any(unquote(segment) in (".", "..") for segment in path.split("/"))


def _user_agent(request: web.Request) -> str:
    """The browser's User-Agent for the activity log (the job service cleans and trims it: jobservice.activity).
    Bytes of the header that are not UTF-8 (aiohttp keeps them as lone surrogates, which a protobuf string cannot
    hold: a 500 once) are dropped."""
    text = request.headers.get("User-Agent", "")[:MAX_USER_AGENT_SENT]
    return text.encode("utf-8", "ignore").decode("utf-8")


def _request_id(request: web.Request) -> str:
    from gateway.app import REQUEST_ID_KEY  # the app module imports this one

    return request[REQUEST_ID_KEY]


def _is_page_navigation(request: web.Request) -> bool:
    path = request.path
    return (request.method == "GET" and "text/html" in request.headers.get("Accept", "")
            and path != "/v1" and not path.startswith(NOT_PAGES))


def _encode(message: Message) -> dict[str, Any]:
    return encoder_for(message.DESCRIPTOR)(message)


def _json_response(body: dict[str, Any]) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Content-Type": "application/json"}
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), headers=headers)


async def _json_body(request: web.Request) -> dict[str, Any]:
    """A small JSON object. Requiring application/json also keeps plain HTML forms of other sites out:
    they cannot send this content type without a CORS preflight, which we never grant."""
    if request.content_type != "application/json":
        raise HttpError(errors.client_error(400, "send the request body as application/json"))
    from gateway.app import BODY_TIMEOUT_KEY  # the app module imports this one

    # The edge's one body reader: the whole body however it is chunked, its read timeout, its encodings.
    raw = await read_body(request, limit=MAX_AUTH_BODY, timeout_s=request.app[BODY_TIMEOUT_KEY])
    try:
        # UTF-8 only (RFC 8259 8.1): json.loads of bytes reads surrogates encoded as UTF-8 ("surrogatepass").
        # The API's parser: 4 KiB of "[" nested past Python's recursion limit was a 500 (and a thousand-frame
        # traceback in the log) for anyone, signed in or not.
        body = parse_json_document((raw or b"{}").decode("utf-8-sig"))
    except TranscodeError as exc:
        raise HttpError(errors.client_error(400, str(exc))) from None
    except ValueError:  # UnicodeDecodeError too
        raise HttpError(errors.client_error(400, "the request body is not valid JSON")) from None
    if not isinstance(body, dict):
        raise HttpError(errors.client_error(400, "the request body must be a JSON object"))
    # A lone "\ud800" escape parses but is no character: protobuf's UTF-8 encoding of it failed, a 500.
    if (where := surrogate_at(body)) is not None:
        raise HttpError(errors.client_error(400, f"{where} holds an unpaired surrogate (a lone \\ud800-\\udfff "
                                                 "escape), which is no character"))
    return body


def _same_origin(request: web.Request, *, tls_in_front: bool) -> None:
    """Refuse sign-in/out posted from another site's page (login CSRF); browsers always send Origin on POST.
    `tls_in_front` (PHONOS_COOKIE_SECURE: a proxy terminates TLS): the page's origin is https://<host> while
    this connection is plain HTTP, so that origin is ours too (it once refused every sign-in behind such a proxy)."""
    origin = request.headers.get("Origin")
    ours = {f"{request.scheme}://{request.host}"}
    if tls_in_front:
        ours.add(f"https://{request.host}")
    if origin is not None and origin not in ours:
        raise HttpError(errors.client_error(403, f"cross-origin request from {origin} refused"))


__all__ = ["CSRF_HEADER", "Dashboard", "DashboardOptions"]
