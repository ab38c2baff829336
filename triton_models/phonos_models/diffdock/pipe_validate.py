"""Cheap input checks shared by the job service (before credits) and the featurisers.

Only RDKit and gemmi, no torch: the job service imports this to turn an invalid SMILES or a PDB
without protein residues into a 400 before any credit is taken, and `ligand.py` / `receptor.py` use
the very same functions, so what validation accepts is what the model can run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import gemmi
from rdkit import Chem, rdBase

from phonos_config.diffdock import MAX_SMILES_LENGTH
from phonos_models.common.errors import BadInput
from phonos_models.common.json_text import json_value_text

MAX_HEAVY_ATOMS = 150  # larger "ligands" are peptides/macromolecules; DiffDock is not trained on them
MAX_RESIDUES = 3000  # the reference refuses larger receptors
MAX_CHAIN_LENGTH = 1022  # ESM-2's positional limit per chain (the reference truncates and then fails)


class LigandError(BadInput):
    """The SMILES cannot be docked; the message says why (shown to the user as a 400)."""


class ReceptorError(BadInput):
    """The PDB cannot be used as a receptor; the message says why (shown to the user as a 400)."""


def parse_smiles(smiles: str) -> Chem.Mol:
    """A sanitised RDKit molecule, or `LigandError` saying what is wrong with the SMILES."""
    text = smiles.strip()
    if not text:
        raise LigandError("ligand SMILES is empty")
    if len(text) > MAX_SMILES_LENGTH:
        raise LigandError(f"ligand SMILES is {len(text)} characters; the limit is {MAX_SMILES_LENGTH}")
    if any(c.isspace() for c in text):
        raise LigandError("ligand SMILES contains whitespace; give exactly one SMILES string")
    rdBase.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(text)
    finally:
        rdBase.EnableLog("rdApp.*")
    if mol is None:
        raise LigandError(f"ligand SMILES {json_value_text(text)} could not be parsed by RDKit (check brackets, ring "
                          "closures, valences)")
    heavy = mol.GetNumHeavyAtoms()
    if heavy == 0:
        raise LigandError("ligand has no heavy atoms")
    if heavy > MAX_HEAVY_ATOMS:
        raise LigandError(f"ligand has {heavy} heavy atoms; at most {MAX_HEAVY_ATOMS} are supported")
    fragments = Chem.GetMolFrags(mol)
    if len(fragments) > 1:
        raise LigandError(
            f"ligand SMILES has {len(fragments)} disconnected fragments; dock one molecule "
            "(remove counter-ions and solvents)"
        )
    return mol


def canonical_smiles(smiles: str) -> str:
    return Chem.MolToSmiles(parse_smiles(smiles))


def read_structure(pdb_text: str) -> gemmi.Structure:
    """First model of the PDB text, one conformer per atom, without hydrogens and waters."""
    if not pdb_text.strip():
        raise ReceptorError("protein PDB is empty")
    try:
        structure = gemmi.read_pdb_string(pdb_text)
    except (RuntimeError, ValueError) as exc:
        raise ReceptorError(f"protein PDB could not be parsed: {exc}") from exc
    if len(structure) == 0:
        raise ReceptorError("protein PDB has no ATOM/HETATM records")
    for index in range(len(structure) - 1, 0, -1):
        del structure[index]
    structure.remove_alternative_conformations()
    structure.remove_hydrogens()
    structure.remove_waters()
    structure.remove_empty_chains()
    return structure


def protein_residues(structure: gemmi.Structure) -> Iterator[tuple[str, gemmi.Residue]]:
    """(chain label, residue) for every amino acid with a CA, in file order (ions named CA excluded)."""
    for chain in structure[0]:
        for residue in chain:
            info = gemmi.find_tabulated_residue(residue.name)
            if info is None or not info.is_amino_acid():
                continue
            if residue.find_atom("CA", "*") is None:
                continue
            yield residue.segment.strip() + chain.name, residue


@dataclass(frozen=True)
class ReceptorSummary:
    residues: int
    chains: dict[str, int]  # chain label → residues


def check_receptor(pdb_text: str) -> ReceptorSummary:
    """Residue and chain counts; `ReceptorError` when the PDB cannot be a DiffDock receptor."""
    chains: dict[str, int] = {}
    for label, _ in protein_residues(read_structure(pdb_text)):
        chains[label] = chains.get(label, 0) + 1
    total = sum(chains.values())
    if total == 0:
        raise ReceptorError(
            "protein PDB contains no amino-acid residues with a CA atom; DiffDock needs a protein receptor"
        )
    if total > MAX_RESIDUES:
        raise ReceptorError(f"protein has {total} residues; at most {MAX_RESIDUES} are supported")
    for label, length in chains.items():
        if length > MAX_CHAIN_LENGTH:
            raise ReceptorError(
                f"chain {label!r} has {length} residues; ESM-2 embeds at most {MAX_CHAIN_LENGTH} per chain"
            )
    return ReceptorSummary(residues=total, chains=chains)
