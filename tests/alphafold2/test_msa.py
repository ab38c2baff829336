"""A3M parsing, validation, truncation and merging (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
from phonos_models.alphafold2.msa import A3MError, Alignment, merge, parse_a3m

pytestmark = pytest.mark.unit

QUERY = "MKTAYIAK"


def test_valid_a3m_keeps_insertions_and_feeds_deletions_to_alphafold() -> None:
    text = "#A3M header from hhblits\n>query\nMKTAYIAK\n>hit1 some description\nMKT-YIAK\n>hit2\nMKqqTAYIA.K\n"
    alignment = parse_a3m(text, QUERY)
    assert alignment.depth == 3
    assert alignment.records[2] == ("hit2", "MKqqTAYIAK")  # '.' dropped, insertions kept
    parsed = alignment.to_msa()
    assert parsed.sequences == ["MKTAYIAK", "MKT-YIAK", "MKTAYIAK"]
    assert parsed.deletion_matrix[2][2] == 2  # two inserted residues before column 3
    assert parse_a3m(alignment.to_a3m(), QUERY) == alignment  # writing round-trips


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no FASTA records"),
        ("MKTAYIAK\n", "must start with a FASTA header"),
        (">other\nMKTAYIAR\n", "first record of params.a3m must be the query"),
        (">other\nMKTAYIAR\n", 'residue 8 is "R" in the A3M and "K" in the sequence'),  # a mutated construct
        (">q\nMKT-YIAK\n", 'residue 4 is "-" in the A3M and "A" in the sequence'),
        (">q\nMKTAYIAKgs\n", "insertions after residue 8"),
        (">q\nMKTAYIAK\n>h\nMKTAYIA\n", 'record 2 ("h") has 7 match columns'),
        (">q\nMKTAYIAK\n>h\nMKT*YIAK\n", 'invalid characters: "*"'),
        (">q\nMKTAYIAK\n>h\nMKT YIAK\n", 'invalid characters: " "'),
        (">q\nmktayiak\n", 'record 1 ("q") is all lower case, which A3M reads as insertions'),  # before: "0 match columns"  # before: "characters: " (a space, unseen)
        (">q\nMKTAYIAK\n>empty\n", "has no sequence"),
        (">q\nMKTAYIAK\n>h\nMKT#YIAK\n", 'record 2 ("h") contains invalid characters'),  # JSON's quotes (before: Python's)
    ],
)
def test_bad_a3m_is_rejected_with_a_message_that_names_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(A3MError, match=None) as caught:
        parse_a3m(text, QUERY)
    assert fragment in str(caught.value)


def test_colabfold_server_a3m_with_nul_separators_reads() -> None:
    # ColabFold's MSA server separates the A3Ms of its answer with NUL bytes; before: "invalid characters"
    alignment = parse_a3m("#8\t1\n>101\nMKTAYIAK\n>hit\nMKTAYIAR\n\x00", QUERY)
    assert [d for d, _ in alignment.records] == ["101", "hit"]


def test_truncation_keeps_the_query_and_the_first_rows() -> None:
    alignment = parse_a3m(">q\nMKTAYIAK\n" + "".join(f">h{i}\nMKTAYIA{c}\n" for i, c in enumerate("RSTV")), QUERY)
    cut = alignment.truncated(3)
    assert [d for d, _ in cut.records] == ["q", "h0", "h1"]
    assert alignment.truncated(1) == Alignment(records=(("q", QUERY),))


def test_merge_puts_the_query_first_and_drops_duplicate_rows() -> None:
    merged = merge(QUERY, [[("a", "MKTAYIAK"), ("b", "MKT-YIAK")], [("c", "MKTxxAYIAK"), ("d", "MKTAYI")]])
    # "a" repeats the query, "c" aligns like the query once insertions are removed, "d" is too short.
    assert [d for d, _ in merged.records] == ["query", "b"]
    assert np.array_equal(merged.to_msa().deletion_matrix, [[0] * 8, [0] * 8])


def test_a_byte_order_mark_before_the_first_header_is_dropped() -> None:
    # As Windows editors save UTF-8; before: "params.a3m must start with a FASTA header line ('>name')".
    text = ">q\nMKTAYIAK\n>hit\nMKT-YIAK\n"
    assert parse_a3m("\ufeff" + text, QUERY) == parse_a3m(text, QUERY)
    assert parse_a3m("\ufeff#hhblits\n" + text, QUERY) == parse_a3m(text, QUERY)
    with pytest.raises(A3MError, match="invalid characters"):  # only at the start: elsewhere it is a character
        parse_a3m(">q\nMKTAYIAK\n>hit\n\ufeffMKT-YIAK\n", QUERY)
