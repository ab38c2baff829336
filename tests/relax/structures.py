"""Test structures for Amber relax, built from geometry (nothing downloaded): an ideal α-helix with side
chains, and the same helix with a clash planted in it."""

from __future__ import annotations

import io

import numpy as np
from alphafold.common import protein
from alphafold.common import residue_constants as rc

# Engh & Huber bond lengths (Å) and angles (degrees); α-helix backbone torsions.
_N_CA, _CA_C, _C_N, _C_O = 1.458, 1.525, 1.329, 1.231
_CA_C_N, _C_N_CA, _N_CA_C, _CA_C_O = 116.2, 121.7, 111.2, 120.5
HELIX_PHI, HELIX_PSI, OMEGA = -57.0, -47.0, 180.0


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float, torsion: float) -> np.ndarray:
    """NeRF: the atom bonded to c at `bond` Å, angle b-c-d `angle`, torsion a-b-c-d `torsion`."""
    angle, torsion = np.radians(angle), np.radians(torsion)
    bc = (c - b) / np.linalg.norm(c - b)
    normal = np.cross(b - a, bc)
    normal /= np.linalg.norm(normal)
    frame = np.stack([bc, np.cross(normal, bc), normal], axis=1)
    local = np.array([-bond * np.cos(angle), bond * np.sin(angle) * np.cos(torsion),
                      bond * np.sin(angle) * np.sin(torsion)])
    return c + frame @ local


def _backbone(length: int) -> list[tuple[np.ndarray, ...]]:
    n, ca, c = np.array([-0.525, 1.363, 0.0]), np.zeros(3), np.array([_CA_C, 0.0, 0.0])
    residues = [(n, ca, c)]
    for _ in range(length - 1):
        n = _place(residues[-1][0], residues[-1][1], residues[-1][2], _C_N, _CA_C_N, HELIX_PSI)
        ca = _place(residues[-1][1], residues[-1][2], n, _N_CA, _C_N_CA, OMEGA)
        c = _place(residues[-1][2], n, ca, _CA_C, _N_CA_C, HELIX_PHI)
        residues.append((n, ca, c))
    out = []
    for i, (n, ca, c) in enumerate(residues):
        following = residues[i + 1][0] if i + 1 < length else _place(n, ca, c, _C_N, _CA_C_N, HELIX_PSI)
        out.append((n, ca, c, _place(following, ca, c, _C_O, _CA_C_O, 180.0)))
    return out


def ideal_helix_pdb(sequence: str, plddt: float = 80.0) -> str:
    """All heavy atoms: the backbone from ideal geometry, side chains placed by PDBFixer's templates."""
    import pdbfixer
    from openmm import app

    lines = []
    for i, (letter, atoms) in enumerate(zip(sequence, _backbone(len(sequence)), strict=True)):
        for name, xyz in zip(("N", "CA", "C", "O"), atoms, strict=True):
            lines.append(f"ATOM  {len(lines) + 1:5d}  {name:<3} {rc.restype_1to3[letter]} A{i + 1:4d}    "
                         f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00{plddt:6.2f}           {name[0]}")
    fixer = pdbfixer.PDBFixer(pdbfile=io.StringIO("\n".join(lines) + "\nEND\n"))
    fixer.findMissingResidues()
    fixer.findMissingAtoms()
    fixer.addMissingAtoms(seed=0)
    out = io.StringIO()
    app.PDBFile.writeFile(fixer.topology, fixer.positions, out, keepIds=True)
    # Back through AlphaFold's writer: atom37 order, the pLDDT B-factors, no hydrogens.
    prot = protein.from_pdb_string(out.getvalue())
    prot = protein.Protein(prot.atom_positions, prot.aatype, prot.atom_mask, prot.residue_index,
                           prot.chain_index, np.full_like(prot.b_factors, plddt) * prot.atom_mask)
    return protein.to_pdb(prot)


def plant_clash(pdb_text: str, mover: int, target: int, fraction: float = 0.9) -> str:
    """Residue `mover`'s side chain beyond CB slid `fraction` of the way onto residue `target` (0-based)."""
    prot = protein.from_pdb_string(pdb_text)
    positions = prot.atom_positions.copy()
    side = prot.atom_mask[mover].astype(bool)
    side[[rc.atom_order[name] for name in ("N", "CA", "C", "O", "CB")]] = False
    positions[mover][side] += fraction * (positions[target, rc.atom_order["CA"]] - positions[mover, rc.atom_order["CA"]])
    return protein.to_pdb(protein.Protein(positions, prot.aatype, prot.atom_mask, prot.residue_index,
                                          prot.chain_index, prot.b_factors))
