"""Padding-aware grouping of fold jobs into forward passes.

Requests share a forward pass only when they run the same number of trunk
passes with the same chunking. Within that, padded positions are masked
everywhere in ESMFold (ESM attention mask, trunk and IPA masks), so padding
does not change a sequence's result (tests compare batched with alone); what
padding costs is compute, which grows with n·Lmax² in the pair stack. So jobs
are sorted by length and packed while the padded cost stays within
`max_padding_overhead` of the unpadded cost and under a pair-cell budget
that bounds memory.

A token budget (esm's `esm-fold --max-tokens-per-batch`: padded residues n·Lmax
per forward pass) bounds how much one pass takes on: batching pays while
per-operation overhead dominates (short sequences) and stops paying once the
pass is compute- or memory-bound. Measured on CPU with the tiny model
(docs/esmfold.md): 50 aa ×4–8 per pass runs ~1.8× faster per sequence than
alone, 100–200 aa gain nothing and ×8 at 200 aa runs 1.6× slower (the
triangular attention's n·L³ logits leave the caches).

The passes of one dynamic batch run one after another in one instance, so they
are returned cheapest first: a job's result leaves when its own pass is done,
and a 35-aa peptide that Triton queued with a 1,000-aa chain then waits
milliseconds, not the long chain's minutes (seen through the API: 302 s for a
0.27 s fold, while the server's other instance sat idle). Shortest first also
gives the least mean wait of any order; the long job waits only for the short
passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phonos_config.json_text import json_value_text
from phonos_config.relax import RELAX_MODES
from phonos_models.common.errors import BadInput
from phonos_models.esmfold.chains import CHAIN_BREAK, ChainLayout, parse_chains


@dataclass(frozen=True)
class FoldJob:
    sequence: str  # one-letter codes, already validated; chains of a complex separated by ':'
    num_recycles: int  # recycling iterations after the first trunk pass: N → N+1 trunk passes
    chunk_size: int | None  # trunk chunk size in residues; None = unchunked
    relax: str = "none"  # Amber relax after the fold (phonos_config.relax.RELAX_MODES); not part of the pass

    @property
    def layout(self) -> ChainLayout:
        return ChainLayout(tuple(self.sequence.split(CHAIN_BREAK)))

    @property
    def folded_length(self) -> int:
        """Positions in the forward pass: residues plus the linkers of a complex."""
        return self.layout.folded_length


def plan_batches(
    jobs: Sequence[FoldJob],
    max_padding_overhead: float = 1.5,
    max_pair_cells: int = 2**21,
    max_tokens: int | None = None,
) -> list[list[int]]:
    """Indices of `jobs`, grouped into forward passes, cheapest pass first (`pass_cost`); every index
    appears exactly once.

    `max_tokens`: padded residues (n·Lmax) per pass; None = no token budget. A sequence longer than
    the budget still runs, alone."""
    groups: dict[tuple[int, int | None], list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault((job.num_recycles, job.chunk_size), []).append(index)
    batches: list[list[int]] = []
    for indices in groups.values():
        ordered = sorted(indices, key=lambda i: jobs[i].folded_length, reverse=True)
        current: list[int] = []
        longest = 0
        true_cost = 0
        for index in ordered:
            length = jobs[index].folded_length
            if current:
                padded = (len(current) + 1) * longest**2
                over_tokens = max_tokens is not None and (len(current) + 1) * longest > max_tokens
                if padded > max_padding_overhead * (true_cost + length**2) or padded > max_pair_cells or over_tokens:
                    batches.append(current)
                    current, true_cost = [], 0
            if not current:
                longest = length
            current.append(index)
            true_cost += length**2
        if current:
            batches.append(current)
    # sorted() is stable: passes of equal cost keep the order they were planned in
    return sorted(batches, key=lambda batch: pass_cost([jobs[i] for i in batch]))


def pass_cost(jobs: Sequence[FoldJob]) -> int:
    """A forward pass's work in the unit that dominates it: trunk passes × sequences × Lmax² (the pair
    stack; its triangular updates grow faster still, which only widens the gaps this orders by)."""
    longest = max(job.folded_length for job in jobs)
    return (jobs[0].num_recycles + 1) * len(jobs) * longest**2


def make_job(
    sequence: str,
    num_recycles: int,
    requested_chunk: int,
    *,
    max_length: int,
    auto_chunk_length: int,
    auto_chunk_size: int,
    max_chains: int,
    max_recycles: int = 24,
    relax: str = "none",
) -> FoldJob:
    """A checked job from raw request values; `BadInput` says what is wrong.

    The job service validated already; this guards direct Triton clients.
    `requested_chunk` 0 means off, honoured up to `auto_chunk_length` folded residues.
    """
    layout = parse_chains(sequence, max_length=max_length, max_chains=max_chains, subject="SEQUENCE")
    if not 0 <= num_recycles <= max_recycles:
        raise BadInput(f"NUM_RECYCLES must be between 0 and {max_recycles}, got {num_recycles}")
    if requested_chunk < 0:
        raise BadInput(f"CHUNK_SIZE must be 0 (off) or positive, got {requested_chunk}")
    if relax not in RELAX_MODES:
        raise BadInput(f"RELAX must be one of {', '.join(RELAX_MODES)}, got {json_value_text(relax)}")
    chunk: int | None = requested_chunk
    if requested_chunk == 0:
        chunk = auto_chunk_size if layout.folded_length > auto_chunk_length else None
    return FoldJob(sequence=layout.sequence, num_recycles=num_recycles, chunk_size=chunk, relax=relax)
