"""The complex PDB (receptor + rank-1 ligand pose) in PDB's fixed columns: ligand atom names aligned as
the format says (one-letter elements from column 14, two-letter ones from 13), the element in 77-78 and
the formal charge in 79-80, so a viewer reading the complex gets the ligand the SMILES described."""

from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np
import pytest
from phonos_models.diffdock import receptor
from phonos_models.diffdock.outputs import RankedPose, complex_pdb
from rdkit import Chem
from rdkit.Chem import AllChem

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
SMILES = "C[N+](C)(C)Cc1ccc(Cl)cc1C(=O)[O-]"  # charged atoms and a two-letter element


@pytest.fixture(scope="module")
def written() -> tuple[Chem.Mol, str]:
    mol = Chem.AddHs(Chem.MolFromSmiles(SMILES))
    assert AllChem.EmbedMolecule(mol, randomSeed=3) == 0
    mol = Chem.RemoveHs(mol)
    pose = RankedPose(rank=1, sample_index=0, confidence=0.5, positions=mol.GetConformer().GetPositions())
    return mol, complex_pdb(receptor.featurize(PDB), mol, pose, ["test"])


def ligand_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("HETATM") and line[17:20] == "LIG"]


def test_ligand_atom_names_sit_in_the_columns_of_their_element(written: tuple[Chem.Mol, str]) -> None:
    mol, text = written
    lines = ligand_lines(text)
    assert len(lines) == mol.GetNumAtoms()
    for line, atom in zip(lines, mol.GetAtoms(), strict=True):
        element = atom.GetSymbol().upper()
        assert line[76:78].strip() == element, line
        if len(element) == 1:
            assert line[12] == " " and line[13] == element, line  # " C1 ", as RDKit and gemmi write it
        else:
            assert line[12:14] == element, line  # "CL1 "


def test_ligand_formal_charges_and_record_widths_match_the_molecule(written: tuple[Chem.Mol, str]) -> None:
    mol, text = written
    for line in text.splitlines():
        if line.startswith(("ATOM", "HETATM", "TER")):
            assert len(line) == 80, line
    structure = gemmi.read_pdb_string(text)
    ligand = next(residue for chain in structure[0] for residue in chain if residue.name == "LIG")
    assert [atom.charge for atom in ligand] == [atom.GetFormalCharge() for atom in mol.GetAtoms()]
    assert sorted(atom.charge for atom in ligand if atom.charge) == [-1, 1]
    # RDKit, read independently from the fixed columns, gets the same elements, charges and positions
    read = Chem.MolFromPDBBlock("\n".join(ligand_lines(text)), sanitize=False, proximityBonding=False)
    assert [a.GetSymbol() for a in read.GetAtoms()] == [a.GetSymbol() for a in mol.GetAtoms()]
    assert [a.GetFormalCharge() for a in read.GetAtoms()] == [a.GetFormalCharge() for a in mol.GetAtoms()]
    assert np.allclose(read.GetConformer().GetPositions(), mol.GetConformer().GetPositions(), atol=1e-3)
