"""Unit tests: request building (path, body, query rules) and response rendering."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from multidict import MultiDict

from gateway.fields import INT_RANGES
from gateway.http_rule import HttpRule, TemplateError, parse_template, rules_for_service
from gateway.transcode import (
    MAX_JSON_DEPTH,
    TranscodeError,
    TranscodePlan,
    build_request,
    compile_plan,
    nesting_depth,
    render_response,
)
from phonos.v1 import phonos_pb2

pytestmark = pytest.mark.unit

PHONOS = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]


def _plans(service: Any) -> dict[tuple[str, str], TranscodePlan]:
    return {(r.http_method, r.template.text): compile_plan(r) for r in rules_for_service(service)}


PHONOS_PLANS = _plans(PHONOS)


@pytest.fixture(scope="module")
def thing_plans(gwtest: ModuleType) -> dict[tuple[str, str], TranscodePlan]:
    return _plans(gwtest.DESCRIPTOR.services_by_name["ThingService"])


def _build(
    plan: TranscodePlan,
    query: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    path: dict[str, str] | None = None,
) -> Message:
    values = tuple((tuple(k.split(".")), v) for k, v in (path or {}).items())
    return build_request(plan, values, MultiDict(query or []), body)


# --- query parameters ------------------------------------------------------------------------------


def test_phonos_query_parameters() -> None:
    plan = PHONOS_PLANS[("GET", "/v1/jobs")]
    request = _build(plan, [("status", "completed"), ("limit", "10"), ("offset", "20")])
    assert request == phonos_pb2.ListJobsRequest(status="completed", limit=10, offset=20)
    assert not request.HasField("model")  # absent parameter: optional field stays unset
    assert plan.accepted_query == ("limit", "model", "name", "offset", "starting_after", "status")


def test_unknown_query_parameter_lists_the_accepted_ones() -> None:
    with pytest.raises(TranscodeError) as info:
        _build(PHONOS_PLANS[("GET", "/v1/jobs")], [("limt", "5"), ("status", "completed")])
    assert str(info.value) == 'unknown query parameter "limt"; accepted: limit, model, name, offset, starting_after, status'


def test_query_parameters_on_a_route_that_takes_none() -> None:
    with pytest.raises(TranscodeError, match="accepts no query parameters"):
        _build(PHONOS_PLANS[("GET", "/v1/account")], [("verbose", "1")])
    # a public route that takes nothing ignores a query: a load balancer's probe adds its own
    assert _build(PHONOS_PLANS[("GET", "/v1/health")], [("probe", "lb1")]) == phonos_pb2.GetHealthRequest()
    with pytest.raises(TranscodeError, match="accepts no query parameters"):
        _build(PHONOS_PLANS[("POST", "/v1/predict")], [("model", "esmfold")])  # body "*": all in the body


def test_path_bound_field_is_not_a_query_parameter() -> None:
    plan = PHONOS_PLANS[("GET", "/v1/jobs/{job_id}/download")]
    assert plan.accepted_query == ("format",)
    request = _build(plan, [("format", "cif")], path={"job_id": "j1"})
    assert request == phonos_pb2.DownloadJobOutputRequest(job_id="j1", format="cif")
    with pytest.raises(TranscodeError, match='unknown query parameter "job_id"'):
        _build(plan, [("job_id", "other")], path={"job_id": "j1"})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("query", "café & co")], {"query": "café & co"}),
        ([("i32", "-2147483648")], {"i32": -(2**31)}),
        ([("i32", "+7")], {"i32": 7}),
        ([("i64", "9223372036854775807")], {"i64": 2**63 - 1}),
        ([("u32", "4294967295")], {"u32": 2**32 - 1}),
        ([("flag", "true")], {"flag": True}),
        ([("flag", "FALSE")], {"flag": False}),
        ([("flag", "1")], {"flag": True}),
        ([("f32", "1.5")], {"f32": 1.5}),
        ([("f64", "-1e-3")], {"f64": -0.001}),
        ([("colour", "COLOUR_BLUE")], {"colour": 2}),
        ([("colour", "1")], {"colour": 1}),
        ([("tags", "a"), ("tags", "b")], {"tags": ["a", "b"]}),
        ([("ids", "3"), ("ids", "1")], {"ids": [3, 1]}),
        ([("blob", "aGk=")], {"blob": b"hi"}),
        ([("blob", "_-8")], {"blob": b"\xff\xef"}),  # URL-safe, unpadded
        ([("since", "2025-12-17T10:30:00Z")], {"since": timestamp_pb2.Timestamp(seconds=1765967400)}),
        ([("max", "12")], {"max": 12}),
        ([("page.size", "5"), ("page.token", "t")], {"page": {"size": 5, "token": "t"}}),
        ([("maybe", "")], {"maybe": ""}),  # an empty value still sets an optional field
        ([("by_number", "4")], {"by_number": 4}),
        ([("byName", "x")], {"by_name": "x"}),  # JSON names are accepted too
    ],
)
def test_query_conversion(
    thing_plans: dict[tuple[str, str], TranscodePlan], query: list[tuple[str, str]], expected: dict[str, Any]
) -> None:
    request = _build(thing_plans[("GET", "/v1/search")], query)
    for name, value in expected.items():
        got = getattr(request, name)
        if name == "max":
            got = got.value
        elif name == "page":
            got = {"size": got.size, "token": got.token}
        elif isinstance(value, list):
            got = list(got)
        assert got == value, name
        if name in ("maybe", "max", "since", "by_number", "by_name"):
            assert request.HasField(name)


@pytest.mark.parametrize(
    ("template", "param", "error"),
    [
        ("/v1/jobs", ("offset", "99999999999999999999"), "offset must be at most 2147483647, got 99999999999999999999"),
        ("/v1/jobs", ("offset", "-99999999999999999999"), "offset must be 0 or more, got -99999999999999999999"),
        ("/v1/jobs", ("limit", "-99999999999999999999"), "limit must be between 1 and 100, got -99999999999999999999"),
        ("/v1/usage", ("days", "2147483648"), "days must be between 1 and 90, got 2147483648"),
    ],
)
def test_integer_past_its_wire_type_says_the_fields_range(template: str, param: tuple[str, str], error: str) -> None:
    with pytest.raises(TranscodeError) as info:
        _build(PHONOS_PLANS[("GET", template)], [param])
    assert str(info.value) == error  # the job service's words, not the int32 bounds "[-2147483648, 2147483647]"


@pytest.mark.parametrize(("template", "name"), [("/v1/jobs", "limit"), ("/v1/jobs", "offset"), ("/v1/usage", "days")])
def test_a_number_too_long_to_read_in_a_query_is_a_400_that_does_not_echo_it(template: str, name: str) -> None:
    # int() refuses more than 4300 digits: a 500 "Exceeds the limit (4300 digits) ... sys.set_int_max_str_digits()".
    for text in ("1" * 5000, "-" + "9" * 5000):
        with pytest.raises(TranscodeError) as info:
            _build(PHONOS_PLANS[("GET", template)], [(name, text)])
        message = str(info.value)
        assert message.startswith(f"{name} must be ") and "(5000 digits)" in message and len(message) < 120, message


def test_no_integer_query_parameter_states_its_wire_range() -> None:
    checked = 0
    for plan in PHONOS_PLANS.values():
        for name in plan.accepted_query:
            if plan.query[name].path[-1].cpp_type not in INT_RANGES:
                continue
            for text in ("99999999999999999999", "-99999999999999999999"):
                with pytest.raises(TranscodeError) as info:
                    _build(plan, [(name, text)])
                assert str(info.value).startswith(f"{name} must be "), str(info.value)
                assert "[" not in str(info.value) and "2147483648" not in str(info.value), str(info.value)
                checked += 1
    assert checked >= 8  # limit and offset of three lists, days of the usage


def test_integer_without_a_declared_range_says_the_side_it_went_past(
        thing_plans: dict[tuple[str, str], TranscodePlan]) -> None:
    plan = thing_plans[("GET", "/v1/search")]
    for query, error in [(("i32", "2147483648"), "i32 must be at most 2147483647, got 2147483648"),
                         (("i32", "-2147483649"), "i32 must be at least -2147483648, got -2147483649"),
                         (("u32", "-1"), "u32 must be at least 0, got -1")]:
        with pytest.raises(TranscodeError) as info:
            _build(plan, [query])
        assert str(info.value) == error


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ([("i32", "2147483648")], "i32 must be at most 2147483647"),
        ([("u32", "-1")], "u32 must be at least 0"),
        ([("i32", "1.5")], "not an integer"),
        ([("i32", " 1")], "not an integer"),
        ([("i32", "1_000")], "not an integer"),
        ([("i32", "١")], "not an integer"),  # non-ASCII digit
        ([("flag", "yes")], "not a boolean"),
        ([("f64", "abc")], "not a number"),
        ([("f32", "1e39")], "out of range"),
        ([("colour", "GREEN")], "not one of COLOUR_UNSPECIFIED, COLOUR_RED, COLOUR_BLUE"),
        ([("colour", "9")], "not one of"),
        ([("blob", "@@")], "not base64"),
        ([("since", "yesterday")], "since"),
        ([("query", "a"), ("query", "b")], "expected one value, got 2"),
        ([("by_name", "x"), ("by_number", "1")], "same oneof"),
        ([("attrs", "x")], 'unknown query parameter "attrs"'),  # maps: body only
        ([("opaque", "x")], 'unknown query parameter "opaque"'),  # Struct: body only
        ([("pages.size", "1")], 'unknown query parameter "pages.size"'),  # repeated messages: body only
        ([("page", "1")], 'unknown query parameter "page"'),  # a message is not a leaf
    ],
)
def test_query_conversion_errors(
    thing_plans: dict[tuple[str, str], TranscodePlan], query: list[tuple[str, str]], error: str
) -> None:
    with pytest.raises(TranscodeError, match=error):
        _build(thing_plans[("GET", "/v1/search")], query)


# --- path variables --------------------------------------------------------------------------------


def test_nested_and_typed_path_variable(thing_plans: dict[tuple[str, str], TranscodePlan]) -> None:
    plan = thing_plans[("GET", "/v1/owners/{owner.id}/things")]
    request = _build(plan, [("owner.label", "x")], path={"owner.id": "42"})
    assert (request.owner.id, request.owner.label) == (42, "x")
    with pytest.raises(TranscodeError, match="not an integer"):
        _build(plan, path={"owner.id": "forty-two"})


def test_rule_naming_a_missing_field_fails_at_compile_time() -> None:
    rule = rules_for_service(PHONOS)[0]
    bad = HttpRule("GET", parse_template("/v1/health/{nope}"), "", "", rule.method)
    with pytest.raises(TemplateError, match="nope"):
        compile_plan(bad)
    with pytest.raises(TemplateError, match="body"):
        compile_plan(HttpRule("POST", parse_template("/v1/health"), "missing", "", rule.method))


# --- body ------------------------------------------------------------------------------------------


def test_body_star_fills_the_message() -> None:
    body = json.dumps(
        {"model": "esmfold", "sequence": "MGSS", "name": "My protein", "params": {"num_recycles": 4}}
    ).encode()
    request = _build(PHONOS_PLANS[("POST", "/v1/predict")], body=body)
    assert request.model == "esmfold" and request.name == "My protein"
    assert request.params["num_recycles"] == 4


def test_empty_body_on_a_body_rule_is_the_empty_message() -> None:
    assert _build(PHONOS_PLANS[("POST", "/v1/predict")], body=b"") == phonos_pb2.PredictRequest()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"model": "esmfold",', "malformed JSON"),
        (b"\xff\xfe\xfd", "malformed JSON"),
        (b'["esmfold"]', "must be a JSON object"),
        (b'{"model": 3}', "invalid request body"),  # wrong JSON type
        (b'{"model": "esmfold", "modle": "x"}', "invalid request body.*modle"),  # unknown field
        (b'{"params": [1, 2]}', "invalid request body"),
        (b'{"name": null, "sequence": {"a": 1}}', "invalid request body"),
    ],
)
def test_bad_bodies(body: bytes, error: str) -> None:
    with pytest.raises(TranscodeError, match=error):
        _build(PHONOS_PLANS[("POST", "/v1/predict")], body=body)


@pytest.mark.parametrize("body", [b"name=x&rate_limit=5", b"  key_id=k1", b"hello", b"--boundary\r\n"])
def test_a_body_in_another_format_is_told_to_send_json(body: bytes) -> None:
    # A form or plain text: json's words alone ("Expecting value") said nothing of the format to send.
    for plan, path in [(PHONOS_PLANS[("POST", "/v1/keys")], {}),
                       (PHONOS_PLANS[("POST", "/v1/jobs/{job_id}/cancel")], {"job_id": "j1"})]:
        with pytest.raises(TranscodeError) as info:
            _build(plan, body=body, path=path)
        assert str(info.value).startswith("malformed JSON body: Expecting value")
        assert str(info.value).endswith("; the body must be JSON, sent with Content-Type: application/json")


def test_json_broken_further_on_keeps_jsons_words_alone() -> None:
    with pytest.raises(TranscodeError) as info:
        _build(PHONOS_PLANS[("POST", "/v1/keys")], body=b'{"name": }')
    assert str(info.value) == "malformed JSON body: Expecting value: line 1 column 10 (char 9)"


def test_a_number_too_long_to_read_is_told_in_the_clients_words() -> None:
    # Python's own words told the client to call sys.set_int_max_str_digits() on the server.
    body = b'{"model": "esmfold", "sequence": "MKT", "params": {"num_recycles": ' + b"9" * 5000 + b"}}"
    with pytest.raises(TranscodeError) as info:
        _build(PHONOS_PLANS[("POST", "/v1/predict")], body=body)
    assert str(info.value) == ("malformed JSON body: a number in it has more than 4300 digits; "
                               "no field takes a number that long")
    assert "sys." not in str(info.value)


def test_deeply_nested_json_is_a_400_not_a_crash() -> None:
    body = b'{"params": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    with pytest.raises(TranscodeError) as refused:
        _build(PHONOS_PLANS[("POST", "/v1/predict")], body=body)
    assert str(refused.value) == "malformed JSON body: arrays and objects nest too deeply"  # not Python's words


def test_nesting_is_refused_past_max_json_depth_and_allowed_up_to_it() -> None:
    """Python's json reads ~1,000 levels; what follows the parse (the job service's recursive walks of a Struct,
    protobuf's 100-level message limit) does not: more than MAX_JSON_DEPTH levels is the same 400 as json's own."""
    plan = PHONOS_PLANS[("POST", "/v1/predict")]
    inner = MAX_JSON_DEPTH - 1  # the body is the first level, "params" the second
    fits = b'{"model": "esmfold", "params": ' + b'{"a": ' * inner + b"1" + b"}" * inner + b"}"
    assert nesting_depth(json.loads(fits)) == MAX_JSON_DEPTH
    _build(plan, body=fits)
    too_deep = b'{"model": "esmfold", "params": ' + b'{"a": [' * inner + b"1" + b"]}" * inner + b"}"
    with pytest.raises(TranscodeError) as refused:
        _build(plan, body=too_deep)
    assert str(refused.value) == "malformed JSON body: arrays and objects nest too deeply"
    assert nesting_depth(1) == 0 and nesting_depth([]) == 1 and nesting_depth({"a": [[], {"b": []}]}) == 4


def test_a_long_string_is_set_without_protobufs_slow_surrogate_scan() -> None:
    """json_format's unpaired-surrogate pattern read ~135 ns a character holding the GIL: a 60 MB `sequence` held the
    service's event loop 7.3 s. The gateway's wrapper asks a plain class first; lone surrogates are still found."""
    import re
    import time

    from google.protobuf import json_format

    sequence = "M" * 20_000_000
    started = time.perf_counter()
    re.compile("[\ud800-\udfff]").search(sequence)  # the wrapper's own scan: what setting the string may cost
    scan = time.perf_counter() - started
    started = time.perf_counter()
    message = json_format.ParseDict({"sequence": sequence}, phonos_pb2.PredictRequest())
    took = time.perf_counter() - started
    assert len(message.sequence) == 20_000_000
    # Measured against the same machine's plain scan (load slows both): 0.23 s vs 0.18 s here; protobuf's own
    # pattern took 2.7 s, fifteen scans.
    assert took < 4 * scan + 0.3, f"{took:.2f} s to set the string; a plain scan of it took {scan:.2f} s"
    assert _build(PHONOS_PLANS[("POST", "/v1/predict")], body=b'{"sequence": "MKT"}').sequence == "MKT"
    for lone in ("a\ud800", "\udc00b", "x\udbff\ud800"):
        with pytest.raises(json_format.ParseError, match="Unpaired surrogate"):
            json_format.ParseDict({"sequence": lone}, phonos_pb2.PredictRequest())
    json_format.ParseDict({"sequence": "\U0001f9ec"}, phonos_pb2.PredictRequest())  # a real astral character


@pytest.mark.parametrize(("body", "key"), [
    (b'{"model": "esmfold", "sequence": "MK", "model": "alphafold2"}', "model"),  # which model is paid for?
    (b'{"model": "esmfold", "sequence": "MK", "params": {"num_recycles": 1, "num_recycles": 24}}', "num_recycles"),
    (b'{"jobs": [{"model": "esmfold", "name": "a", "name": "b"}]}', "name"),
])
def test_a_key_given_twice_in_one_object_is_a_400(body: bytes, key: str) -> None:
    """Python keeps the last, other parsers (and proxies that inspect bodies) the first: refused, never guessed."""
    plan = PHONOS_PLANS[("POST", "/v1/batch" if b"jobs" in body else "/v1/predict")]
    with pytest.raises(TranscodeError) as refused:
        _build(plan, body=body)
    assert str(refused.value) == f'malformed JSON body: the key "{key}" appears twice in one object; send each key once'


def test_the_same_key_in_different_objects_is_fine() -> None:
    body = b'{"jobs": [{"model": "esmfold", "sequence": "MK"}, {"model": "esmfold", "sequence": "MKV"}]}'
    assert len(_build(PHONOS_PLANS[("POST", "/v1/batch")], body=body).jobs) == 2


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}", b"null", b" { } "])
def test_rule_without_body_ignores_empty_bodies(body: bytes) -> None:
    plan = PHONOS_PLANS[("POST", "/v1/jobs/{job_id}/cancel")]
    assert _build(plan, body=body, path={"job_id": "j1"}) == phonos_pb2.CancelJobRequest(job_id="j1")


@pytest.mark.parametrize("body", [b'{"job_id": "other"}', b"[1]", b"{oops"])
def test_rule_without_body_rejects_content(body: bytes) -> None:
    with pytest.raises(TranscodeError):
        _build(PHONOS_PLANS[("POST", "/v1/jobs/{job_id}/cancel")], body=body, path={"job_id": "j1"})


def test_named_body_field_and_path_variable(thing_plans: dict[tuple[str, str], TranscodePlan]) -> None:
    plan = thing_plans[("PATCH", "/v1/things/{thing.thing_id}")]
    body = b'{"note": "n", "labels": ["a"]}'
    request = _build(plan, [("validate_only", "true")], body=body, path={"thing.thing_id": "t1"})
    assert request.thing.thing_id == "t1"
    assert (request.thing.note, list(request.thing.labels), request.validate_only) == ("n", ["a"], True)
    assert plan.accepted_query == ("validate_only",)
    # A body naming the field the path sets is refused (it was silently overwritten by the path).
    for named in (b'{"thing_id": "from-body", "note": "n"}', b'{"thingId": "t1"}'):
        with pytest.raises(TranscodeError, match='"thing.thing(_id|Id)" is given by the URL path'):
            _build(plan, body=named, path={"thing.thing_id": "t1"})


# Every body "*" rule with path variables: (method, template, path values, a good body, its accepted fields).
PATH_AND_BODY_RULES = [
    ("PATCH", "/v1/keys/{key_id}", b'{"name": "x"}', "name, rate_limit, expires_in_days"),
    ("POST", "/v1/keys/{key_id}/revoke", b'{"confirm_last_key": true}', "confirm_last_key"),
    ("POST", "/v1/jobs/{job_id}/shares", b'{"expires_in_days": 7}', "expires_in_days"),
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret", b'{"expire_current_after_s": 60}', "expire_current_after_s"),
]


def test_every_path_and_body_rule_is_covered() -> None:
    found = {key for key, plan in PHONOS_PLANS.items() if plan.rule.body == "*" and plan.path_leaves}
    assert found == {(method, template) for method, template, _, _ in PATH_AND_BODY_RULES}


@pytest.mark.parametrize(("method", "template", "good", "accepted"), PATH_AND_BODY_RULES)
def test_a_body_field_the_path_sets_is_refused(method: str, template: str, good: bytes, accepted: str) -> None:
    plan = PHONOS_PLANS[(method, template)]
    ((field_path, leaf),) = plan.path_leaves.items()
    path = {".".join(field_path): "from-path"}
    assert _build(plan, body=good, path=path) is not None
    json_name = leaf.path[-1].json_name
    # Another id, the same id, null, the JSON name: each a 400 (the path used to win, the body's id unseen).
    for value in ('"other"', '"from-path"', "null"):
        for key in (leaf.name, json_name):
            body = good[:-1] + f', "{key}": {value}}}'.encode()
            with pytest.raises(TranscodeError) as info:
                _build(plan, body=body, path=path)
            assert str(info.value) == f'invalid request body: "{key}" is given by the URL path; leave it out of the body'
    # The unknown-field message does not offer the path's field.
    with pytest.raises(TranscodeError) as info:
        _build(plan, body=b'{"bogus": 1}', path=path)
    assert str(info.value) == f'invalid request body: unknown field "bogus"; accepted: {accepted}'


def test_named_body_field_of_repeated_scalars(thing_plans: dict[tuple[str, str], TranscodePlan]) -> None:
    plan = thing_plans[("PUT", "/v1/things/{thing_id}/tags")]
    request = _build(plan, body=b'["x", "y"]', path={"thing_id": "t1"})
    assert list(request.tags) == ["x", "y"]
    with pytest.raises(TranscodeError):
        _build(plan, body=b'"x"', path={"thing_id": "t1"})


# --- response --------------------------------------------------------------------------------------


def _json(plan: TranscodePlan, message: Message) -> Any:
    rendered = render_response(plan, message)
    assert rendered.content_type == "application/json"
    return json.loads(rendered.data)


def test_pending_job_shape() -> None:
    plan = PHONOS_PLANS[("GET", "/v1/jobs/{job_id}")]
    created = timestamp_pb2.Timestamp(seconds=1765967400)
    job = phonos_pb2.Job(
        job_id="550e8400",
        name="My Protein Structure",
        status="pending",
        created_at=created,
        updated_at=created,
    )
    # The rule's response_body is "job": the job's fields are the whole HTTP body, as the seed shows.
    assert _json(plan, phonos_pb2.GetJobResponse(job=job)) == {
        "job_id": "550e8400",
        "name": "My Protein Structure",
        "status": "pending",
        "model": "",
        "created_at": "2025-12-17T10:30:00Z",
        "updated_at": "2025-12-17T10:30:00Z",
        "credits_used": 0,
        "formats": [],
    }  # output_file, download_url, error: optional and unset, so absent


def test_false_and_zero_are_printed_and_numbers_stay_numbers() -> None:
    predict = _json(PHONOS_PLANS[("POST", "/v1/predict")], phonos_pb2.PredictResponse(job_id="j"))
    assert predict["success"] is False and predict["credits_used"] == 0
    batch = _json(
        PHONOS_PLANS[("POST", "/v1/batch")],
        phonos_pb2.SubmitBatchResponse(summary=phonos_pb2.BatchSummary(total=0, successful=0)),
    )
    assert batch == {
        "success": False,
        "summary": {"total": 0, "successful": 0, "failed": 0, "total_credits_used": 0},
        "results": [],
    }
    usage = phonos_pb2.GetUsageResponse(
        totals=phonos_pb2.UsageTotals(requests=1250, avg_response_time_ms=45.2)
    )
    totals = _json(PHONOS_PLANS[("GET", "/v1/usage")], usage)["totals"]
    assert totals == {"requests": 1250, "credits_used": 0, "avg_response_time_ms": 45.2}


def test_struct_integers_come_back_as_integers() -> None:
    job = phonos_pb2.Job(job_id="j")
    job.metrics.update({"mean_plddt": 87.5, "num_recycles": 4, "nested": {"n": [1, 2.5]}})
    body = _json(PHONOS_PLANS[("GET", "/v1/jobs")], phonos_pb2.ListJobsResponse(jobs=[job]))
    metrics = body["jobs"][0]["metrics"]
    assert metrics == {"mean_plddt": 87.5, "num_recycles": 4, "nested": {"n": [1, 2.5]}}
    assert isinstance(metrics["num_recycles"], int) and isinstance(metrics["nested"]["n"][0], int)


def test_http_body_is_written_raw() -> None:
    plan = PHONOS_PLANS[("GET", "/v1/jobs/{job_id}/download")]
    # The rule's response_body names the HttpBody field: that field alone is the HTTP response.
    wrapped = phonos_pb2.DownloadJobOutputResponse(
        file=httpbody_pb2.HttpBody(content_type="chemical/x-pdb", data=b"ATOM\n"), file_name="j.pdb"
    )
    rendered = render_response(plan, wrapped)
    assert (rendered.content_type, rendered.data) == ("chemical/x-pdb", b"ATOM\n")
    untyped = render_response(plan, phonos_pb2.DownloadJobOutputResponse(file=httpbody_pb2.HttpBody(data=b"\x00")))
    assert untyped.content_type == "application/octet-stream"


def test_response_body_field(gwtest: ModuleType, thing_plans: dict[tuple[str, str], TranscodePlan]) -> None:
    plan = thing_plans[("PATCH", "/v1/things/{thing.thing_id}")]
    assert _json(plan, gwtest.Thing(thing_id="t", labels=["a", "b"])) == ["a", "b"]
