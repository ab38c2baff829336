"""The aiohttp application: one catch-all route, one error middleware, no per-route code.

Each request: match (method, raw path) against the compiled rules → admit the caller (the service's
`Admission`: key and throttle checks, before any body byte is read) → read the body under the rule's
size and time limits → build the request message → call the rpc through the Invoker with forwarded
headers as metadata → write JSON (or the raw HttpBody). Every failure leaves as the seed's
`{"error", "message"}` body, with `X-Request-Id`; a request whose body was left unread is answered
and its connection closed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import payload, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11
from google.protobuf.descriptor import ServiceDescriptor

from gateway import dashboard, errors, openapi_route, response_headers, sse
from gateway.admission import Admission
from gateway.allowed_hosts import ALLOWED_HOSTS_KEY, allowed_hosts_middleware
from gateway.body import INLINE_BYTES, UPLOAD_BUDGET_KEY, content_encoding, off_loop, read_body, too_large
from gateway.errors import ErrorResponse, HttpError
from gateway.http_rule import (
    NoRoute,
    PathDecodeError,
    PathTemplate,
    Router,
    check_query_encoding,
    rules_for_service,
)
from gateway.invoker import Invoker
from gateway.observe import ROUTE_KEY, observe_middleware, trace_metadata
from gateway.rpc_failure import REQUEST_ID_HEADER, failure_response, forwarded_headers
from gateway.transcode import TranscodeError, TranscodePlan, build_request, compile_plan, render_response
from phonos_common.bearer import bearer_challenge
from phonos_common.forwarded import (
    CLIENT_ADDRESS_METADATA,
    FORWARDED_FOR_HEADER,
    FORWARDED_HEADER,
    client_behind,
    rfc7239_forwarded_for,
    x_forwarded_for,
)
from phonos_common.limits import DEFAULT_MAX_BODY_BYTES, BodyLimits
from phonos_common.rpc import RpcFailure
from phonos_config.edge import Network
from phonos_config.request_ids import request_id

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

DEFAULT_BODY_TIMEOUT_S = 120.0

# Response metadata that sets the HTTP status of a successful call (grpc-gateway's convention), e.g.
# 503 on a /v1/health that reports "degraded" so that orchestrators can probe it.
HTTP_CODE_KEY = "x-http-code"

# Request headers forwarded as metadata (besides Authorization and X-Request-Id, handled below).
FORWARDED_REQUEST_HEADERS: Mapping[str, str] = {"Idempotency-Key": "idempotency-key"}

ROUTER_KEY = web.AppKey("phonos_router", Router)
SSE_KEEPALIVE_KEY = web.AppKey("phonos_sse_keepalive_s", float)
INVOKER_KEY = web.AppKey("phonos_invoker", Invoker)
ADMISSION_KEY = web.AppKey("phonos_admission", Admission)
LIMITS_KEY = web.AppKey("phonos_body_limits", BodyLimits)
BODY_TIMEOUT_KEY = web.AppKey("phonos_body_timeout_s", float)
TRUSTED_PROXIES_KEY = web.AppKey("phonos_trusted_proxies", tuple[Network, ...])
FORWARDED_HEADER_KEY = web.AppKey("phonos_forwarded_header", str)
REQUEST_ID_KEY = web.RequestKey("phonos_request_id", str)
PLAN_KEY = web.RequestKey("phonos_plan", TranscodePlan)
MATCH_VALUES_KEY = web.RequestKey("phonos_match_values", tuple[tuple[tuple[str, ...], str], ...])
ADMITTED_KEY = web.RequestKey("phonos_admitted", bool)
CLIENT_KEY = web.RequestKey("phonos_client_address", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def default_service() -> ServiceDescriptor:
    from phonos.v1 import phonos_pb2  # after google.api.annotations_pb2 (imported by http_rule)

    return phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]


def create_app(
    invoker: Invoker,
    *,
    service_descriptor: ServiceDescriptor | None = None,
    body_limits: BodyLimits | None = None,
    max_body_bytes: int | None = None,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    admission: Admission | None = None,
    dashboard_options: dashboard.DashboardOptions | None = None,
    sse_keepalive_s: float = 15.0,
    trusted_proxies: tuple[Network, ...] = (),
    forwarded_header: str = FORWARDED_FOR_HEADER,
    allowed_hosts: tuple[str, ...] = (),
) -> web.Application:
    """Compile the service's http rules and serve them; TemplateError if a rule is invalid.

    `body_limits`: per-rpc body sizes (`max_body_bytes` is shorthand for one size for every route);
    `admission`: the caller check run before a body is read (None: every caller is let in);
    with `dashboard_options` the web dashboard is served too (pages under /, cookie sessions);
    `trusted_proxies`: the peers whose `forwarded_header` (X-Forwarded-For or Forwarded) names the client
    (`client_of`); `allowed_hosts`: the names it answers to (PHONOS_ALLOWED_HOSTS; empty: any).
    """
    service = service_descriptor or default_service()
    plans = [compile_plan(rule) for rule in rules_for_service(service)]
    router: Router[TranscodePlan] = Router(routes_with_head(plans))
    limits = body_limits or BodyLimits(default=max_body_bytes or DEFAULT_MAX_BODY_BYTES)
    app = web.Application(client_max_size=limits.largest, middlewares=[observe_middleware, error_middleware,
                                                                      allowed_hosts_middleware])
    app[ROUTER_KEY] = router
    app[INVOKER_KEY] = invoker
    app[LIMITS_KEY] = limits
    app[BODY_TIMEOUT_KEY] = body_timeout_s
    app[TRUSTED_PROXIES_KEY] = trusted_proxies
    app[FORWARDED_HEADER_KEY] = forwarded_header
    app[ALLOWED_HOSTS_KEY] = allowed_hosts
    if admission is not None:
        app[ADMISSION_KEY] = admission
    app[SSE_KEEPALIVE_KEY] = sse_keepalive_s
    app[sse.STREAMS_KEY] = set()
    app.on_shutdown.append(sse.end_streams)
    # Every response: no caching of keys and results, no sniffing, framing or script (gateway/response_headers.py).
    app.on_response_prepare.append(response_headers.secure_response)
    # The API's OpenAPI document, generated from the same protos (scripts/gen_openapi.py); no auth.
    app.router.add_route("*", openapi_route.PATH, openapi_route.handler)
    if dashboard_options is not None:
        dashboard.install(app, invoker, dashboard_options)
    # One route for everything else: the rules above do the routing, aiohttp only parses HTTP.
    app.router.add_route("*", "/{path:.*}", transcode_handler, expect_handler=expect_handler)
    return app


def routes_with_head(plans: list[TranscodePlan]) -> list[tuple[str, PathTemplate, TranscodePlan]]:
    """Every rule's route, and HEAD beside each unary GET (RFC 9110: what answers GET answers HEAD, without the
    body; uptime monitors probe /v1/health with HEAD). aiohttp sends a HEAD response's headers only. A stream
    (Server-Sent Events) has no length to announce and stays GET only."""
    routes = [(plan.rule.http_method, plan.rule.template, plan) for plan in plans]
    declared = {(method, template.text) for method, template, _ in routes}
    routes += [("HEAD", plan.rule.template, plan) for plan in plans
               if plan.rule.http_method == "GET" and not plan.rule.method.server_streaming
               and ("HEAD", plan.rule.template.text) not in declared]
    return routes


def matched_plan(request: web.Request) -> TranscodePlan:
    """The rule this request matches (computed once per request); HttpError 400/404/405 otherwise."""
    plan = request.get(PLAN_KEY)
    if plan is not None:
        return plan
    router: Router[TranscodePlan] = request.app[ROUTER_KEY]
    try:
        match = router.match(request.method, request.rel_url.raw_path)
    except PathDecodeError as exc:
        raise HttpError(errors.client_error(400, str(exc))) from None
    if isinstance(match, NoRoute):
        if match.allowed:
            allow = ", ".join(match.allowed)
            message = f"{request.method} is not allowed on {request.path}; allowed: {allow}"
            raise HttpError(errors.client_error(405, message, {"Allow": allow}))
        raise HttpError(errors.client_error(404, f"no route for {request.method} {request.path}"))
    try:
        check_query_encoding(request.rel_url.raw_query_string)
    except PathDecodeError as exc:
        raise HttpError(errors.client_error(400, str(exc))) from None
    request[PLAN_KEY] = match.payload
    request[ROUTE_KEY] = match.payload.rule.template.text
    request[MATCH_VALUES_KEY] = match.values
    return match.payload


async def admit(request: web.Request, plan: TranscodePlan) -> None:
    """Run the service's admission check once per request; HttpError 401/429 when it refuses."""
    admission = request.app.get(ADMISSION_KEY)
    if admission is None or request.get(ADMITTED_KEY):
        return
    failure = await admission.admit(plan.rule.full_method, dict(caller_metadata(request)), client_of(request),
                                    transport="rest")
    if failure is not None:
        raise HttpError(failure_response(failure, request[REQUEST_ID_KEY]))
    request[ADMITTED_KEY] = True


async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue`: route, admit and size-check before the client sends its body.

    Runs before the middlewares, so it answers errors itself. A client that waits for 100 Continue
    (curl does for bodies over 1 MiB) never uploads a body that would be refused.
    """
    request[REQUEST_ID_KEY] = request_id_of(request)
    try:
        if request.version != HttpVersion11 or request.headers.get("Expect", "").lower() != "100-continue":
            raise HttpError(errors.client_error(417, "the only expectation understood is 'Expect: 100-continue'"))
        plan = matched_plan(request)
        await admit(request, plan)
        content_encoding(request)
        limit = request.app[LIMITS_KEY].for_method(plan.rule.full_method)
        if request.content_length is not None and request.content_length > limit:
            raise HttpError(too_large(limit))
        budget = request.app.get(UPLOAD_BUDGET_KEY)
        if budget is not None and request.content_length:
            budget.check(client_of(request), request.content_length)  # a 429 now, not after the body was sent
    except HttpError as exc:
        response = error_response(exc.response)
        response.headers[REQUEST_ID_HEADER] = request[REQUEST_ID_KEY]
        response.force_close()  # the body was never asked for
        return response
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the interim response is not the response
    return None


async def transcode_handler(request: web.Request) -> web.StreamResponse:
    request_id = request[REQUEST_ID_KEY]
    plan = matched_plan(request)
    await admit(request, plan)
    limit = request.app[LIMITS_KEY].for_method(plan.rule.full_method)
    body = await read_body(request, limit=limit, timeout_s=request.app[BODY_TIMEOUT_KEY])
    path_values: tuple[tuple[tuple[str, ...], str], ...] = request[MATCH_VALUES_KEY]
    try:
        if len(body) > INLINE_BYTES:  # JSON parsing and transcoding, ~0.3 s for 54 MB: not on the loop
            message = await off_loop(build_request, plan, path_values, request.query, body)
        else:
            message = build_request(plan, path_values, request.query, body)
    except TranscodeError as exc:
        raise HttpError(errors.client_error(400, str(exc))) from None
    metadata = request_metadata(request, request_id, plan)
    if plan.rule.method.server_streaming:
        sse.apply_last_event_id(plan, message, request.headers.get("Last-Event-ID"))
        return await sse.respond(request, plan, message, metadata, request.app[INVOKER_KEY],
                                 keepalive_s=request.app[SSE_KEEPALIVE_KEY], request_id=request_id)
    try:
        reply = await request.app[INVOKER_KEY].unary(plan.rule.full_method, message, metadata)
    except RpcFailure as failure:
        raise HttpError(failure_response(failure, request_id)) from None
    if plan.response_may_be_big:  # e.g. a job's input with its 50 MB A3M: encoding it to JSON (~0.3 s), and even
        # measuring it first (ByteSize: ~0.2 s), held the loop; a thread hop costs ~50 µs
        rendered = await off_loop(render_response, plan, reply.message)
    else:
        rendered = render_response(plan, reply.message)
    headers = forwarded_headers(reply.metadata)
    headers["Content-Type"] = rendered.content_type
    answer: bytes | InPieces = rendered.data if len(rendered.data) <= INLINE_BYTES else InPieces(rendered.data)
    return web.Response(status=success_status(reply.metadata), body=answer, headers=headers)


# A big answer is handed to the connection this much at a time: in one write, asyncio copied all of it (54 MB: tens
# of ms, more on a busy machine) into the connection's buffer on the loop, after aiohttp had joined it to the headers.
WRITE_PIECE_BYTES = 1024 * 1024


class InPieces(payload.BytesPayload):
    """A body written WRITE_PIECE_BYTES at a time, each written once the connection has taken the previous ones
    (aiohttp waits for a buffer over 64 KiB to drain): the loop serves other clients in between."""

    async def write(self, writer: AbstractStreamWriter) -> None:
        view = memoryview(self._value)
        for start in range(0, len(view), WRITE_PIECE_BYTES):
            await writer.write(view[start:start + WRITE_PIECE_BYTES])


def success_status(metadata: Mapping[str, str]) -> int:
    """200, or the 2xx–5xx the rpc asked for with `x-http-code` (anything else is ignored)."""
    code = metadata.get(HTTP_CODE_KEY, "")
    if code.isdigit() and 200 <= int(code) <= 599:
        return int(code)
    return 200


def request_metadata(request: web.Request, request_id: str, plan: TranscodePlan) -> list[tuple[str, str]]:
    """What the job service learns about the HTTP request: caller, request id, route, transport."""
    return [
        ("x-request-id", request_id),
        ("x-phonos-route", plan.rule.template.text),
        ("x-phonos-transport", "rest"),
        (CLIENT_ADDRESS_METADATA, client_of(request)),
        *trace_metadata(),
        *caller_metadata(request),
    ]


def client_of(request: web.Request) -> str:
    """The client's address: the peer, or behind a trusted proxy the address its X-Forwarded-For or (with
    PHONOS_FORWARDED_HEADER=Forwarded) RFC 7239 Forwarded header names (phonos_common.forwarded). What admission
    throttles and what the job service is told (`x-phonos-client-address`); computed once per request."""
    client = request.get(CLIENT_KEY)
    if client is None:
        app = request.app
        # Several lines of either header are one list, in order (RFC 9110 5.3).
        if app[FORWARDED_HEADER_KEY] == FORWARDED_HEADER:
            hops = rfc7239_forwarded_for(request.headers.getall(FORWARDED_HEADER, []))
        else:
            hops = x_forwarded_for(",".join(request.headers.getall(FORWARDED_FOR_HEADER, [])))
        client = request[CLIENT_KEY] = client_behind(request.remote, hops, app[TRUSTED_PROXIES_KEY])
    return client


def caller_metadata(request: web.Request) -> list[tuple[str, str]]:
    """Who is calling (the Authorization header, else the dashboard's session cookie and CSRF token) and
    the request headers the service reads (e.g. Idempotency-Key, Last-Event-ID)."""
    given = request.headers.getall("Authorization", [])
    if len(given) > 1:  # which one is meant? A proxy may read the last where we would read the first
        raise HttpError(errors.client_error(400, "more than one Authorization header: send exactly one"))
    authorization = given[0] if given else None
    if authorization is None:
        metadata = dashboard.session_metadata(request)
    else:
        # gRPC metadata values must be printable ASCII; anything else cannot be a valid API key.
        if not authorization.isascii() or not authorization.isprintable():
            raise HttpError(errors.client_error(401, "malformed Authorization header",
                                                {"WWW-Authenticate": bearer_challenge("invalid_request")}))
        metadata = [("authorization", authorization)]
    for header, key in FORWARDED_REQUEST_HEADERS.items():
        values = request.headers.getall(header, [])
        if len(values) > 1:  # two idempotency keys: which one guards the submission?
            raise HttpError(errors.client_error(400, f"more than one {header} header: send exactly one"))
        for value in values:
            if not value.isascii() or not value.isprintable():
                raise HttpError(errors.client_error(400, f"malformed {header} header: printable ASCII only"))
            metadata.append((key, value))
    return metadata




def request_id_of(request: web.Request) -> str:
    """The caller's X-Request-Id when it is a sane token, else a fresh one (phonos_config.request_ids)."""
    return request_id(request.headers.get(REQUEST_ID_HEADER))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.get(REQUEST_ID_KEY) or request_id_of(request)
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
    if request.body_exists and not request.content.is_eof():
        # Answered without reading the whole body (refused key, too large, ...): do not keep the
        # connection for a next request behind an unread body (aiohttp discards it briefly, then closes).
        response.force_close()
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
