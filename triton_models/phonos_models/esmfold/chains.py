"""Complexes: a sequence with `:` chain breaks folds as one chain joined by a flexible linker.

ESMFold has no multimer training; its authors fold complexes by joining the chains with a poly-glycine
linker and adding a large gap to the residue index at each chain start, then dropping the linker from
the output (fair-esm `esm/esmfold/v1/misc.py`, `encode_sequence`: `chain_linker="G" * 25`,
`residue_index_offset=512`; the linker belongs to the residue-index block of the chain before it). We
do exactly that. Pure Python on purpose: the job service validates with it before any credit is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from phonos_config.complexes import CHAIN_BREAK
from phonos_models.common.errors import BadInput
from phonos_models.common.letters import chains_message, fasta_header_message, residue_text

LINKER = "G" * 25  # fair-esm encode_sequence default `chain_linker`
RESIDUE_INDEX_OFFSET = 512  # fair-esm encode_sequence default `residue_index_offset`
CHAIN_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # one letter per chain, as PDB files need


class ChainError(BadInput):
    """A sequence that cannot be folded as written (letters, empty chains, limits)."""


@dataclass(frozen=True)
class ChainLayout:
    """The chains of one submission and where each residue sits in the folded (linked) sequence."""

    chains: tuple[str, ...]  # one-letter codes per chain, in submission order

    @property
    def sequence(self) -> str:
        """The canonical text: chains joined by ':' (a monomer is just its letters)."""
        return CHAIN_BREAK.join(self.chains)

    @property
    def chain_ids(self) -> tuple[str, ...]:
        return tuple(CHAIN_IDS[: len(self.chains)])

    @property
    def residues(self) -> int:
        return sum(len(chain) for chain in self.chains)

    @property
    def folded_length(self) -> int:
        """Positions the network sees: every residue plus one linker between neighbouring chains."""
        return self.residues + len(LINKER) * (len(self.chains) - 1)

    @property
    def folded_sequence(self) -> str:
        return LINKER.join(self.chains)

    def residue_index(self) -> list[int]:
        """Per folded position: its index plus RESIDUE_INDEX_OFFSET per chain before it (linker included)."""
        index: list[int] = []
        for number, chain in enumerate(self.chains):
            block = len(chain) + (len(LINKER) if number < len(self.chains) - 1 else 0)
            start = len(index)
            index.extend(start + k + number * RESIDUE_INDEX_OFFSET for k in range(block))
        return index

    def real_positions(self) -> list[int]:
        """Folded positions of the submitted residues (the linker left out), in order."""
        positions: list[int] = []
        start = 0
        for chain in self.chains:
            positions.extend(range(start, start + len(chain)))
            start += len(chain) + len(LINKER)
        return positions

    def chain_of_residue(self) -> list[int]:
        """Per submitted residue: the number of its chain (0 = A)."""
        return [number for number, chain in enumerate(self.chains) for _ in chain]


def parse_chains(text: str, *, max_length: int, max_chains: int, subject: str = "sequence") -> ChainLayout:
    """The chains in `text` (whitespace ignored, ASCII letters upper-cased); `ChainError` says what to fix.

    `max_length` bounds the folded length (residues plus linkers): that is what costs memory and time.
    """
    fasta = fasta_header_message(text, subject)
    if fasta:
        raise ChainError(fasta)
    cleaned = residue_text(text)  # ASCII only: str.upper() would fold ß as SS
    if not cleaned:
        raise ChainError(f"{subject} is empty; ESMFold needs an amino-acid sequence")
    chains = tuple(cleaned.split(CHAIN_BREAK))
    # U, O, B, Z, J: fair-esm would fold them as X unsaid; X only: the model has no atoms for X (fair-esm
    # writes none), so such a chain would fold into nothing
    problem = chains_message(chains, subject)
    if problem:
        raise ChainError(problem)
    if len(chains) > max_chains:
        raise ChainError(f"{subject} has {len(chains)} chains; ESMFold on this server folds at most {max_chains}")
    layout = ChainLayout(chains)
    if layout.folded_length > max_length:
        if len(chains) == 1:
            raise ChainError(f"{subject} is {layout.residues} residues; ESMFold on this server accepts at most {max_length}")
        raise ChainError(
            f"{subject} folds as {layout.folded_length} residues ({layout.residues} in {len(chains)} chains plus "
            f"{len(chains) - 1} linker(s) of {len(LINKER)} glycines); ESMFold on this server accepts at most {max_length}"
        )
    return layout
