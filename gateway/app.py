"""The aiohttp application: one catch-all route, one error middleware, no per-route code.

Each request: match (method, raw path) against the compiled rules → build the request message →
call the rpc through the Invoker with forwarded headers as metadata → write JSON (or the raw
HttpBody). Every failure leaves as the seed's `{"error", "message"}` body, with `X-Request-Id`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from google.protobuf.descriptor import ServiceDescriptor

from gateway import errors
from gateway.errors import ErrorResponse, HttpError
from gateway.http_rule import NoRoute, PathDecodeError, Router, rules_for_service
from gateway.invoker import Invoker, RpcFailure
from gateway.observe import ROUTE_KEY, observe_middleware, trace_metadata
from gateway.transcode import TranscodeError, TranscodePlan, build_request, compile_plan, render_response

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # a DiffDock protein PDB is a few MiB at most
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_MAX = 128
_REQUEST_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/+=")

# Response metadata that becomes an HTTP header, with the header's conventional casing.
FORWARDED_RESPONSE_METADATA: Mapping[str, str] = {
    "x-ratelimit-limit": "X-RateLimit-Limit",
    "x-ratelimit-remaining": "X-RateLimit-Remaining",
    "x-ratelimit-reset": "X-RateLimit-Reset",
    "retry-after": "Retry-After",
    "content-disposition": "Content-Disposition",
    "x-request-id": REQUEST_ID_HEADER,
}

ROUTER_KEY = web.AppKey("phonos_router", Router)
INVOKER_KEY = web.AppKey("phonos_invoker", Invoker)
REQUEST_ID_KEY = web.RequestKey("phonos_request_id", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def default_service() -> ServiceDescriptor:
    from phonos.v1 import phonos_pb2  # after google.api.annotations_pb2 (imported by http_rule)

    return phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]


def create_app(
    invoker: Invoker,
    *,
    service_descriptor: ServiceDescriptor | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> web.Application:
    """Compile the service's http rules and serve them; TemplateError if a rule is invalid."""
    service = service_descriptor or default_service()
    plans = [compile_plan(rule) for rule in rules_for_service(service)]
    router: Router[TranscodePlan] = Router((p.rule.http_method, p.rule.template, p) for p in plans)
    app = web.Application(client_max_size=max_body_bytes, middlewares=[observe_middleware, error_middleware])
    app[ROUTER_KEY] = router
    app[INVOKER_KEY] = invoker
    # One route for everything: the rules above do the routing, aiohttp only parses HTTP.
    app.router.add_route("*", "/{path:.*}", transcode_handler)
    return app


async def transcode_handler(request: web.Request) -> web.StreamResponse:
    request_id = request[REQUEST_ID_KEY]
    router: Router[TranscodePlan] = request.app[ROUTER_KEY]
    raw_path = request.rel_url.raw_path
    try:
        match = router.match(request.method, raw_path)
    except PathDecodeError as exc:
        raise HttpError(errors.client_error(400, str(exc))) from None
    if isinstance(match, NoRoute):
        if match.allowed:
            allow = ", ".join(match.allowed)
            message = f"{request.method} is not allowed on {request.path}; allowed: {allow}"
            raise HttpError(errors.client_error(405, message, {"Allow": allow}))
        raise HttpError(errors.client_error(404, f"no route for {request.method} {request.path}"))
    plan = match.payload
    request[ROUTE_KEY] = plan.rule.template.text
    body = await request.read() if request.body_exists else b""
    try:
        message = build_request(plan, match.values, request.query, body)
    except TranscodeError as exc:
        raise HttpError(errors.client_error(400, str(exc))) from None
    metadata = request_metadata(request, request_id, plan)
    try:
        reply = await request.app[INVOKER_KEY].unary(plan.rule.full_method, message, metadata)
    except RpcFailure as failure:
        error = errors.from_status(failure.code, failure.details, failure.metadata, request_id=request_id)
        headers = {**forwarded_headers(failure.metadata), **error.headers}
        raise HttpError(ErrorResponse(error.status, error.title, error.message, headers)) from None
    rendered = render_response(plan, reply.message)
    headers = forwarded_headers(reply.metadata)
    headers["Content-Type"] = rendered.content_type
    return web.Response(body=rendered.data, headers=headers)


def request_metadata(request: web.Request, request_id: str, plan: TranscodePlan) -> list[tuple[str, str]]:
    """What the job service learns about the HTTP request: caller, request id, route, transport."""
    metadata = [
        ("x-request-id", request_id),
        ("x-phonos-route", plan.rule.template.text),
        ("x-phonos-transport", "rest"),
        *trace_metadata(),
    ]
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        # gRPC metadata values must be printable ASCII; anything else cannot be a valid API key.
        if not authorization.isascii() or not authorization.isprintable():
            raise HttpError(errors.client_error(401, "malformed Authorization header"))
        metadata.append(("authorization", authorization))
    return metadata


def forwarded_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    return {header: metadata[key] for key, header in FORWARDED_RESPONSE_METADATA.items() if key in metadata}


def request_id_of(request: web.Request) -> str:
    """The caller's X-Request-Id when it is a sane token, else a fresh one."""
    given = request.headers.get(REQUEST_ID_HEADER)
    if given and len(given) <= _REQUEST_ID_MAX and all(c in _REQUEST_ID_CHARS for c in given):
        return given
    return os.urandom(16).hex()  # uuid4().hex's shape, a fifth of its cost


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_of(request)
    request[REQUEST_ID_KEY] = request_id
    try:
        response = await handler(request)
    except HttpError as exc:
        response = error_response(exc.response)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_from_aiohttp(exc))
    except Exception:
        logger.exception(
            "gateway error", extra={"action": "gateway.unhandled_exception", "request_id": request_id}
        )
        response = error_response(errors.internal_error(request_id))
    if REQUEST_ID_HEADER not in response.headers:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def error_response(error: ErrorResponse) -> web.Response:
    headers = dict(error.headers)
    headers["Content-Type"] = "application/json"
    return web.Response(status=error.status, reason=error.reason, body=error.body(), headers=headers)


def _from_aiohttp(exc: web.HTTPException) -> ErrorResponse:
    """aiohttp's own errors (413 body too large, 405, 404) in the seed's shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
    message = exc.text or exc.reason
    if exc.text and exc.text.startswith(f"{exc.status}: "):
        message = exc.text.split(": ", 1)[1]
    return errors.client_error(exc.status, message, headers)
