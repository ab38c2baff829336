"""The operator's tables (`phonos keys list`, `accounts list`, `accounts activity`, `credits history`) on a terminal.

The columns are the client's (phonos_client.columns, which the server install has: `phonos` hands the users' verbs
to it): widths as a terminal draws them (a CJK username takes two cells a character), control characters shown as
`?`. On a terminal the table is fitted to its width: free text (a key's name, a credit's note) is shortened with `…`,
then the times lose their year and their " UTC" (`12-01 10:09Z`); a table that still cannot fit (its ids and
other whole columns alone are too wide: the keys at 80 columns) is shown as records, one line a field, as psql's
`\\x auto` does. Piped (`| grep`, `| awk`), a table is the whole table, its columns as wide as their widest cell,
whatever the width of the terminal the pipe started in. Also the times as --json writes them (RFC 3339).

The verbs' one-line answers (`keys revoke`, `credits add`, `users set-password`, `backup`) are fitted the same way
(`said`): on a narrower terminal broken between their parts, never inside an id, a key prefix or a path, as the
client's confirmations are (phonos_client.cli.said_to_fit); piped, the one line scripts have always read. Their
`error:` lines too (`said_error`, on stderr), a command or quoted name in one never broken."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from phonos_client.columns import (
    GAP,
    SOFT_FLOOR,
    command_in_lines,
    records,
    table,
    visible,
    width,
)

Rows = list[Sequence[str]]
When = Callable[[float | None], str]  # a time as a cell


def when(epoch: float | None) -> str:
    """A time in full, as the operator's tables have always shown it: `2026-12-01 10:09 UTC`; `-` for none."""
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def rfc3339(epoch: float) -> str:
    """A time as the API writes it (GET /v1/keys) and --json prints it: RFC 3339 UTC with milliseconds, a whole
    second without."""
    millis = round(epoch * 1000)
    text = datetime.fromtimestamp(millis // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis % 1000:03d}Z" if millis % 1000 else f"{text}Z"


def short_when(epoch: float | None) -> str:
    """A time in a narrow table: `12-01 10:09Z` (the client's short form); `-` for none."""
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%m-%d %H:%MZ")


def size(num_bytes: int) -> str:
    """A size in the unit that shows it: `backup` said "12 copied (0.0 MB)" of a few kB of result files (a small
    lab's whole backup), which read as nothing copied. Decimal units, one decimal from kB up."""
    if num_bytes < 1000:
        return f"{num_bytes} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if num_bytes < scale * 1000 or unit == "GB":
            return f"{num_bytes / scale:.1f} {unit}"
    raise AssertionError("unreachable")


def terminal_cells(stream: TextIO | None = None) -> int | None:
    """The cells a line of `stream` (stdout by default) may take: its terminal's width (COLUMNS where set, as the
    shell's tools read it) less one, which a character in the last column would leave some terminals wrapping;
    None when it is not a terminal (the table or line is then printed whole)."""
    if not (stream or sys.stdout).isatty():
        return None
    columns = shutil.get_terminal_size(fallback=(0, 0)).columns
    return columns - 1 if columns > 1 else None


def shown(header: Sequence[str], rows: Callable[[When], Rows], *, numbers: Collection[str] = (),
          free: Collection[str] = (), cells: int | None = None) -> str:
    """The table of `rows(when)` (the rows with their times written by `when`) in at most `cells` cells a line:
    with the times in full where the free text keeps SOFT_FLOOR cells so, else with them short (the free text cut
    further), else as records with the times in full."""
    full = rows(when)
    if cells is None:
        return table(header, full, numbers)
    if _fits(header, full, cells, free):
        return table(header, full, numbers, cells=cells, free=free)
    short = rows(short_when)
    text = table(header, short, numbers, cells=cells, free=free)
    if short and text == records(header, short, cells=cells, free=free):  # what `table` shows where it cannot fit
        return records(header, full, cells=cells, free=free)
    return text


def _fits(header: Sequence[str], rows: Rows, cells: int, free: Collection[str]) -> bool:
    """Whether the table fits `cells` with its free-text columns cut to no fewer than SOFT_FLOOR cells."""
    widths = [max(width(visible(text)) for text in column) for column in zip(header, *rows, strict=True)]
    least = [min(w, max(SOFT_FLOOR, width(name))) if name in free else w for name, w in zip(header, widths, strict=True)]
    return sum(least) + len(GAP) * (len(header) - 1) <= cells


def said(pieces: Sequence[str], stream: TextIO | None = None, indent: str = "") -> str:
    """A one-line answer made of `pieces` (joined by spaces), `indent`ed: the one line where it fits the terminal
    `stream` (stdout by default) is, and piped (what scripts read, as it always was); on a narrower terminal in
    lines broken between pieces, never inside one (an id, `pk_abc...`, a path, which may hold spaces), those it
    goes on to indented two cells more, rather than wherever the terminal's edge falls mid-word. A piece longer than
    a line stays whole on a line of its own, past the edge: a path cut in two no longer pastes."""
    line = indent + " ".join(pieces)
    cells = terminal_cells(stream)
    if cells is None or width(line) <= cells:
        return line
    # A piece may carry its own trailing space (`weights list` keeps its two-space columns that way, piped).
    return "\n".join(line.rstrip() for line in _filled(indent + pieces[0], pieces[1:], cells, indent + "  "))


def _filled(first: str, pieces: Sequence[str], cells: int, more: str) -> list[str]:
    """`first`, then `pieces` added to the line while it stays within `cells`, else on a new line after `more`."""
    lines = [first]
    for piece in pieces:
        if width(lines[-1]) + 1 + width(piece) <= cells:
            lines[-1] += " " + piece
        else:
            lines.append(more + piece)
    return lines


# A banner line's label and the spaces that align its value (`REST gateway:  `, `data dir:      `).
_LABEL = re.compile(r"^(?:[A-Za-z][\w ]*?:\s+|\s+)")


def banner_line(line: str, stream: TextIO | None = None) -> str:
    """A line of `phonos serve`'s banner (`REST gateway:  http://...  (try /v1/health)`): the line where it fits the
    terminal `stream` (stdout by default) is, and piped; on a narrower terminal broken between words, its lines
    under the value's column, an address, a path or a `phonos ...` command never cut (the terminal cut "Triton
    ready:" and the sign-in hint mid-word at 60 columns)."""
    cells = terminal_cells(stream)
    if cells is None or width(line) <= cells:
        return line
    label = _LABEL.match(line)
    head = label.group(0) if label else ""
    column = " " * (width(head) if head.strip() else width(head) + 2)
    # Two spaces part a value from its note (`http://...  (try /v1/health)`): a command ends there.
    pieces = [piece for part in line[len(head):].split("  ") for piece in error_pieces(part.strip()) if piece]
    if not pieces:
        return line
    return "\n".join(_filled(head + pieces[0], pieces[1:], cells, column))


def said_error(message: str, stream: TextIO | None = None) -> str:
    """`error: MESSAGE` as `said` fits a one-line answer, for stderr (the default stream here): on a narrower
    terminal broken between words, never inside a `backquoted` or "quoted" span, nor inside a `phonos ...` command
    (which runs to the end of its clause), so what is to be typed or matched stays one piece; piped, the one line
    scripts have always matched."""
    return said(error_pieces(f"error: {message}"), stream or sys.stderr)


def error_pieces(text: str) -> list[str]:
    """`text`'s words, a backquoted or double-quoted span and a `phonos ...` command (to the word that ends its
    clause with `)`, `;` or `,`) each kept as one piece."""
    pieces: list[str] = []
    closing: str | None = None  # what ends the piece being built, if one is open
    for word in text.split(" "):
        if closing is not None:
            pieces[-1] += " " + word
            if _closes(word, closing):
                closing = None
            continue
        pieces.append(word)
        for opener, ends in (("`", "`"), ('"', '"'), ("(`", "`")):
            if word.startswith(opener) and not _closes(word[len(opener):], ends):
                closing = ends
                break
        else:
            if word in ("phonos", "(phonos") and not word.endswith((")", ";", ",")):
                closing = "clause"
    return pieces


def _closes(word: str, ends: str) -> bool:
    if ends == "clause":
        return word.endswith((")", ";", ",", ":"))
    return ends in word


def restore_command(destination: Path) -> str:
    """`phonos backup`'s last line: `  to restore, start from it: phonos serve --data-dir <backup>`, the one line
    it always was where it fits and piped; on a narrower terminal the command under it in lines that end ` \\`
    (the path quoted where it needs to be), so it copies and pastes as one command."""
    words = ("phonos", "serve", "--data-dir", str(destination))
    line = f"  to restore, start from it: {' '.join(words)}"
    cells = terminal_cells()
    if cells is None or width(line) <= cells:
        return line
    return "\n".join(["  to restore, start from it:",
                      *command_in_lines([shlex.quote(word) for word in words], cells, indent="    ")])
