"""Steric clashes between heavy atoms, counted as atom pairs, by AlphaFold's own criterion.

AlphaFold's violation loss (Jumper et al. 2021, Suppl. 1.9.11, eq. 46; `between_residue_clash_loss`)
calls two heavy atoms of different residues clashing when they are closer than the sum of their van
der Waals radii minus a 1.5 Å tolerance (`clash_overlap_tolerance` in the model config). The peptide
bond C(i)–N(i+1) and disulfide SG–SG pairs are exempt. DeepMind sums the overlap per atom; a count of
clashing pairs is what a reader compares before and after Amber relax. Unlike DeepMind's loss, the
peptide-bond exemption here also requires the same chain, so a chain break is never mistaken for a
bond.
"""

from __future__ import annotations

import numpy as np
from alphafold.common import protein, residue_constants
from scipy.spatial import cKDTree

OVERLAP_TOLERANCE = 1.5  # Å, AlphaFold's clash_overlap_tolerance

_RADII = np.array([residue_constants.van_der_waals_radius[name[0]] for name in residue_constants.atom_types])  # [37] Å
_C = residue_constants.atom_order["C"]
_N = residue_constants.atom_order["N"]
_SG = residue_constants.atom_order["SG"]


def count_clashes(positions: np.ndarray, atom_mask: np.ndarray, residue_index: np.ndarray,
                  chain_index: np.ndarray) -> int:
    """Clashing heavy-atom pairs.

    positions [R, 37, 3] Å (atom37 order); atom_mask [R, 37] (1 = atom present); residue_index [R]
    (author numbering, consecutive within a chain); chain_index [R].
    """
    residue, atom = np.nonzero(np.asarray(atom_mask) > 0.5)
    if residue.size < 2:
        return 0
    xyz = np.asarray(positions, np.float64)[residue, atom]
    tree = cKDTree(xyz)
    pairs = tree.query_pairs(r=2 * _RADII.max() - OVERLAP_TOLERANCE, output_type="ndarray")
    if pairs.size == 0:
        return 0
    i, j = pairs[:, 0], pairs[:, 1]
    distance = np.linalg.norm(xyz[i] - xyz[j], axis=-1)
    limit = _RADII[atom[i]] + _RADII[atom[j]] - OVERLAP_TOLERANCE
    res_i, res_j = residue[i], residue[j]
    numbers, chains = np.asarray(residue_index), np.asarray(chain_index)
    same_chain = chains[res_i] == chains[res_j]
    step = numbers[res_j] - numbers[res_i]
    peptide_bond = same_chain & (((step == 1) & (atom[i] == _C) & (atom[j] == _N))
                                 | ((step == -1) & (atom[i] == _N) & (atom[j] == _C)))
    disulfide = (atom[i] == _SG) & (atom[j] == _SG)
    clash = (distance < limit) & (res_i != res_j) & ~peptide_bond & ~disulfide
    return int(clash.sum())


def count_clashes_in(prot: protein.Protein) -> int:
    return count_clashes(prot.atom_positions, prot.atom_mask, prot.residue_index, prot.chain_index)


def count_clashes_in_pdb(pdb_text: str) -> int:
    """Clashes of a PDB's heavy atoms (hydrogens and non-standard atoms are ignored)."""
    return count_clashes_in(protein.from_pdb_string(pdb_text))
