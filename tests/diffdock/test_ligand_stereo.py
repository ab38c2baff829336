"""Stereo the SMILES leaves open: the poses fix it, so the job says so and each pose says which one it got.

RDKit's embedding gives an unspecified stereocentre one configuration, which no torsion or rigid motion
inverts, so every pose docks that one stereoisomer; a double bond without E/Z is turned like a single bond
(the reference's rule, unchanged here), so each pose's E/Z is whatever the sampling left.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from phonos_models.diffdock import ligand
from phonos_models.diffdock.outputs import RankedPose, poses_sdf
from phonos_models.diffdock.pipeline import DiffDockPipeline, DockingRequest, _warnings
from rdkit import Chem

from phonos_config.diffdock import DiffDockSettings

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
ALANINE = "CC(N)C(=O)O"
IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("smiles", "centres", "bonds"),
    [
        (ALANINE, 1, 0),
        (IBUPROFEN, 1, 0),
        ("C[C@H](N)C(=O)O", 0, 0),  # L-alanine as written
        ("CC=CC(N)C", 1, 1),
        ("C/C=C/[C@H](N)C", 0, 0),
        ("CC(=O)NC", 0, 0),  # an amide is no stereo element (it is a torsion; docs/diffdock.md)
        ("OC(=O)c1ccccc1OC(C)=O", 0, 0),  # aspirin
        ("[2H]C([2H])(C)O", 0, 0),  # a CD2 is no centre once deuterium is removed as hydrogen
        ("CN=[N+]=[N-]", 0, 0),  # an azide's N is linear: no E/Z
        ("C/C=N/O", 0, 0),  # an oxime as written
        ("CC=NO", 0, 1),  # an oxime whose E/Z is open
    ],
)
def test_unspecified_stereo_is_counted(smiles: str, centres: int, bonds: int) -> None:
    lig = ligand.featurize(smiles, seed=0)
    assert (lig.unspecified_stereocentres, lig.unspecified_stereo_bonds) == (centres, bonds)


@pytest.mark.unit
def test_unspecified_stereo_is_a_warning_that_says_how_many_and_how_to_choose() -> None:
    notes = _warnings([], ligand.featurize(IBUPROFEN, seed=0))["warnings"]
    assert len(notes) == 1
    assert "1 stereocentre(s) unspecified" in notes[0] and "arbitrarily chosen" in notes[0]
    assert "docked_smiles" in notes[0] and "@/@@" in notes[0]
    notes = _warnings([], ligand.featurize("CC=CC(N)C", seed=0))["warnings"]
    assert len(notes) == 2 and "E/Z of 1 double bond(s)" in notes[1] and "/ and \\" in notes[1]
    assert _warnings([], ligand.featurize("C[C@H](N)C(=O)O", seed=0)) == {}


@pytest.mark.unit
def test_docked_smiles_is_the_stereo_of_the_coordinates_and_the_submitted_stereo_stays_unset() -> None:
    lig = ligand.featurize(ALANINE, seed=0)
    xyz = lig.pos.double().numpy()
    mirror = xyz * np.array([-1.0, 1.0, 1.0])  # the enantiomer's coordinates
    sdf = poses_sdf(lig.mol, [RankedPose(1, 0, 0.0, xyz), RankedPose(2, 1, -1.0, mirror)], {}, ALANINE)
    poses = list(Chem.ForwardSDMolSupplier(io.BytesIO(sdf.encode())))
    docked = [p.GetProp("docked_smiles") for p in poses]
    expected = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in ("C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O")}
    assert set(docked) == expected  # one pose each way, each named by its coordinates
    assert all(p.GetProp("canonical_smiles") == "CC(N)C(=O)O" for p in poses)  # the molecule as submitted


@pytest.mark.unit
def test_an_open_double_bond_is_written_as_its_coordinates_have_it_not_as_either() -> None:
    """Left open in the SMILES, a double bond was written "either" (bond stereo 3), which tells every reader to
    ignore the coordinates: each pose read back as CC=CC(=O)O while its geometry and docked_smiles said which
    (a chemist tester's find). The submitted molecule keeps it open (canonical_smiles)."""
    lig = ligand.featurize("CC=CC(=O)O", seed=0)
    sdf = poses_sdf(lig.mol, [RankedPose(1, 0, 0.0, lig.pos.double().numpy())], {}, "CC=CC(=O)O")
    [pose] = list(Chem.ForwardSDMolSupplier(io.BytesIO(sdf.encode())))
    assert Chem.MolToSmiles(pose) == pose.GetProp("docked_smiles") and "/" in pose.GetProp("docked_smiles")
    assert pose.GetProp("canonical_smiles") == "CC=CC(=O)O"
    [double] = [line for line in sdf.splitlines() if line.startswith("  2  3  2")]
    assert double == "  2  3  2  0"
    assert lig.mol.GetBondBetweenAtoms(1, 2).GetStereo() == Chem.BondStereo.STEREONONE  # the ligand is not changed


@pytest.fixture(scope="module")
def pipeline() -> Iterator[DiffDockPipeline]:
    docking = DiffDockPipeline.from_settings(DiffDockSettings(batch_size=3))
    yield docking
    docking.close()


@pytest.mark.integration
def test_a_docked_racemate_names_the_one_stereoisomer_every_pose_has(pipeline: DiffDockPipeline) -> None:
    out = pipeline.dock(DockingRequest(PDB, IBUPROFEN, inference_steps=10, samples_per_complex=3, random_seed=3))
    assert any("1 stereocentre(s) unspecified" in w for w in out.metadata["warnings"])
    poses = list(Chem.ForwardSDMolSupplier(io.BytesIO(out.poses_sdf.encode())))
    docked = {p.GetProp("docked_smiles") for p in poses}
    assert len(docked) == 1  # torsions and rigid motions never invert a centre
    (isomer,) = docked
    assert "@" in isomer and "@" not in poses[0].GetProp("canonical_smiles")
    conformer = Chem.Mol(ligand.featurize(IBUPROFEN, seed=3).mol)
    Chem.AssignStereochemistryFrom3D(conformer)
    assert isomer == Chem.MolToSmiles(conformer)  # the configuration RDKit's seeded embedding chose
    assert '"unspecified_stereocentres": 1' in out.result_json


@pytest.mark.unit
def test_stereo_that_only_deuterium_made_is_said_to_be_gone_with_it() -> None:
    """[2H][C@H](O)c1ccccc1 docked as OCc1ccccc1 and the warning spoke only of the deuterium: the @ went unsaid (a
    chemist tester's find)."""
    lig = ligand.featurize("[2H][C@H](O)c1ccccc1", seed=0)
    assert (lig.isotopic_hydrogens, lig.isotopic_stereo_lost) == (1, 1)
    [note] = _warnings([], lig)["warnings"]
    assert "1 deuterium/tritium atom(s) were removed" in note and "1 stereo element(s) the SMILES specified" in note
    kept = ligand.featurize("[2H]C[C@H](N)C(=O)O", seed=0)  # a CH2D beside a centre of its own: nothing lost
    assert kept.isotopic_stereo_lost == 0 and "stereo element" not in _warnings([], kept)["warnings"][0]
