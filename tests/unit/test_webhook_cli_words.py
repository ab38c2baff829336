"""What `phonos webhooks` shows a person on a 60-column terminal: the rotation overlap in `webhooks ls`, the
--expire-current-after bound in the flag's units."""

from __future__ import annotations

import argparse
import io

import pytest
from phonos_client import cli as client_cli
from phonos_client.columns import width
from phonos_client.durations import overlap_seconds
from phonos_client.models import Webhook

pytestmark = pytest.mark.unit

HOOK = {"webhook_id": "wh_" + "a" * 32, "url": "https://example.org/phonos-hook",
        "events": ["job.started", "job.completed", "job.failed"], "created_at": "2026-12-01T10:00:00Z"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_webhooks_ls_says_until_when_the_old_secret_signs_in_60_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    rotated = Webhook.from_dict({**HOOK, "previous_secret_expires_at": "2026-12-02T10:00:00.250Z"})
    plain = Webhook.from_dict({**HOOK, "webhook_id": "wh_" + "b" * 32})
    client_cli.listing(argparse.Namespace(json=False), {}, client_cli.WEBHOOK_HEADER,
                       [client_cli.webhook_row(h) for h in (rotated, plain)], "no webhooks")
    lines = screen.getvalue().splitlines()
    assert all(width(line) < 60 for line in lines), lines
    assert "OLD SECRET UNTIL  2026-12-02T10:00:00.250Z" in lines
    assert "OLD SECRET UNTIL  -" in lines  # the webhook not rotated: only its current secret signs


@pytest.mark.parametrize(("typed", "seconds"), [("0", 0), ("90", 90), ("1h", 3600), ("7d", 604800),
                                                ("168h", 604800)])
def test_an_overlap_up_to_seven_days_is_taken(typed: str, seconds: int) -> None:
    assert overlap_seconds(typed) == seconds


@pytest.mark.parametrize("typed", ["9d", "169h", "604801"])
def test_a_longer_overlap_is_refused_in_the_units_typed(typed: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        overlap_seconds(typed)
    assert str(refused.value) == f"must be between 0 (at once) and 7d, got {typed}"


class Rotating:
    """The one SDK call `webhooks rotate-secret` makes, answered as the API answers it."""

    def rotate_webhook_secret(self, webhook_id: str, *, expire_current_after_s: int | None = None,
                              idempotency_key: str | None = None) -> Webhook:
        answer = {"success": True, "webhook": HOOK, "secret": "whsec_" + "s" * 43,
                  "previous_secret_expires_at": "2026-12-02T10:00:00.250Z", "message": "rotated"}
        return Webhook.from_dict(HOOK, answer["secret"], answer)


@pytest.mark.parametrize(("overlap", "said"), [
    (3600, ["the previous secret also signs deliveries until", "2026-12-02T10:00:00.250Z"]),
    (0, ["the previous secret stopped signing at once"]),  # not "also signs ... until" the rotation's own time
])
def test_rotate_secret_says_when_the_old_secret_stops_in_60_columns(monkeypatch: pytest.MonkeyPatch, overlap: int,
                                                                   said: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    args = argparse.Namespace(command_path="webhooks rotate-secret", webhook_id=HOOK["webhook_id"],
                              expire_current_after_s=overlap, json=False,
                              idempotency_key=None)
    assert client_cli.run_sync(args, Rotating()) == 0  # type: ignore[arg-type]
    lines = screen.getvalue().splitlines()
    assert lines[:2] == [HOOK["webhook_id"], "its new signing secret, shown this once:"]
    assert lines[3:] == said and all(width(line) < 60 for line in lines)  # the time whole, on its own line
