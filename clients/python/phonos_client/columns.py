"""Text in columns on a terminal: widths as the terminal draws them, and tables with a header row.

`len()` counts code points, a terminal counts cells: an East Asian wide character (a CJK job name, most emoji)
takes two, a combining mark none. Padding by `len()` pushes every later column of such a row out of line. A
job's name is any text a client gave it, so a control character in it (a newline, an escape sequence) is shown
as `?` rather than sent to the terminal, where it would break the row or rewrite the screen."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

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


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A header row, then the rows, each column as wide as its widest cell (the last one unpadded)."""
    lines = [list(header), *([visible(cell) for cell in row] for row in rows)]
    widths = [max(width(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(GAP.join([*(fit(cell, w) for cell, w in zip(line[:-1], widths[:-1], strict=True)),
                               line[-1]]).rstrip() for line in lines)
