"""`GET /v1/openapi.json`: the API's OpenAPI 3.1 document.

The document is generated from protos/ (scripts/gen_openapi.py, committed beside the generated
protobuf code in phonos/v1/, CI fails on drift), so it describes exactly the routes the gateway
transcodes. It is public, like /v1/health: clients are generated from it before they have a key.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aiohttp import web

PATH = "/v1/openapi.json"
DOCUMENT = Path(__file__).resolve().parent.parent / "phonos" / "v1" / "openapi.json"


@cache
def _document() -> bytes:
    return DOCUMENT.read_bytes()


METHODS = ("GET", "HEAD")


async def handler(request: web.Request) -> web.Response:
    """The document; another method is a 405 naming GET and HEAD (it fell through to the rules' 404 before)."""
    if request.method not in METHODS:
        raise web.HTTPMethodNotAllowed(request.method, METHODS)
    return web.Response(body=_document(), content_type="application/json", headers={"Cache-Control": "max-age=300"})
