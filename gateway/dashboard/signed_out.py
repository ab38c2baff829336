"""A dashboard page's API call whose session has ended: a redirect to GET /auth/status, or for its live stream an
event that says so, instead of a 401.

A session can end while a page is open (signed out in another tab, the password changed on another device, ended
from the Account page's list): the page's next call was answered 401 and the page went to the sign-in page, but
the browser logged that 401 in its console as an error first ("Failed to load resource"), whatever the script did
with it. The page's scripts ask for the other answer with `X-Phonos-If-Signed-Out: status` (js/api.js): a 401 to
such a request, made with the cookie and no `Authorization` header, becomes a 303 See Other to /auth/status, which
`fetch` follows (as a GET, whatever the method) to that route's 200 `{"signed_in": false}` (the stale cookie is
cleared there). Nothing was done: the job service refused the call before any change. API clients never send
the header, so they keep the API's 401.

An EventSource (the job page's live progress) cannot send a header, and a redirect would not help it: it follows
one, and /auth/status's JSON is no event stream, which Chromium logs as an error too. So the page asks in the
query instead, `?x-phonos-if-signed-out=event` (a name no request field can have: proto names have no hyphens),
and a 401 to that stream is answered as a stream: 200 `text/event-stream` holding the one `event: error` with
`"status": 401` that the job service's stream guard already sends when the session ends mid-stream
(jobservice/stream_guard.py), so the page handles both the same way. The parameter is taken off before the
transcoder sees it, which refuses unknown query parameters (400).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import ErrorResponse, HttpError
from gateway.sse import CONTENT_TYPE, error_event

SIGNED_OUT_HEADER = "X-Phonos-If-Signed-Out"
SIGNED_OUT_ANSWER = "status"  # the header's one value: "see /auth/status"
STATUS_PATH = "/auth/status"
SIGNED_OUT_PARAM = "x-phonos-if-signed-out"  # the header, as a query parameter, for an EventSource
SIGNED_OUT_EVENT = "event"  # the parameter's one value: "say it in the stream"
# The stream's reconnection delay: a page that did not close its EventSource on the event (an older script still
# open in a tab) asks again once a minute, not every 3 s (gateway.sse.RETRY_MS) for as long as the tab stays open.
SIGNED_OUT_RETRY_MS = 60_000


def wants_status(request: web.Request) -> bool:
    """Whether a 401 to `request` is answered with the redirect: a dashboard script's call (the header) made with
    the session cookie or none at all, never with an API key (a key's 401 is the key's, not a session's)."""
    return (request.headers.get(SIGNED_OUT_HEADER) == SIGNED_OUT_ANSWER and "Authorization" not in request.headers
            and request.path != STATUS_PATH)


def wants_event(request: web.Request) -> bool:
    """Whether a 401 to `request` is answered as an event stream: a page's EventSource (the query parameter), with
    the cookie or none, never with an API key (whose request keeps the parameter and so gets the transcoder's 400
    for it: the parameter is the dashboard's, not the API's). A GET only: an EventSource sends nothing else, and
    any other request keeps its 401 (a 200 event stream would read as a success in the access log and metrics)."""
    return (request.method == "GET" and request.query.get(SIGNED_OUT_PARAM) == SIGNED_OUT_EVENT
            and "Authorization" not in request.headers)


def see_status() -> web.Response:
    # no-store: the redirect belongs to this one call, not to the address.
    return web.Response(status=303, headers={"Location": STATUS_PATH, "Cache-Control": "no-store"})


def signed_out_stream(error: ErrorResponse) -> web.Response:
    """The 401 as a finished event stream: the retry delay, then the error event (body, message and status as the
    API's mid-stream errors: docs/gateway.md, "Streams")."""
    body = f"retry: {SIGNED_OUT_RETRY_MS}\n\n".encode() + error_event(error)
    return web.Response(status=200, body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


@web.middleware
async def signed_out_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the gateway's error middleware: the 401 is still an HttpError here (or a response a route made)."""
    event = wants_event(request)
    inner = request.clone(rel_url=request.rel_url.without_query_params(SIGNED_OUT_PARAM)) if event else request
    try:
        response = await handler(inner)
    except HttpError as exc:
        if exc.response.status == 401 and event:
            return signed_out_stream(exc.response)
        if exc.response.status == 401 and wants_status(request):
            return see_status()
        raise
    finally:
        if inner is not request:
            # What the handler noted on the copy (its route, for the access log and metrics: gateway/observe.py)
            # is read from the original by the outer middlewares.
            request.update(inner)
    if response.status == 401 and isinstance(response, web.Response):
        if event:
            return signed_out_stream(ErrorResponse(401, "Unauthorized", "Your dashboard session has ended."))
        if wants_status(request):
            return see_status()
    return response
