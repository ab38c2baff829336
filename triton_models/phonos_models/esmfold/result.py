"""One folded submission as plain arrays: what the forward pass hands to the result files.

Kept free of torch and transformers so the processes that build result files (plots, bundle; see
phonos_models.common.file_workers) can receive it without importing the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonos_models.esmfold.chains import ChainLayout

KNOWN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWY")  # residue types with an atom template (X has none)


@dataclass(frozen=True)
class FoldResult:
    """One folded submission; every per-residue array covers the submitted residues only (no linker)."""

    layout: ChainLayout  # the chains as submitted; N = layout.residues
    atom_positions: np.ndarray  # [N, 37, 3] float32, Å, atom37 order
    atom_mask: np.ndarray  # [N, 37] float32 {0, 1}: the atoms written (the built ones, plus X's CA)
    atom_plddt: np.ndarray  # [N, 37] float32, 0–100, per atom (fair-esm's B-factors)
    plddt: np.ndarray  # [N] float32, 0–100, per residue (CA atom)
    mean_plddt: float  # 0–100, mean over the atoms the model builds (fair-esm `mean_plddt`; X has none)
    ptm: float  # 0–1, predicted TM-score of all submitted residues
    iptm: float | None  # 0–1, interface pTM across chains; None for one chain
    chain_ptm: tuple[float, ...]  # 0–1 per chain
    chain_pair_iptm: np.ndarray  # [C, C] 0–1, diagonal = chain pTM
    pae: np.ndarray  # [N, N] float32, Å, expected position error of residue j when aligned on i
    num_recycles: int  # recycling iterations requested
    trunk_passes: int  # measured: num_recycles + 1
    chunk_size: int | None  # trunk chunk size used; None = unchunked
    batch_size: int  # sequences in the forward pass that produced this result
    fold_s: float  # wall time of that forward pass

    @property
    def sequence(self) -> str:
        """Chains joined by ':' (a monomer is just its letters)."""
        return self.layout.sequence

    @property
    def mean_plddt_ca(self) -> float:
        """Mean of the per-residue (CA) pLDDT; differs slightly from `mean_plddt`, which weights every atom."""
        return float(self.plddt.mean())

    @property
    def built_atoms(self) -> np.ndarray:
        """[N, 37] float {0, 1}: the atoms the model builds (its `atom37_atom_exists`), what `mean_plddt` averages:
        `atom_mask` without the CA we write for an X residue (the model builds none of its atoms)."""
        known = np.array([letter in KNOWN_LETTERS for chain in self.layout.chains for letter in chain], dtype=bool)
        return self.atom_mask * known[:, None]

    def chain_slices(self) -> list[slice]:
        """Per chain, in submission order: its residues' slice of the per-residue arrays."""
        out, start = [], 0
        for chain in self.layout.chains:
            out.append(slice(start, start + len(chain)))
            start += len(chain)
        return out

    def chain_mean_plddt(self, number: int) -> float:
        """Chain `number` (0 = A)'s `mean_plddt`: the mean over the atoms the model builds in that chain, the
        fold's own definition. For one chain it is `mean_plddt` itself (the same atoms, summed on the device)."""
        if len(self.layout.chains) == 1:
            return self.mean_plddt
        part = self.chain_slices()[number]
        built = self.built_atoms[part].astype(np.float64)
        return float((self.atom_plddt[part].astype(np.float64) * built).sum() / max(float(built.sum()), 1.0))

    def chain_mean_plddt_ca(self, number: int) -> float:
        """Chain `number` (0 = A)'s `mean_plddt_ca`: the mean of its per-residue (CA) pLDDT."""
        return float(self.plddt[self.chain_slices()[number]].mean())
