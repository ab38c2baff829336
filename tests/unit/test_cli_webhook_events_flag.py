"""`phonos webhooks create URL --events job.completed`: the API's field is `events`, so a user who has read the API
types the plural; it was "unrecognized arguments" (only `--event` was known). Both spellings, repeatable."""

from __future__ import annotations

import pytest
from phonos_client import cli

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("flag", ["--event", "--events"])
def test_webhooks_create_takes_the_events_flag_in_both_spellings(flag: str) -> None:
    args = cli.build_parser().parse_args(
        ["webhooks", "create", "https://example.org/hook", flag, "job.completed", flag, "job.failed"])
    assert args.event == ["job.completed", "job.failed"]


def test_an_unknown_event_is_still_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["webhooks", "create", "https://example.org/hook", "--events", "job.done"])
    assert exited.value.code == 2 and "job.done" in capsys.readouterr().err
