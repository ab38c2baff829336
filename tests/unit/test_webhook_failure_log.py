"""A failing webhook receiver is said once as it starts failing, then every 10 minutes with a count, and once as
it answers again: a line per attempt buried `phonos serve`'s console (five webhooks at a host that does not resolve
printed ~30 warnings before the banner, a tester's finding)."""

from __future__ import annotations

import logging

import pytest

from jobservice.webhook_failure_log import REPEAT_S, WebhookFailureLog

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_a_failing_receiver_is_said_once_then_every_ten_minutes_then_when_it_recovers(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.webhooks")
    clock = Clock()
    failures = WebhookFailureLog(logging.getLogger("test.webhooks"), clock=clock)
    for attempt in range(20):  # 20 deliveries retried over 5 minutes
        failures.failed("wh_a", f"dlv_{attempt}", "example.org", "unresolvable host", {"webhook": "wh_a"})
        clock.now += 15
    assert said(caplog) == ["webhook wh_a delivery dlv_0 to example.org failed: unresolvable host "
                            "(said again every 10 min while it keeps failing)"]
    clock.now = 1000.0 + REPEAT_S
    failures.failed("wh_a", "dlv_20", "example.org", "HTTP 503", {"webhook": "wh_a"})
    assert said(caplog)[1:] == ["webhook wh_a to example.org is still failing: 20 delivery attempts failed in the "
                                "last 10 min, the latest: HTTP 503"]
    assert caplog.records[1].__dict__["failed_attempts"] == 20
    failures.failed("wh_a", "dlv_21", "example.org", "HTTP 503", {"webhook": "wh_a"})  # within the next 10 min
    assert len(caplog.records) == 2

    failures.delivered("wh_a", "example.org")
    assert said(caplog)[2:] == ["webhook wh_a to example.org delivers again"]
    failures.delivered("wh_a", "example.org")  # working all along: nothing to say
    failures.failed("wh_a", "dlv_22", "example.org", "HTTP 500", {"webhook": "wh_a"})  # a new streak: said at once
    assert said(caplog)[3:] == ["webhook wh_a delivery dlv_22 to example.org failed: HTTP 500 "
                                "(said again every 10 min while it keeps failing)"]


def test_each_webhook_has_its_own_streak(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.webhooks")
    failures = WebhookFailureLog(logging.getLogger("test.webhooks"), clock=Clock())
    for webhook in ("wh_a", "wh_b", "wh_a", "wh_b", "wh_c"):
        failures.failed(webhook, "dlv", "example.org", "HTTP 500", {})
    assert [m.split()[1] for m in said(caplog)] == ["wh_a", "wh_b", "wh_c"]
