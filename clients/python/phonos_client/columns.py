"""Text in columns on a terminal: widths as the terminal draws them, and tables with a header row.

`len()` counts code points, a terminal counts cells: an East Asian wide character (a CJK job name, most emoji)
takes two, a combining mark none. Padding by `len()` pushes every later column of such a row out of line. A
job's name is any text a client gave it, so a control character in it (a newline, an escape sequence) is shown
as `?` rather than sent to the terminal, where it would break the row or rewrite the screen.

A table wider than the terminal would wrap every row onto two lines. Given the terminal's width, `table` fits it:
the widest free-text columns (a job's name, a description) are shortened with `…`, times lose their seconds and then
their year; an id is never cut, so a column of ids (and the id that ends a free-text cell: a credit entry's job)
stays whole. A table that cannot be made to fit (its ids and other whole columns alone are too wide: webhook
deliveries and the activity log at 80 columns, the jobs and the credit history at 60) is shown as records instead,
as psql does with `\\x auto`: one line a field (`NAME     value`), a blank line between rows; a value longer than
the line goes on under itself, broken at its spaces, so nothing is cut and the terminal wraps nothing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence

GAP = "  "  # between two columns


def visible(text: str) -> str:
    """`text` with every character a terminal would act on instead of draw (controls, format marks) as `?`."""
    return "".join(c if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") else "?" for c in text)


def _cells(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def width(text: str) -> int:
    """The cells `text` takes on a terminal."""
    return sum(_cells(c) for c in text)


def clip(text: str, cells: int) -> str:
    """`text` cut to at most `cells` cells, `…` where it was cut."""
    text = visible(text)
    if width(text) > cells:
        kept, used = [], 0
        for c in text:
            if used + _cells(c) > cells - 1:
                break
            kept.append(c)
            used += _cells(c)
        text = "".join(kept) + "…"
    return text


def fit(text: str, cells: int) -> str:
    """`text` cut to at most `cells` cells (`…` where it was cut), padded with spaces to exactly `cells`."""
    text = clip(text, cells)
    return text + " " * (cells - width(text))


_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def shortened(text: str, cells: int) -> str:
    """A free-text cell in at most `cells` cells, padded: cut before the id it ends with (`job_charge: … <job id>`),
    so the id stays whole; cut at its end when it has none, or the id alone would not fit."""
    text = visible(text)
    ids = list(_ID.finditer(text))
    if ids and width(text) > cells:
        before, tail = text[:ids[-1].start()].rstrip(), " " + text[ids[-1].start():]
        if width(tail) + 1 <= cells:
            return fit(clip(before, cells - width(tail)) + tail, cells)
    return fit(text, cells)


_TIME = re.compile(r"^(\d{4})-(\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)?$")


def short_time(text: str, level: int) -> str:
    """An RFC 3339 time, shorter: level 1 without seconds (`2026-12-01 06:21Z`), 2 without the year too
    (`12-01 06:21Z`); other text as it is."""
    m = _TIME.match(text)
    if not m or level == 0:
        return text
    zone = m.group(4) or ""
    return (f"{m.group(1)}-" if level == 1 else "") + f"{m.group(2)} {m.group(3)}{zone}"


_NUMBER = re.compile(r"^([+\-\u2212]?\d[\d,.]*)(.*)$")  # a cell's leading number ("+10", "90", "3 attempts")


def numbers_aligned(cells: Sequence[str]) -> list[str]:
    """A number column's cells, all one width: their leading numbers right-aligned on the last digit, what follows
    them (" credits", " attempts") left-aligned after it, so 9 and 10, "1 attempt" and "12 attempts" line up."""
    split = [_NUMBER.match(cell) for cell in cells]
    digits = max((width(m.group(1)) for m in split if m), default=0)
    after = max((width(m.group(2)) for m in split if m), default=0)
    aligned = [" " * (digits - width(m.group(1))) + m.group(1) + m.group(2) + " " * (after - width(m.group(2)))
               if m else cell for m, cell in zip(split, cells, strict=True)]
    cells_wide = max((width(cell) for cell in aligned), default=0)
    return [" " * (cells_wide - width(cell)) + cell for cell in aligned]  # a cell without a number: at the right


SOFT_FLOOR = 24  # cells a free-text column keeps before the times give up their seconds
MID_FLOOR = 12  # ... before they give up their year


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numbers: Collection[str] = (), *,
          cells: int | None = None, free: Collection[str] = (), times: Collection[str] = ()) -> str:
    """A header row, then the rows, each column as wide as its widest cell (the last one unpadded). The columns
    named in `numbers` (credits, amounts, counts) are right-aligned, their header too, as numbers are read.

    `cells`: the terminal's width, which the table is fitted to where it can be: the columns named in `free`
    (free text) are shortened, widest first, and those in `times` (RFC 3339) shown shorter, in the order the
    module's docstring says; no other column is cut."""
    lines = [list(header), *([visible(cell) for cell in row] for row in rows)]
    for i, name in enumerate(header):
        if name in numbers:
            for line, aligned in zip(lines[1:], numbers_aligned([line[i] for line in lines[1:]]), strict=True):
                line[i] = aligned
    widths = [max(width(line[i]) for line in lines) for i in range(len(header))]
    natural = list(widths)
    if cells is not None:
        done = _fitted(header, lines, widths, cells, free, times)
        if done is None:
            return records(header, rows, cells=cells, free=free)
        lines, widths = done

    def cell(text: str, i: int) -> str:
        if header[i] in numbers:
            return " " * (widths[i] - width(text)) + text
        if header[i] in free and widths[i] < natural[i]:  # shortened to fit the terminal
            return shortened(text, widths[i])
        return fit(text, widths[i]) if i < len(header) - 1 else text

    return "\n".join(GAP.join(cell(text, i) for i, text in enumerate(line)).rstrip() for line in lines)


def _fitted(header: Sequence[str], given: list[list[str]], natural: list[int], cells: int, free: Collection[str],
            times: Collection[str]) -> tuple[list[list[str]], list[int]] | None:
    """The table's cells and column widths, made to fit `cells` as far as `free` and `times` allow: first the
    free-text columns down to SOFT_FLOOR cells; then, with times shown without their seconds, down to MID_FLOOR;
    then, times without their year too, down to their header (and the ids they end with). None for a table that
    would still be too wide (its whole columns alone are): it is shown as `records`."""
    # A free column is never narrower than its header, nor than the id its cells end with (and `… ` before it).
    least = [max([width(name)] + [width(line[i][m.start():]) + 2 for line in given[1:]
                                  for m in list(_ID.finditer(line[i]))[-1:]]) for i, name in enumerate(header)]
    lines, widths = given, natural
    for level, floor in ((0, SOFT_FLOOR), (1, MID_FLOOR), (2, 1)):
        lines = [given[0], *([short_time(text, level) if header[i] in times else text for i, text in enumerate(line)]
                             for line in given[1:])]
        widths = [max(width(line[i]) for line in lines) for i in range(len(header))]
        while (over := sum(widths) + len(GAP) * (len(widths) - 1) - cells) > 0:
            wide = [i for i, name in enumerate(header) if name in free and widths[i] > max(floor, least[i])]
            if not wide:
                break
            i = max(wide, key=lambda j: widths[j])  # the widest first, down to the next widest
            others = [widths[j] for j in wide if j != i]
            widths[i] -= min(over, widths[i] - max(floor, least[i], *others)) or 1
        if over <= 0:
            return lines, widths
    return None  # too wide even so (its ids and other whole columns alone): every row would wrap


def records(header: Sequence[str], rows: Sequence[Sequence[str]], *, cells: int | None = None,
            free: Collection[str] = ()) -> str:
    """Each row as a record, one line a field under its column's name (`JOB ID   8d63...`), a blank line between
    records: for a terminal too narrow for the table. With `cells`, a value longer than the line goes on under
    itself, broken at its spaces (`broken`); a single word longer than that is cut with `…` in a free-text column
    (`free`) and left whole elsewhere (an id). An empty value is shown as `-`."""
    label = max(width(name) for name in header)
    room = None if cells is None else max(cells - label - len(GAP), 1)
    indent = " " * (label + len(GAP))
    blocks = []
    for row in rows:
        lines = []
        for name, text in zip(header, row, strict=True):
            value = visible(text.strip()) or "-"
            parts = [value] if room is None else broken(value, room, cut=name in free)
            lines.append(f"{fit(name, label)}{GAP}{parts[0]}")
            lines += [indent + part for part in parts[1:]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def broken(text: str, cells: int, *, cut: bool) -> list[str]:
    """`text` in lines of at most `cells` cells, broken at spaces; a word longer than a line alone is cut with `…`
    when `cut` (but never one that holds a job id: the id, or a file named by it, `folds/seq.<job id>.pdb`, is
    what the reader copies), else left whole (an id or a time, worth more whole than fitted)."""
    lines: list[str] = []
    for word in text.split(" "):
        if cut and width(word) > cells and not _ID.search(word):
            word = clip(word, cells)
        if lines and width(lines[-1]) + 1 + width(word) <= cells:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def pieces_in_lines(pieces: Sequence[str], cells: int, gap: str = " ") -> list[str]:
    """`pieces` joined by `gap`, in lines of at most `cells` cells, broken only between pieces: a confirmation's
    parts (`<id> cancelled`, `(10 credits refunded)`) each stay whole. A piece longer than a line alone is broken
    at its spaces (`broken`: an id or a URL in it stays whole)."""
    lines: list[str] = []
    for piece in pieces:
        if lines and width(lines[-1]) + width(gap) + width(piece) <= cells:
            lines[-1] += gap + piece
        else:
            lines += broken(piece, cells, cut=False) if width(piece) > cells else [piece]
    return lines


def command_in_lines(words: Sequence[str], cells: int, indent: str = "  ") -> list[str]:
    """A shell command (its words quoted already) in lines of at most `cells` cells, each `indent`ed, the ones it
    goes on from ending ` \\` and those after indented once more: the shell reads them as the one command, so the
    lines copy and paste whole; no word is broken (an id longer than a line stays whole, past the edge)."""
    more = indent + "  "
    lines = [indent]
    for i, word in enumerate(words):
        start = lines[-1] in (indent, more)
        room_after = 0 if i == len(words) - 1 else len(" \\")  # a line that more words follow may need its ` \`
        if start or width(lines[-1]) + 1 + width(word) + room_after <= cells:
            lines[-1] += word if start else " " + word
        else:
            lines[-1] += " \\"
            lines.append(more + word)
    return lines


_CLOSING = ",;:)."  # punctuation a command said in a sentence ends at (`see phonos jobs ls --help;`)


def _units(words: Sequence[str], commands: Collection[str]) -> list[str]:
    """`words` grouped into what a line may not be broken inside: a `backticked` span (`phonos login`), and a
    command said in words, `phonos` and the verbs (`commands`), flags, their values and ids after it
    (`phonos login --url http://HOST:PORT`); every other word alone (a URL, a path and an id are one word)."""
    units: list[str] = []
    i = 0
    while i < len(words):
        word, i = words[i], i + 1
        if word.startswith("`") and word.count("`") == 1:  # a span that closes on a later word
            while i < len(words) and "`" not in word[1:]:
                word, i = f"{word} {words[i]}", i + 1
        elif word == "phonos":
            flag = False  # the word before was a flag that takes a value (`--url`, `--out`)
            while i < len(words) and not word.endswith(tuple(_CLOSING)):
                bare = words[i].rstrip(_CLOSING)
                if not (bare in commands or bare.startswith("-") or flag or _ID.fullmatch(bare) or bare.isupper()):
                    break
                flag = bare.startswith("--") and "=" not in bare
                word, i = f"{word} {words[i]}", i + 1
        units.append(word)
    return units


def message_in_lines(line: str, cells: int, commands: Collection[str] = ()) -> list[str]:
    """An error or notice line in lines of at most `cells` cells, broken between words, the lines after the first
    indented two more cells than it: never inside a word (a job id, a URL, a path), a `backticked` span or a command
    (`_units`), which the terminal's own wrapping cuts wherever its edge falls. A command longer than a line alone
    is broken at its spaces; a word longer than one stays whole, past the edge."""
    if width(line) <= cells:
        return [line]
    body = line.lstrip(" ")
    indent = " " * (len(line) - len(body))
    more = indent + "  "
    lines: list[str] = []
    for unit in _units(body.split(" "), commands):
        lead = indent if not lines else more
        if lines and width(lines[-1]) + 1 + width(unit) <= cells:
            lines[-1] += " " + unit
        elif width(lead) + width(unit) <= cells:
            lines.append(lead + unit)
        else:  # longer than a line alone: at its own spaces
            parts = broken(unit, max(cells - width(more), 1), cut=False)
            lines += [(lead if j == 0 else more) + part for j, part in enumerate(parts)]
    return lines
