"""AlphaFold2's MSA coverage arrays (what the coverage plot draws)."""

from __future__ import annotations

import numpy as np
import pytest
from phonos_models.alphafold2.report import coverage_arrays, coverage_title

pytestmark = pytest.mark.unit


def test_coverage_drops_insertions_and_counts_gaps_as_mismatches() -> None:
    query = "MKTAY"
    non_gap, identity = coverage_arrays([query, "MKtaTAF", "--TAY", "-----"], query)
    assert non_gap.tolist() == [[True] * 5, [True] * 5, [False, False, True, True, True], [False] * 5]
    np.testing.assert_allclose(identity, [1.0, 0.8, 0.6, 0.0])
    with pytest.raises(ValueError, match="align to 4 columns"):
        coverage_arrays([query, "MKTA"], query)


def test_the_coverage_title_counts_one_sequence_in_the_singular() -> None:
    """A query with no MSA hits (tiny databases, a designed protein) read "MSA coverage (1 sequences)"."""
    assert coverage_title(1) == "MSA coverage (1 sequence)"
    assert coverage_title(312, " - NOT A REAL PREDICTION") == "MSA coverage (312 sequences) - NOT A REAL PREDICTION"
