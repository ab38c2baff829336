"""Inputs far over a limit are refused by their length before anything reads them character by character in Python:
a 60 MB sequence (a submission may be 63.5 MB) spent ~7 s of the job service's one event loop in the letter and X
rules before its length was said, every other request waiting."""

from __future__ import annotations

import time

import pytest

from jobservice.errors import InvalidArgument
from jobservice.modelspecs import params
from jobservice.modelspecs.params import LETTERS_BEFORE_LENGTH_FACTOR, protein_chains

pytestmark = pytest.mark.unit


def test_a_sequence_far_over_the_limit_is_refused_by_its_length_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def letters_read(chains: list[str]) -> str | None:
        raise AssertionError("the letters of a sequence far over the limit were read")

    monkeypatch.setattr(params, "chains_message", letters_read)
    too_long = "M" * (1024 * LETTERS_BEFORE_LENGTH_FACTOR + 1)
    with pytest.raises(InvalidArgument, match=f"sequence is {len(too_long)} residues; esmfold on this server "
                                              "accepts at most 1024"):
        protein_chains("esmfold", too_long, 1024, 8)
    with pytest.raises(InvalidArgument, match="complex has 2 chains and"):
        protein_chains("esmfold", too_long + ":MKT", 1024, 8)


def test_a_sequence_a_little_over_the_limit_still_hears_about_its_letters_first() -> None:
    with pytest.raises(InvalidArgument) as refused:
        protein_chains("esmfold", "M" * 1030 + "B", 1024, 8)
    assert "B" in refused.value.message and "accepts at most" not in refused.value.message
    with pytest.raises(InvalidArgument, match="sequence is 1030 residues"):
        protein_chains("esmfold", "M" * 1030, 1024, 8)


def test_a_60_mb_sequence_is_refused_in_well_under_a_second_of_work() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidArgument, match="accepts at most 1024"):
        protein_chains("esmfold", "M" * 60_000_000, 1024, 8)
    assert time.perf_counter() - started < 3.0  # 0.7 s here; 7 s before
