"""A big job's O(size) steps, done in threads of their own instead of on the job service's event loop.

The job service has one event loop for every user's calls, SSE streams, dispatch and webhook deliveries. A ~54 MB
AlphaFold2 job (a 50M-character A3M) held it per step: its stored request's JSON text (0.2-0.34 s at submission),
the stored request read back and its 50 MB tensor built after a claim (0.26-0.82 s), the request's protobuf params
turned into a dict (~30 ms), and everyone else waited (bench/loop_stall.py). Those steps run here when the job is
big (`INLINE_CHARS`): small jobs stay on the loop, where the thread hop would cost more than the work.

Two threads: big jobs queue behind each other, never behind (or in front of) the A3M checks
(jobservice/modelspecs/text_checks.py: seconds each) or what else goes to `asyncio.to_thread`. A step cancelled
while its thread works runs to its end there and its result is dropped: each step only computes (nothing is
written in the thread), so nothing is written twice or lost.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# How much of a long string one C call escapes: a thread holds the GIL for the whole of one call (json.dumps of a
# 50 MB string: ~0.2 s during which the loop could not run either), and hands it on between calls.
PIECE_CHARS = 256 * 1024
# Characters (or bytes) up to which a step stays on the loop: ~1 ms of JSON encoding or tensor building at most.
INLINE_CHARS = 256 * 1024
BIG_WORK = ThreadPoolExecutor(max_workers=2, thread_name_prefix="job-big-work")


def is_big(size: int) -> bool:
    return size > INLINE_CHARS


async def off_loop(size: int, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)`: on the loop for `size` up to INLINE_CHARS, else in BIG_WORK (its exception raised
    here)."""
    if not is_big(size):
        return work(*args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(BIG_WORK, functools.partial(work, *args, **kwargs))


def text_size(value: object) -> int:
    """About the JSON size of a parsed JSON value: the lengths of its strings (what a big request is made of), one
    per other leaf. Linear in the number of values, not in their characters: a 50 MB A3M is one `len`."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(len(key) + text_size(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return sum(text_size(item) for item in value)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return 1


def dumps(value: object) -> str:
    """`json.dumps(value)`, the same text, its long strings escaped a piece (PIECE_CHARS) at a time.

    JSON escapes a string code point by code point (a non-BMP character is one code point in a str, written as its
    surrogate pair), so the pieces' escapes joined are the whole string's. The long strings are swapped for unique
    placeholders, the rest is written by json.dumps itself (same separators, numbers, key order), then each
    placeholder's literal is replaced by the pieces."""
    token = uuid.uuid4().hex
    long_texts: list[str] = []

    def swap(item: object) -> object:
        if isinstance(item, str):
            if len(item) <= PIECE_CHARS:
                return item
            long_texts.append(item)
            return f"{token}-{len(long_texts) - 1}"
        if isinstance(item, dict):
            return {key: swap(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [swap(inner) for inner in item]
        return item

    skeleton = json.dumps(swap(value))
    if not long_texts:
        return skeleton
    parts: list[str] = []
    at = 0
    for index, text in enumerate(long_texts):  # in json.dumps' own order: dicts' and lists' order
        literal = f'"{token}-{index}"'
        found = skeleton.index(literal, at)
        parts += [skeleton[at:found], '"']
        parts += (json.dumps(text[start:start + PIECE_CHARS])[1:-1] for start in range(0, len(text), PIECE_CHARS))
        parts.append('"')
        at = found + len(literal)
    parts.append(skeleton[at:])
    return "".join(parts)


# More quotes than this in a text (a 50 MB A3M whose headers are full of them) and `loads` is json.loads: each quote
# costs a step of Python to find the literals' ends.
_MAX_QUOTES = 100_000
# Backslashes `loads` may look at one by one (before quotes, at piece cuts) before it gives the whole text to
# json.loads instead: an A3M whose ~99,000 headers each end in 250 backslashes and a quote took 4.4 s of Python to
# cut (json.loads: 0.16 s, in a thread anyway).
_MAX_STEPS = 1_000_000


class _TooManySteps(Exception):
    """The text costs `loads` more Python steps than `_MAX_STEPS`: json.loads' alone then."""


class _Steps:
    def __init__(self) -> None:
        self.left = _MAX_STEPS

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooManySteps
_LOW_SURROGATES = ("dc", "dd", "de", "df")


def loads(text: str) -> Any:
    """`json.loads(text)`, the same value, its long string literals decoded a piece (PIECE_CHARS) at a time: for
    the JSON texts json.dumps writes (ASCII), e.g. a big job's stored request. Anything else (non-ASCII text, many
    quotes, no long literal, text that is not JSON) is json.loads' alone, its errors included.

    Pieces are cut before an escape (a '\\' not itself escaped) other than a low surrogate's '\\udcXX' (the second
    half of a pair stays with its first), so each piece decodes alone to its part of the string."""
    if len(text) <= PIECE_CHARS or not text.isascii() or text.count('"') > _MAX_QUOTES:
        return json.loads(text)
    try:
        return _loads_in_pieces(text, _Steps())
    except _TooManySteps:
        return json.loads(text)


def _loads_in_pieces(text: str, steps: _Steps) -> Any:
    literals: list[tuple[int, int]] = []  # (first character, closing quote) of each long string literal
    at = text.find('"')
    while at >= 0:
        end = _closing_quote(text, at, steps)
        if end < 0:
            return json.loads(text)  # not JSON: json.loads says why
        if end - at - 1 > PIECE_CHARS:
            literals.append((at + 1, end))
        at = text.find('"', end + 1)
    if not literals:
        return json.loads(text)
    token = uuid.uuid4().hex
    parts: list[str] = []
    done = 0
    for index, (start, end) in enumerate(literals):
        parts += [text[done:start], f"{token}-{index}"]
        done = end
    parts.append(text[done:])
    try:
        skeleton = json.loads("".join(parts))
        decoded = {f"{token}-{index}": _decoded(text, start, end, steps)
                   for index, (start, end) in enumerate(literals)}
    except ValueError:
        return json.loads(text)  # not JSON: json.loads says why, where in the whole text

    def unswap(item: Any) -> Any:
        if isinstance(item, str):
            return decoded.get(item, item)
        if isinstance(item, dict):
            return {unswap(key): unswap(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [unswap(inner) for inner in item]
        return item

    return unswap(skeleton)


def _closing_quote(text: str, opening: int, steps: _Steps) -> int:
    """The index of the quote closing the literal opened at `opening`: the next one not escaped; -1 if none."""
    end = text.find('"', opening + 1)
    while end >= 0:
        before = end - 1
        while text[before] == "\\":
            steps.take()
            before -= 1
        if (end - 1 - before) % 2 == 0:  # an even run of backslashes: escaped backslashes, the quote is real
            return end
        end = text.find('"', end + 1)
    return -1


def _decoded(text: str, start: int, end: int, steps: _Steps) -> str:
    pieces: list[str] = []
    while end - start > PIECE_CHARS:
        cut = text.find("\\", start + PIECE_CHARS, end)
        while cut >= 0 and (text[cut - 1] == "\\" or
                            (text.startswith("\\u", cut) and text[cut + 2:cut + 4].lower() in _LOW_SURROGATES)):
            steps.take()
            cut = text.find("\\", cut + 1, end)
        if cut < 0:
            break
        pieces.append(json.loads(f'"{text[start:cut]}"'))
        start = cut
    pieces.append(json.loads(f'"{text[start:end]}"'))
    return "".join(pieces)
