"""`phonos webhooks ls` says how each webhook's job events are received (LAST DELIVERY, FAILING SINCE), fitted to
a 60-column terminal and to a wide one, and keeps the fields piped output always had in their places."""

from __future__ import annotations

import argparse
import io

import pytest
from phonos_client import cli as client_cli
from phonos_client.columns import width
from phonos_client.models import Webhook

pytestmark = pytest.mark.unit

HOOK = {"webhook_id": "wh_" + "a" * 32, "url": "https://example.org/phonos-hook",
        "events": ["job.completed"], "created_at": "2026-12-01T10:00:00Z"}
FAILING = {**HOOK, "failing_since": "2026-12-01T18:00:00Z",
           "last_delivery": {"delivery_id": "41", "event": "job.completed", "status": "failed",
                             "at": "2026-12-01T19:30:00Z", "status_code": 500,
                             "error": "the receiver answered HTTP 500 (expected 2xx)"}}
HEALTHY = {**HOOK, "webhook_id": "wh_" + "b" * 32,
           "last_delivery": {"delivery_id": "42", "event": "job.completed", "status": "delivered",
                             "at": "2026-12-01T19:31:00Z", "status_code": 200}}
UNREACHED = {**HOOK, "webhook_id": "wh_" + "c" * 32, "failing_since": "2026-12-01T19:00:00Z",
             "last_delivery": {"delivery_id": "43", "event": "job.completed", "status": "pending",
                               "at": "2026-12-01T19:32:00Z",
                               "error": "the receiver could not be reached (no HTTP answer)"}}
QUIET = {**HOOK, "webhook_id": "wh_" + "d" * 32}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def shown(monkeypatch: pytest.MonkeyPatch, columns: int) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(columns))
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    hooks = [Webhook.from_dict(h) for h in (FAILING, HEALTHY, UNREACHED, QUIET)]
    client_cli.listing(argparse.Namespace(json=False), {}, client_cli.WEBHOOK_HEADER,
                       [client_cli.webhook_row(h) for h in hooks], "no webhooks")
    return screen.getvalue().splitlines()


def test_webhooks_ls_shows_the_last_delivery_and_the_failing_mark_in_60_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lines = shown(monkeypatch, 60)
    assert all(width(line) < 60 for line in lines), lines
    assert "LAST DELIVERY     failed: HTTP 500, 2026-12-01T19:30:00Z" in lines
    assert "FAILING SINCE     2026-12-01T18:00:00Z" in lines
    assert "LAST DELIVERY     delivered: HTTP 200, 2026-12-01T19:31:00Z" in lines
    assert "FAILING SINCE     -" in lines  # the healthy and the quiet one
    text = "\n".join(lines)
    # Nothing answered: the log's words, wrapped at spaces within the line
    assert "pending: the receiver could not be reached" in text.replace("\n" + " " * 18, " ")
    assert "LAST DELIVERY     -" in lines  # no job event sent yet


def test_webhooks_ls_on_a_wide_terminal_is_a_table_with_both_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = shown(monkeypatch, 200)
    assert lines[0].split()[-4:] == ["LAST", "DELIVERY", "FAILING", "SINCE"]
    failing = next(line for line in lines if line.startswith(FAILING["webhook_id"]))
    assert "failed: HTTP 500, 2026-12-01T19:30:00Z" in failing and failing.endswith("2026-12-01T18:00:00Z")
    assert all(width(line) < 200 for line in lines)


def test_piped_rows_keep_their_first_fields_and_add_the_two_last(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    client_cli.listing(argparse.Namespace(json=False), {}, client_cli.WEBHOOK_HEADER,
                       [client_cli.webhook_row(Webhook.from_dict(FAILING))], "no webhooks")
    assert out.getvalue().rstrip("\n").split("\t") == [
        FAILING["webhook_id"], HOOK["url"], "job.completed", "-", "failed: HTTP 500, 2026-12-01T19:30:00Z",
        "2026-12-01T18:00:00Z"]
