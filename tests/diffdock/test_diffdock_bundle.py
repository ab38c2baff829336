"""The DiffDock result bundle: every file, a README, the pose-confidence plot (tiny models, in process)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from phonos_models.diffdock.outputs import confidence_band
from phonos_models.diffdock.pipeline import DiffDockPipeline, DockingOutput, DockingRequest
from phonos_models.diffdock.serving import result
from rdkit import Chem
from test_complex_provenance import remark_text, strict_header_name

from jobservice.modelspecs.diffdock import FORMATS
from phonos_config.diffdock import DiffDockSettings
from tests.bundle_checks import check_bundle

pytestmark = pytest.mark.integration

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()


@pytest.fixture(scope="module")
def out() -> Iterator[DockingOutput]:
    """One tiny docking run, shared by this module's tests."""
    pipeline = DiffDockPipeline.from_settings(DiffDockSettings(batch_size=3))
    try:
        yield pipeline.dock(DockingRequest(PDB, "CC(=O)Oc1ccccc1C(=O)O", inference_steps=10, samples_per_complex=3,
                                           random_seed=3))
    finally:
        pipeline.close()  # its ligand embedding process


def test_bundle_holds_every_file_the_readme_and_the_confidence_plot(out: DockingOutput) -> None:
    archive = check_bundle(result(out), FORMATS, "diffdock")
    readme = archive.read("README.md").decode()
    assert "NOT A REAL PREDICTION" in readme and "CC(=O)Oc1ccccc1C(=O)O" in readme
    for rank, confidence in enumerate(out.ranked_confidence, start=1):
        assert confidence is not None
        assert f"| {rank} | {round(confidence, 4)} | {confidence_band(confidence)} |" in readme
    # The bands' edges as confidence_band draws them (the README said "low < -1.5"; -1.5 itself is low) and the
    # complex's ligand named as the PDB names it.
    assert "Bands: high > 0, moderate -1.5 < c <= 0, low <= -1.5" in readme
    assert (confidence_band(-1.5), confidence_band(0.0)) == ("low", "moderate")
    assert f"HETATM {out.metadata['complex_ligand']['residue_name']}, CONECT records" in readme


def test_the_complex_names_in_full_the_weights_each_sdf_pose_names(out: DockingOutput) -> None:
    """The complex PDB's TITLE and REMARK 250 lines, read with Biopython's strict parser, say which weights docked
    it as the SDF does (before, the remarks were cut at 68 characters: "confidence weights ... sha256:0583")."""
    poses = list(Chem.ForwardSDMolSupplier(io.BytesIO(out.poses_sdf.encode())))
    remarks = remark_text(out.complex_pdb)
    title = strict_header_name(out.complex_pdb)
    for pose in poses:
        for key in ("score_weights", "confidence_weights", "esm_weights"):
            assert pose.GetProp(key) in remarks, key  # the name and the 16-character sha256
    for key in ("score_weights", "confidence_weights"):
        assert poses[0].GetProp(key).split(" sha256:")[0] in title, key
    assert "not a real prediction" in title  # tiny weights


def test_each_sdf_pose_names_its_ligand(out: DockingOutput) -> None:
    """Poses of several jobs merged into one file (a screening run) said only "rank1": each record now carries the
    SMILES as submitted and RDKit's canonical SMILES of the docked molecule, which its own atoms reproduce."""
    poses = list(Chem.ForwardSDMolSupplier(io.BytesIO(out.poses_sdf.encode())))
    assert [pose.GetProp("_Name") for pose in poses] == ["rank1", "rank2", "rank3"]
    for pose in poses:
        assert pose.GetProp("ligand_smiles") == "CC(=O)Oc1ccccc1C(=O)O"
        assert pose.GetProp("canonical_smiles") == Chem.MolToSmiles(Chem.MolFromSmiles("OC(=O)c1ccccc1OC(C)=O"))
        assert Chem.MolToSmiles(Chem.RemoveHs(pose)) == pose.GetProp("canonical_smiles")
