"""Padding-aware grouping of fold jobs into forward passes.

Requests share a forward pass only when they run the same number of trunk
passes with the same chunking. Within that, padded positions are masked
everywhere in ESMFold (ESM attention mask, trunk and IPA masks), so padding
does not change a sequence's result (tests compare batched with alone); what
padding costs is compute, which grows with n·Lmax² in the pair stack. So jobs
are sorted by length and packed while the padded cost stays within
`max_padding_overhead` of the unpadded cost and under a pair-cell budget
that bounds memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FoldJob:
    sequence: str  # one-letter codes, already validated
    num_recycles: int  # recycling iterations after the first trunk pass: N → N+1 trunk passes
    chunk_size: int | None  # trunk chunk size in residues; None = unchunked


def plan_batches(
    jobs: Sequence[FoldJob],
    max_padding_overhead: float = 1.5,
    max_pair_cells: int = 2**21,
) -> list[list[int]]:
    """Indices of `jobs`, grouped into forward passes; every index appears exactly once."""
    groups: dict[tuple[int, int | None], list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault((job.num_recycles, job.chunk_size), []).append(index)
    batches: list[list[int]] = []
    for indices in groups.values():
        ordered = sorted(indices, key=lambda i: len(jobs[i].sequence), reverse=True)
        current: list[int] = []
        longest = 0
        true_cost = 0
        for index in ordered:
            length = len(jobs[index].sequence)
            if current:
                padded = (len(current) + 1) * longest**2
                if padded > max_padding_overhead * (true_cost + length**2) or padded > max_pair_cells:
                    batches.append(current)
                    current, true_cost = [], 0
            if not current:
                longest = length
            current.append(index)
            true_cost += length**2
        if current:
            batches.append(current)
    return batches
