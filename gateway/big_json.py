"""JSON text of a big request body or reply, its long strings a piece at a time, so that a thread hands the GIL on.

A `BODY_WORK` thread (gateway/body.py) keeps the event loop out for as long as one C call of it holds Python's GIL:
`json.loads` of a 54 MB AlphaFold2 submission (one 50M-character A3M literal with ~2M escapes) is one call of
~0.1-0.3 s, and `json.dumps` of the same job's input another, during which the gateway's loop ran nothing although
the work was in a thread (bench/loop_stall.py). Here a string literal longer than `PIECE_CHARS` is cut out of the
text, the rest (the skeleton: every key, number, bracket and short string) is read by `json` itself with the
caller's hook, and each long literal is decoded a piece at a time, one call per piece; the GIL is handed on between
the calls. The value is `json.loads`' own; text the pieces do not fit (text that is not JSON or not UTF-8, a
literal that does not decode alone) is `json.loads`' whole, so every error is json's, word for word.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

# Characters (bytes) of a long string decoded or escaped per C call: ~1 ms of json's work; a piece's call is about
# the longest the loop waits for.
PIECE_CHARS = 256 * 1024
# Bytes searched per call when looking for quotes: one `find` over 54 MB was ~60 ms of the GIL on a busy machine.
_SCAN_BYTES = 1 << 20
# More quotes than this and the text is read whole (finding the literals costs a step of Python per quote): a body
# within MAX_JSON_VALUES (20,000) has at most ~80,000 (keys and strings) plus its escaped ones.
_MAX_QUOTES = 100_000
# Backslashes in a row a literal's end is looked for behind (a quote after an odd run is escaped); longer runs
# before a quote are read whole.
_QUOTE_LOOKBEHIND = 64
# Places tried for one cut before the rest of the literal is one piece (a long run of escaped backslashes).
_CUT_TRIES = 64
_LONGEST_ESCAPE = 6  # \uXXXX
_KEY_AFTER = re.compile(rb"[ \t\r\n]*:")
_BOM = b"\xef\xbb\xbf"

Hook = Callable[[list[tuple[str, Any]]], Any]


class _Unfit(Exception):
    """The text is not one the pieces fit: it is read whole."""


def loads(data: bytes | str, object_pairs_hook: Hook, check: Callable[[Any], None] = lambda document: None) -> Any:
    """`json.loads(data.decode("utf-8-sig"), object_pairs_hook=...)`, then `check(value)`: the same value and the
    same exceptions (UnicodeDecodeError, JSONDecodeError, the hook's, RecursionError, check's). A str is read whole.

    `check` sees the value before its long strings are put in (placeholders of ~40 ASCII characters stand in for
    them): for checks of its shape alone (how many values, how deep), so that a body refused for its shape costs no
    more than json's parse of its skeleton."""
    pieces = _UNFIT if isinstance(data, str) else _loads_in_pieces(data, object_pairs_hook)
    if pieces is _UNFIT:
        text = data if isinstance(data, str) else data.decode("utf-8-sig")
        document = json.loads(text, object_pairs_hook=object_pairs_hook)
        check(document)
        return document
    skeleton, strings = pieces
    check(skeleton)
    return _map_strings(skeleton, lambda string: strings.get(string, string))  # placeholders never name keys


_UNFIT: Any = object()


def _loads_in_pieces(data: bytes, object_pairs_hook: Hook) -> Any:
    """(the skeleton's value, each placeholder's long string), or _UNFIT: the text is to be read whole."""
    begin = len(_BOM) if data.startswith(_BOM) else 0
    try:
        literals = _long_literals(data, begin)
    except _Unfit:
        return _UNFIT
    if not literals:
        return _UNFIT
    try:
        # Every byte is decoded (the skeleton's and each literal's), so a body that is not UTF-8 is read whole too.
        strings = [_decoded(data, start, end) for start, end in literals]
        token = uuid.uuid4().hex
        # The hook's own exceptions (a key given twice) and too deep a nesting are the whole text's too: each
        # literal decoded, the skeleton is the text's structure and its keys. Not so json's positions of an error.
        skeleton = json.loads(_skeleton(data, begin, literals, token).decode(), object_pairs_hook=object_pairs_hook)
    except ValueError:  # UnicodeDecodeError, JSONDecodeError: the whole text says why, and where
        return _UNFIT
    return skeleton, {f"{token}-{index}": string for index, string in enumerate(strings)}


def _find(data: bytes, byte: bytes, start: int, end: int) -> int:
    """`data.find(byte, start, end)`, _SCAN_BYTES per call."""
    while start < end:
        stop = min(end, start + _SCAN_BYTES)
        found = data.find(byte, start, stop)
        if found >= 0:
            return found
        start = stop
    return -1


def _long_literals(data: bytes, begin: int) -> list[tuple[int, int]]:
    """(first byte, closing quote) of each string literal longer than PIECE_CHARS bytes that is not an object's key;
    _Unfit where the text is not worth (or not safe) cutting."""
    if len(data) <= PIECE_CHARS:
        raise _Unfit
    # A literal longer than PIECE_CHARS holds a whole window of half that with no quote in it: a body of many short
    # strings (a batch) has none, and is read whole without a step of Python per quote.
    window = PIECE_CHARS // 2
    quotes = [data.count(b'"', at, at + window) for at in range(begin, len(data), window)]
    if 0 not in quotes or sum(quotes) > _MAX_QUOTES:
        raise _Unfit
    literals: list[tuple[int, int]] = []
    opening = _find(data, b'"', begin, len(data))
    while opening >= 0:
        closing = _closing_quote(data, opening)
        # A key stays in the skeleton, whole: keys given twice are told apart by the hook.
        if closing - opening - 1 > PIECE_CHARS and not _KEY_AFTER.match(data, closing + 1):
            literals.append((opening + 1, closing))
        opening = _find(data, b'"', closing + 1, len(data))
    return literals


def _closing_quote(data: bytes, opening: int) -> int:
    """The quote that ends the literal opened at `opening`: the next one behind an even run of backslashes."""
    closing = _find(data, b'"', opening + 1, len(data))
    while closing >= 0:
        behind = data[max(opening + 1, closing - _QUOTE_LOOKBEHIND):closing]
        run = len(behind) - len(behind.rstrip(b"\\"))
        if run == _QUOTE_LOOKBEHIND:
            raise _Unfit
        if run % 2 == 0:
            return closing
        closing = _find(data, b'"', closing + 1, len(data))
    raise _Unfit  # unterminated: not JSON


def _decoded(data: bytes, start: int, end: int) -> str:
    """The literal data[start:end] (between its quotes) decoded a piece at a time; ValueError as json's (or UTF-8's)."""
    cuts = [start]
    while end - cuts[-1] > PIECE_CHARS and (cut := _cut(data, cuts[-1] + PIECE_CHARS, end)) >= 0:
        cuts.append(cut)
    cuts.append(end)
    # The join is the one call over the whole string left (a copy: ~10 ms for 50 MB; json's decoding was ~0.2 s).
    return "".join(json.loads(f'"{data[first:last].decode()}"') for first, last in itertools.pairwise(cuts))


def _cut(data: bytes, at: int, end: int) -> int:
    """A place at or after `at`, before `end`, where a literal's content can be cut so that each side decodes alone
    to its part of the string: on a character's first byte, not inside an escape, and not between the two escapes of
    a surrogate pair; -1 if none is found soon."""
    for _ in range(_CUT_TRIES):
        while at < end and 0x80 <= data[at] < 0xC0:  # a UTF-8 continuation byte: inside a character
            at += 1
        if at >= end:
            return -1
        if b"\\" not in data[at - _LONGEST_ESCAPE:at]:  # no escape begun in the 6 bytes before: none runs on
            return at
        backslash = data.find(b"\\", at, min(end, at + _LONGEST_ESCAPE))
        if backslash < 0:
            at += _LONGEST_ESCAPE  # then the 6 bytes before are free of escapes
            continue
        # A backslash behind a byte that is not one begins an escape (no escape's later characters are
        # backslashes, but for the second of an escaped backslash): cut before it, unless it is a pair's low half.
        if data[backslash - 1] != 0x5C and not (data[backslash + 1:backslash + 2] == b"u" and
                                               data[backslash + 2:backslash + 4].lower() in (b"dc", b"dd", b"de", b"df")):
            return backslash
        at = backslash + 1
    return -1


def _skeleton(data: bytes, begin: int, literals: list[tuple[int, int]], token: str) -> bytes:
    parts: list[bytes] = []
    done = begin
    for index, (start, end) in enumerate(literals):
        parts += [data[done:start], f"{token}-{index}".encode()]
        done = end
    parts.append(data[done:])
    return b"".join(parts)


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """`value` with each of its strings (not its keys) `change`d."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_map_strings(item, change) for item in value]
    return value


def dumps(document: Any) -> bytes:
    """`json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()`: the same bytes, each string
    longer than PIECE_CHARS escaped and encoded a piece at a time (a code point escapes alone: any cut will do)."""
    token = uuid.uuid4().hex
    strings: list[str] = []

    def placeholder(string: str) -> str:
        if len(string) <= PIECE_CHARS:
            return string
        strings.append(string)
        return f"{token}-{len(strings) - 1}"

    skeleton = json.dumps(_map_strings(document, placeholder), separators=(",", ":"), ensure_ascii=False)
    parts: list[bytes] = []
    done = 0
    for index, string in enumerate(strings):  # in json.dumps' own order, the order _map_strings met them
        literal = f'"{token}-{index}"'
        found = skeleton.index(literal, done)
        parts += [skeleton[done:found + 1].encode()]
        parts += (json.dumps(string[start:start + PIECE_CHARS], ensure_ascii=False)[1:-1].encode()
                  for start in range(0, len(string), PIECE_CHARS))
        parts.append(b'"')
        done = found + len(literal)
    parts.append(skeleton[done:].encode())
    return parts[0] if len(parts) == 1 else b"".join(parts)  # a join this big lets go of the GIL
