"""The `phonos` command's error and notice lines on stderr, at a 60-column terminal: broken between words at its
edge (found walking it: `webhooks rotate-secret ID --expire-current-after 9d`'s refusal and "url must use https://"
ran past 60 columns and the terminal cut words in two), never inside an id, a URL, a path or a command; piped, the
one line a script reads, exactly as before. And a 404 says "not found" once (`not found: webhook wh_x`)."""

from __future__ import annotations

import io
import sys

import pytest
from phonos_client import cli
from phonos_client.columns import message_in_lines, width
from phonos_client.display import Display

pytestmark = pytest.mark.unit

JOB_ID = "fcdf4066-a637-4328-b42a-5bfec7c767d5"
URL_LINE = ("phonos: Invalid request: url must use https:// (http://example.com/hook is refused unless the server "
            "allows it), got http://example.com/hooks/a-rather-long-path/of-a-receiver")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def stderr_at_60(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """stderr a 60-column terminal (set in the test itself: pytest's capture puts its own back after set-up)."""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", "60")
    return terminal


def test_a_refused_flag_value_is_broken_between_words_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """argparse's refusal of `--expire-current-after 9d` (the command's usage line, Parser.error)."""
    terminal = stderr_at_60(monkeypatch)
    with pytest.raises(SystemExit) as exited:
        cli.main(["webhooks", "rotate-secret", "wh_x", "--expire-current-after", "9d"])
    assert exited.value.code == 2
    lines = terminal.getvalue().splitlines()
    assert len(lines) > 1 and all(width(line) < 60 for line in lines)
    assert all(line.startswith("  ") for line in lines[1:])  # the lines after the first: indented, one message
    said = " ".join(line.strip() for line in lines)
    assert "must be between 0 (at once) and 7d, got 9d" in said
    assert "phonos webhooks rotate-secret --help" in lines[-1]  # the command to type: on one line, whole


def test_piped_stderr_keeps_the_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    with pytest.raises(SystemExit):
        cli.main(["webhooks", "rotate-secret", "wh_x", "--expire-current-after", "9d"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be between 0 (at once) and 7d, got 9d" in err and width(err) > 60
    cli.complain(URL_LINE)
    assert capsys.readouterr().err == URL_LINE + "\n"


def test_an_error_line_never_breaks_inside_a_url_an_id_or_a_command(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = stderr_at_60(monkeypatch)
    cli.complain(URL_LINE)
    cli.complain(f"phonos: job {JOB_ID} failed; its webhooks were told: see them with phonos webhooks ls --all --json")
    cli.complain("phonos: nothing answers at http://127.0.0.1:9 (connection refused), the default address; set "
                 "PHONOS_URL=http://HOST:PORT or run phonos login --url http://HOST:PORT")
    screen = terminal.getvalue()
    lines = screen.splitlines()
    assert all(width(line) < 60 for line in lines), screen
    words = screen.split()
    for whole in ("https://", "(http://example.com/hook", "http://example.com/hooks/a-rather-long-path/of-a-receiver",
                  JOB_ID, "PHONOS_URL=http://HOST:PORT"):
        assert whole in words, whole
    # a command said in a sentence stays on one line, its flags and values with it
    assert "  phonos webhooks ls --all --json" in lines, screen
    assert any(line.strip().endswith("phonos login --url http://HOST:PORT") for line in lines), screen


def test_a_backticked_command_and_the_records_refused_keep_their_shape() -> None:
    lines = message_in_lines("phonos: no API key: run `phonos login --url http://HOST:PORT`, or set PHONOS_API_KEY "
                             "and try again", 40)
    assert "  `phonos login --url http://HOST:PORT`," in lines
    indented = message_in_lines("  seq-a, seq-b, seq-c: Invalid request: params.num_recycles must be between 0 and 48",
                                40)
    assert indented[0].startswith("  seq-a") and all(line.startswith("    ") for line in indented[1:])
    assert message_in_lines("phonos: short", 40) == ["phonos: short"]


def test_a_rate_limit_notice_under_the_bars_is_broken_not_cut() -> None:
    class Screen(Terminal):
        def fileno(self) -> int:
            raise OSError  # no real terminal: Display draws at its widest, WIDEST
    stream = Screen()
    display = Display(stream, tty=True)
    display.add("j", "seq")
    notice = "phonos: rate limited (Rate limit exceeded: 10 requests per minute): trying again in 42 s " * 3
    display.notice(notice.strip())
    drawn = stream.getvalue()
    assert "…" not in drawn and "trying again in 42 s" in drawn.rsplit("rate limited", 1)[1]


@pytest.mark.parametrize(("title", "message", "said"), [
    ("Not found", "Webhook wh_x not found", "not found: webhook wh_x"),
    ("Not found", f"Job {JOB_ID} not found", f"not found: job {JOB_ID}"),
    ("Not found", "Delivery d_1 of webhook wh_x not found", "not found: delivery d_1 of webhook wh_x"),
    ("Not found", "API key k_1 not found", "not found: API key k_1"),
    ("Not found", "not found", "not found"),
    ("Not found", "the results were removed", "not found: the results were removed"),
    ("Invalid request", "url must use https://", "Invalid request: url must use https://"),
    (None, "something", "something"),
])
def test_not_found_is_said_once(title: str | None, message: str, said: str) -> None:
    assert cli.error_words(title, message) == said
