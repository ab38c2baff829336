"""The DiffDock result bundle: every file, a README, the pose-confidence plot (tiny models, in process)."""

from __future__ import annotations

from pathlib import Path

import pytest
from phonos_models.diffdock.outputs import confidence_band
from phonos_models.diffdock.pipeline import DiffDockPipeline, DockingRequest
from phonos_models.diffdock.serving import result

from jobservice.modelspecs.diffdock import FORMATS
from phonos_config.diffdock import DiffDockSettings
from tests.bundle_checks import check_bundle

pytestmark = pytest.mark.integration

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()


def test_bundle_holds_every_file_the_readme_and_the_confidence_plot() -> None:
    pipeline = DiffDockPipeline.from_settings(DiffDockSettings(batch_size=3))
    out = pipeline.dock(DockingRequest(PDB, "CC(=O)Oc1ccccc1C(=O)O", inference_steps=10, samples_per_complex=3,
                                       random_seed=3))
    archive = check_bundle(result(out), FORMATS, "diffdock")
    readme = archive.read("README.md").decode()
    assert "NOT A REAL PREDICTION" in readme and "CC(=O)Oc1ccccc1C(=O)O" in readme
    for rank, confidence in enumerate(out.ranked_confidence, start=1):
        assert confidence is not None
        assert f"| {rank} | {round(confidence, 4)} | {confidence_band(confidence)} |" in readme
