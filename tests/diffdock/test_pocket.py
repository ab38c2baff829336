"""Pocket-conditioned docking: the `params.pocket` shapes, resolving a pocket on a receptor, the restricted
receptor, the initial poses drawn in the pocket, distances in every output, and blind docking unchanged.

About final poses: the tiny random networks move ligands arbitrarily (tens of Å in a few steps), so
"every final pose lies within the radius" cannot be asserted for them without faking it. What is
asserted instead: every sample *starts* in the pocket (exact, for any weights); the sampler, given the
exact score of a Gaussian about the pocket centre, ends every pose within the radius (so the pocket
frame and the way back to the PDB frame are right); and every reported distance is the distance of
the written pose.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemmi
import numpy as np
import pytest
import torch
from phonos_models.diffdock import build, ligand, receptor, sampling
from phonos_models.diffdock.pipe_validate import MIN_RESIDUES, read_structure
from phonos_models.diffdock.pipeline import DiffDockPipeline, DockingOutput, DockingRequest, request_from_json
from phonos_models.diffdock.pocket import (
    DEFAULT_RADIUS,
    RECEPTOR_MARGIN,
    RESIDUE_MARGIN,
    PocketError,
    PocketRequest,
    parse_pocket,
    resolve,
)
from phonos_models.diffdock.serving import result
from rdkit import Chem
from test_sampling import PullToOrigin

from phonos_config.diffdock import DiffDockSettings

pytestmark = pytest.mark.integration

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CENTER = (6.3, 3.5, -4.0)  # near residue A:1-A:3 of receptor_small.pdb, Å
# Blind docking on main before pocket support (same request, tiny weights, tiny_seed 0): per sample
# index, the ligand centroid of the final pose (Å, PDB frame) and the confidence logit. Main and this
# branch write byte-identical SDF and PDB files for it (checked by hashing both when this was added);
# the tolerance only absorbs CPU-kernel differences between machines.
BLIND_GOLDEN = {
    0: ((31.9556, 1.9544, 54.9249), 0.4507),
    1: ((8.6499, 16.5609, -18.4734), 0.4322),
    2: ((18.6753, -24.5132, 8.9557), 0.4465),
}


def ca_positions() -> dict[str, np.ndarray]:
    structure = gemmi.read_pdb_string(PDB)
    return {f"{ch.name}:{r.seqid.num}": np.array(r["CA"][0].pos.tolist()) for ch in structure[0] for r in ch
            if r.find_atom("CA", "*") is not None and r.name != "CA"}


# ---------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    ({"center": [1, 2.5, -3], "radius": 12}, PocketRequest(center=(1.0, 2.5, -3.0), radius=12.0)),
    ({"center": [1, 2, 3]}, PocketRequest(center=(1.0, 2.0, 3.0))),
    ({"residues": ["A:45", "A:48"]}, PocketRequest(residues=("A:45", "A:48"))),
    ({"residues": "A:45, A:48,B:7A", "radius": 8}, PocketRequest(residues=("A:45", "A:48", "B:7A"), radius=8.0)),
    ("A:45,A:48,A:45", PocketRequest(residues=("A:45", "A:48"))),
    (["A:45", "B:-3"], PocketRequest(residues=("A:45", "B:-3"))),
    (":45,A#2:3", PocketRequest(residues=(":45", "A#2:3"))),  # a chain without an id; the file's 2nd chain A
])
def test_accepted_shapes(value: Any, expected: PocketRequest | None) -> None:
    parsed = parse_pocket(value)
    assert parsed == expected
    if parsed is not None:  # the stored form reads back to the same request
        assert parse_pocket(json.loads(json.dumps(parsed.as_json()))) == parsed


@pytest.mark.parametrize(("value", "message"), [
    (12, "must be an object, a string or a list"),
    ({}, "exactly one of"),
    ({"center": [0, 0, 0], "residues": ["A:1"]}, "exactly one of"),
    ({"centre": [0, 0, 0]}, "unknown pocket field"),
    ({"center": [0, 0]}, "three numbers"),
    ({"center": "0,0,0"}, "three numbers"),
    ({"center": [0, 0, "x"]}, "finite number"),
    ({"center": [0, 0, True]}, "finite number"),
    ({"center": [0, 0, 1e308]}, "between -10000 and 10000 Å"),
    ({"center": [0, 0, 0], "radius": 2}, "between 3 and 30"),
    ({"center": [0, 0, 0], "radius": 31}, "between 3 and 30"),
    ({"center": [0, 0, 0], "radius": "10"}, "finite number"),
    ({"residues": []}, "empty"),
    ({"residues": [45]}, "must be strings"),
    ("A45", "CHAIN:NUMBER"),
    ("A:45,B3:", "CHAIN:NUMBER"),
    ("A:45,#2:3", "CHAIN:NUMBER"),
    (["A:1"] * 0 + [f"A:{i}" for i in range(201)], "limit is 200"),
])
def test_malformed_pockets_are_refused(value: Any, message: str) -> None:
    with pytest.raises(PocketError, match=message):
        parse_pocket(value)


# ---------------------------------------------------------------------------------------------- resolving


def test_centre_and_radius_keep_the_residues_within_radius_plus_margin() -> None:
    pocket = resolve(read_structure(PDB), PocketRequest(center=CENTER, radius=6.0))
    cas = np.stack(list(ca_positions().values()))
    expected = np.linalg.norm(cas - np.array(CENTER), axis=1) <= 6.0 + RECEPTOR_MARGIN
    assert pocket.keep.tolist() == expected.tolist() and 0 < pocket.keep.sum() < pocket.keep.size
    assert pocket.radius_source == "given" and pocket.receptor_cutoff == 16.0
    default = resolve(read_structure(PDB), PocketRequest(center=CENTER))
    assert (default.radius, default.radius_source) == (DEFAULT_RADIUS, "default")


def test_residue_ids_give_the_ca_centroid_and_a_radius_from_their_spread() -> None:
    ids = ("A:2", "A:3", "B:8")
    pocket = resolve(read_structure(PDB), PocketRequest(residues=ids))
    cas = ca_positions()
    chosen = np.stack([cas[i] for i in ids])
    assert np.allclose(pocket.center, chosen.mean(0), atol=1e-6)
    spread = np.linalg.norm(chosen - chosen.mean(0), axis=1).max()
    assert pocket.radius == pytest.approx(spread + RESIDUE_MARGIN)
    assert pocket.radius_source == "derived from the residues" and pocket.residues == ids
    given = resolve(read_structure(PDB), PocketRequest(residues=ids, radius=4.0))
    assert given.radius == 4.0 and np.allclose(given.center, pocket.center)


@pytest.mark.parametrize(("request_", "message"), [
    (PocketRequest(residues=("A:2", "A:999", "Z:1")), r"A:999, Z:1 are not protein residues.*chains: A, B"),
    (PocketRequest(residues=("C:1",)), "not protein residues"),  # the calcium ion named CA is not a residue
    (PocketRequest(center=(200.0, 0.0, 0.0), radius=10.0), "far outside the protein"),
    (PocketRequest(residues=("A:1", "B:8"), radius=None), None),  # a compact pair: accepted
])
def test_pockets_that_do_not_fit_the_receptor_are_refused(request_: PocketRequest, message: str | None) -> None:
    if message is None:
        resolve(read_structure(PDB), request_)
        return
    with pytest.raises(PocketError, match=message):
        resolve(read_structure(PDB), request_)


def test_a_centre_with_too_few_residues_around_it_is_refused_naming_how_many() -> None:
    """A centre at the protein's edge whose sphere (radius + RECEPTOR_MARGIN) holds 1-9 residues would dock
    into fewer residues than any receptor accepted whole (MIN_RESIDUES)."""
    cas = np.stack(list(ca_positions().values()))
    middle = cas.mean(0)
    far = cas[np.argmax(np.linalg.norm(cas - middle, axis=1))]
    outward = (far - middle) / np.linalg.norm(far - middle)
    for step in np.arange(0.0, 30.0, 0.5):  # walk out from the outermost CA until 1-9 residues are in reach
        centre = far + step * outward
        kept = int((np.linalg.norm(cas - centre, axis=1) <= 3.0 + RECEPTOR_MARGIN).sum())
        if 0 < kept < MIN_RESIDUES:
            break
    else:
        pytest.fail("no centre with 1-9 residues in reach")
    with pytest.raises(PocketError, match=rf"only {kept} residues? \(CA\) lie within radius \+ 10 Å = 13 Å .*at least 10"):
        resolve(read_structure(PDB), PocketRequest(center=tuple(float(c) for c in centre), radius=3.0))
    # A larger radius takes in enough of the protein.
    assert resolve(read_structure(PDB), PocketRequest(center=tuple(float(c) for c in centre), radius=20.0)).keep.sum() >= 10


def test_restricted_receptor_is_cut_and_centred_on_the_pocket() -> None:
    rec = receptor.featurize(PDB)
    pocket = resolve(rec.structure, PocketRequest(center=CENTER, radius=6.0))
    cut = receptor.restrict(rec, pocket.keep, pocket.center)
    keep = torch.from_numpy(pocket.keep)
    assert cut.num_residues == int(pocket.keep.sum()) and torch.equal(cut.aa, rec.aa[keep])
    # the same atoms in the file frame, now expressed about the pocket centre
    assert torch.allclose(cut.pos.double() + torch.from_numpy(cut.center), rec.pos[keep].double() +
                          torch.from_numpy(rec.center), atol=1e-4)  # fmt: skip
    assert set(cut.atom_res.tolist()) == set(range(cut.num_residues))
    assert len(cut.atom_x) == int(keep[rec.atom_res].sum())
    assert cut.esm_sequences == rec.esm_sequences  # ESM-2 still embeds whole chains


# ---------------------------------------------------------------------------------------------- sampling


def test_every_initial_centroid_is_in_the_pocket_and_spread_over_it() -> None:
    rec = receptor.featurize(PDB)
    lig = ligand.featurize(ASPIRIN, seed=0)
    hp = build.tiny_hyperparams("score", lm_embedding_dim=32)
    radius = 6.0
    options = sampling.SamplingOptions(pocket_radius=radius)
    starts = torch.stack([sampling.initial_pose(lig, rec, hp, options, sampling.sample_generator(0, i)).mean(0)
                          for i in range(500)])  # fmt: skip
    distances = starts.norm(dim=1)
    assert float(distances.max()) <= radius + 1e-5  # the pocket frame's origin is the pocket centre
    assert float(distances.mean()) > 0.5 * radius  # spread over the sphere, not stuck at its centre
    assert float(starts.mean(0).norm()) < 0.1 * radius  # and centred on it
    # truncation of N(0, (r/√3)²): the per-axis spread is below the untruncated r/√3
    assert float(starts.std(0).mean()) < radius / math.sqrt(3)


def test_exact_pocket_score_ends_every_pose_in_the_pocket() -> None:
    """With the exact score of a Gaussian about the pocket centre (test stand-in), the sampler ends
    every pose within the radius: the frame the sampler works in is the pocket's."""
    rec = receptor.featurize(PDB)
    pocket = resolve(rec.structure, PocketRequest(center=CENTER, radius=6.0))
    cut = receptor.restrict(rec, pocket.keep, pocket.center)
    lig = ligand.featurize(ASPIRIN, seed=0)
    hp = build.tiny_hyperparams("score", lm_embedding_dim=32)
    options = sampling.SamplingOptions(inference_steps=20, samples_per_complex=8, batch_size=4, pocket_radius=6.0)
    result = sampling.sample(lig, cut, torch.zeros(cut.num_residues, 32), PullToOrigin(hp), hp, options)
    in_file_frame = result.positions.double().mean(1).numpy() + cut.center
    distances = np.linalg.norm(in_file_frame - np.array(CENTER), axis=1)
    assert (distances <= 6.0).all(), distances
    assert result.initial_centroids is not None and (result.initial_centroids.norm(dim=1) <= 6.0 + 1e-5).all()


# ---------------------------------------------------------------------------------------------- pipeline


@pytest.fixture(scope="module")
def pipeline() -> Iterator[DiffDockPipeline]:
    docking = DiffDockPipeline.from_settings(DiffDockSettings(batch_size=3))
    yield docking
    docking.close()  # its ligand embedding process


def dock(pipeline: DiffDockPipeline, pocket: Any = None, samples: int = 3, seed: int = 11) -> DockingOutput:
    return pipeline.dock(DockingRequest(PDB, ASPIRIN, inference_steps=10, samples_per_complex=samples,
                                        random_seed=seed, pocket=parse_pocket(pocket)))  # fmt: skip


def check_reported_distances(out: DockingOutput, center: np.ndarray, radius: float) -> list[dict[str, Any]]:
    """Every pose's distances agree across SDF, JSON and the written coordinates; every start is in the pocket."""
    body = json.loads(out.result_json)
    mols = list(Chem.ForwardSDMolSupplier(io.BytesIO(out.poses_sdf.encode())))
    assert len(mols) == len(body["poses"])
    for mol, pose in zip(mols, body["poses"], strict=True):
        centroid = mol.GetConformer().GetPositions().mean(0)
        measured = float(np.linalg.norm(centroid - center))
        assert float(mol.GetProp("pocket_distance")) == pytest.approx(measured, abs=2e-3)
        assert pose["pocket_distance"] == pytest.approx(measured, abs=2e-3)
        assert float(mol.GetProp("initial_pocket_distance")) == pytest.approx(pose["initial_pocket_distance"], abs=2e-3)
        assert 0 <= pose["initial_pocket_distance"] <= radius + 1e-3
    assert np.allclose(body["pocket"]["center"], center, atol=1e-3) and body["pocket"]["radius"] == pytest.approx(radius, abs=1e-3)
    assert out.metadata["pocket"]["radius"] == body["pocket"]["radius"]
    return list(body["poses"])


def test_pocket_by_centre_through_the_pipeline(pipeline: DiffDockPipeline) -> None:
    out = dock(pipeline, {"center": list(CENTER), "radius": 6}, samples=4)
    check_reported_distances(out, np.array(CENTER), 6.0)
    body = json.loads(out.result_json)
    assert 0 < body["pocket"]["receptor_residues_kept"] < body["pocket"]["receptor_residues_total"] == 30
    assert body["receptor"]["residues"] == 30  # the receptor summary describes what was submitted
    assert "pocket centre (6.30, 3.50, -4.00) radius 6.0 A" in out.complex_pdb
    # the complex PDB still holds the whole receptor, in the submitted frame
    structure = gemmi.read_pdb_string(out.complex_pdb)
    assert sum(1 for ch in structure[0] for r in ch if r.name not in ("LIG", "CA")) == 30
    again = dock(pipeline, {"center": list(CENTER), "radius": 6}, samples=4)
    assert again.poses_sdf.split("score_weights")[0] == out.poses_sdf.split("score_weights")[0]


def test_pocket_by_residue_ids_through_the_pipeline(pipeline: DiffDockPipeline) -> None:
    out = dock(pipeline, "A:2,A:3,B:8")
    cas = ca_positions()
    center = np.stack([cas[i] for i in ("A:2", "A:3", "B:8")]).mean(0)
    body = json.loads(out.result_json)
    check_reported_distances(out, center, body["pocket"]["radius"])
    assert body["pocket"]["residues"] == ["A:2", "A:3", "B:8"]
    assert body["pocket"]["radius_source"] == "derived from the residues"
    # the bundle's README names the pocket and lists each pose's distance
    readme = zipfile.ZipFile(io.BytesIO(result(out).files[-1].content)).read("README.md").decode()
    assert "from residues A:2, A:3, B:8" in readme and "distance to pocket centre" in readme
    for pose in body["poses"]:
        assert f"| {pose['sample_index']} | {pose['pocket_distance']} |" in readme


def test_a_relabelled_chain_is_named_in_the_warnings_and_the_embedding_process_docks_alike(
        pipeline: DiffDockPipeline) -> None:
    lines = PDB.splitlines()
    second_a = [line[:21] + "A" + line[22:] if line.startswith("ATOM") and line[21] == "B" else line for line in lines]
    two_a = "\n".join(second_a) + "\n"  # chain B of receptor_small.pdb written as a second chain A (after TER)
    request = DockingRequest(two_a, ASPIRIN, inference_steps=10, samples_per_complex=2, random_seed=5,
                             pocket=parse_pocket("A#2:5,A#2:8"))
    here = pipeline.dock(request)  # the ligand embedded in this thread
    there = pipeline.dock(request, should_stop=lambda: False)  # in the pipeline's embedding process
    assert pipeline.embed_worker.pid() is not None
    assert here.poses_sdf == there.poses_sdf and here.complex_pdb == there.complex_pdb
    assert there.metadata["pocket"]["residues_as_docked"] == ["B:5", "B:8"]
    assert ("pocket residue A#2:5 is B:5 as docked (the file's second chain A, relabelled B on reading)"
            in there.metadata["warnings"])


def test_blind_docking_is_unchanged(pipeline: DiffDockPipeline) -> None:
    out = dock(pipeline)
    mols = list(Chem.ForwardSDMolSupplier(io.BytesIO(out.poses_sdf.encode())))
    for mol in mols:
        centroid, confidence = BLIND_GOLDEN[mol.GetIntProp("sample_index")]
        assert np.allclose(mol.GetConformer().GetPositions().mean(0), centroid, atol=2e-3)
        assert float(mol.GetProp("confidence")) == pytest.approx(confidence, abs=2e-3)
        assert not mol.HasProp("pocket_distance")
    body = json.loads(out.result_json)
    assert "pocket" not in body and "pocket" not in out.metadata
    assert all("pocket_distance" not in p for p in body["poses"])
    assert "pocket" not in out.complex_pdb


def test_the_model_rechecks_the_pocket_in_the_request() -> None:
    request = request_from_json(PDB, ASPIRIN, json.dumps({"pocket": {"residues": ["A:2"], "radius": 5}}), 40)
    assert request.pocket == PocketRequest(residues=("A:2",), radius=5.0)
    assert request_from_json(PDB, ASPIRIN, "{}", 40).pocket is None
    with pytest.raises(PocketError, match="between 3 and 30"):
        request_from_json(PDB, ASPIRIN, json.dumps({"pocket": {"center": [0, 0, 0], "radius": 50}}), 40)
