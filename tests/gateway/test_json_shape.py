"""The body-shape check names a misfit in JSON terms, and never refuses a body protobuf's parser accepts."""

from __future__ import annotations

import itertools
import json
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from gateway import json_shape
from gateway.http_rule import rules_for_service
from gateway.transcode import TranscodeError, build_request, compile_plan
from phonos.v1 import phonos_pb2

pytestmark = pytest.mark.unit

PLANS = {(r.http_method, r.template.text): compile_plan(r)
         for r in rules_for_service(phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"])}


def _error(route: tuple[str, str], body: object) -> str:
    from multidict import MultiDict

    with pytest.raises(TranscodeError) as info:
        build_request(PLANS[route], (), MultiDict(), json.dumps(body).encode())
    return str(info.value)


PREDICT, BATCH, WEBHOOKS, KEYS = ("POST", "/v1/predict"), ("POST", "/v1/batch"), ("POST", "/v1/webhooks"), ("POST", "/v1/keys")


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        (PREDICT, {"model": "esmfold", "modle": "x"},
         'unknown field "modle"; accepted: model, sequence, name, params'),
        (PREDICT, {"model": 3}, "model must be a string, got a number"),
        (PREDICT, {"model": "esmfold", "name": True}, "name must be a string, got a boolean"),
        (PREDICT, {"sequence": {"a": 1}}, "sequence must be a string, got an object"),
        (PREDICT, {"params": [1, 2]}, "params must be an object, got an array"),
        (BATCH, {"jobs": [5]}, "jobs[0] must be an object, got a number"),
        (BATCH, {"jobs": [{"model": "esmfold"}, None]}, "jobs[1] must be an object, got null"),
        (BATCH, {"jobs": "esmfold"}, "jobs must be an array, got a string"),
        (BATCH, {"jobs": [{"model": "esmfold", "sequnce": "MKV"}]},
         'unknown field "sequnce" in jobs[0]; accepted: model, sequence, name, params'),
        (BATCH, {"jobs": [{"model": "esmfold", "params": "fast"}]}, "jobs[0].params must be an object, got a string"),
        (WEBHOOKS, {"url": "https://x.example", "events": "job.completed"}, "events must be an array, got a string"),
        (WEBHOOKS, {"url": "https://x.example", "events": [1]}, "events[0] must be a string, got a number"),
        (KEYS, {"name": "ci", "rate_limit": "many"}, 'rate_limit: "many" is not an integer'),
        (KEYS, {"name": "ci", "rate_limit": 1.5}, "rate_limit must be an integer, got 1.5"),
        # Past int32 with no maximum in the contract: the side it went past, not "[-2147483648, 2147483647]".
        (KEYS, {"name": "ci", "rate_limit": 1e300}, "rate_limit must be at most 2147483647, got 1e+300"),
        (KEYS, {"name": "ci", "rate_limit": "99999999999"}, "rate_limit must be at most 2147483647, got 99999999999"),
        (KEYS, {"name": "ci", "rate_limit": -1e300}, "rate_limit must be at least -2147483648, got -1e+300"),
        (KEYS, {"name": "ci", "rate_limit": True}, "rate_limit must be an integer, got a boolean"),
        # Past the wire type with a range in the contract: that range, not int32's, in the job service's words.
        (KEYS, {"expires_in_days": 1e30}, "expires_in_days must be between 0 and 3650, got 1e+30"),
        (KEYS, {"expires_in_days": 99999999999}, "expires_in_days must be between 0 and 3650, got 99999999999"),
        (KEYS, {"expires_in_days": "99999999999"}, "expires_in_days must be between 0 and 3650, got 99999999999"),
    ],
)
def test_a_misfit_is_named_by_its_json_path_and_types(route: tuple[str, str], body: object, message: str) -> None:
    error = _error(route, body)
    assert error.startswith("invalid request body: ")
    assert message in error
    for internal in ("Message type", "bytes-like", "object is not iterable", "phonos.v1", "Struct must be"):
        assert internal not in error


def test_well_formed_bodies_pass_and_json_names_are_accepted() -> None:
    body = {"jobs": [{"model": "esmfold", "sequence": "MKV", "name": None,
                      "params": {"num_recycles": 2, "pocket": {"residues": ["A:1"], "radius": None}}}]}
    json_shape.check(body, phonos_pb2.SubmitBatchRequest.DESCRIPTOR)
    json_shape.check({"name": "ci", "rateLimit": 5}, phonos_pb2.CreateApiKeyRequest.DESCRIPTOR)
    json_shape.check({"name": "ci", "rate_limit": "5"}, phonos_pb2.CreateApiKeyRequest.DESCRIPTOR)


# Every JSON type, in forms each protobuf scalar and well-known type accepts or refuses.
CANDIDATES: list[Any] = [
    None, True, False, 0, 7, -1, 1.5, 1e300, "", "x", "12", "-3", "1.5", "NaN", "Infinity",
    "COLOUR_BLUE", "aGk=", "2025-12-17T10:30:00Z", "1.5s", "a,b", [], [1], ["x"], [None], [{}], [[1]],
    {}, {"a": 1}, {"size": 3}, {"size": "x"}, {"value": 1}, {"@type": "x"},
]


def _leniency(field: FieldDescriptor, value: object) -> bool:
    """Values protobuf's Python parser reads although the proto3 JSON mapping has no such form: a boolean
    for a number or enum (True is 1), a fraction for an enum (truncated), "" or [] for a message (empty)."""
    if field.message_type is not None:
        wrapped = field.message_type.fields_by_name.get("value") if field.message_type.full_name.endswith("Value") else None
        return _leniency(wrapped, value) if wrapped is not None else value in ("", [])
    number = field.type not in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_BOOL)
    return (number and isinstance(value, bool)) or (field.enum_type is not None and isinstance(value, float))


def test_the_check_refuses_only_what_the_json_mapping_forbids(gwtest: ModuleType) -> None:
    """For each field of a message using every scalar, map, repeated and well-known type, and each JSON
    value of every type: a value the check refuses, ParseDict refuses too, or it is one of the Python
    parser's leniencies above (a client sending those has a bug worth hearing about). A value the check
    accepts is left to ParseDict, which still decides formats and ranges."""
    everything = gwtest.Everything
    refused = accepted_by_both = 0
    wrongly_refused = []
    for field, value in itertools.product(everything.DESCRIPTOR.fields, CANDIDATES):
        for key in {field.name, field.json_name}:
            document = {key: value}
            try:
                json_format.ParseDict(document, everything(), ignore_unknown_fields=False)
                parses = True
            except (json_format.ParseError, ValueError, TypeError):
                parses = False
            try:
                json_shape.check(document, everything.DESCRIPTOR)
                checked = True
            except json_shape.ShapeError as exc:
                checked = False
                assert key in str(exc)
            if parses and not checked and not _leniency(field, value):
                wrongly_refused.append(document)
            refused += not checked
            accepted_by_both += checked and parses
    assert not wrongly_refused, f"ParseDict accepts these, the check refused them: {wrongly_refused}"
    assert refused > 100 and accepted_by_both > 100  # both sides of the property were exercised


def test_canonical_json_of_a_full_message_passes(gwtest: ModuleType) -> None:
    everything = gwtest.Everything
    message = json_format.ParseDict({
        "i32": -3, "i64": "9007199254740993", "u64": "18446744073709551615", "f32": 1.5, "f64": "NaN", "flag": True,
        "text": "t", "blob": "aGk=", "colour": "COLOUR_RED", "maybe_i32": 0, "many_i64": ["1", 2],
        "many_colours": ["COLOUR_BLUE", 1], "pages": [{"size": 1}], "child": {"child": {"text": "deep"}},
        "counts": {"a": 1}, "by_id": {"12": "x"}, "by_flag": {"true": {"size": 2}}, "values": {"v": [1, "x", None]},
        "by_page": {"token": "p"}, "at": "2025-12-17T10:30:00Z", "took": "1.5s", "mask": "a,b.c",
        "w_i64": "5", "w_f32": 2.5, "w_text": "w", "w_blob": "aGk=", "w_flag": False, "struct": {"k": {"n": [1]}},
        "value": {"x": 1}, "list": [1, None], "empty": {}, "times": ["2025-12-17T10:30:00Z"],
    }, everything())
    for names in (True, False):
        json_shape.check(json_format.MessageToDict(message, preserving_proto_field_name=names), everything.DESCRIPTOR)


def test_nested_values_are_checked_by_path(gwtest: ModuleType) -> None:
    everything = gwtest.Everything.DESCRIPTOR
    cases = {
        '{"child": {"pages": [{"size": 1}, {"size": []}]}}': "child.pages[1].size must be an integer, got an array",
        '{"counts": {"a": 1, "b": {}}}': "counts.b must be an integer, got an object",
        '{"by_flag": {"true": 3}}': "by_flag.true must be an object, got a number",
        '{"times": ["2025-12-17T10:30:00Z", 5]}': "times[1] must be a string, got a number",
        '{"w_flag": "yes"}': "w_flag must be true or false, got a string",
        '{"colour": [1]}': "colour must be one of COLOUR_UNSPECIFIED, COLOUR_RED, COLOUR_BLUE, got an array",
        '{"child": {"child": {"nope": 1}}}': 'unknown field "nope" in child.child; accepted: i32,',
    }
    for body, message in cases.items():
        with pytest.raises(json_shape.ShapeError) as info:
            json_shape.check(json.loads(body), everything)
        assert str(info.value).startswith(message), (body, str(info.value))
    json_shape.check({"values": {"a": None, "b": [1, {"c": None}]}, "value": None, "list": [None, 1], "any": {},
                      "null": None, "empty": {}}, everything)


def test_a_field_the_path_sets_is_refused_at_any_depth(gwtest: ModuleType) -> None:
    everything = gwtest.Everything.DESCRIPTOR
    bound = [("child", "i32"), ("text",)]
    json_shape.check({"child": {"i64": 1}, "i32": 2}, everything, bound)  # beside the bound fields: fine
    json_shape.check({"child": None}, everything, bound)  # the bound field's parent left at its default
    for body, where in [({"text": "t"}, "text"), ({"child": {"i32": 1}}, "child.i32"),
                        ({"child": {"i32": None}}, "child.i32")]:
        with pytest.raises(json_shape.ShapeError) as info:
            json_shape.check(body, everything, bound)
        assert str(info.value) == f'"{where}" is given by the URL path; leave it out of the body'
    with pytest.raises(json_shape.ShapeError) as info:
        json_shape.check({"child": {"nope": 1}}, everything, bound)
    assert "accepted: i32," not in str(info.value) and "accepted: i64," in str(info.value)


def test_a_message_whose_only_field_the_path_sets_takes_no_body_fields() -> None:
    from google.protobuf import wrappers_pb2

    with pytest.raises(json_shape.ShapeError) as info:
        json_shape.check({"x": 1}, wrappers_pb2.StringValue.DESCRIPTOR, [("value",)])
    assert str(info.value) == 'unknown field "x"; the body takes no fields'  # not "accepted: " and nothing
