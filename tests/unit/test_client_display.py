"""The command's progress display says why the bars stand still (the rate limit), and wipes that line once
they move again."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import termios

import pytest
from phonos_client.columns import width
from phonos_client.display import Display
from phonos_client.models import Progress

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


def test_rows_are_cut_to_the_terminals_width_so_redraws_stay_in_place() -> None:
    """A row wider than the terminal wraps onto two lines and `\\x1b[<n>F` redraws too low, leaving a stale copy
    on every frame: each row fits the width the terminal has now (one cell spare), `…` where it was cut."""
    controller, terminal = pty.openpty()
    try:
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))  # 24 rows, 60 columns
        with open(terminal, "w", closefd=False) as screen:
            display = Display(screen, tty=True)
            display.add("j1", "sp_P69905_HBA_HUMAN")
            display.update("j1", "running", Progress("recycle", 1, 25, "trunk pass 1 of 25 (recycle 0 of 24)"))
            display.notice("phonos: rate limited (You have exceeded the rate limit of 60 requests per minute): "
                           "trying again in 42 s")
        received = b""
        while select.select([controller], [], [], 0.2)[0]:  # everything written, however the pty splits it
            received += os.read(controller, 65536)
        drawn = received.decode()
    finally:
        os.close(controller)
        os.close(terminal)
    frame = drawn.split("\x1b[1F")[-1]  # the last frame: the row and the notice under it
    lines = [line.removeprefix("\x1b[2K") for line in frame.replace("\r\n", "\n").split("\n") if line]
    assert len(lines) == 3 and all(width(line) <= 59 for line in lines), lines
    # the bar (to 10) and the name (to 12) gave way first: the state and the stage still show
    assert lines[0] == "sp_P69905_H… [----------]   4% running   trunk pass 1 of 2…", lines
    # the notice under it is broken between words, not cut (the redraw goes up as many lines as it drew)
    assert lines[1:] == ["phonos: rate limited (You have exceeded the rate limit of",
                         "  60 requests per minute): trying again in 42 s"], lines
    wide = io.StringIO()  # no terminal to ask: as wide as before (160 cells)
    Display(wide, tty=True).add("j1", "p1 " * 100)
    assert wide.getvalue().strip() == "\x1b[2K" + "p1 " * 7 + "p1… [" + "-" * 24 + "]      pending"
