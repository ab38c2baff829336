"""What an operator's log says about refusals and stops (a tester running the service for a lab found none of it):
an address throttled for failed keys, a key meeting its rate limit, and which running jobs a graceful stop handed
back. Each is one line a minute per address or key, never a line per refused call."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobservice.memory_inference import Slow
from phonos_common.ratelog import OncePerSubject
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration


def actions(caplog: pytest.LogCaptureFixture, action: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "action", "") == action]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[InProcessService]:
    running = InProcessService(tmp_path / "var", {"PHONOS_AUTH_FAILURES_PER_MINUTE": "5"})
    yield running
    running.stop()


def test_an_address_throttled_for_failed_keys_is_one_warning_naming_it(
        service: InProcessService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    refused = [service.client(f"pk_bad{i}").get("/v1/account").status_code for i in range(12)]
    assert refused == [401] * 5 + [429] * 7, refused
    (line,) = actions(caplog, "auth.throttled")
    assert line.levelname == "WARNING" and line.client == "127.0.0.1", vars(line)  # type: ignore[attr-defined]
    assert line.getMessage().startswith("client address 127.0.0.1 is refused keys for ")
    assert "5 failed keys within a minute" in line.getMessage()


def test_a_key_meeting_its_rate_limit_is_one_line_naming_the_key(
        service: InProcessService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    client = service.client(service.new_key(rate_limit=2))
    key_id = client.get("/v1/keys").json()["keys"][0]["key_id"]
    statuses = [client.get("/v1/account").status_code for _ in range(5)]
    assert statuses[-1] == 429, statuses
    (line,) = actions(caplog, "ratelimit.exceeded")
    assert line.getMessage().startswith(f"key {key_id} met its rate limit of 2 requests a minute; refused for ")
    assert line.key_id == key_id  # type: ignore[attr-defined]


def test_a_graceful_stop_names_each_running_job_it_hands_back(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    service = InProcessService(tmp_path / "var", {})
    try:
        service.inference.script("esmfold", Slow(60))
        client = service.client(service.new_key())
        job_id = client.predict().json()["job_id"]
        client.wait_for(job_id, ("running",))
        wait_until(lambda: any(c.request_id == job_id for c in service.inference.calls), 10)
    finally:
        service.stop()
    (line,) = actions(caplog, "dispatch.released")
    assert line.job_id == job_id and "runs again at the next start" in line.getMessage()  # type: ignore[attr-defined]


def test_once_per_subject_is_a_line_a_minute_per_subject_and_a_few_in_all(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    said = OncePerSubject(logging.getLogger("test.once"), per_minute=3, max_subjects=2, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="test.once")
    assert said.log("a", logging.INFO, "x", "a") and not said.log("a", logging.INFO, "x", "a again")
    assert said.log("b", logging.INFO, "x", "b") and said.log("c", logging.INFO, "x", "c")
    assert not said.log("d", logging.INFO, "x", "d")  # the action's three a minute are spent
    now[0] = 61.0
    assert said.log("a", logging.INFO, "x", "a, a minute later")
    assert [r.getMessage() for r in caplog.records] == ["a", "b", "c", "a, a minute later (1 similar lines suppressed)"]
