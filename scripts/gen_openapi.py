"""Generate the OpenAPI 3.1 document of the /v1 API from protos/ (as protoc-gen-openapiv2 does).

    python scripts/gen_openapi.py           # write phonos/v1/openapi.json
    python scripts/gen_openapi.py --check   # exit 1 if the committed document drifted

Everything comes from the protos: routes from the `google.api.http` rules (compiled by the gateway's
own code, so path and query parameters are exactly what it accepts), schemas from the messages in
the proto3 JSON form the gateway writes (snake_case; optional and message fields absent until set,
every other field always present), descriptions from the proto comments, and allowed values, limits,
public routes, idempotency and extra error statuses from the options in
protos/phonos/v1/openapi_options.proto. Run it after scripts/gen_protos.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from google.protobuf import descriptor_pb2  # noqa: E402
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor  # noqa: E402
from grpc_tools import protoc  # noqa: E402

from gateway.http_rule import rules_for_service  # noqa: E402
from gateway.transcode import TranscodePlan, compile_plan  # noqa: E402
from phonos.v1 import openapi_options_pb2 as options  # noqa: E402
from phonos.v1 import phonos_pb2  # noqa: E402
from scripts.gen_protos import include_paths  # noqa: E402

OUTPUT = ROOT / "phonos" / "v1" / "openapi.json"
SERVICE = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]
HTTP_BODY = "google.api.HttpBody"
ERROR_TITLES = {400: "Invalid request", 401: "Unauthorized", 402: "Insufficient credits", 403: "Forbidden", 404: "Not found", 410: "Gone",
                408: "Request timeout", 413: "Request too large", 415: "Unsupported media type",
                422: "Idempotency key reused", 429: "Rate limit exceeded", 500: "Internal server error",
                503: "Service unavailable"}
ERROR_WHEN = {
    400: "Invalid parameters, query or body (unknown fields and query parameters included), or a wrong job state; "
         "also a batch with more jobs than the account may have waiting (`X-Phonos-Queue-Limit`: split it).",
    401: "Missing, malformed, unknown, revoked or expired API key.",
    403: "A read-only API key (or a dashboard call without its CSRF token) on a route that changes state.",
    402: "The balance cannot pay for the submission.",
    404: "No such job or webhook in this account.",
    408: "The body did not arrive in time.",
    410: "The job's result files were deleted: the server keeps results for a set time (`results_deleted_at`).",
    413: "The body (after inflating) is larger than the route's limit.",
    415: "A Content-Encoding other than gzip or deflate.",
    422: "The Idempotency-Key was used before with a different request.",
    429: "More requests than the key's limit per rolling minute, or (`Too many jobs`, on a submission) more jobs "
         "waiting than the account may have (`X-Phonos-Queue-Limit`, `X-Phonos-Queue-Waiting`); retry after "
         "`Retry-After` seconds.",
    500: "A bug; the message quotes a request id (also in X-Request-Id).",
    503: "The database or the job service cannot be reached (PostgreSQL restarting, a separate gateway's job "
         "service down): any route can meet an outage; retry after `Retry-After` seconds.",
}
# A route whose proto declares 503 itself (GetHealth: degraded) answers it with its own response message, not the
# error body; the outage's 503 above stays possible on every other route.
DEGRADED_WHEN = "Degraded: the body is the health report (which component is not ready); retry after `Retry-After` seconds."
# Statuses with a Retry-After header: a rate limit, and an outage that passes.
RETRY_AFTER = {429, 503}
# The refusals the job service answers for a key it knows (its rate-limit headers with them); the edge's own (413,
# 415, a 400 before the body is read) and an unknown key's 401 carry none, so the headers are optional here.
RATE_HEADERS_ON = {400, 402, 403, 404, 409, 410, 422, 429}
WWW_AUTHENTICATE = {"description": 'RFC 6750: `Bearer realm="phonos"`, with `error="invalid_token"` for a key that '
                                   "was given but does not work.", "schema": {"type": "string"}}
# A watch stream's SSE event names (`event:`) and what each `data` holds: `error` ends the stream (its key was
# revoked or expired while it was open, the service stopping): {"error", "message", "status"}.
SSE_EVENTS = {"state": "JobEvent (a state change; its `id:` resumes after it)",
              "progress": "JobEvent (progress of a running job; no `id:`)",
              "error": 'the stream ends: {"error": title, "message": why, "status": the HTTP status it stands for}'}
# On a submission the account's cap on waiting jobs refuses (README, Fair sharing): 429 Too many jobs, or 400 for
# a batch larger than the cap by itself.
_QUEUE_LIMIT = {"X-Phonos-Queue-Limit": {"schema": {"type": "integer"}, "description": "On a submission the cap "
                "refuses: the account's cap on waiting jobs (PHONOS_MAX_QUEUED_PER_ACCOUNT)"}}
QUEUE_HEADERS: dict[int, dict[str, Any]] = {400: _QUEUE_LIMIT, 429: {**_QUEUE_LIMIT, "X-Phonos-Queue-Waiting": {
    "schema": {"type": "integer"}, "description": "Too many jobs: the account's jobs waiting to run now"}}}
INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64,
         FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}
DESCRIPTION = """Self-hosted ESMFold, AlphaFold2 and DiffDock behind one asynchronous job API.

Every route but `/v1/health` and `/v1/openapi.json` needs `Authorization: Bearer <API key>`. Each key has a
rate limit per rolling minute (default 60): responses carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset`; a 429 carries `Retry-After`. Errors are `{"error": ..., "message": ...}`. Unknown query
parameters and unknown JSON fields are refused (400). Job submissions accept bodies up to ~63.5 MB, other
routes 64 KiB (gzip or deflate allowed); a batch holds 1 to 10 jobs.
These routes accept an `Idempotency-Key` (1-255 printable ASCII characters, kept 24 hours per account):
{idempotent}; a retry with the same key and request gets the first response back (`Idempotent-Replayed: true`)
and is not charged again. Other routes ignore the header. `GET /v1/jobs/{job_id}/events` and `GET /v1/events` are
Server-Sent Events streams (`text/event-stream`): each event's `data` is a JobEvent, state events carry an `id`,
and `Last-Event-ID` resumes after it; an error in mid-stream is an `event: error` whose `data` is the error body
plus the HTTP `status` it stands for (a 503 is waited out and resumed). Generated from protos/ by
scripts/gen_openapi.py."""


class Comments:
    """Leading comments of messages, fields and rpcs, from protoc's source info."""

    def __init__(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "set.pb"
            args = ["protoc", *(f"-I{p}" for p in include_paths()), "--include_source_info",
                    f"--descriptor_set_out={out}", "phonos/v1/phonos.proto"]
            if protoc.main(args) != 0:
                raise SystemExit("protoc failed")
            files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
        proto = next(f for f in files.file if f.name == "phonos/v1/phonos.proto")
        located = {tuple(loc.path): " ".join(loc.leading_comments.split()) for loc in proto.source_code_info.location}
        self._text: dict[str, str] = {}
        for i, message in enumerate(proto.message_type):
            name = f"{proto.package}.{message.name}"
            self._text[name] = located.get((4, i), "")
            for j, field in enumerate(message.field):
                self._text[f"{name}.{field.name}"] = located.get((4, i, 2, j), "")
        for i, service in enumerate(proto.service):
            for k, method in enumerate(service.method):
                self._text[f"{proto.package}.{service.name}.{method.name}"] = located.get((6, i, 2, k), "")

    def of(self, full_name: str) -> str:
        return self._text.get(full_name, "")


class Generator:
    def __init__(self) -> None:
        self.comments = Comments()
        self.schemas: dict[str, Any] = {}

    # -- schemas ----------------------------------------------------------------------------------

    def message_ref(self, message: Descriptor, *, request: bool) -> dict[str, Any]:
        """A $ref to the message's schema (requests and responses differ: what is required)."""
        special = _well_known(message)
        if special is not None:
            return special
        name = message.name + ("Input" if request else "")
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder first: messages may refer to each other
            self.schemas[name] = self.message_schema(message, request=request)
        return {"$ref": f"#/components/schemas/{name}"}

    def message_schema(self, message: Descriptor, *, request: bool, skip: Iterable[str] = ()) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in message.fields:
            if field.name in skip:
                continue
            properties[field.name] = self.field_schema(field, request=request)
            if _required(field, request=request):
                required.append(field.name)
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        description = self.comments.of(message.full_name)
        if description:
            schema["description"] = description
        return schema

    def field_schema(self, field: FieldDescriptor, *, request: bool) -> dict[str, Any]:
        rules = _rules(field)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            schema: dict[str, Any] = {"type": "object", "additionalProperties": self.single(value, rules, request)}
        elif field.is_repeated:
            schema = {"type": "array", "items": self.single(field, rules, request)}
            if rules.HasField("min_items"):
                schema["minItems"] = rules.min_items
            if rules.HasField("max_items"):
                schema["maxItems"] = rules.max_items
        else:
            schema = self.single(field, rules, request)
        description = self.comments.of(field.full_name)
        if description:
            schema = {**schema, "description": description} if "$ref" not in schema else \
                {"allOf": [schema], "description": description}
        return schema

    def single(self, field: FieldDescriptor, rules: options.FieldSchema, request: bool) -> dict[str, Any]:
        if field.message_type is not None:
            return self.message_ref(field.message_type, request=request)
        kind = field.type
        schema: dict[str, Any]
        if kind == FieldDescriptor.TYPE_BOOL:
            schema = {"type": "boolean"}
        elif kind in INT32:
            schema = {"type": "integer", "format": "int32"}
        elif kind in UINT32:
            schema = {"type": "integer", "format": "int32", "minimum": 0}
        elif kind in INT64:
            schema = {"type": "string", "format": "int64"}  # proto3 JSON writes 64-bit integers as strings
        elif kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            schema = {"type": "number"}
        elif kind == FieldDescriptor.TYPE_BYTES:
            schema = {"type": "string", "format": "byte"}
        elif kind == FieldDescriptor.TYPE_ENUM:
            schema = {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        else:
            schema = {"type": "string"}
        if rules.allowed:
            schema["enum"] = list(rules.allowed)
        if rules.HasField("minimum"):
            schema["minimum"] = _number(rules.minimum)
        if rules.HasField("maximum"):
            schema["maximum"] = _number(rules.maximum)
        if rules.HasField("max_length"):
            schema["maxLength"] = rules.max_length
        if rules.format:
            schema["format"] = rules.format
        return schema

    # -- operations -------------------------------------------------------------------------------

    def operation(self, plan: TranscodePlan) -> dict[str, Any]:
        rule = plan.rule
        method: MethodDescriptor = rule.method
        doc = method.GetOptions().Extensions[options.doc]
        summary = self.comments.of(method.full_name)
        parameters = [self.path_parameter(variable.field_path[0], plan) for variable in rule.template.variables]
        parameters += [self.query_parameter(name, plan) for name in plan.accepted_query]
        operation: dict[str, Any] = {"operationId": method.name, "summary": summary.split(". ")[0].rstrip("."),
                                     "description": summary, "tags": [_tag(rule.template.text)]}
        if method.server_streaming:
            parameters.append({"name": "Last-Event-ID", "in": "header", "required": False,
                               "description": "Resume after this event id (what EventSource sends on reconnect).",
                               "schema": {"type": "string"}})
        if doc.idempotent:
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "description": "Retry-safe key: the first response is replayed for 24 hours.",
                               "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
        if parameters:
            operation["parameters"] = parameters
        if rule.body:
            skip = {v.field_path[0] for v in rule.template.variables}
            schema = self.message_schema(method.input_type, request=True, skip=skip) if rule.body == "*" else \
                self.field_schema(method.input_type.fields_by_name[rule.body], request=True)
            # Required only when the body has a required field: revoking a key, rotating a secret or sharing a job
            # take no body at all (the README's curl sends none), and a generated client must not be made to send {}.
            needed = bool(schema.get("required")) if rule.body == "*" else True
            operation["requestBody"] = {"required": needed, "content": {"application/json": {"schema": schema}}}
        operation["responses"] = {**self.success(plan), **self.errors(plan, doc)}
        if doc.public:
            operation["security"] = []
        else:  # what a key needs: read-only keys may call the reads only (`scope` of an API key)
            operation["x-phonos-key-scope"] = "read_only" if doc.read_only else "full"
        return operation

    def path_parameter(self, name: str, plan: TranscodePlan) -> dict[str, Any]:
        field = plan.rule.method.input_type.fields_by_name[name]
        return {"name": name, "in": "path", "required": True, "description": self.comments.of(field.full_name),
                "schema": {"type": "string", "minLength": 1}}

    def query_parameter(self, name: str, plan: TranscodePlan) -> dict[str, Any]:
        field = plan.rule.method.input_type.fields_by_name[name]
        return {"name": name, "in": "query", "required": False, "description": self.comments.of(field.full_name),
                "schema": self.field_schema(field, request=True)}

    def success(self, plan: TranscodePlan) -> dict[str, Any]:
        method = plan.rule.method
        output = method.output_type
        doc = method.GetOptions().Extensions[options.doc]
        headers = {"X-Request-Id": _REQUEST_ID} if doc.public else _rate_headers()
        if doc.idempotent:  # a retry with the same Idempotency-Key answers the first response again, marked so
            headers = {**headers, "Idempotent-Replayed": {
                "description": "`true` when this is the stored response of an earlier request with the same "
                               "Idempotency-Key (nothing was done again); absent otherwise.",
                "schema": {"type": "string", "enum": ["true"]}}}
        if method.server_streaming:
            event = self.field_schema(output.fields_by_name[plan.response_body_field], request=False)
            return {
                "200": {"description": "A Server-Sent Events stream; each event's `data` is one JobEvent "
                                       "(`x-phonos-event` gives its schema).", "headers": headers,
                        "content": {"text/event-stream": {"schema": {"type": "string"}, "x-phonos-event": event,
                                                          "x-phonos-sse-events": SSE_EVENTS}}},
                # Only a job's own stream ends: the account's (/v1/events) waits for the next job.
                **({"204": {"description": "Resumed after the last event of a finished job: nothing more will come.",
                            "headers": headers}} if "job_id" in method.input_type.fields_by_name else {}),
            }
        if plan.http_body_response:
            return {"200": {"description": "The file, with its own media type (pdb, cif, json, sdf, a3m...).",
                            "headers": {**headers, "Content-Disposition": {"schema": {"type": "string"}}},
                            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}}
        body = output.fields_by_name[plan.response_body_field].message_type if plan.response_body_field else output
        return {"200": {"description": "OK", "headers": headers,
                        "content": {"application/json": {"schema": self.message_ref(body, request=False)}}}}

    def errors(self, plan: TranscodePlan, doc: options.MethodDoc) -> dict[str, Any]:
        # 503 on every route: the database's outage and an unreachable job service (behind a separate gateway)
        # are no route's own, so the protos declare 503 only where the route itself says more (health).
        statuses = {400, 500, 503, *doc.errors}
        if not doc.public:
            statuses |= {401, 429}
            if not doc.read_only:
                statuses.add(403)  # a read-only key, or a dashboard call without its CSRF token
        if plan.rule.template.variables:
            statuses.add(404)
        if plan.rule.body:
            statuses |= {408, 413, 415}
        responses = {str(status): {"$ref": f"#/components/responses/Error{status}"} for status in sorted(statuses)}
        if 503 in doc.errors:
            responses["503"] = self.degraded(plan)
        return responses

    def degraded(self, plan: TranscodePlan) -> dict[str, Any]:
        return {"description": f"{ERROR_TITLES[503]}: {DEGRADED_WHEN}",
                "headers": {"X-Request-Id": {"schema": {"type": "string"}}, "Retry-After": {"schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": self.message_ref(plan.rule.method.output_type,
                                                                            request=False)}}}

    # -- document ---------------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        idempotent = []  # the routes that list the Idempotency-Key parameter, said in the description too
        for rule in rules_for_service(SERVICE):
            plan = compile_plan(rule)
            paths.setdefault(rule.template.text, {})[rule.http_method.lower()] = self.operation(plan)
            if rule.method.GetOptions().Extensions[options.doc].idempotent:
                idempotent.append(f"`{rule.http_method} {rule.template.text}`")
        paths["/v1/openapi.json"] = {"get": {
            "operationId": "GetOpenApi", "summary": "This document", "tags": ["meta"], "security": [],
            "responses": {"200": {"description": "The OpenAPI 3.1 document of this API",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}}
        error_schema = {"type": "object", "required": ["error", "message"], "additionalProperties": False,
                        "properties": {"error": {"type": "string", "description": "The error type"},
                                       "message": {"type": "string", "description": "What went wrong and how to fix it"}}}
        responses = {
            f"Error{status}": {
                "description": f"{ERROR_TITLES[status]}: {ERROR_WHEN[status]}",
                "headers": {**(_rate_headers() if status in RATE_HEADERS_ON else {"X-Request-Id": _REQUEST_ID}),
                            **({"Retry-After": {"schema": {"type": "integer"}}} if status in RETRY_AFTER else {}),
                            **({"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else {}),
                            **QUEUE_HEADERS.get(status, {})},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"},
                                                 "example": {"error": ERROR_TITLES[status], "message": "..."}}},
            }
            for status in sorted(ERROR_TITLES)
        }
        return {
            "openapi": "3.1.0",
            "info": {"title": "phonos API", "version": "v1", "description": DESCRIPTION.replace("{idempotent}", ", ".join(idempotent)),
                     "license": {"name": "MIT", "identifier": "MIT"}},
            "servers": [{"url": "http://127.0.0.1:8080", "description": "`phonos serve` on this machine"}],
            "security": [{"bearer": []}],
            "paths": paths,
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "pk_...",
                                               "description": "An API key from `phonos keys create`."}},
                "schemas": {"Error": error_schema, **dict(sorted(self.schemas.items()))},
                "responses": responses,
            },
        }


def _well_known(message: Descriptor) -> dict[str, Any] | None:
    name = message.full_name
    if name == "google.protobuf.Timestamp":
        return {"type": "string", "format": "date-time"}
    if name == "google.protobuf.Struct":
        return {"type": "object", "additionalProperties": True}
    if name == "google.protobuf.Value":
        return {}
    if name == "google.protobuf.ListValue":
        return {"type": "array"}
    if name == HTTP_BODY:
        return {"type": "string", "format": "binary"}
    return None


def _rules(field: FieldDescriptor) -> options.FieldSchema:
    return field.GetOptions().Extensions[options.schema]


def _required(field: FieldDescriptor, *, request: bool) -> bool:
    """Responses: what the gateway always writes. Requests: what the option marks required."""
    if request:
        return _rules(field).required
    if field.has_presence:
        return False  # optional scalars and message fields are absent until set
    return True  # singular scalars, repeated fields and maps are always written


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _tag(path: str) -> str:
    return path.split("/")[2].split("{")[0] or "meta"


_REQUEST_ID = {"schema": {"type": "string"}}


def _rate_headers() -> dict[str, Any]:
    integer = {"schema": {"type": "integer"}}
    return {"X-RateLimit-Limit": integer, "X-RateLimit-Remaining": integer,
            "X-RateLimit-Reset": {"description": "When the window has room again, in Unix epoch seconds.",
                                  "schema": {"type": "integer"}},
            "X-Request-Id": _REQUEST_ID}


def render() -> str:
    return json.dumps(Generator().document(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed document differs")
    args = parser.parse_args()
    text = render()
    if not args.check:
        OUTPUT.write_text(text)
        return 0
    if not OUTPUT.exists() or OUTPUT.read_text() != text:
        print(f"{OUTPUT.relative_to(ROOT)} drifted from protos/ (run python scripts/gen_openapi.py)")
        return 1
    print("OpenAPI document matches protos/")
    return 0


if __name__ == "__main__":
    sys.exit(main())



