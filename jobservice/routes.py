"""Method name → its /v1 route template (and whether it changes state, and whether a read-only key may call it),
read from the google.api.http annotations and the `(phonos.v1.doc)` options.

Usage is counted under the route template for REST and gRPC alike, so both
transports land in the same `by_endpoint` row.
"""

from __future__ import annotations

from functools import cache

from google.api import annotations_pb2, http_pb2

from phonos.v1 import openapi_options_pb2, phonos_pb2

SERVICE = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]


def _template(rule: http_pb2.HttpRule) -> str:
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        return str(rule.custom.path)
    return str(getattr(rule, pattern)) if pattern else ""


@cache
def route_templates() -> dict[str, str]:
    routes = {}
    for method in SERVICE.methods:
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        routes[method.name] = _template(rule)
    return routes


@cache
def state_changing_methods() -> frozenset[str]:
    """Rpcs that change state: every one whose HTTP rule is not a GET (and any without a rule)."""
    changing = set()
    for method in SERVICE.methods:
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        if rule.WhichOneof("pattern") != "get":
            changing.add(method.name)
    return frozenset(changing)


def _marked(option: str) -> frozenset[str]:
    """Rpcs whose `(phonos.v1.doc)` option `option` is set in the contract."""
    return frozenset(method.name for method in SERVICE.methods
                     if getattr(method.GetOptions().Extensions[openapi_options_pb2.doc], option))


@cache
def idempotent_methods() -> frozenset[str]:
    """Rpcs that honour an Idempotency-Key: those the contract marks `(phonos.v1.doc).idempotent`."""
    return _marked("idempotent")


@cache
def read_only_methods() -> frozenset[str]:
    """Rpcs a read-only API key may call: those the contract marks `(phonos.v1.doc).read_only` (they change no
    state and spend no credits). Unmarked means full scope, so a new rpc is closed to read-only keys until
    someone decides it is a read."""
    return _marked("read_only")


@cache
def public_methods() -> frozenset[str]:
    """Rpcs anyone may call, without an API key or a session: those the contract marks `(phonos.v1.doc).public`
    (health, and the share links' reads, which take the link's token instead)."""
    return _marked("public")


@cache
def token_methods() -> frozenset[str]:
    """The public rpcs that take a share link's token (a `token` field in their request): limited per client
    address, the one thing known about their callers."""
    return frozenset(method.name for method in SERVICE.methods
                     if method.name in public_methods() and "token" in method.input_type.fields_by_name)
