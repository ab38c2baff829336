"""The quick yes for the usual A3M (jobservice/modelspecs/a3m_fast.py) never accepts what the model's parser refuses.

The parser (phonos_models.alphafold2.msa.parse_a3m) is pure Python per line: 8.4 s of GIL for a 50M-character
A3M in the submission-text threads, and everyone else's calls waited ~10x longer meanwhile. `accepts` proves the
common form valid with whole-block string operations; anything it does not prove goes to the parser, so the
decisions and messages are the parser's. Here: every text `accepts` says yes to, the parser accepts too, over the
usual form and random damage to it (cut across the blocks the check reads), and the usual form is accepted.
"""

from __future__ import annotations

import random

import pytest
from phonos_models.alphafold2.msa import A3MError, parse_a3m

from jobservice.modelspecs import a3m_fast

pytestmark = pytest.mark.unit

QUERY = "MKTAYIAKQRQISFVKSHFSRQ"
# What damage inserts: line ends the parser knows (and str.splitlines does), padding, the characters A3M gives
# meaning to, and ordinary text.
PIECES = ["\n", "\r", "\r\n", "\x0b", "\x1c", "\u2028", "\x85", "\x00", " ", "\t", ".", "-", ">", "#", "a", "z",
          "A", "Q", "1", "*", "\n>", "\n\n", "é"]


def usual(rng: random.Random, records: int) -> str:
    """The common form: a header line, then the row on one line (insertions in lower case), the query first."""
    lines = [">query", QUERY]
    for index in range(records):
        row = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY-") + "".join(rng.choice("acdefg") for _ in range(rng.choice(
            (0, 0, 0, 1, 3)))) for _ in QUERY)
        lines += [f">hit_{index} {rng.choice(['', 'e=1e-5', 'tax=9606 ><'])}", row]
    top = rng.choice(["", "", "#22\t1\n", "#hhblits -i query\n#2\n"])  # ColabFold's, hhblits' first lines
    return top + "\n".join(lines) + rng.choice(["\n", ""])


def parser_accepts(text: str) -> bool:
    try:
        parse_a3m(text, QUERY)
    except A3MError:
        return False
    return True


def damaged(rng: random.Random, text: str) -> str:
    for _ in range(rng.choice((1, 1, 2, 3))):
        at = rng.randrange(len(text) + 1)
        match rng.randrange(3):
            case 0:
                text = text[:at] + rng.choice(PIECES) + text[at:]
            case 1:
                text = text[:at] + text[at + rng.randrange(1, 4):]
            case _:
                text = text[:at] + rng.choice(PIECES) + text[at + 1:]
    return text


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(a3m_fast, "BLOCK_CHARS", 256)  # many blocks per text: damage falls on their edges too


@pytest.mark.usefixtures("small_blocks")
def test_the_usual_form_is_accepted_quickly_and_the_parser_agrees() -> None:
    rng = random.Random(1)
    for records in (0, 1, 5, 60):
        text = usual(rng, records)
        assert a3m_fast.accepts(text, QUERY) and parser_accepts(text), text[:200]


@pytest.mark.usefixtures("small_blocks")
def test_nothing_the_parser_refuses_is_accepted() -> None:
    rng = random.Random(2)
    proved = refused = 0
    for _ in range(3000):
        text = damaged(rng, usual(rng, rng.choice((0, 2, 30))))
        if a3m_fast.accepts(text, QUERY):
            proved += 1
            assert parser_accepts(text), repr(text[:300])
        elif not parser_accepts(text):
            refused += 1
    assert proved > 100 and refused > 1000  # both sides were exercised


@pytest.mark.parametrize("text", [
    f">q\n{QUERY}",  # no last '\n'
    f">q\n{QUERY}\n>h\n{QUERY.lower()}\n",  # all lower case: no match column
    f">q\n{QUERY}\n>h\n\n",  # a record without a row
    f">q\n{QUERY}\n>h\n{QUERY[:-1]}\n",  # a column short
    f">q\n{QUERY}\n>h\n{QUERY}-\n",  # a column over
    f">q\n{QUERY}\n>h\n>i\n{QUERY}\n{QUERY}\n",  # two headers, then two rows
    f">q\n{QUERY}\n>h\r{QUERY}\n",  # a '\r' splits the header line for the parser
    f">q\n{QUERY[::-1]}\n",  # the first row is not the query
    f"#hhblits\n>q\n{QUERY}\n",  # a '#' line first: skipped by both
    "#a\n#b\n",  # no record after the '#' lines
    f"#a\n>q\n{QUERY}\n#b\n>h\n{QUERY}\n",  # a '#' line among the records: the parser's
    f">q\n{QUERY}\n>h\n{QUERY}.\n",  # '.' padding: the parser's
])
def test_edge_cases_agree_with_the_parser_or_go_to_it(text: str) -> None:
    assert not a3m_fast.accepts(text, QUERY) or parser_accepts(text)


def test_a_big_a3m_of_the_usual_form_is_accepted_without_the_per_line_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The submission check (jobservice/modelspecs/alphafold2.py) takes the quick yes; for a homomer too, whose
    copies are sent the same A3M. Was: the parser's per-line Python for every A3M (8.4 s for 50M characters)."""
    from phonos_models.alphafold2 import msa

    from jobservice.modelspecs.alphafold2 import _check_a3m

    def refused(text: str, query: str) -> msa.Alignment:
        raise AssertionError("the per-line parser ran on an A3M of the usual form")

    monkeypatch.setattr(msa, "parse_a3m", refused)
    text = usual(random.Random(3), 2000)
    _check_a3m([text], [QUERY])
    _check_a3m([text, text], [QUERY, QUERY])
