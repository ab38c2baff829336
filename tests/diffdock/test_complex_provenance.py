"""The complex PDB says which model and weights docked it, whole: a TITLE a viewer shows (ChimeraX logs it,
Biopython reads it as the header's name) and REMARK 250 lines wrapped at 80 columns, not cut. Before, each remark
was cut at 68 characters: the confidence weights' line kept 4 of the 16 sha256 characters the SDF gives
("sha256:0583"), and a longer remark (a weights file's path) lost its end. Read back with gemmi and Biopython's
strict PDB parser."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import gemmi
import pytest
from Bio import BiopythonWarning
from Bio.PDB import PDBParser
from phonos_models.diffdock import receptor
from phonos_models.diffdock.outputs import RankedPose, complex_pdb
from rdkit import Chem
from rdkit.Chem import AllChem

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
# As the pipeline writes them (a name, then the weights' short hash), and a real checkpoint's long path.
REMARKS = [
    "PHONOS DIFFDOCK: receptor + rank-1 ligand pose (HETATM LIG)",
    "score weights diffdock-score-tiny-random-seed0 sha256:d6dbfde61b47e853",
    "confidence weights diffdock-confidence-tiny-random-seed1 sha256:0583b79905bb403d",
    "score weights /models/diffdock/v1.1/score_model/best_ema_inference_epoch_model_with_a_long_name.pt sha256:00ff",
]


def remark_text(pdb: str) -> str:
    """The REMARK 250 free text, its wrapped lines joined again."""
    return " ".join(line[11:].rstrip() for line in pdb.splitlines() if line.startswith("REMARK 250"))


def strict_header_name(pdb: str) -> str:
    """The TITLE as Biopython's strict parser reads it (warnings are errors: a malformed record fails)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", BiopythonWarning)
        structure = PDBParser(PERMISSIVE=False, QUIET=False).get_structure("complex", io.StringIO(pdb))
    return structure.header["name"]


def test_remarks_are_wrapped_whole_and_the_title_is_read_back() -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    assert AllChem.EmbedMolecule(mol, randomSeed=3) == 0
    mol = Chem.RemoveHs(mol)
    pose = RankedPose(rank=1, sample_index=0, confidence=0.5, positions=mol.GetConformer().GetPositions())
    title = "DiffDock receptor + rank-1 ligand pose, score weights diffdock-score-tiny-random-seed0 (NOT A REAL)"
    text = complex_pdb(receptor.featurize(PDB), mol, pose, REMARKS, title)
    assert max(len(line) for line in text.splitlines()) <= 80
    # every remark whole (before: "... sha256:0583" and the path's end cut off)
    joined = remark_text(text)
    for remark in REMARKS[:3]:
        assert remark in joined
    assert "".join(REMARKS[3].split()) in "".join(joined.split())  # the path is split, not cut
    assert joined.endswith("rank-1 ligand pose: HETATM residue LIG, chain L, number 1")  # where the pose is
    assert text.startswith("TITLE     DiffDock receptor")
    assert gemmi.read_pdb_string(text).info["_struct.title"] == title
    assert strict_header_name(text) == title.lower()  # Biopython lower-cases it
    assert len(gemmi.read_pdb_string(text)[0]["L"][0]) == mol.GetNumAtoms()  # the ligand is still there

