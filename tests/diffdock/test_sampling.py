"""Diffusion tables (SO(3), torus), the reverse sampling loop and the output files."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

# Until the lead's packaging makes phonos_models importable everywhere.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "triton_models"))

from phonos_models.diffdock import so3, torus  # noqa: E402

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------- SO(3)


def test_so3_score_norm_is_deterministic_finite_and_decreasing_over_the_used_range() -> None:
    sigmas = torch.tensor([0.03, 0.06, 0.3, 1.0, 1.55, 3.1])  # v1.0 and DiffDock-S rot_sigma ranges
    first = so3.score_norm(sigmas)
    so3.tables.cache_clear()
    second = so3.score_norm(sigmas)
    assert first.dtype == torch.float32 and first.shape == sigmas.shape
    assert torch.equal(first, second)
    assert torch.isfinite(first).all()
    assert (first[1:] < first[:-1]).all()  # wider distributions have smaller scores


def test_so3_score_norm_matches_monte_carlo_on_reference_scale() -> None:
    # The reference stores sqrt(E[score²]/π); check that against sampled scores.
    rng = np.random.default_rng(0)
    sigma = 0.5
    vecs = np.stack([so3.sample_vec(sigma, rng) for _ in range(4000)])
    scores = np.stack([so3.score_vec(sigma, v) for v in vecs])
    mc = np.sqrt(np.mean(np.sum(scores**2, axis=1)) / np.pi)
    assert mc == pytest.approx(float(so3.score_norm(torch.tensor([sigma]))[0]), rel=0.05)


def test_so3_tables_equal_the_series_summed_term_by_term() -> None:
    # The tables come from matrix products; check rows against the plain truncated series.
    t = so3.tables()
    omegas = t.omegas
    for row in (1000, 1400, 1900):  # σ ≈ 0.04, 0.3, 2.6: the range the released models use
        eps = t.eps_grid[row]
        expansion = np.zeros_like(omegas)
        derivative = np.zeros_like(omegas)
        for l in range(so3.L_MAX):  # noqa: E741
            weight = (2 * l + 1) * np.exp(-l * (l + 1) * eps**2 / 2)
            hi, lo = np.sin(omegas * (l + 0.5)), np.sin(omegas / 2)
            expansion += weight * hi / lo
            derivative += weight * (lo * (l + 0.5) * np.cos(omegas * (l + 0.5)) - hi * 0.5 * np.cos(omegas / 2)) / lo**2
        # Where the density is ~1e-14 both sums are rounding noise; compare where it has mass.
        mass = expansion > 1e-8 * expansion.max()
        np.testing.assert_allclose(t.score[row][mass], (derivative / expansion)[mass], rtol=1e-6)
        pdf = expansion * (1 - np.cos(omegas)) / np.pi
        np.testing.assert_allclose(t.cdf[row], np.cumsum(pdf) / so3.X_N * np.pi, rtol=1e-6, atol=1e-9)
        norm = np.sqrt(np.sum((derivative / expansion) ** 2 * pdf) / np.sum(pdf) / np.pi)
        assert t.exp_score_norm[row] == pytest.approx(norm, rel=1e-6)


def test_so3_lookup_rounds_on_the_log_grid_like_the_reference() -> None:
    t = so3.tables()
    # Index = round(position * N_EPS), clipped: σ_max lands on the last row, tiny σ on the first.
    assert so3.eps_index(np.array([so3.MAX_EPS, 1e-9]))[0] == so3.N_EPS - 1
    assert so3.eps_index(np.array([1e-9]))[0] == 0
    # Two σ values rounding to the same row give identical norms.
    span = np.log10(so3.MAX_EPS) - np.log10(so3.MIN_EPS)

    def sigma_at(position: float) -> float:
        return float(so3.MIN_EPS * 10 ** (position / so3.N_EPS * span))

    low, high = sigma_at(1000 - 0.4), sigma_at(1000 + 0.4)
    assert so3.eps_index(np.array([low, high])).tolist() == [1000, 1000]
    norms = so3.score_norm(torch.tensor([low, high]))
    assert norms[0] == norms[1] == pytest.approx(float(t.exp_score_norm[1000]))


def test_so3_samples_follow_sigma() -> None:
    rng = np.random.default_rng(1)
    small = [so3.sample(0.05, rng) for _ in range(500)]
    large = [so3.sample(2.0, rng) for _ in range(500)]
    assert 0 < np.mean(small) < 0.2
    assert np.mean(large) > 1.5  # close to the uniform-rotation mean angle (π/2 + 2/π ≈ 2.21)


# ---------------------------------------------------------------------------------------------- torus


def test_torus_score_norm_deterministic_and_close_to_reference_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    for sigma in (0.035, 0.3, 1.0, 3.0):
        x = torus.sample(np.full(50_000, sigma), rng)
        mc = float(np.mean(torus.score(x, sigma) ** 2))
        exact = float(torus.score_norm(np.array(sigma)))
        assert exact == pytest.approx(mc, rel=0.03)
    a = torus.score_norm(torch.tensor([0.0314, 1.0, 3.14]))
    b = torus.score_norm(torch.tensor([0.0314, 1.0, 3.14]))
    assert isinstance(a, torch.Tensor) and a.dtype == torch.float32 and torch.equal(a, b)


def test_torus_score_norm_table_equals_the_quadrature() -> None:
    table = torus.score_norm_table()
    assert table is not None and table.shape == (torus.SIGMA_N + 1,) and np.isfinite(table).all()
    assert (np.diff(table) < 0).all()  # wider wrapped normals have smaller scores
    # Entries are the full 201-wrap quadrature (which the table's builder speeds up by dropping wraps
    # that underflow to 0), spread over the grid including both ends.
    # Within float tolerance, not to the bit: numpy's exp and sums round differently with other SIMD units than
    # the CPU that wrote the table had (an AMD EPYC here: 11281.665079879182 vs ...918). The widest σ's entries are
    # ~1e-17, a near-uniform density's score² (mostly cancellation): there 5e-27 apart, so an absolute floor of
    # 1e-24, nothing beside the 1e4 of the narrowest.
    for index in (0, 1, 777, 2500, 3999, 5000):
        assert table[index] == pytest.approx(torus.score_norm_by_quadrature(index), rel=1e-10, abs=1e-24)
        assert table[index] == pytest.approx(torus.score_norm_by_quadrature(index, skip_vanishing_wraps=True),
                                             rel=1e-10, abs=1e-24)
    sigma = np.array([0.0314, 0.7, 3.14])
    np.testing.assert_array_equal(torus.score_norm(sigma), table[torus.sigma_index(sigma)])


def test_torus_score_is_odd_periodic_and_points_to_zero() -> None:
    x = np.array([0.1, 0.5, 2.0])
    s = torus.score(x, 0.5)
    assert (s < 0).all()  # positive angle: the score pulls back towards 0
    np.testing.assert_allclose(torus.score(-x, 0.5), -s)
    np.testing.assert_allclose(torus.score(x + 2 * np.pi, 0.5), s, rtol=1e-6)
    # Small σ: the wrapped normal is a plain Gaussian near 0, score ≈ −x/σ².
    assert torus.score(np.array([0.01]), 0.05)[0] == pytest.approx(-0.01 / 0.05**2, rel=0.01)


def test_torus_samples_are_wrapped() -> None:
    out = torus.sample(np.full(1000, 10.0), np.random.default_rng(0))
    assert out.min() >= -np.pi and out.max() < np.pi


# ---------------------------------------------------------------------------------------------- pose math

from phonos_models.diffdock import diffusion  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402


def test_time_grid_runs_n_minus_one_steps_and_jumps_to_zero() -> None:
    schedule = diffusion.time_schedule(20)
    assert schedule[0] == 1.0 and schedule[-1] == pytest.approx(0.05) and len(schedule) == 20
    dts = diffusion.step_sizes(schedule, 19)
    assert len(dts) == 19
    assert dts[:-1] == pytest.approx([0.05] * 18) and dts[-1] == pytest.approx(0.10)
    assert sum(dts) == pytest.approx(1.0)  # the run ends exactly at t = 0


def test_low_temperature_update_matches_the_reference_formula() -> None:
    c = diffusion.SdeComponent(0.1, 19.0, 1.170050527854316, 0.727287304570729, 0.9299802531572672)
    score, z, t, dt = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.3, 0.1, -1.0]), 0.6, 0.05
    sigma = 0.1**0.4 * 19.0**0.6
    g = sigma * np.sqrt(2 * np.log(190.0))
    sigma_data = np.exp(0.9299802531572672 * np.log(19.0) + (1 - 0.9299802531572672) * np.log(0.1))
    lam = (sigma_data + sigma) / (sigma_data + sigma / 1.170050527854316)
    expected = g**2 * dt * (lam + 1.170050527854316 * 0.727287304570729 / 2) * score + g * np.sqrt(
        dt * (1 + 0.727287304570729)
    ) * z
    assert torch.allclose(c.perturbation(score, z, t, dt), expected.float(), rtol=1e-5)
    plain = diffusion.SdeComponent(0.1, 19.0)
    assert torch.allclose(plain.perturbation(score, z, t, dt), (g**2 * dt * score + g * np.sqrt(dt) * z).float())


def test_axis_angle_matches_scipy() -> None:
    vecs = torch.tensor([[0.3, -1.2, 0.5], [1e-9, 0.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    ours = diffusion.axis_angle_to_matrix(vecs)
    ref = torch.from_numpy(Rotation.from_rotvec(vecs.numpy()).as_matrix())
    assert torch.allclose(ours, ref, atol=1e-9)


def _zigzag(n: int = 6) -> torch.Tensor:
    pos = torch.tensor([[i * 1.25, (i % 2) * 0.9, 0.1 * i * i] for i in range(n)], dtype=torch.float32)
    return pos - pos.mean(0)


def test_torsion_update_turns_the_dihedral_and_keeps_bond_lengths() -> None:
    pos = _zigzag().unsqueeze(0)  # chain 0-1-2-3-4-5, turn bond (2, 3): atoms 3, 4, 5 move
    tor_index = torch.tensor([[2], [3]])
    mask = torch.tensor([[False, False, False, True, True, True]])
    out = diffusion.apply_torsions(pos, tor_index, mask, torch.tensor([[0.7]]))

    def dihedral(p: torch.Tensor) -> float:
        b0, b1, b2 = p[1] - p[0], p[2] - p[1], p[3] - p[2]
        n1, n2 = torch.cross(b0, b1, dim=0), torch.cross(b1, b2, dim=0)
        m = torch.cross(n1, b1 / b1.norm(), dim=0)
        return float(torch.atan2((m * n2).sum(), (n1 * n2).sum()))

    diff = (dihedral(out[0, 1:5]) - dihedral(pos[0, 1:5]) + np.pi) % (2 * np.pi) - np.pi
    assert abs(abs(diff) - 0.7) < 1e-5
    bonds = lambda p: (p[1:] - p[:-1]).norm(dim=-1)  # noqa: E731
    assert torch.allclose(bonds(out[0]), bonds(pos[0]), atol=1e-5)
    assert torch.equal(out[0, :3], pos[0, :3])  # the fixed side stays


def test_kabsch_recovers_a_rigid_motion() -> None:
    gen = torch.Generator().manual_seed(0)
    src = torch.randn(2, 7, 3, generator=gen)
    rot = torch.stack([diffusion.random_rotation(gen) for _ in range(2)])
    tgt = torch.bmm(src, rot.transpose(1, 2)) + torch.tensor([[[1.0, -2.0, 3.0]], [[0.5, 0.0, 0.0]]])
    r, t = diffusion.kabsch(src, tgt)
    assert torch.allclose(torch.bmm(src, r.transpose(1, 2)) + t, tgt, atol=1e-4)
    assert torch.allclose(torch.linalg.det(r), torch.ones(2), atol=1e-5)


def test_pose_update_moves_centroid_by_tr_and_torsions_do_not_move_it() -> None:
    pos = _zigzag().unsqueeze(0).repeat(2, 1, 1)
    tor_index = torch.tensor([[2], [3]])
    mask = torch.tensor([[False, False, False, True, True, True]])
    tr = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    rot = torch.tensor([[0.0, 0.0, 0.0], [0.4, 0.1, -0.2]])
    out = diffusion.update_poses(pos, tr, rot, torch.tensor([[1.1], [-0.6]]), tor_index, mask)
    assert torch.allclose(out.mean(1), pos.mean(1) + tr, atol=1e-4)
    internal = lambda p: torch.cdist(p[:3], p[:3])  # noqa: E731  rigid fragment keeps its shape
    assert torch.allclose(internal(out[1]), internal(pos[1]), atol=1e-4)


# ---------------------------------------------------------------------------------------------- the loop

import io  # noqa: E402
import json  # noqa: E402

import gemmi  # noqa: E402
from phonos_models.common.errors import Cancelled  # noqa: E402
from phonos_models.diffdock import build, ligand, receptor, sampling  # noqa: E402
from phonos_models.diffdock.data import ComplexBatch  # noqa: E402
from phonos_models.diffdock.pipeline import DiffDockPipeline, DockingRequest  # noqa: E402
from rdkit import Chem  # noqa: E402

from phonos_config.diffdock import DiffDockSettings  # noqa: E402

pytestmark = pytest.mark.integration

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


class PullToOrigin(torch.nn.Module):
    """Stand-in score model (test only): the exact translation score of N(0, σ_tr²) about the origin."""

    def __init__(self, hp: build.Hyperparams) -> None:
        super().__init__()
        self.hp = hp
        self.calls = 0

    def forward(self, batch: ComplexBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.calls += 1
        tr_sigma = self.hp.t_to_sigma(batch.t_tr, batch.t_rot, batch.t_tor)[0]
        b = batch.num_graphs
        centroid = torch.zeros(b, 3).index_add_(0, batch.lig_batch, batch.lig_pos)
        centroid = centroid / torch.bincount(batch.lig_batch, minlength=b).unsqueeze(1)
        return -centroid / tr_sigma.unsqueeze(1) ** 2, torch.zeros(b, 3), torch.zeros(batch.tor_index.shape[1])


@pytest.fixture(scope="module")
def complex_inputs() -> tuple[ligand.Ligand, receptor.Receptor, torch.Tensor]:
    rec = receptor.featurize(PDB)
    return ligand.featurize(ASPIRIN, seed=0), rec, torch.zeros(rec.num_residues, 32)


def test_loop_follows_the_score_and_runs_n_minus_one_steps(complex_inputs) -> None:
    lig, rec, esm = complex_inputs
    hp = build.tiny_hyperparams("score", lm_embedding_dim=32)
    model = PullToOrigin(hp)
    options = sampling.SamplingOptions(inference_steps=20, samples_per_complex=5, batch_size=2, random_seed=3)
    result = sampling.sample(lig, rec, esm, model, hp, options)
    assert model.calls == 19 * 3  # 19 of 20 steps, 3 chunks (2 + 2 + 1): any sample count works
    assert result.positions.shape == (5, lig.num_atoms, 3) and result.confidence is None
    start = torch.stack([sampling.initial_pose(lig, rec, hp, options, sampling.sample_generator(3, i)) for i in range(5)])
    # The exact score of a Gaussian about the origin pulls every ligand much closer than it started.
    assert (result.positions.mean(1).norm(dim=1) < 0.5 * start.mean(1).norm(dim=1)).all()
    # Rigid-body moves and torsions keep bond lengths.
    i, j = lig.bond_index
    assert torch.allclose((result.positions[:, i] - result.positions[:, j]).norm(dim=-1),
                          (lig.pos[i] - lig.pos[j]).norm(dim=-1).expand(5, -1), atol=1e-3)  # fmt: skip


def test_cancellation_stops_between_steps(complex_inputs) -> None:
    lig, rec, esm = complex_inputs
    hp = build.tiny_hyperparams("score", lm_embedding_dim=32)
    model = PullToOrigin(hp)
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        sampling.sample(lig, rec, esm, model, hp, sampling.SamplingOptions(samples_per_complex=2),
                        should_stop=lambda: next(calls) >= 3)  # fmt: skip
    assert model.calls == 3


def test_initial_pose_spread_follows_the_receptor_size(complex_inputs) -> None:
    lig, rec, _ = complex_inputs
    hp = build.tiny_hyperparams("score", lm_embedding_dim=32)
    options = sampling.SamplingOptions()
    centres = torch.stack(
        [sampling.initial_pose(lig, rec, hp, options, sampling.sample_generator(0, i)).mean(0) for i in range(400)]
    )
    expected = float(torch.sqrt((rec.pos**2).sum(1).mean())) * 1.4601642460337794 / 1.73
    assert float(centres.std(0).mean()) == pytest.approx(expected, rel=0.15)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[DiffDockPipeline]:
    docking = DiffDockPipeline.from_settings(DiffDockSettings(batch_size=3))
    yield docking
    docking.close()  # its ligand embedding process


@pytest.fixture(scope="module")
def docked(pipeline: DiffDockPipeline):
    return pipeline.dock(DockingRequest(PDB, ASPIRIN, inference_steps=10, samples_per_complex=4, random_seed=7))


def test_tiny_end_to_end_sdf_is_ranked_with_bonds_and_finite_coordinates(docked) -> None:
    mols = [m for m in Chem.ForwardSDMolSupplier(io.BytesIO(docked.poses_sdf.encode()), removeHs=False)]
    assert len(mols) == 4 and all(m is not None for m in mols)
    reference = Chem.MolFromSmiles(ASPIRIN)
    confidences = [float(m.GetProp("confidence")) for m in mols]
    assert [m.GetIntProp("rank") for m in mols] == [1, 2, 3, 4]
    assert confidences == sorted(confidences, reverse=True)
    assert confidences == pytest.approx([c for c in docked.ranked_confidence], abs=1e-4)
    for m in mols:
        assert m.GetNumBonds() == reference.GetNumBonds() and m.HasSubstructMatch(reference)
        assert np.isfinite(m.GetConformer().GetPositions()).all()
        assert "not a real prediction" in m.GetProp("note")
    assert sorted(m.GetIntProp("sample_index") for m in mols) == [0, 1, 2, 3]
    # Poses differ from the seeded conformer only by rigid motions and torsions: bond lengths and
    # the distances inside each rigid fragment (here: the benzene ring) are unchanged.
    conformer = ligand.featurize(ASPIRIN, seed=7).pos.double().numpy()
    ring = [a.GetIdx() for a in mols[0].GetAtoms() if a.GetIsAromatic()]
    for m in mols:
        xyz = m.GetConformer().GetPositions()
        for bond in m.GetBonds():
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            assert np.linalg.norm(xyz[i] - xyz[j]) == pytest.approx(np.linalg.norm(conformer[i] - conformer[j]), abs=2e-3)
        ring_d = np.linalg.norm(xyz[ring][:, None] - xyz[ring][None], axis=-1)
        ref_d = np.linalg.norm(conformer[ring][:, None] - conformer[ring][None], axis=-1)
        assert np.allclose(ring_d, ref_d, atol=2e-3)


def test_tiny_end_to_end_complex_pdb_and_json(docked) -> None:
    structure = gemmi.read_pdb_string(docked.complex_pdb)
    residues = [r for ch in structure[0] for r in ch]
    lig_res = [r for r in residues if r.name == "LIG"]
    assert len(lig_res) == 1 and len(lig_res[0]) == 13
    assert sum(1 for r in residues if gemmi.find_tabulated_residue(r.name).is_amino_acid()) == 30
    assert "NOT A REAL PREDICTION" in docked.complex_pdb
    # rank-1 pose in the PDB = first SDF record, in the input file's frame
    first = next(Chem.ForwardSDMolSupplier(io.BytesIO(docked.poses_sdf.encode())))
    pdb_xyz = np.array([a.pos.tolist() for a in lig_res[0]])
    assert np.allclose(pdb_xyz, first.GetConformer().GetPositions(), atol=2e-3)
    body = json.loads(docked.result_json)
    assert body["real_prediction"] is False and "not a real prediction" in body["note"]
    assert docked.metadata["real_weights"] is False  # the metadata key ESMFold's and AlphaFold2's jobs carry too
    assert [p["rank"] for p in body["poses"]] == [1, 2, 3, 4]
    assert body["confidence_meaning"]["bands"]["high"] == "confidence > 0"
    assert body["sampling"] == {"inference_steps": 10, "steps_run": 9, "samples_per_complex": 4,
                                "random_seed": 7, "nan_batches": 0}  # fmt: skip
    assert set(body["timings_s"]) >= {"featurisation", "esm", "score_steps", "confidence", "total"}
    # In the job's metadata the stages sit under `timings`, where the job service adds its own (queued_s, ...).
    assert docked.metadata["timings"] == body["timings_s"] and "timings_s" not in docked.metadata
    # The networks' one-time load is the instance's, beside the job's timings, not one of them.
    assert docked.metadata["model_instance"]["load_s"] > 0 and not any("load" in k for k in body["timings_s"])
    assert set(docked.metadata["software"]) == {"phonos", "python", "torch", "e3nn", "rdkit", "numpy"}
    assert body["weights"]["score_model"]["real"] is False and len(body["weights"]["score_model"]["sha256"]) == 64


def test_random_seed_reproduces_poses_and_batching_does_not_change_them(pipeline: DiffDockPipeline, docked) -> None:
    again = pipeline.dock(DockingRequest(PDB, ASPIRIN, inference_steps=10, samples_per_complex=4, random_seed=7))
    assert again.poses_sdf.split("score_weights")[0] == docked.poses_sdf.split("score_weights")[0]
    single = DiffDockPipeline(pipeline.score, pipeline.confidence, pipeline.esm, DiffDockSettings(batch_size=4))
    other = single.dock(DockingRequest(PDB, ASPIRIN, inference_steps=10, samples_per_complex=4, random_seed=7))
    a = json.loads(docked.result_json)["poses"]
    b = json.loads(other.result_json)["poses"]
    by_sample = {p["sample_index"]: p["confidence"] for p in a}
    assert all(abs(by_sample[p["sample_index"]] - p["confidence"]) < 1e-3 for p in b)
    different = pipeline.dock(DockingRequest(PDB, ASPIRIN, inference_steps=10, samples_per_complex=4, random_seed=8))
    assert different.poses_sdf != docked.poses_sdf


def test_weights_directory_in_the_release_layout_is_loaded_strictly(tmp_path: Path) -> None:
    import yaml

    saved = {}
    from dd_helpers import REFERENCE_DIR

    reference = REFERENCE_DIR / "params"  # a required test input: missing, the test fails
    for sub, ckpt, overrides in (
        ("score_model", "best_ema_inference_epoch_model.pt", {"ns": 8, "nv": 2, "num_conv_layers": 3}),
        ("confidence_model", "best_model_epoch75.pt", {"ns": 8, "nv": 2, "num_conv_layers": 3}),
    ):
        source = "v1.0_paper_score" if sub == "score_model" else "v1.0_paper_confidence"
        args = yaml.safe_load((reference / source / "model_parameters.yml").read_text()) | overrides
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "model_parameters.yml").write_text(yaml.safe_dump(args))
        hp = build.load_hyperparams(tmp_path / sub / "model_parameters.yml", kind="score" if sub == "score_model" else "confidence")
        saved[sub] = build.build_model(hp, seed=5)
        torch.save(saved[sub].state_dict(), tmp_path / sub / ckpt)
    loaded = DiffDockPipeline.from_settings(DiffDockSettings(weights_dir=tmp_path, batch_size=2))
    assert loaded.score.hp.model_class == "CGOldModel" and loaded.confidence.hp.model_class == "AAOldModel"
    assert loaded.score.weights.real and loaded.confidence.weights.real
    assert not loaded.esm.weights.real and loaded.esm.dim == 1280  # no ESM dir: tiny random at the right width
    assert not loaded.real  # one tiny component makes the result "not a real prediction"
    assert loaded.score.weights.sha256 == build.state_dict_sha256(saved["score_model"])
    assert loaded.confidence.weights.sha256 == build.state_dict_sha256(saved["confidence_model"])
    out = loaded.dock(DockingRequest(PDB, "CCO", inference_steps=10, samples_per_complex=2, random_seed=0))
    assert json.loads(out.result_json)["weights"]["score_model"]["name"] == f"{tmp_path.name}/score_model"


def test_crop_keeps_near_residues_and_restricts_the_full_receptor_graphs(complex_inputs) -> None:
    from phonos_models.diffdock import model_graphs
    from phonos_models.diffdock.score_model import graph_mode

    lig, rec, esm = complex_inputs
    hp = build.tiny_hyperparams("confidence_new", lm_embedding_dim=32)
    full = model_graphs.with_receptor_graphs(sampling.complex_graph(lig, rec, esm, with_atoms=True), graph_mode(hp))
    posed = full.with_ligand_pos(lig.pos + rec.pos[0])  # ligand centred on the first residue's CA
    cropped = sampling.crop_receptor(posed, 8.0)
    keep = torch.cdist(rec.pos, posed.lig_pos).min(1).values < 8.0
    assert 0 < cropped.num_res == int(keep.sum()) < rec.num_residues
    assert torch.equal(cropped.rec_pos, rec.pos[keep])
    kept_atoms = keep[rec.atom_res]
    assert torch.equal(cropped.atom_pos, rec.atom_pos[kept_atoms])
    assert torch.equal(cropped.rec_pos[cropped.atom_res], rec.pos[rec.atom_res[kept_atoms]])  # remapped residues
    # the full-receptor graph restricted to kept residues (not rebuilt on the cropped set)
    old_to_new = torch.full((rec.num_residues,), -1, dtype=torch.long)
    old_to_new[keep] = torch.arange(int(keep.sum()))
    e = full.rec_edge_index
    both = keep[e[0]] & keep[e[1]]
    assert torch.equal(cropped.rec_edge_index, old_to_new[e[:, both]])
    assert cropped.atom_edge_index is not None and int(cropped.atom_edge_index.max()) < int(kept_atoms.sum())


def test_sampling_with_a_cropping_confidence_model(complex_inputs) -> None:
    lig, rec, esm = complex_inputs
    score_hp = build.tiny_hyperparams("score", lm_embedding_dim=32)
    conf_hp = build.tiny_hyperparams("confidence_new", lm_embedding_dim=32)  # CB confidence: crop_beyond 20 Å
    assert conf_hp.crop_beyond == 20.0
    result = sampling.sample(
        lig, rec, esm, build.build_score_model(score_hp, seed=0), score_hp,
        sampling.SamplingOptions(inference_steps=10, samples_per_complex=3, batch_size=2, random_seed=2),
        build.build_confidence_model(conf_hp, seed=1, score_hp=score_hp), build.with_graph_mode_of(conf_hp, score_hp),
    )  # fmt: skip
    assert result.confidence is not None and result.confidence.shape == (3,)
    assert torch.isfinite(result.confidence).all() and torch.isfinite(result.positions).all()


def test_confidence_network_uses_the_score_models_graph_mode(pipeline: DiffDockPipeline) -> None:
    # tiny score = DiffDock-S options (kNN graphs); tiny confidence alone would use radius graphs
    assert pipeline.score.hp.knn_only_graph and not build.tiny_hyperparams("confidence").knn_only_graph
    assert pipeline.confidence.module.hp.knn_only_graph  # type: ignore[union-attr]
    assert pipeline.confidence.hp == pipeline.confidence.module.hp


def test_the_result_says_what_reading_the_receptor_changed(pipeline: DiffDockPipeline) -> None:
    # An NMR-style file of an Amber-prepared receptor (HIS written HIE), with a bound ligand.
    atoms = [line[:17] + "HIE" + line[20:] if line[17:20] == "HIS" else line
             for line in PDB.splitlines() if line.startswith("ATOM")]
    ligand_line = "HETATM 9001  C1  LIG A 101       1.000   1.000   1.000  1.00  0.00           C"
    text = "\n".join(["MODEL        1", *atoms, ligand_line, "ENDMDL", "MODEL        2", *atoms, "ENDMDL", "END"])
    out = pipeline.dock(DockingRequest(text, ASPIRIN, inference_steps=10, samples_per_complex=1, random_seed=1))
    prep = json.loads(out.result_json)["receptor"]["preparation"]
    assert prep["models_in_file"] == 2 and prep["mapped_residues"] == {"HIE": "H"}
    assert prep["other_groups_ignored"] == {"LIG": 1} and out.metadata["receptor"]["residues"] == 30
    assert any("2 models" in w for w in out.metadata["warnings"])
    assert any("HIE->H" in w for w in out.metadata["warnings"])
    # The bound ligand is a LIG: the pose in the complex is LG1, and the metadata says so (found by a tester)
    assert out.metadata["complex_ligand"] == {"residue_name": "LG1", "chain": "L", "residue_number": 1}
    pose_lines = [line for line in out.complex_pdb.splitlines() if line.startswith("HETATM") and line[17:20] == "LG1"]
    assert len(pose_lines) == 13 and {line[21] for line in pose_lines} == {"L"}  # aspirin's heavy atoms


def test_poses_keep_the_double_bond_geometry_the_smiles_gives(pipeline: DiffDockPipeline) -> None:
    smiles = "OC(=O)/C=C/c1ccccc1"  # trans-cinnamic acid; before: some poses were cis
    out = pipeline.dock(DockingRequest(PDB, smiles, inference_steps=10, samples_per_complex=6, random_seed=5))
    poses = list(Chem.ForwardSDMolSupplier(io.BytesIO(out.poses_sdf.encode())))
    for pose in poses:
        Chem.AssignStereochemistryFrom3D(pose)
    assert [Chem.MolToSmiles(pose) for pose in poses] == [Chem.CanonSmiles(smiles)] * 6
    assert json.loads(out.result_json)["ligand"]["fixed_stereo_double_bonds"] == 1


def test_a_job_stopped_while_its_ligand_is_embedded_stops_there(pipeline: DiffDockPipeline) -> None:
    # the pipeline hands the job's stop flag (cancel or compute limit) to the ligand's embedding; before, a
    # ~150-atom flexible ligand held the request for its whole embedding (57 s under load) before the first check
    peg48 = "C" + "COC" * 48 + "O"
    start = time.monotonic()
    with pytest.raises(Cancelled, match="embedding the ligand"):
        pipeline.dock(DockingRequest(PDB, peg48, inference_steps=10, samples_per_complex=1, random_seed=1),
                      should_stop=lambda: time.monotonic() - start > 0.3)
    assert time.monotonic() - start < 5 and pipeline.embed_worker.pid() is None  # the embedding process was killed


def test_a_job_stopped_after_its_ligand_is_embedded_stops_before_the_receptors_esm_embedding(
        pipeline: DiffDockPipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    # before, the stop was next asked at the first diffusion step, after every chain's ESM-2 embedding
    embedded: list[object] = []
    featurized: list[object] = []
    featurize = ligand.featurize

    def featurize_and_note(*args: Any, **kwargs: Any) -> ligand.Ligand:
        out = featurize(*args, **kwargs)
        featurized.append(out)
        return out

    monkeypatch.setattr(ligand, "featurize", featurize_and_note)
    monkeypatch.setattr(pipeline.esm, "embed_residues", lambda *args: embedded.append(args))
    with pytest.raises(Cancelled, match="before the receptor's ESM-2 embedding"):
        pipeline.dock(DockingRequest(PDB, ASPIRIN, inference_steps=10, samples_per_complex=1, random_seed=1),
                      should_stop=lambda: bool(featurized))
    assert len(featurized) == 1 and embedded == []
