"""The default webhook retry schedule outlasts a receiver's maintenance window: with 8 attempts it gave up after
~4 minutes, so a receiver rebooted for five lost every event of those minutes (README: "about 5 hours")."""

from __future__ import annotations

import pytest

from jobservice.webhook_sender import MAX_BACKOFF_S
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.unit


def retry_span_s(settings: ServiceSettings) -> float:
    """Seconds from a delivery's first attempt to its last, as the sender schedules them (attempt n+1 comes
    base·2ⁿ⁻¹ s after attempt n, at most MAX_BACKOFF_S)."""
    return sum(min(settings.webhook_backoff_base_s * 2 ** attempts_before, MAX_BACKOFF_S)
               for attempts_before in range(settings.webhook_max_attempts - 1))


def test_the_default_retries_span_about_five_hours() -> None:
    span = retry_span_s(ServiceSettings.from_env({}))
    assert 4.5 * 3600 < span < 5.5 * 3600, span


def test_the_schedule_is_read_from_the_settings() -> None:
    short = ServiceSettings.from_env({"PHONOS_WEBHOOK_MAX_ATTEMPTS": "8"})
    assert 200 < retry_span_s(short) < 300  # 2 + 4 + … + 128 s after the first attempt: the old ~4 minutes
