"""Receptor featurisation: PDB text → residues (CA nodes), amino-acid indices, heavy atoms, sequences.

Follows the reference's ProDy path (notes/diffdock.md §4, pitfalls 8–9), with gemmi as the parser:
* first model only, first alternative location kept, hydrogens and waters dropped;
* a residue is a node when it is an amino acid (standard, modified such as MSE, or a force-field
  name such as HIE/CYX; `receptor_prep`) with a CA atom; a calcium ion named "CA" is not; nodes stay
  in file order;
* heavy atoms per residue are the reference's 14 fixed slots per residue type (`ATOM_ORDER`), so the
  confidence model sees exactly the atoms it was trained on (no OXT, no hydrogens); a modified residue
  fills its parent's slots (MSE's SE in MET's SD slot);
* chains are `segment + chain id`; each chain's sequence is embedded separately by ESM-2, modified
  residues as their parent amino acid and unknown ones as G. Unlike the reference (which concatenates the
  embeddings in *sorted* chain order and so mismatches files whose chains are not sorted) we put
  every embedding back on its own residue.
All coordinates are shifted so that the mean CA sits at the origin; `center` is added back on output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import gemmi
import numpy as np
import torch

from .data import RECEPTOR_ATOM_FEATURE_DIMS, RESIDUE_FEATURE_DIMS
from .data import vocabulary_slot as _slot
from .pipe_validate import ReceptorError, check_receptor, protein_residues, read_structure
from .receptor_prep import (
    AMINO_ACIDS,
    STANDARD,
    Preparation,
    find_slot_atom,
    read_structure_with_report,
    residue_letter,
)

__all__ = ["Receptor", "ReceptorError", "featurize", "read_structure"]

# Atom-name classes (`possible_atom_type_2`) and names (`possible_atom_type_3`); last index = misc.
ATOM_TYPE_2: tuple[str, ...] = (
    "C*", "CA", "CB", "CD", "CE", "CG", "CH", "CZ", "N*", "ND", "NE", "NH", "NZ", "O*", "OD",
    "OE", "OG", "OH", "OX", "S*", "SD", "SG",
)  # fmt: skip
ATOM_TYPE_3: tuple[str, ...] = (
    "C", "CA", "CB", "CD", "CD1", "CD2", "CE", "CE1", "CE2", "CE3", "CG", "CG1", "CG2", "CH2",
    "CZ", "CZ2", "CZ3", "N", "ND1", "ND2", "NE", "NE1", "NE2", "NH1", "NH2", "NZ", "O", "OD1",
    "OD2", "OE1", "OE2", "OG", "OG1", "OH", "OXT", "SD", "SG",
)  # fmt: skip
ONE_TO_THREE = {one: three for three, one in STANDARD.items()}
# Heavy-atom slots per residue type (reference `atom_order`); unknown residues keep the backbone.
ATOM_ORDER: dict[str, tuple[str, ...]] = {
    "G": ("N", "CA", "C", "O"),
    "A": ("N", "CA", "C", "O", "CB"),
    "S": ("N", "CA", "C", "O", "CB", "OG"),
    "C": ("N", "CA", "C", "O", "CB", "SG"),
    "T": ("N", "CA", "C", "O", "CB", "OG1", "CG2"),
    "P": ("N", "CA", "C", "O", "CB", "CG", "CD"),
    "V": ("N", "CA", "C", "O", "CB", "CG1", "CG2"),
    "M": ("N", "CA", "C", "O", "CB", "CG", "SD", "CE"),
    "N": ("N", "CA", "C", "O", "CB", "CG", "OD1", "ND2"),
    "I": ("N", "CA", "C", "O", "CB", "CG1", "CG2", "CD1"),
    "L": ("N", "CA", "C", "O", "CB", "CG", "CD1", "CD2"),
    "D": ("N", "CA", "C", "O", "CB", "CG", "OD1", "OD2"),
    "E": ("N", "CA", "C", "O", "CB", "CG", "CD", "OE1", "OE2"),
    "K": ("N", "CA", "C", "O", "CB", "CG", "CD", "CE", "NZ"),
    "Q": ("N", "CA", "C", "O", "CB", "CG", "CD", "OE1", "NE2"),
    "H": ("N", "CA", "C", "O", "CB", "CG", "ND1", "CD2", "CE1", "NE2"),
    "F": ("N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"),
    "R": ("N", "CA", "C", "O", "CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"),
    "Y": ("N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"),
    "W": ("N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE2", "CE3", "NE1", "CZ2", "CZ3", "CH2"),
    "X": ("N", "CA", "C", "O"),
}
_ELEMENTS = {"C": 6, "N": 7, "O": 8, "S": 16}


@dataclass(frozen=True)
class Receptor:
    """One featurised receptor, centred on its mean CA."""

    aa: torch.Tensor  # [R] int64, index into AMINO_ACIDS (37 = misc)
    pos: torch.Tensor  # [R, 3] float32, Å, CA positions, centred
    atom_x: torch.Tensor  # [A, 4] int64 (residue type, element, atom class, atom name)
    atom_pos: torch.Tensor  # [A, 3] float32, Å, centred
    atom_res: torch.Tensor  # [A] int64, residue (node) index of each atom
    center: np.ndarray  # [3] float64, Å, the mean CA subtracted from every coordinate
    chain_ids: tuple[str, ...]  # [R] chain label (segment + chain id) of each residue
    esm_sequences: dict[str, str]  # chain label → sequence sent to ESM-2 (unknown → G; modified → parent)
    structure: gemmi.Structure  # the cleaned input (first model, no H/water), original frame, for output
    preparation: Preparation  # what reading the file dropped, chose, mapped or renamed

    @property
    def num_residues(self) -> int:
        return int(self.pos.shape[0])


def _atom_row(residue: int, atom_name: str) -> list[int]:
    atomic_num = _ELEMENTS.get(atom_name[:1], -1)
    element = atomic_num - 1 if atomic_num > 0 else 118
    return [residue, element, _slot(ATOM_TYPE_2, (atom_name + "*")[:2]), _slot(ATOM_TYPE_3, atom_name)]


def featurize(pdb_text: str) -> Receptor:
    """PDB text → `Receptor`; raises `ReceptorError` when it has no usable protein residues."""
    check_receptor(pdb_text)  # the same rejections as the job service's validation
    structure, preparation = read_structure_with_report(pdb_text)
    ca: list[np.ndarray] = []
    aa: list[int] = []
    chain_ids: list[str] = []
    letters: list[str] = []
    atom_rows: list[list[int]] = []
    atom_pos: list[np.ndarray] = []
    atom_res: list[int] = []
    incomplete = 0
    for label, residue in protein_residues(structure):
        letter = residue_letter(residue.name)
        node = len(ca)
        ca.append(np.array(residue.find_atom("CA", "*").pos.tolist()))
        kind = _residue_type(residue.name, letter)
        aa.append(kind)
        chain_ids.append(label)
        letters.append(letter)
        slots = ATOM_ORDER.get(letter, ATOM_ORDER["X"])
        found = 0
        for name in slots:
            atom = find_slot_atom(residue, name)
            if atom is None:
                continue
            found += 1
            atom_rows.append(_atom_row(kind, name))
            atom_pos.append(np.array(atom.pos.tolist()))
            atom_res.append(node)
        incomplete += found < len(slots)
    sequences: dict[str, str] = {}
    for label, letter in zip(chain_ids, letters, strict=True):
        sequences[label] = sequences.get(label, "") + (letter if letter in ONE_TO_THREE else "G")
    ca_np = np.stack(ca)
    center = ca_np.mean(axis=0)
    atom_x = torch.tensor(atom_rows, dtype=torch.long).reshape(-1, len(RECEPTOR_ATOM_FEATURE_DIMS))
    assert (atom_x < torch.tensor(RECEPTOR_ATOM_FEATURE_DIMS)).all()
    aa_t = torch.tensor(aa, dtype=torch.long)
    assert (aa_t < RESIDUE_FEATURE_DIMS[0]).all()
    return Receptor(
        aa=aa_t,
        pos=torch.from_numpy(ca_np - center).float(),
        atom_x=atom_x,
        atom_pos=torch.from_numpy(np.stack(atom_pos) - center).float(),
        atom_res=torch.tensor(atom_res, dtype=torch.long),
        center=center,
        chain_ids=tuple(chain_ids),
        esm_sequences=sequences,
        structure=structure,
        preparation=dataclasses.replace(preparation, residues_missing_atoms=incomplete),
    )


def _residue_type(name: str, letter: str) -> int:
    """Index in the reference vocabulary: the residue's own name when listed there (HIE, SEP, CYX, ...),
    else its parent amino acid (MSE → MET), else misc."""
    if name in AMINO_ACIDS:
        return AMINO_ACIDS.index(name)
    return _slot(AMINO_ACIDS, ONE_TO_THREE.get(letter, "misc"))


def restrict(rec: Receptor, keep: np.ndarray, center: np.ndarray) -> Receptor:
    """`rec` cut to the residues in `keep` [R] (and their atoms), re-centred on `center` [3] Å (a pocket).

    The chains' sequences and the structure stay whole: ESM-2 embeds full chains (so a residue's
    embedding does not depend on the cut) and the complex PDB shows the receptor as submitted.
    """
    mask = torch.from_numpy(np.asarray(keep, dtype=bool))
    shift = torch.from_numpy(rec.center - center)  # float64: old frame → pocket frame
    remap = torch.cumsum(mask.long(), 0) - 1
    atom_keep = mask[rec.atom_res]
    return Receptor(
        aa=rec.aa[mask],
        pos=(rec.pos[mask].double() + shift).float(),
        atom_x=rec.atom_x[atom_keep],
        atom_pos=(rec.atom_pos[atom_keep].double() + shift).float(),
        atom_res=remap[rec.atom_res[atom_keep]],
        center=np.asarray(center, dtype=np.float64),
        chain_ids=tuple(c for c, k in zip(rec.chain_ids, keep.tolist(), strict=True) if k),
        esm_sequences=rec.esm_sequences,
        structure=rec.structure,
        preparation=rec.preparation,
    )
