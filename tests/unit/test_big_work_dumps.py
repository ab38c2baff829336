"""`big_work.dumps` writes exactly json.dumps' text, and `big_work.loads` reads exactly json.loads' value, their long
strings escaped (decoded) a piece at a time.

A big job's stored request and AlphaFold2's REQUEST tensor are JSON texts of a 50 MB A3M; json.dumps escapes such
a string in one C call that holds the GIL throughout (~0.3 s; json.loads ~0.14 s at dispatch), so even in a thread it
stopped the event loop. The
pieces must join to the very same text: here over strings that stress the cut (escapes, non-BMP characters
written as surrogate pairs, lone surrogates, control characters), nested and in every position.
"""

from __future__ import annotations

import json
import random

import pytest

from jobservice import big_work

pytestmark = pytest.mark.unit

ALPHABET = ["a", "Z", "\n", "\"", "\\", "/", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "\ud800", "\udfff",
            "\U0001f600", "\uffff", " "]


def text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return text(rng, rng.choice((0, 5, 40, 200)))
    if kind == 1:
        return rng.choice([0, -3, 2**70, 1.5, float("inf"), float("nan"), True, False, None])
    if kind in (2, 3):
        return text(rng, rng.randrange(1, 120))
    if kind == 4:
        return {text(rng, rng.randrange(0, 6)): value(rng, depth + 1) for _ in range(rng.randrange(4))}
    if kind == 5:
        return tuple(value(rng, depth + 1) for _ in range(rng.randrange(4)))
    return [value(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_the_text_is_json_dumps_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(big_work, "PIECE_CHARS", 7)  # many pieces, cut everywhere
    rng = random.Random(4)
    for _ in range(2000):
        item = value(rng)
        assert big_work.dumps(item) == json.dumps(item)


def test_a_stored_request_of_a_long_a3m() -> None:
    a3m = ">q\nMKTAYIAKQRQ\n" * (3 * big_work.PIECE_CHARS // 14) + '>"quoted" \U0001f600\n'
    request = {"sequence": "MKTAYIAKQRQ", "params": {"msa_mode": "a3m", "a3m": [a3m, a3m], "num_models": 2}}
    assert big_work.dumps(request) == json.dumps(request)


def test_what_json_dumps_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        big_work.dumps({"a": {1, 2}})


def test_the_value_is_json_loads_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(big_work, "PIECE_CHARS", 7)
    rng = random.Random(5)
    for _ in range(2000):
        item = value(rng)
        text = json.dumps(item)
        # Compared through their text (json.dumps is one-to-one on what json.loads gives; NaN != NaN as values).
        assert json.dumps(big_work.loads(text)) == json.dumps(json.loads(text)) == text


@pytest.mark.parametrize("text", ['{"a": "' + "x" * 40 + '\\', '{"a": "' + "x" * 40 + '\\q"}',
                                  '["' + "y" * 40 + '"] tail', '{"a": "' + "\\" * 30 + '"', "é" * 50])
def test_what_json_loads_refuses_is_refused_alike(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(big_work, "PIECE_CHARS", 7)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        big_work.loads(text)
    assert str(got.value) == str(expected.value)


def test_a_text_of_backslash_runs_is_json_loads_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding the literals' ends walks the backslashes before each quote one by one in Python: an A3M whose ~99,000
    headers each end in 250 backslashes and a quote took 4.4 s to cut (json.loads: 0.16 s). Past `_MAX_STEPS` the
    whole text goes to json.loads, the same value."""
    monkeypatch.setattr(big_work, "PIECE_CHARS", 64)
    monkeypatch.setattr(big_work, "_MAX_STEPS", 500)
    header = ">" + "\\" * 50 + '"'
    request = {"sequence": "MKV", "params": {"a3m": "\n".join([header, "MKV"] * 40) + "\n", "other": "x" * 100}}
    stored = json.dumps(request)
    whole: list[str] = []
    real_loads = json.loads

    def spy(text: str, *args: object, **kwargs: object) -> object:
        if text == stored:
            whole.append(text)
        return real_loads(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(big_work.json, "loads", spy)
    assert big_work.loads(stored) == request
    assert whole == [stored]  # given up in pieces, decoded whole
    monkeypatch.setattr(big_work, "_MAX_STEPS", 10**9)
    whole.clear()
    assert big_work.loads(stored) == request and whole == []  # within the budget: in pieces
