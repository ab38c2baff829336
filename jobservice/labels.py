"""One rule for the free text people give things: job names, API key names, usernames, credit notes.

Such text comes back in terminals (`phonos jobs ls`), logs, CSV exports and the dashboard, so it must be
printable: an ANSI escape sequence (ESC, U+001B) in a job name would be replayed by every terminal that
lists it, a newline would split a log line or a CSV row, and a right-to-left override would make a name
read differently from what it holds ("Trojan Source", CVE-2021-42574). Refused, with a 400 naming the
field and the character's code point:
- control characters: C0 (U+0000-U+001F, tab and newline included), DEL (U+007F), C1 (U+0080-U+009F);
- the line and paragraph separators U+2028 and U+2029 (line breaks to many log viewers and JavaScript);
- the bidirectional formatting characters: embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069,
  and the marks U+200E, U+200F, U+061C;
- invisible characters that spell nothing: the zero-width space U+200B, the word joiner U+2060 and the byte
  order mark U+FEFF (a name with one looks like, but is not, the name without it: a share page or a job list
  could show a look-alike of another job).
Other format characters stay allowed: the zero-width joiner and non-joiner (U+200D, U+200C) are part
of emoji sequences and of Persian or Indic spelling; a soft hyphen (U+00AD) is harmless.

Only new values are checked: names stored before this rule are not rewritten.
"""

from __future__ import annotations

import unicodedata

from jobservice.errors import InvalidArgument

LINE_SEPARATORS = frozenset("\u2028\u2029")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
INVISIBLE = frozenset("\u200b\u2060\ufeff")


def check_label(field: str, value: str | None) -> None:
    """Raise InvalidArgument naming `field` and the code point when `value` holds a character it may not."""
    if value is None:
        return
    for char in value:
        kind = _kind(char)
        if kind is not None:
            raise InvalidArgument(f"{field} contains {kind} (U+{ord(char):04X}); "
                                  f"{field} must be printable text: remove the character and send it again")


def _kind(char: str) -> str | None:
    """What refuses `char`, in words with an article, or None when it may stay."""
    if unicodedata.category(char) == "Cc":
        return "a control character"
    if char in LINE_SEPARATORS:
        return "a line or paragraph separator"
    if char in BIDI_CONTROLS:
        return "a bidirectional formatting character"
    if char in INVISIBLE:
        return "an invisible character"
    return None
