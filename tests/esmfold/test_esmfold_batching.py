"""Token-budget batching (esm-fold's --max-tokens-per-batch) on top of the padding-aware grouping."""

from __future__ import annotations

import pytest
from phonos_models.esmfold.batching import FoldJob, plan_batches

from phonos_config.esmfold import EsmFoldSettings

pytestmark = pytest.mark.unit


def jobs(*lengths: int) -> list[FoldJob]:
    return [FoldJob("A" * n, 1, None) for n in lengths]


def test_the_token_budget_bounds_padded_residues_per_pass() -> None:
    eight_short = jobs(*[50] * 8)
    assert plan_batches(eight_short) == [list(range(8))]  # no budget: one pass
    passes = plan_batches(eight_short, max_tokens=256)
    assert [len(p) for p in passes] == [3, 5] and all(len(p) * 50 <= 256 for p in passes)
    assert [len(p) for p in plan_batches(jobs(100, 100, 100, 100), max_tokens=256)] == [2, 2]
    assert plan_batches(jobs(200, 200), max_tokens=256) == [[0], [1]]
    # Padded, not summed: 120 + 60 would fit 256 as a sum, but pads to 2 x 120 = 240 (fits), 3 x 120 does not.
    assert plan_batches(jobs(120, 100, 90), max_tokens=256) == [[2], [0, 1]]


def test_a_sequence_longer_than_the_budget_runs_alone() -> None:
    assert plan_batches(jobs(400, 50), max_tokens=256) == [[1], [0]]


def test_the_budget_is_a_checked_setting() -> None:
    assert EsmFoldSettings.from_env({"PHONOS_ESMFOLD_MAX_TOKENS_PER_BATCH": "1024"}).max_tokens_per_batch == 1024
    assert EsmFoldSettings.from_env({}).max_tokens_per_batch == 0
    with pytest.raises(ValueError, match="MAX_TOKENS_PER_BATCH"):
        EsmFoldSettings.from_env({"PHONOS_ESMFOLD_MAX_TOKENS_PER_BATCH": "-1"})


def test_a_short_job_never_waits_for_a_long_pass_of_its_dynamic_batch() -> None:
    """The passes of one Triton batch run in turn in one instance: cheapest first, so a peptide queued with a
    1,000-aa chain gets its result after its own pass (it waited the long chain's 300 s before)."""
    assert plan_batches(jobs(1000, 35, 11, 16)) == [[3, 2], [1], [0]]
    # The cost counts trunk passes too: 24 recycles of 200 aa cost more than one of 260 aa.
    mixed = [FoldJob("A" * 200, 24, None), FoldJob("A" * 260, 1, None), FoldJob("M", 1, None)]
    assert plan_batches(mixed) == [[2], [1], [0]]
    # A complex counts its linker: 2 x 300 aa fold as 625 positions, more than one 610-aa chain (other chunking,
    # so the two never share a pass).
    assert plan_batches([FoldJob("A" * 300 + ":" + "A" * 300, 1, None), FoldJob("A" * 610, 1, 64)]) == [[1], [0]]
