"""The complex PDB (receptor + rank-1 ligand pose) in PDB's fixed columns: ligand atom names aligned as
the format says (one-letter elements from column 14, two-letter ones from 13), the element in 77-78 and
the formal charge in 79-80, so a viewer reading the complex gets the ligand the SMILES described."""

from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np
import pytest
from phonos_models.diffdock import outputs, receptor
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


def pose_residues(text: str) -> dict[tuple[str, str], int]:
    """(residue name, chain) -> HETATM count, of the complex's HETATM records."""
    counts: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        if line.startswith("HETATM"):
            key = (line[17:20], line[21])
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_a_receptor_that_holds_a_lig_already_gets_the_pose_under_a_name_of_its_own(
        written: tuple[Chem.Mol, str]) -> None:
    """Found by a tester: an earlier docking's complex used again as the receptor kept its `LIG X 1`, and the new pose
    was `LIG Y 1` after it, so `resn LIG` (PyMOL, ChimeraX, MDAnalysis) or `grep LIG` found two ligands, the old one
    first. The pose takes the first free name (LG1); a REMARK and the metadata say where it is."""
    mol, plain = written
    assert pose_residues(plain)[("LIG", "L")] == mol.GetNumAtoms()
    assert "rank-1 ligand pose: HETATM residue LIG, chain L, number 1" in remark_text(plain)

    old = ("HETATM 9003  C1  LIG X   1      10.000  10.000  10.000  1.00  0.00           C\n"
           "HETATM 9004  O1  LIG X   1      11.200  10.000  10.000  1.00  0.00           O\n")
    rec = receptor.featurize(PDB.replace("END\n", old + "END\n"))
    assert rec.preparation.other_groups == {"LIG": 1, "CA": 1}
    assert outputs.ligand_residue(rec).as_json() == {"residue_name": "LG1", "chain": "L", "residue_number": 1}
    pose = RankedPose(rank=1, sample_index=0, confidence=0.5, positions=mol.GetConformer().GetPositions())
    text = complex_pdb(rec, mol, pose, ["test"])
    residues = pose_residues(text)
    assert residues[("LIG", "X")] == 2 and residues[("LG1", "L")] == mol.GetNumAtoms()  # the receptor's kept, apart
    assert "rank-1 ligand pose: HETATM residue LG1, chain L, number 1 (the receptor has a residue named LIG already)" \
        in remark_text(text)
    structure = gemmi.read_pdb_string(text)
    [pose_residue] = [r for chain in structure[0] for r in chain if r.name == "LG1"]
    assert np.allclose([a.pos.tolist() for a in pose_residue], mol.GetConformer().GetPositions(), atol=1e-3)
    # and the receptor's other residue names stay taken: a receptor with LIG and LG1 gets LG2
    rec = receptor.featurize(PDB.replace("END\n", old + old.replace("LIG X", "LG1 Z").replace("900", "901") + "END\n"))
    assert outputs.ligand_residue(rec).name == "LG2"


def remark_text(text: str) -> str:
    return " ".join(line[10:].strip() for line in text.splitlines() if line.startswith("REMARK 250"))


def test_the_bundle_readme_names_the_complex_ligand_as_the_pdb_does() -> None:
    """The zip's README said "the rank-1 ligand pose (HETATM LIG, ...)" for a complex whose pose is LG1 (the receptor
    held a LIG of its own): `grep LIG` found the receptor's ligand (a chemist tester's find)."""
    from phonos_models.diffdock.serving import descriptions

    renamed = {"complex_ligand": {"residue_name": "LG1", "chain": "L", "residue_number": 1}}
    assert "(HETATM LG1, CONECT records)" in descriptions(renamed)["pdb"]
    assert "(HETATM LIG, CONECT records)" in descriptions({})["pdb"]  # a pose under LIG, as most are
