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
the line goes on under itself, broken at its spaces, so nothing is cut and the terminal wraps nothing.

A message longer than the terminal (an error, a notice, a one-line answer, a line of `phonos serve`'s banner) is
broken between words by `message_in_lines`, the one routine for both `phonos` commands (this package's and the
operator's in launcher/, which imports it; this package never imports launcher): never inside an id, a URL, a path,
a quoted span or a command with its flags and their values; piped, the one line a script reads."""

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
    parts (`<id> cancelled`, `(10 credits refunded)`) each stay whole (`message_in_lines`, its lines unindented)."""
    return message_in_lines(pieces, cells, hang="", gap=gap)


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
_OPENING = "(["  # punctuation a quoted span or a command may follow (`(phonos credits history ...)`, "(`keys`")
_QUOTES = "`\""  # a `backticked` command or a "quoted" name: one piece to type or match


def _is_program(word: str) -> bool:
    """`phonos`, or the path it is run by (the banner's `.venv/bin/phonos`), where a command said in words starts."""
    bare = word.lstrip(_OPENING + _QUOTES)
    return bare == "phonos" or bare.endswith("/phonos")


def _opened_quote(word: str) -> str | None:
    """The quote mark `word` opens and does not close (`` `phonos ``, `("my`), if any."""
    bare = word.lstrip(_OPENING)
    return bare[0] if bare and bare[0] in _QUOTES and bare.count(bare[0]) == 1 else None


def _span(tokens: Sequence[tuple[str, str]], i: int) -> tuple[str, int]:
    """The text from `tokens[i]` to the word that closes the quote it opens (the rest of the line when none does),
    and the index after it; `tokens[i]` alone when it opens none."""
    word, mark = tokens[i][1], _opened_quote(tokens[i][1])
    i += 1
    if mark is None:
        return word, i
    while i < len(tokens) and word.count(mark) < 2:
        word, i = word + tokens[i][0] + tokens[i][1], i + 1
    return word, i


def _command(tokens: Sequence[tuple[str, str]], i: int, commands: Collection[str]) -> tuple[str, int]:
    """A command said in words from `tokens[i]` (`phonos`): with it the verbs (`commands`), flags, a flag's value
    (a "quoted" one whole), ids, paths and PLACEHOLDERS after it, to the word that ends its clause (`,;:).`) or
    the wider gap that parts a value from its note (the banner's `phonos login --url URL  (asks ...)`)."""
    word, i = tokens[i][1], i + 1
    flag = False  # the word before was a flag that takes a value (`--url`, `--out`)
    while i < len(tokens) and not word.endswith(tuple(_CLOSING)):
        sep, nxt = tokens[i]
        bare = nxt.rstrip(_CLOSING)
        if len(sep) > 1 or not bare or not (
                flag or bare in commands or bare.startswith("-") or _ID.fullmatch(bare) or bare.isupper()
                or bare.startswith(("/", "./", "../", "~/"))):
            break
        flag = not flag and bare.startswith("--") and "=" not in bare
        piece, i = _span(tokens, i)  # a "quoted" value whole
        word += sep + piece
    return word, i


def _units(text: str, commands: Collection[str]) -> list[tuple[str, str, bool]]:
    """`text` as what a line may not be broken inside, each (the spaces before it, its text, whether it is one
    word): a `backticked` or "quoted" span, a command said in words (`_command`), and every other word alone (a
    URL, a path and an id are one word)."""
    parts = re.split(r"( +)", text)
    tokens = list(zip(["", *parts[1::2]], parts[0::2], strict=True))  # (the spaces before a word, the word)
    units: list[tuple[str, str, bool]] = []
    i = 0
    while i < len(tokens):
        sep = tokens[i][0]
        first = tokens[i][1]
        command = _is_program(first) and _opened_quote(first) is None
        word, i = _command(tokens, i, commands) if command else _span(tokens, i)
        units.append((sep, word, " " not in word))
    return units


def _unit_parts(unit: str, commands: Collection[str]) -> list[tuple[str, str, bool]]:
    """A command or span longer than a line, as the parts it is broken between: its program and verbs together
    (`phonos webhooks rotate-secret`), each flag with its value (`--expire-current-after 9d`, `--username "Ada
    Lovelace"`), any other word (or "quoted" name) alone."""
    def bare(word: str) -> str:
        return word.strip(_OPENING + _CLOSING + _QUOTES)

    split = re.split(r"( +)", unit)
    tokens = list(zip(["", *split[1::2]], split[0::2], strict=True))
    words, i = [(tokens[0][0], tokens[0][1])], 1  # the first word alone: the quote it opens is the unit's own
    while i < len(tokens):
        sep = tokens[i][0]
        word, i = _span(tokens, i)  # a "quoted" name inside whole
        words.append((sep, word))
    parts: list[tuple[str, str, bool]] = []
    value_next = False  # the word before was a flag that takes a value
    for sep, word in words:
        head = bool(parts) and all(_is_program(w) or bare(w) in commands for w in parts[-1][1].split(" "))
        if parts and (value_next or (head and bare(word) in commands)):
            parts[-1] = (parts[-1][0], parts[-1][1] + sep + word, True)
            value_next = False
        else:
            parts.append((sep, word, True))
            value_next = bare(word).startswith("--") and "=" not in word
    return parts


def _filled(units: Sequence[tuple[str, str, bool]], cells: int, lead: str, hang: str, commands: Collection[str],
            lines: list[str] | None = None) -> list[str]:
    """`units` on `lines` (none yet by default) of at most `cells` cells: the first after `lead`, the others after
    `hang`; a unit that does not fit on the line goes on a new one, and one longer than a line alone is broken
    between its parts (`_unit_parts`), from the line it would start, unless it is whole (a word, a piece its caller
    gave), which stays whole on a line of its own, past the edge."""
    lines = [] if lines is None else lines
    for sep, unit, whole in units:
        start = hang if lines else lead
        if lines and width(lines[-1]) + width(sep) + width(unit) <= cells:
            lines[-1] += sep + unit
        elif whole or width(start) + width(unit) <= cells:
            lines.append(start + unit)
        else:
            parts = _unit_parts(unit, commands)
            _filled([(sep, *parts[0][1:]), *parts[1:]], cells, lead, hang, commands, lines)
    return lines


def message_in_lines(message: str | Sequence[str], cells: int | None, commands: Collection[str] = (), *,
                     hang: str | None = None, gap: str = " ", label: str = "") -> list[str]:
    """A message (an error, a notice, a one-line answer, a banner line) in lines of at most `cells` cells, broken
    between words: the one routine both CLIs (`phonos` of phonos_client and of launcher/) fit their text with, where
    the terminal's own wrapping cuts wherever its edge falls and a job id, a URL, a path or a command cut in two no
    longer copies or pastes. The rules:

    - `cells` None (no terminal: piped, a script reads it), or a message that fits: the one line, as it is.
    - A line is never broken inside a word (an id, a URL, a path, `KEY=value`), a `backticked` or "quoted" span,
      nor a command said in words: `phonos` and the verbs after it (`commands`), its flags and their values, ids,
      paths and PLACEHOLDERS, to the end of its clause or a two-space gap (`_command`). The spaces between two
      words on one line are the message's own (a banner's two-space gap stays).
    - The lines after the first are indented `hang`: by default the message's own indent and two cells more, or
      under the value of a `label` (a banner line's `metrics:       `, which starts the first line, its value
      on it however wide), so they read as one message.
    - A span or command longer than a line alone is broken between its parts: the program with its verbs, each
      flag with its value; a word longer than a line stays whole, on a line of its own, past the edge.
    - `message` may be given as pieces (a confirmation's `<id> cancelled`, `(10 credits refunded)`, joined by
      `gap`): each is whole, its caller's word for what is one (a path in it may hold spaces)."""
    line = label + (message if isinstance(message, str) else gap.join(message))
    if cells is None or cells <= 0 or width(line) <= cells:
        return [line]
    first = message if isinstance(message, str) else message[0]
    body = first.lstrip(" ")
    lead = label + first[:len(first) - len(body)]
    if isinstance(message, str):
        units = _units(body, commands)
    else:
        units = [("" if i == 0 else gap, piece, True) for i, piece in enumerate([body, *message[1:]])]
    if hang is None:
        hang = " " * width(label) if label.strip() else lead + "  "
    # A piece may carry its own trailing space (`weights list` keeps its two-space columns that way, piped).
    return [text.rstrip() for text in _filled(units, cells, lead, hang, commands)]
