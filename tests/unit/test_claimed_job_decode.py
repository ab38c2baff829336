"""A claimed job's stored request is decoded once, on first use, and one job's decode never waits for another's.

Dispatch decodes a big job's request in a thread and a small one's on the event loop. `functools.cached_property`
holds one lock for every instance of the class while it computes (Python 3.11), so a small job's decode on the loop
waited for a big job's in its thread: seconds with the loop frozen (a 52 MB request of backslash-heavy A3M headers)."""

from __future__ import annotations

import json
import threading

import pytest

from jobservice import big_work
from jobservice.jobs import ClaimedJob

pytestmark = pytest.mark.unit


def claimed(request: dict[str, object]) -> ClaimedJob:
    return ClaimedJob(None, json.dumps(request))  # type: ignore[arg-type]  # the record plays no part here


def test_a_small_jobs_decode_does_not_wait_for_a_big_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    big, small = claimed({"sequence": "MKV", "params": {"a3m": "big"}}), claimed({"sequence": "MA", "params": {}})
    inside, release = threading.Event(), threading.Event()
    real_loads = big_work.loads

    def loads(text: str) -> object:
        if text == big.request_json:
            inside.set()
            release.wait(timeout=30)
        return real_loads(text)

    monkeypatch.setattr(big_work, "loads", loads)
    decoding = threading.Thread(target=lambda: big.request)
    decoding.start()
    try:
        assert inside.wait(timeout=10)
        done = threading.Event()
        reader = threading.Thread(target=lambda: (small.request, done.set()))
        reader.start()
        assert done.wait(timeout=10), "the small job's decode waited for the big one's"
        assert small.request.sequence == "MA"
    finally:
        release.set()
        decoding.join(timeout=30)
    assert big.request.params == {"a3m": "big"}


def test_the_request_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    job = claimed({"sequence": "MKV", "params": {"num_recycles": 3}})
    calls: list[str] = []
    real_loads = big_work.loads
    monkeypatch.setattr(big_work, "loads", lambda text: calls.append(text) or real_loads(text))
    assert job.request is job.request and job.request.params == {"num_recycles": 3}
    assert len(calls) == 1
