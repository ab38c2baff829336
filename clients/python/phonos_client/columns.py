"""Text in columns on a terminal: widths as the terminal draws them, and tables with a header row.

`len()` counts code points, a terminal counts cells: an East Asian wide character (a CJK job name, most emoji)
takes two, a combining mark none. Padding by `len()` pushes every later column of such a row out of line. A
job's name is any text a client gave it, so a control character in it (a newline, an escape sequence) is shown
as `?` rather than sent to the terminal, where it would break the row or rewrite the screen."""

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


def fit(text: str, cells: int) -> str:
    """`text` cut to at most `cells` cells (`…` where it was cut), padded with spaces to exactly `cells`."""
    text = visible(text)
    if width(text) > cells:
        kept, used = [], 0
        for c in text:
            if used + _cells(c) > cells - 1:
                break
            kept.append(c)
            used += _cells(c)
        text = "".join(kept) + "…"
    return text + " " * (cells - width(text))


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


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numbers: Collection[str] = ()) -> str:
    """A header row, then the rows, each column as wide as its widest cell (the last one unpadded). The columns
    named in `numbers` (credits, amounts, counts) are right-aligned, their header too, as numbers are read."""
    lines = [list(header), *([visible(cell) for cell in row] for row in rows)]
    for i, name in enumerate(header):
        if name in numbers:
            for line, aligned in zip(lines[1:], numbers_aligned([line[i] for line in lines[1:]]), strict=True):
                line[i] = aligned
    widths = [max(width(line[i]) for line in lines) for i in range(len(header))]

    def cell(text: str, i: int) -> str:
        if header[i] in numbers:
            return " " * (widths[i] - width(text)) + text
        return fit(text, widths[i]) if i < len(header) - 1 else text

    return "\n".join(GAP.join(cell(text, i) for i, text in enumerate(line)).rstrip() for line in lines)
