"""The plots every bundle carries: valid PNGs of the promised pixel size, whatever the input size."""

from __future__ import annotations

import numpy as np
import pytest
from phonos_models.common import plots

from tests.bundle_checks import png_size

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("length", [1, 37, 1200])
def test_every_plot_has_its_size_for_short_and_long_inputs(length: int) -> None:
    rng = np.random.default_rng(length)
    plddt = rng.uniform(0, 100, length)
    series = [plots.Series("rank 1", plddt), plots.Series("rank 2", plddt[::-1].copy())]
    lengths = [length] if length < 3 else [length // 3, length - length // 3]
    assert png_size(plots.plddt_png(series, "pLDDT", lengths)) == plots.PLDDT_SIZE
    assert png_size(plots.pae_png(rng.uniform(0, 31, (length, length)), "PAE", lengths)) == plots.PAE_SIZE
    non_gap = rng.random((50, length)) > 0.3
    assert png_size(plots.coverage_png(non_gap, rng.random(50), "MSA", lengths)) == plots.COVERAGE_SIZE
    assert png_size(plots.coverage_png(non_gap[:0], np.zeros(0), "query only")) == plots.COVERAGE_SIZE


def test_pose_confidence_plot_handles_missing_scores() -> None:
    png = plots.pose_confidence_png([1.2, -0.7, None, -3.0, float("nan")], ["high", "moderate", "unknown", "low", "low"],
                                    "poses", (0.0, -1.5))
    assert png_size(png) == plots.CONFIDENCE_SIZE


def test_chain_boundaries_mark_the_last_residue_of_each_chain_but_the_last() -> None:
    assert plots.chain_boundaries([23, 12, 5]) == [22, 34]
    assert plots.chain_boundaries([10]) == []
