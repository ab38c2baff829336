"""The compiled response encoder against json_format.MessageToDict, on every kind of field."""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from phonos.v1 import phonos_pb2 as pb
from phonos_common.json_encode import encode_message, encoder_for

pytestmark = pytest.mark.unit


def reference(message: Message) -> Any:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def assert_same(message: Message) -> dict[str, Any]:
    ours = encoder_for(message.DESCRIPTOR)(message)
    assert ours == reference(message)  # 4 == 4.0: Struct integers compare equal to json_format's floats
    json.dumps(ours)  # and it is JSON-serialisable as is
    return ours


def filled(gwtest: ModuleType) -> Message:
    e = gwtest.Everything(
        i32=-5,
        i64=-(2**62),
        u32=7,
        u64=2**63 + 5,
        s32=-3,
        s64=-4,
        fx32=8,
        fx64=9,
        sfx32=-10,
        sfx64=-11,
        f32=0.1,
        f64=2.5,
        flag=True,
        text="héllo",
        blob=b"\x00\xff",
        colour=gwtest.COLOUR_BLUE,
        maybe_i32=0,
        maybe_colour=gwtest.COLOUR_UNSPECIFIED,
        many_i64=[1, -2],
        many_f32=[0.1, float("inf"), float("nan")],
        many_blobs=[b"a", b""],
        many_colours=[1, 2, 99],  # 99: an unknown value of an open enum prints as a number
        by_name="n",
    )
    e.pages.add(size=1, token="t")
    e.page.size = 3
    e.child.i32 = 1
    e.child.child.text = "grandchild"
    e.counts["a"] = 1
    e.by_id[-7] = "minus seven"
    e.by_flag[True].size = 2
    e.values["x"].number_value = 4
    e.values["y"].string_value = "s"
    e.at.FromJsonString("2025-12-17T10:30:00.250Z")
    e.took.FromJsonString("1.5s")
    e.mask.FromJsonString("a,b.c")
    e.any.Pack(pb.Pagination(total=3))
    e.w_i64.value = 5
    e.w_f32.value = 0.1
    e.w_text.value = ""
    e.w_blob.value = b"z"
    e.w_flag.value = False
    e.struct.update({"n": 4, "f": 0.5, "s": "x", "b": True, "z": None, "l": [1, {"k": 2}], "o": {}})
    e.value.list_value.values.add().number_value = 1.5
    e.list.values.add().bool_value = True
    e.empty.SetInParent()
    e.times.add(seconds=1)
    return e


def test_empty_message_matches_json_format(gwtest: ModuleType) -> None:
    out = assert_same(gwtest.Everything())
    assert out["i64"] == "0" and out["colour"] == "COLOUR_UNSPECIFIED" and out["null"] is None
    assert "maybe_i32" not in out and "page" not in out and "pick" not in out


def test_filled_message_matches_json_format(gwtest: ModuleType) -> None:
    e = filled(gwtest)
    out = encoder_for(e.DESCRIPTOR)(e)
    expected = reference(e)
    nan = out["many_f32"][2]
    assert nan == "NaN" and expected["many_f32"][2] == "NaN"
    assert out == expected
    assert out["u64"] == str(2**63 + 5) and out["blob"] == "AP8=" and out["f32"] == 0.1
    assert out["many_colours"] == ["COLOUR_RED", "COLOUR_BLUE", 99]
    assert out["by_id"] == {"-7": "minus seven"} and out["by_flag"] == {"true": {"size": 2, "token": ""}}
    assert out["at"] == "2025-12-17T10:30:00.250Z" and out["took"] == "1.500s"
    assert out["any"]["@type"].endswith("phonos.v1.Pagination")
    assert out["maybe_i32"] == 0 and out["maybe_colour"] == "COLOUR_UNSPECIFIED"  # set: present


def test_struct_numbers_that_are_integral_become_integers(gwtest: ModuleType) -> None:
    out = encoder_for(gwtest.Everything.DESCRIPTOR)(filled(gwtest))
    assert type(out["struct"]["n"]) is int and type(out["struct"]["f"]) is float
    assert type(out["struct"]["l"][1]["k"]) is int and type(out["values"]["x"]) is int
    assert type(out["value"][0]) is float
    big = gwtest.Everything()
    big.struct.update({"big": 2.0**60})
    assert type(encoder_for(big.DESCRIPTOR)(big)["struct"]["big"]) is float  # beyond 2**53: kept as is


def test_infinite_struct_number_is_refused_like_json_format(gwtest: ModuleType) -> None:
    e = gwtest.Everything()
    e.struct.update({"x": math.inf})
    with pytest.raises(json_format.SerializeToJsonError):
        reference(e)
    with pytest.raises(ValueError):
        encoder_for(e.DESCRIPTOR)(e)


def test_every_phonos_response_matches_json_format() -> None:
    job = pb.Job(job_id="j", name="n", status="completed", output_file="j.pdb", formats=["pdb"])
    job.created_at.CopyFrom(timestamp_pb2.Timestamp(seconds=1765967400, nanos=1000))
    job.metrics.update({"mean_plddt": 87.5})
    for message in (
        pb.GetHealthResponse(status="operational", components={"triton": "ready"}),
        pb.ListModelsResponse(models=[pb.Model(id="esmfold", cost_credits=10)]),
        pb.PredictResponse(),
        pb.SubmitBatchResponse(results=[pb.BatchResult(index=1, error="Invalid", message="m")]),
        job,
        pb.ListJobsResponse(jobs=[pb.Job(job_id="a")], pagination=pb.Pagination(has_more=True)),
        pb.GetAccountResponse(account=pb.Account(id=1)),
        pb.GetUsageResponse(daily=[pb.DailyUsage(date="2025-12-17", requests=3)]),
        pb.CreateWebhookResponse(webhook=pb.Webhook(events=["job.completed"])),
        pb.TestWebhookResponse(status_code=204),
    ):
        assert_same(message)


def test_encode_message_handles_well_known_roots() -> None:
    assert encode_message(timestamp_pb2.Timestamp(seconds=0)) == "1970-01-01T00:00:00Z"


def test_encoder_is_compiled_once() -> None:
    assert encoder_for(pb.Job.DESCRIPTOR) is encoder_for(pb.Job.DESCRIPTOR)


def test_a_maps_keys_come_out_in_order_whatever_the_order_they_were_set_in() -> None:
    """protobuf's map iterates in its hash table's order, which changes from run to run: /v1/health's components
    (and `phonos status`, which prints them) came in a new order each time."""
    names = ["triton@10.0.0.7:8001", "database", "triton", "job_service", "alphafold2", "esmfold", "diffdock"]
    for order in (names, list(reversed(names))):
        health = pb.GetHealthResponse()
        for name in order:
            health.components[name] = "ready"
        assert list(encode_message(health)["components"]) == sorted(names)
