"""Complexes on the model side: chains of a sequence written with ':' chain breaks ("SEQA:SEQB",
phonos_config.complexes), their labels A, B, … and where their residues sit in the model's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from alphafold.common.protein import PDB_CHAIN_IDS

from phonos_config.complexes import CHAIN_BREAK

__all__ = ["CHAIN_BREAK", "ChainLayout", "chain_ids", "split_chains"]


def split_chains(sequence: str) -> tuple[str, ...]:
    """The chains of `sequence`, in order; one chain when there is no ':'."""
    return tuple(sequence.split(CHAIN_BREAK))


def chain_ids(count: int) -> tuple[str, ...]:
    """PDB chain labels A, B, ... in the order of the sequence (AlphaFold's PDB_CHAIN_IDS: A-Z, a-z, 0-9)."""
    if not 0 < count <= len(PDB_CHAIN_IDS):
        raise ValueError(f"between 1 and {len(PDB_CHAIN_IDS)} chains can be labelled, got {count}")
    return tuple(PDB_CHAIN_IDS[:count])


@dataclass(frozen=True)
class ChainLayout:
    """Where each chain's residues sit in the concatenated model input (chain order = sequence order)."""

    sequences: tuple[str, ...]  # one-letter codes per chain

    @classmethod
    def of(cls, sequence: str) -> ChainLayout:
        return cls(split_chains(sequence))

    @property
    def ids(self) -> tuple[str, ...]:
        return chain_ids(len(self.sequences))

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(len(chain) for chain in self.sequences)

    @property
    def residues(self) -> str:
        """All residues, chains concatenated (the model's order)."""
        return "".join(self.sequences)

    @property
    def chain_index(self) -> np.ndarray:
        """[L] int32: 0-based chain of each residue."""
        return np.repeat(np.arange(len(self.sequences), dtype=np.int32), self.lengths)

    @property
    def residue_index(self) -> np.ndarray:
        """[L] int32: residue numbers, 1-based within each chain (as DeepMind's multimer writes them)."""
        return np.concatenate([np.arange(1, n + 1, dtype=np.int32) for n in self.lengths])
