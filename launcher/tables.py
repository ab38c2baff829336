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
`error:` lines too (`said_error`, on stderr), a command or quoted name in one never broken. The one routine that
breaks them all, the client's lines too, is phonos_client.columns.message_in_lines."""

from __future__ import annotations

import functools
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
    message_in_lines,
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
    goes on to indented two cells more (phonos_client.columns.message_in_lines, the client's rules)."""
    if not pieces:
        return indent
    return "\n".join(message_in_lines([indent + pieces[0], *pieces[1:]], terminal_cells(stream)))


def said_line(text: str, stream: TextIO | None = None) -> str:
    """A line of words (an error, argparse's usage refusal) fitted to the terminal `stream` (stdout by default) is
    as the client fits its own (message_in_lines): piped, as it is; on a narrower terminal broken between words,
    never inside an id, a path, a `backquoted` or "quoted" span, nor a `phonos ...` command with its flags and
    their values (this command's verbs: `command_words`)."""
    return "\n".join(message_in_lines(text, terminal_cells(stream), command_words()))


# A banner line's label and the spaces that align its value (`REST gateway:  `, `data dir:      `).
_LABEL = re.compile(r"^(?:[A-Za-z][\w ]*?:\s+|\s+)")


def banner_line(line: str, stream: TextIO | None = None) -> str:
    """A line of `phonos serve`'s banner (`REST gateway:  http://...  (try /v1/health)`): the line where it fits the
    terminal `stream` (stdout by default) is, and piped; on a narrower terminal broken between words (said_line's
    rules: two spaces part a value from its note, where a command ends), its lines under the value's column (the
    terminal cut "Triton ready:" and the sign-in hint mid-word at 60 columns)."""
    found = _LABEL.match(line)
    label = found.group(0) if found and found.group(0).strip() else ""  # an indented line: indented 2 more
    return "\n".join(message_in_lines(line[len(label):], terminal_cells(stream), command_words(), label=label))


def said_error(message: str, stream: TextIO | None = None) -> str:
    """`error: MESSAGE` for stderr (the default stream here), fitted to its terminal as `said_line` fits a line:
    piped, the one line scripts have always matched."""
    return said_line(f"error: {message}", stream or sys.stderr)


@functools.cache
def command_words() -> frozenset[str]:
    """Every noun and verb the operator's `phonos` takes (`keys`, `set-password`, and the users' verbs it hands to
    the client): a line is not broken inside `phonos users set-password --username NAME`. Read from its parser once
    (imported here, when first said: launcher.cli imports this module)."""
    from phonos_client.cli import command_words as client_words

    from launcher.cli import build_parser

    return client_words(build_parser())


def restore_command(destination: Path, program: str = "phonos") -> str:
    """`phonos backup`'s last line: `  to restore, start from it: phonos serve --data-dir <backup>`, the one line
    it always was where it fits and piped; on a narrower terminal the command under it in lines that end ` \\`
    (the path quoted where it needs to be), so it copies and pastes as one command. `program`: how `phonos` is
    typed here (launcher.banner.operator_program: `.venv/bin/phonos` where PATH has no `phonos`)."""
    words = (program, "serve", "--data-dir", str(destination))
    line = f"  to restore, start from it: {' '.join(words)}"
    cells = terminal_cells()
    if cells is None or width(line) <= cells:
        return line
    return "\n".join(["  to restore, start from it:",
                      *command_in_lines([program, *(shlex.quote(word) for word in words[1:])], cells, indent="    ")])
