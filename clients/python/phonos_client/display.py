"""Live job progress for the command: one bar per job on a terminal, plain lines otherwise; a notice (why
nothing moves: the rate limit) under the bars, or as a line of its own."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TextIO

from phonos_client.columns import fit, message_in_lines, visible, width
from phonos_client.models import Progress

BAR = 24
LABEL = 24  # cells of a job's name
FIXED = 19  # cells of a row besides its name, bar and detail: brackets, percent, status, gaps
DETAIL_AT_LEAST = 20  # cells a row keeps for its detail (the model's stage, the files) before the bar gives way
WIDEST = 160  # cells of a row at most, also where the terminal's width is not known
REDRAW_S = 0.1  # at most ten frames a second
PLAIN_EVERY_S = 5.0  # a plain-line job repeats its progress at most this often


@dataclass
class _Row:
    label: str
    status: str = "pending"
    progress: Progress | None = None
    note: str = ""
    said: str = ""  # the last plain line, so plain output never repeats itself
    said_at: float = 0.0


class Display:
    def __init__(self, stream: TextIO, *, tty: bool, quiet: bool = False) -> None:
        self._stream = stream
        self._tty = tty
        self._quiet = quiet
        self._rows: dict[str, _Row] = {}
        self._drawn = 0
        self._last_draw = 0.0
        self._notice = ""

    def add(self, key: str, label: str, status: str = "pending") -> None:
        self._rows[key] = _Row(label, status)
        self._render(force=True)

    def update(self, key: str, status: str, progress: Progress | None = None, note: str = "") -> None:
        row = self._rows[key]
        changed = status != row.status or note != row.note
        if changed:
            self._notice = ""  # things move again
        row.status, row.note = status, note
        row.progress = progress if status == "running" else None
        if self._tty:
            self._render(force=changed)
        else:
            self._say(row, changed)

    def notice(self, text: str) -> None:
        """Says why the jobs' rows stand still (shown until one of them changes). Said even with `quiet`
        (--json): it goes to stderr, and a pause of a minute with nothing said looks like a hang."""
        if self._tty and not self._quiet:
            self._notice = text
            self._render(force=True)
        elif text != self._notice:
            self._notice = text
            # --json on a terminal: a line of its own, broken between words at the terminal's edge; piped, as said
            lines = message_in_lines(text, self._columns() - 1) if self._tty else [text]
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()

    def back(self, text: str) -> None:
        """The jobs' streams are back after a loss the notice said: on a terminal the notice goes (the rows
        move again; a "retrying..." left there while they did looked like a hang); as plain lines (piped, or
        --json) `text` is said once, so the lines do not end on a loss that was over. Never an escape code in a
        pipe."""
        if self._tty and not self._quiet:
            if self._notice:
                self._notice = ""
                self._render(force=True)
        elif text != self._notice:
            self.notice(text)

    def close(self) -> None:
        self._notice = ""
        if self._tty:
            self._render(force=True)

    # -- terminal ---------------------------------------------------------------------------------

    def _render(self, *, force: bool) -> None:
        if self._quiet or not self._tty:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_S:
            return
        self._last_draw = now
        # Each row must take one line of the screen: a longer one wraps onto two, and "\x1b[<n>F" (n rows up)
        # would then redraw too low, leaving a stale copy of the rows on every frame (a 80-column terminal and
        # ESMFold's "trunk pass 1 of 25 (recycle 0 of 24)" make a 101-cell row). One cell is kept free: a
        # character in the last column leaves some terminals at the edge, wrapping the next newline.
        cells = self._columns() - 1
        # The notice (a rate limit's wait, 70 cells and more) in lines broken between words, not cut at the edge.
        notice = message_in_lines(self._notice, cells) if self._notice else []
        rows = [self._line(row, cells) for row in self._rows.values()] + notice
        lines = [line if width(line) <= cells else fit(line, cells) for line in rows]
        lines += [""] * (self._drawn - len(lines))  # a notice that went: its line is wiped, not left behind
        out = f"\x1b[{self._drawn}F" if self._drawn else ""
        out += "".join(f"\x1b[2K{line}\n" for line in lines)
        self._stream.write(out)
        self._stream.flush()
        self._drawn = len(lines)

    def _columns(self) -> int:
        """The terminal's width now (it may have been resized since the last frame); WIDEST when unknown."""
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (AttributeError, OSError, ValueError):  # not a real terminal (a test's StringIO)
            return WIDEST
        return min(columns, WIDEST) if columns > 1 else WIDEST

    @staticmethod
    def _line(row: _Row, cells: int = WIDEST) -> str:
        """The row in at most about `cells` cells: on a narrow terminal the bar (down to 10) and then the name (down
        to 12) give way, so the status and some of the detail still show."""
        label_cells, bar_cells = LABEL, BAR
        short = DETAIL_AT_LEAST - (cells - (LABEL + BAR + FIXED))
        if short > 0:
            bar_cells -= min(short, BAR - 10)
            label_cells -= min(short - (BAR - bar_cells), LABEL - 12)
        fraction = row.progress.fraction if row.progress else None
        if row.status == "completed":
            fraction = 1.0
        filled = 0 if fraction is None else round(fraction * bar_cells)
        bar = "#" * filled + "-" * (bar_cells - filled)
        percent = "" if fraction is None else f"{fraction * 100:3.0f}%"
        detail = row.note or (row.progress.message if row.progress else "")
        return f"{fit(row.label, label_cells)} [{bar}] {percent:>4} {row.status:<9} {visible(detail)}"

    # -- plain lines ------------------------------------------------------------------------------

    def _say(self, row: _Row, changed: bool) -> None:
        if self._quiet:
            return
        if row.progress is not None and not changed:
            stage = f"{row.label}: [{row.progress.stage}]"
            text = f"{stage} {row.progress.message} ({row.progress.step}/{row.progress.total})"
            if row.said.startswith(stage) and time.monotonic() - row.said_at < PLAIN_EVERY_S:
                return  # the same stage: a line every few seconds is enough in a log
        else:
            text = f"{row.label}: {row.status}" + (f" - {row.note}" if row.note else "")
        if text != row.said:
            row.said, row.said_at = text, time.monotonic()
            self._stream.write(text + "\n")
            self._stream.flush()
