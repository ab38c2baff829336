"""A dashboard page's API call whose session has ended: a redirect to GET /auth/status instead of a 401.

A session can end while a page is open (signed out in another tab, the password changed on another device, ended
from the Account page's list): the page's next call was answered 401 and the page went to the sign-in page, but
the browser logged that 401 in its console as an error first ("Failed to load resource"), whatever the script did
with it. The page's scripts ask for the other answer with `X-Phonos-If-Signed-Out: status` (js/api.js): a 401 to
such a request, made with the cookie and no `Authorization` header, becomes a 303 See Other to /auth/status, which
`fetch` follows (as a GET, whatever the method) to that route's 200 `{"signed_in": false}` (the stale cookie is
cleared there). Nothing was done: the job service refused the call before any change. API clients never send
the header, so they keep the API's 401.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import HttpError

SIGNED_OUT_HEADER = "X-Phonos-If-Signed-Out"
SIGNED_OUT_ANSWER = "status"  # the header's one value: "see /auth/status"
STATUS_PATH = "/auth/status"


def wants_status(request: web.Request) -> bool:
    """Whether a 401 to `request` is answered with the redirect: a dashboard script's call (the header) made with
    the session cookie or none at all, never with an API key (a key's 401 is the key's, not a session's)."""
    return (request.headers.get(SIGNED_OUT_HEADER) == SIGNED_OUT_ANSWER and "Authorization" not in request.headers
            and request.path != STATUS_PATH)


def see_status() -> web.Response:
    # no-store: the redirect belongs to this one call, not to the address.
    return web.Response(status=303, headers={"Location": STATUS_PATH, "Cache-Control": "no-store"})


@web.middleware
async def signed_out_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the gateway's error middleware: the 401 is still an HttpError here (or a response a route made)."""
    try:
        response = await handler(request)
    except HttpError as exc:
        if exc.response.status == 401 and wants_status(request):
            return see_status()
        raise
    if response.status == 401 and wants_status(request) and isinstance(response, web.Response):
        return see_status()
    return response
