"""gateway/big_json.py: a big body's JSON read, and a big reply's written, with their long strings a piece at a time.

A thread keeps the event loop out only while one C call of it holds the GIL, and json.loads of a 54 MB AlphaFold2
submission (or json.dumps of its input) was one call of ~0.1-0.3 s. Here each long string goes through json a piece
at a time: the tests shrink the piece (`PIECE_CHARS`) so that every kind of cut is met, and check that the value
and every error (type and words) are json's own on the whole text, and that no json call is given a long string
whole (was: the whole body in one call).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from gateway import big_json, transcode
from gateway.transcode import TranscodeError

pytestmark = pytest.mark.unit

PIECE = 7  # characters per piece in these tests: a 3 KB string is cut ~400 times, before every kind of escape


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(big_json, "PIECE_CHARS", PIECE)
    monkeypatch.setattr(big_json, "_SCAN_BYTES", 5)


def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return transcode._unique_keys(pairs)


def whole(data: bytes) -> Any:
    """What the gateway did before: json.loads of the whole decoded text."""
    return json.loads(data.decode("utf-8-sig"), object_pairs_hook=hook)


def outcome(read: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("value", read())
    except Exception as exc:  # the very exception is what is compared
        return (type(exc).__name__, str(exc))


@pytest.fixture
def json_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The length of the text of each json.loads call made meanwhile."""
    sizes: list[int] = []
    real = json.loads

    def loads(text: Any, **kwargs: Any) -> Any:
        sizes.append(len(text))
        return real(text, **kwargs)

    monkeypatch.setattr(json, "loads", loads)
    yield sizes


def random_string(rng: random.Random, length: int) -> str:
    alphabet = 'AB"\\/\n\t\x01é€\U0001f9ec\u2028'  # quotes, backslashes, controls, 2-, 3- and 4-byte UTF-8
    return "".join(rng.choice(alphabet) for _ in range(length))


def documents() -> list[Any]:
    rng = random.Random(7)
    return [
        {"model": "alphafold2", "params": {"a3m": ">q\nMKTV\n" * 400}},
        {"a": random_string(rng, 3000), "b": [random_string(rng, 500), 1, 2.5, None, True], "c": {"d": "short"}},
        [random_string(rng, 1000) for _ in range(5)],
        random_string(rng, 2000),
        {"s": "\\" * 999 + '"' + "\\" * 1000},  # a quote behind 1,998 backslashes: read whole
        {"pairs": "\U0001f9ec" * 800, "k": "v"},
    ]


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("index", range(len(documents())))
def test_the_value_is_jsons_own(index: int, ensure_ascii: bool, json_calls: list[int]) -> None:
    document = documents()[index]
    data = json.dumps(document, ensure_ascii=ensure_ascii).encode()
    for body in (data, b"\xef\xbb\xbf" + data, b" \n" + data + b"\r\n"):
        assert big_json.loads(body, hook) == whole(body) == document
    json_calls.clear()
    big_json.loads(data, hook)
    assert len(json_calls) > 10 or "\\" * 64 in data.decode(), "the long strings were read in pieces"


def test_no_json_call_is_given_a_long_string_whole(json_calls: list[int]) -> None:
    """Was: the whole body in one json.loads call, holding the GIL (and so the event loop) for all of it."""
    document = {"model": "alphafold2", "params": {"msa_mode": "a3m", "a3m": ">q\nMKTV\n" * 2000}}
    data = json.dumps(document).encode()
    assert transcode.parse_json_document(data) == document
    assert json_calls and max(json_calls) < 200, f"{max(json_calls)} characters in one json.loads call"


def test_dumps_writes_jsons_own_bytes_a_piece_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = json.dumps

    def dumps(value: Any, **kwargs: Any) -> str:
        placeholder = isinstance(value, str) and re.fullmatch("[0-9a-f]{32}-[0-9]+", value)  # a skeleton of a string
        sizes.append(len(value) if isinstance(value, str) and not placeholder else 0)
        return real(value, **kwargs)

    monkeypatch.setattr(json, "dumps", dumps)
    for document in [*documents(), {"x": 1}, [], "short", {"\u2028key" * 5: "é" * 50}]:
        sizes.clear()
        assert big_json.dumps(document) == real(document, separators=(",", ":"), ensure_ascii=False).encode()
        assert max(sizes) <= PIECE, "no long string is escaped in one call"
    assert transcode.dumps({"a3m": "x\n" * 100}) == b'{"a3m":"' + b"x\\n" * 100 + b'"}'


def malformed() -> list[bytes]:
    long = ">q\\nMKTV\\n" * 100
    return [
        f'{{"a": "{long}\\q"}}'.encode(),  # an escape json does not know, in a long literal
        f'{{"a": "{long}\\ud800"}}'.encode(),  # a lone surrogate: JSON, read as json reads it
        f'{{"a": "{long}\x01"}}'.encode(),  # a control character unescaped
        f'{{"a": "{long}" "b": 1}}'.encode(),  # a missing comma after a long literal: json's position of it
        f'{{"a": "{long}", "a": 1}}'.encode(),  # a key given twice
        f'{{"b": {{"c": 1, "c": 2}}, "a": "{long}\\q"}}'.encode(),  # a key given twice, then a bad literal
        f'{{"a": "{long}\\q", "b": {{"c": 1, "c": 2}}}}'.encode(),  # a bad literal, then a key given twice
        f'{{"{long}": 1, "{long}": 2}}'.encode(),  # a long key given twice
        f'{{"a": "{long}"}} extra'.encode(),
        f'{{"a": "{long}'.encode(),  # unterminated
        f'{{"a": "{long}\\"}}'.encode(),  # its quote escaped: unterminated
        b'{"a": "' + long.encode() + b'\xff", "b": "' + long.encode() + b'"}',  # not UTF-8, in a long literal
        b'{"a": "' + long.encode() + b'\xe2\x82", "b": "x"}',  # a character cut short
        b'{"a": \xff"' + long.encode() + b'"}',  # not UTF-8, in the skeleton
        b'{"a": "' + long.encode() + b'", "b": ' + b"[" * 3000 + b"]" * 3000 + b"}",  # Python's recursion limit
        b"\xef\xbb\xbf\xef\xbb\xbf" + f'{{"a": "{long}"}}'.encode(),  # a second byte order mark
    ]


@pytest.mark.parametrize("index", range(len(malformed())))
def test_every_error_is_jsons_own_on_the_whole_text(index: int) -> None:
    body = malformed()[index]
    assert outcome(lambda: big_json.loads(body, hook)) == outcome(lambda: whole(body))


def gateway_errors() -> list[bytes]:
    long = ">q\\nMKTV\\n" * 100
    return [
        f'{{"a": "{long}", "a": 1}}'.encode(),
        f'{{"a": "{long}", "b": {"[" * 21}{"]" * 21}}}'.encode(),
        f'{{"a": "{long}", "b": [{", ".join(["0"] * 20_001)}]}}'.encode(),
        f'{{"a": "{long}\\ud800x"}}'.encode(),
        f'{{"a": "\\udfff{long}"}}'.encode(),
        b'{"a": "' + long.encode() + b'\xc3("}',
        f'{{"a": "{long}" 1}}'.encode(),
        f'{{"a": "{long}\\x"}}'.encode(),
        f'{{"a": "{long}"}}'.encode(),
    ]


@pytest.mark.parametrize("index", range(len(gateway_errors())))
def test_the_gateways_answers_are_those_of_the_whole_text(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Duplicate key, depth, too many values, lone surrogates, not UTF-8, malformed: the same 400 words as when the
    body is read whole (the old way)."""
    body = gateway_errors()[index]
    ours = outcome(lambda: transcode._parse_json(body))
    monkeypatch.setattr(big_json, "_loads_in_pieces", lambda data, object_pairs_hook: big_json._UNFIT)
    assert ours == outcome(lambda: transcode._parse_json(body))
    assert ours[0] in ("TranscodeError", "value")


def test_the_shape_is_checked_before_the_long_strings_are_put_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body refused for too many values is refused on its skeleton: the long strings are never walked into it."""
    put_in: list[object] = []
    monkeypatch.setattr(big_json, "_map_strings", lambda value, change: put_in.append(value))
    body = f'{{"a": "{"x" * 100}", "b": [{", ".join(["0"] * 20_001)}]}}'.encode()
    with pytest.raises(TranscodeError, match="more than 20000 JSON values"):
        transcode._parse_json(body)
    assert put_in == []


def test_mangled_bodies_read_as_json_reads_them() -> None:
    """Bytes inserted and deleted at random in bodies with long strings: the same value or the same error."""
    rng = random.Random(11)
    seeds = [json.dumps({"a": random_string(rng, 60), "b": [random_string(rng, 30), 1, {"c": "x" * 20}]},
                        ensure_ascii=ensure_ascii).encode() for ensure_ascii in (True, False) for _ in range(3)]
    tokens = [b'"', b"\\", b"{", b"}", b"[", b"]", b":", b",", b"u", b"d", b"\\ud83e", b"\\udc00", b"\xff",
              b"\xe2\x82", b" ", b"\\\\", b"\x01", b"\xef\xbb\xbf"]
    for _ in range(2000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body) + 1)
            if rng.random() < 0.3:
                del body[at:at + rng.randint(1, 3)]
            else:
                body[at:at] = rng.choice(tokens)
        mangled = bytes(body)
        assert outcome(partial(big_json.loads, mangled, hook)) == outcome(partial(whole, mangled)), mangled


def test_a_body_of_short_strings_is_read_whole_without_walking_its_quotes(monkeypatch: pytest.MonkeyPatch) -> None:
    """No window of half a piece without a quote: no literal can be long, so no step of Python per quote."""
    monkeypatch.setattr(big_json, "PIECE_CHARS", 64)

    def walked(data: bytes, opening: int) -> int:
        raise AssertionError(f"the quote at {opening} was walked to")

    body = json.dumps({"jobs": [{"model": "esm"} for _ in range(50)]}, separators=(",", ":")).encode()
    assert big_json.loads(body, hook) == whole(body)
    monkeypatch.setattr(big_json, "_closing_quote", walked)
    assert big_json.loads(body, hook) == whole(body)
    with pytest.raises(AssertionError, match="walked to"):  # one long literal: the quotes are walked
        big_json.loads(json.dumps({"a": "x" * 100, "jobs": [{"model": "esm"}] * 50}).encode(), hook)
