"""The command's progress display says why the bars stand still (the rate limit), and wipes that line once
they move again."""

from __future__ import annotations

import io

import pytest
from phonos_client.display import Display

pytestmark = pytest.mark.unit


def test_a_notice_goes_under_the_bars_and_is_wiped_when_they_move() -> None:
    screen = io.StringIO()
    display = Display(screen, tty=True)
    display.add("j1", "p1", "completed")
    display.notice("phonos: rate limited (60 requests per minute): trying again in 42 s")
    drawn = screen.getvalue().split("\x1b[1F")[-1]  # the redraw: one row, then the notice under it
    assert drawn.startswith("\x1b[2Kp1 ") and drawn.endswith("\x1b[2Kphonos: rate limited (60 requests per minute): "
                                                             "trying again in 42 s\n")
    display.update("j1", "completed", note="p1.pdb")
    last = screen.getvalue().split("\x1b[2F")[-1]  # both lines redrawn: the row, and the notice's line blank
    assert "p1.pdb" in last and last.endswith("\x1b[2K\n") and "rate limited" not in last


def test_without_a_terminal_a_notice_is_a_line_said_once() -> None:
    log = io.StringIO()
    display = Display(log, tty=False, quiet=True)  # --json: no progress lines, but a long pause is explained
    display.add("j1", "p1")
    for _ in range(2):
        display.notice("phonos: rate limited: trying again in 42 s")
    assert log.getvalue() == "phonos: rate limited: trying again in 42 s\n"
