"""The security headers of every response that is not a dashboard page or file: the API's JSON, result
downloads, event streams, share links' JSON and files, and every error.

The dashboard's pages and static files carry their own policy (gateway/dashboard/security.py), set where
they are made; this hook fills in what a response left unset, so it never weakens theirs. Why the API needs
any: its answers hold API keys (`POST /v1/keys`), results and account data, and a browser may open one (a
download link, a share link's files, a JSON error shown in a tab):

- `Cache-Control: no-store`: no shared or browser cache keeps a key or a result (the OpenAPI document and
  the static files set their own caching and keep it);
- `X-Content-Type-Options: nosniff`: a result file (`text/plain` A3M, `chemical/x-pdb`, whose text a user
  wrote in part) is never sniffed into HTML and run;
- `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; sandbox` and `X-Frame-Options: DENY`:
  whatever a browser renders from the API runs no script, loads nothing and sits in no other site's frame;
- `Referrer-Policy: no-referrer`: a share link's address (its token) never leaves in a Referer.
Every response, pages included, names its server `phonos` rather than aiohttp's `Python/3.11 aiohttp/<version>`
(which tells a scanner which published flaws to try).
Share links' JSON and files (`/shared/<token>/...`) are also kept out of search indexes, as their page is.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"

API_SECURITY_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": API_CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
SERVER = "phonos"
SHARED_PREFIX = "/shared/"
SHARED_HEADERS: Mapping[str, str] = {"X-Robots-Tag": "noindex, nofollow"}


async def secure_response(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """`on_response_prepare`: add each header the response does not set itself."""
    headers = response.headers
    headers["Server"] = SERVER
    for name, value in API_SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if request.path.startswith(SHARED_PREFIX):
        for name, value in SHARED_HEADERS.items():
            headers.setdefault(name, value)
