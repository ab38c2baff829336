"""The pLDDT B-factors of a relaxed file: each heavy atom its own, each atom the relax added its residue's CA value,
the residue found by chain, number and insertion code (DeepMind's `overwrite_b_factors` walks residues by number
alone). No OpenMM: the relax's own B-factor step is run on a PDB with hydrogens written in."""

from __future__ import annotations

import numpy as np
import pytest
from alphafold.common import protein
from alphafold.common import residue_constants as rc
from alphafold.relax import utils
from phonos_models.common.relax_worker import keep_atom_b_factors

pytestmark = pytest.mark.unit

# chain A: one residue numbered 1; chain B: residues 1-3 (the case DeepMind's walk merges)
RESIDUES = [("A", 1, "G", 90.0), ("B", 1, "A", 20.0), ("B", 2, "S", 40.0), ("B", 3, "A", 60.0)]


def unrelaxed_pdb() -> str:
    """Heavy atoms N, CA, C, O, CB; per-atom pLDDT as ESMFold writes it: CA the residue's value, the others +1."""
    count = len(RESIDUES)
    positions = np.zeros((count, rc.atom_type_num, 3))
    mask = np.zeros((count, rc.atom_type_num))
    b_factors = np.zeros((count, rc.atom_type_num))
    for i, (_, _, letter, plddt) in enumerate(RESIDUES):
        for name in ("N", "CA", "C", "O") + (("CB",) if letter != "G" else ()):
            index = rc.atom_order[name]
            positions[i, index] = [3.8 * i + index * 0.3, 0.0, 0.0]
            mask[i, index] = 1
            b_factors[i, index] = plddt if name == "CA" else plddt + 1
    return protein.to_pdb(protein.Protein(
        atom_positions=positions, aatype=np.array([rc.restype_order[r[2]] for r in RESIDUES]), atom_mask=mask,
        residue_index=np.array([r[1] for r in RESIDUES]), chain_index=np.array([ord(r[0]) - ord("A") for r in RESIDUES]),
        b_factors=b_factors))


def with_hydrogens(pdb_text: str) -> str:
    """Each residue's backbone H written after its N, as PDBFixer adds it."""
    out = []
    for line in pdb_text.splitlines(keepends=True):
        out.append(line)
        if line.startswith("ATOM  ") and line[12:16] == " N  ":
            out.append(line[:12] + " H  " + line[16:76] + " H" + line[78:])
    return "".join(out)


def hydrogen_b_factors(pdb_text: str) -> dict[tuple[str, int], float]:
    return {(line[21], int(line[22:26])): float(line[60:66]) for line in pdb_text.splitlines()
            if line.startswith("ATOM  ") and line[12:16].strip() == "H"}


def test_added_hydrogens_take_their_own_residues_ca_plddt_across_a_one_residue_chain() -> None:
    unrelaxed = unrelaxed_pdb()
    # what DeepMind's relax hands back: its B-factor walk over the minimised structure (hydrogens added)
    deepmind = utils.overwrite_b_factors(with_hydrogens(unrelaxed), protein.from_pdb_string(unrelaxed).b_factors)
    expected = {(chain, number): plddt for chain, number, _, plddt in RESIDUES}
    # the upstream bug this guards against: A:1 and B:1 read as one residue, so chain B's values shift by one
    assert hydrogen_b_factors(deepmind) == {("A", 1): 90.0, ("B", 1): 90.0, ("B", 2): 20.0, ("B", 3): 40.0}

    kept = keep_atom_b_factors(deepmind, unrelaxed)
    assert hydrogen_b_factors(kept) == expected  # before: the shifted values above
    heavy = {(line[21], int(line[22:26]), line[12:16].strip()): float(line[60:66]) for line in kept.splitlines()
             if line.startswith("ATOM  ") and line[12:16].strip() != "H"}
    for chain, number, _, plddt in RESIDUES:  # heavy atoms keep their own per-atom values
        assert heavy[chain, number, "CA"] == plddt and heavy[chain, number, "N"] == plddt + 1
