"""A pose's confidence is reported to 4 decimals, and its band is decided on that reported number: a raw -1.49996
was written `"confidence": -1.5, "confidence_band": "moderate"`, beside the file's own meaning `"low": "confidence
<= -1.5"` (and the SDF said the same). A chemist filtering by the printed number and one filtering by the band
disagreed."""

from __future__ import annotations

import io
import json

import pytest
from phonos_models.diffdock.outputs import (
    CONFIDENCE_MEANING,
    RankedPose,
    confidence_band,
    poses_sdf,
    summary_json,
)
from rdkit import Chem
from rdkit.Chem import AllChem

pytestmark = pytest.mark.unit

# Raw values within half a unit of the 4th decimal of the band edges, and what they read as.
EDGES = [(-1.49996, -1.5, "low"), (-1.50004, -1.5, "low"), (-1.49994, -1.4999, "moderate"),
         (0.00004, 0.0, "moderate"), (0.00006, 0.0001, "high"), (-0.00004, -0.0, "moderate")]


@pytest.mark.parametrize(("raw", "reported", "band"), EDGES)
def test_the_band_is_the_reported_numbers(raw: float, reported: float, band: str) -> None:
    assert confidence_band(raw) == band
    assert confidence_band(reported) == band  # the number as written gets the same band


def test_the_json_and_the_sdf_agree_with_their_own_meaning() -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    positions = mol.GetConformer().GetPositions()
    poses = [RankedPose(rank=i + 1, sample_index=i, confidence=raw, positions=positions)
             for i, (raw, _, _) in enumerate(EDGES)]
    body = json.loads(summary_json(poses, timings_s={}, weights={}, real_prediction=False, note=None, ligand={},
                                   receptor={}, sampling={}))
    assert body["confidence_meaning"] == CONFIDENCE_MEANING
    assert [(p["confidence"], p["confidence_band"]) for p in body["poses"]] == [(r, b) for _, r, b in EDGES]
    records = list(Chem.ForwardSDMolSupplier(io.BytesIO(poses_sdf(mol, poses, {}).encode()), removeHs=False))
    assert [(float(m.GetProp("confidence")), m.GetProp("confidence_band")) for m in records] == [
        (r, b) for _, r, b in EDGES]
