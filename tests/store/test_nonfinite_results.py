"""A job's stored result never holds a number JSON cannot write (NaN, ±infinity), on either store.

Before: a model result with a NaN in its metadata (DiffDock's pocket centre from a receptor with a `nan`
coordinate) was stored as `NaN`, and from then on reading that job, and every job listing that showed it,
answered 500 (a protobuf Struct cannot encode it). Now it is stored as null and the job reads back; a result
stored that way before reads back as null too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest

from jobservice.finite_json import loads_finite, without_non_finite
from jobservice.jobs import JobStore
from jobservice.messages import struct
from jobservice.store import Store
from phonos_common.json_encode import encode_message
from tests.store.conftest import Scenario, account, job

pytestmark = pytest.mark.integration


def test_a_result_holding_nan_is_stored_as_null_and_reads_back(run: Callable[[Scenario], None],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(store: Store) -> None:
        jobs, who = JobStore(store), await account(store)
        fresh, old = await jobs.submit(who, [job(), job()])
        await jobs.claim(fresh)
        result = {"metrics": {"confidence": math.nan, "rmsd": 1.5},
                  "metadata": {"pocket": {"center": [1.0, math.inf, -math.inf]}}, "artifacts": []}
        done = await jobs.complete(fresh, result)
        assert done.result is not None
        assert done.result["metrics"] == {"confidence": None, "rmsd": 1.5}
        assert done.result["metadata"]["pocket"]["center"] == [1.0, None, None]
        assert "metrics.confidence, metadata.pocket.center[1], metadata.pocket.center[2]" in caplog.text
        # A result stored before this (json.dumps writes NaN by default) reads back as null.
        await jobs.claim(old)
        await store.write_one("complete_job", {"id": old, "owner": None, "now": 2e9,
                                               "result_json": '{"metrics": {"plddt": NaN, "ptm": Infinity}}'})
        for record in (await jobs.get(who, fresh), await jobs.get(who, old)):
            assert record.result is not None
            # what the servicer builds and the gateway writes: no ValueError ("cannot write nan")
            encoded = json.dumps(encode_message(struct(record.result)), allow_nan=False)
            assert "NaN" not in encoded and "Infinity" not in encoded
        page, _ = await jobs.page(who, status=None, model=None, limit=10, offset=0)
        assert {j.id: j.result for j in page}[old] == {"metrics": {"plddt": None, "ptm": None}}

    run(scenario)


def test_the_helpers_name_every_place_and_leave_finite_values_alone() -> None:
    value = {"a": [1, 2.5, math.nan, {"b": -math.inf}], "c": "NaN", "d": True, "e": None}
    cleaned, found = without_non_finite(value)
    assert cleaned == {"a": [1, 2.5, None, {"b": None}], "c": "NaN", "d": True, "e": None}
    assert found == ["a[2]", "a[3].b"]
    assert without_non_finite(math.nan) == (None, ["(the value)"])
    assert loads_finite('[NaN, -Infinity, 1e3, "NaN"]') == [None, None, 1000.0, "NaN"]
