"""The reverse-diffusion sampling loop and confidence ranking (notes/diffdock.md §6–7).

Reference behaviour kept: the time grid t_k = 1 − k/N with only N−1 steps run and a final
noise-free double step to t = 0, the low-temperature SDE update with the released temperatures,
the initial pose (random torsions, uniform random rotation, centroid at the receptor centre plus
Gaussian noise of std rms(|CA|)·1.4602/1.73), NaN scores replaced by ±1% of the mean |score|,
confidence at t = 0 on the all-atom graph (NaN → −1000), column 0 as the ranking logit.

Deliberate differences: `samples_per_complex` may be any number (the reference crashes unless it is
a multiple of the batch size, pitfall 12) and every sample owns its random stream, derived from
(`random_seed`, sample index): the random numbers do not depend on the batch size or the device
(poses then agree up to the floating-point differences of batched network arithmetic).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ..common.errors import Cancelled
from ..common.progress import Progress, Report, ignore
from . import graph_ops, model_graphs
from .data import ComplexBatch, ComplexGraph, collate, empty_receptor_atoms
from .diffusion import (
    INITIAL_NOISE_STD_PROPORTION,
    TEMP_PSI,
    TEMP_SAMPLING,
    TEMP_SIGMA_DATA,
    SdeComponent,
    apply_torsions,
    random_rotation,
    step_sizes,
    time_schedule,
    update_poses,
)
from .hyperparams import Hyperparams
from .ligand import Ligand
from .receptor import Receptor
from .score_model import graph_mode

log = logging.getLogger(__name__)

FAILED_CONFIDENCE = -1000.0  # the reference's value for a NaN confidence


class ScoreModel(Protocol):
    def __call__(self, batch: ComplexBatch) -> tuple[Tensor, Tensor, Tensor]: ...


class ConfidenceModel(Protocol):
    def __call__(self, batch: ComplexBatch) -> Tensor | tuple[Tensor, ...]: ...


@dataclass(frozen=True)
class SamplingOptions:
    """What one docking run does; defaults are the reference's effective inference defaults."""

    inference_steps: int = 20  # length of the time grid
    actual_steps: int | None = None  # steps actually run; None → inference_steps − 1 (reference: 19 of 20)
    samples_per_complex: int = 10
    batch_size: int = 10  # samples per forward pass (memory knob; does not change the poses)
    random_seed: int = 0
    no_final_step_noise: bool = True
    initial_noise_std_proportion: float = INITIAL_NOISE_STD_PROPORTION
    temp_sampling: tuple[float, float, float] = TEMP_SAMPLING  # tr, rot, tor
    temp_psi: tuple[float, float, float] = TEMP_PSI
    temp_sigma_data: tuple[float, float, float] = TEMP_SIGMA_DATA
    # Pocket docking: the receptor is centred on the pocket centre and the initial ligand centroids
    # are drawn within this radius (Å) of it; None = blind docking (the reference's prior).
    pocket_radius: float | None = None

    @property
    def steps_run(self) -> int:
        return self.actual_steps if self.actual_steps is not None else self.inference_steps - 1


@dataclass(frozen=True)
class SamplingResult:
    """Poses in sample order (not ranked) with their confidences."""

    positions: Tensor  # [S, N, 3] float32, Å, centred receptor frame (add Receptor.center for the file frame)
    confidence: Tensor | None  # [S] float32 ranking logit (column 0), NaN → −1000; None without a model
    confidence_outputs: Tensor | None  # [S, n_out] float32, all confidence-model outputs
    timings: dict[str, float] = field(default_factory=dict)  # seconds: score_steps, confidence
    initial_centroids: Tensor | None = None  # [S, 3] float32, Å, centred frame: where each sample started
    nan_batches: int = 0  # batch-steps in which the score model produced NaN (handled as the reference)

    def ranking(self) -> list[int]:
        """Sample indices, best first (stable for ties); sample order when there is no confidence."""
        confidence = self.confidence
        if confidence is None:
            return list(range(self.positions.shape[0]))
        return sorted(range(len(confidence)), key=lambda i: -float(confidence[i]))


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The private random stream of sample `index` of a run seeded with `seed`."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def complex_graph(lig: Ligand, rec: Receptor, esm: Tensor, with_atoms: bool) -> ComplexGraph:
    """One complex at the ligand's conformer pose; receptor atoms only when the model needs them."""
    atoms = (
        {"atom_x": rec.atom_x, "atom_pos": rec.atom_pos, "atom_res": rec.atom_res}
        if with_atoms
        else empty_receptor_atoms()
    )
    return ComplexGraph(
        lig_x=lig.x, lig_pos=lig.pos, lig_bond_index=lig.bond_index, lig_bond_attr=lig.bond_attr,
        tor_index=lig.tor_index, tor_mask=lig.tor_mask, rec_aa=rec.aa, rec_esm=esm, rec_pos=rec.pos,
        atom_x=atoms["atom_x"], atom_pos=atoms["atom_pos"], atom_res=atoms["atom_res"],
    )  # fmt: skip


def crop_receptor(graph: ComplexGraph, cutoff: float) -> ComplexGraph:
    """Keep residues with a CA within `cutoff` Å of a ligand atom, and their atoms (reference `crop_beyond`).

    Precomputed receptor graphs (`model_graphs.with_receptor_graphs`) are restricted to the kept
    nodes, as the reference crops graphs built on the whole receptor. If nothing is that close we
    keep the single nearest residue, so the graph is never empty.
    """
    d2 = torch.cdist(graph.rec_pos, graph.lig_pos).min(dim=1).values ** 2
    keep = d2 < cutoff**2
    if not keep.any():
        keep[torch.argmin(d2)] = True
    remap = torch.cumsum(keep.long(), 0) - 1
    atom_keep = keep[graph.atom_res]
    return ComplexGraph(
        lig_x=graph.lig_x, lig_pos=graph.lig_pos, lig_bond_index=graph.lig_bond_index,
        lig_bond_attr=graph.lig_bond_attr, tor_index=graph.tor_index, tor_mask=graph.tor_mask,
        rec_aa=graph.rec_aa[keep], rec_esm=graph.rec_esm[keep], rec_pos=graph.rec_pos[keep],
        atom_x=graph.atom_x[atom_keep], atom_pos=graph.atom_pos[atom_keep], atom_res=remap[graph.atom_res[atom_keep]],
        t_tr=graph.t_tr, t_rot=graph.t_rot, t_tor=graph.t_tor,
        rec_edge_index=None if graph.rec_edge_index is None else graph_ops.subgraph(graph.rec_edge_index, keep),
        atom_edge_index=None if graph.atom_edge_index is None else graph_ops.subgraph(graph.atom_edge_index, atom_keep),
    )  # fmt: skip


def initial_pose(lig: Ligand, rec: Receptor, hp: Hyperparams, options: SamplingOptions, gen: torch.Generator) -> Tensor:
    """Randomised starting pose [N, 3]: random torsions, random orientation, noisy centre (reference)."""
    pos = lig.pos.unsqueeze(0)
    if lig.num_torsions and not hp.no_torsion:
        angles = (torch.rand(1, lig.num_torsions, generator=gen) * 2 - 1) * math.pi
        pos = apply_torsions(pos, lig.tor_index, lig.tor_mask, angles)
    pos = pos[0]
    if options.pocket_radius is not None:  # the receptor is centred on the pocket centre
        pos = (pos - pos.mean(dim=0, keepdim=True)) @ random_rotation(gen).T
        return pos + pocket_offset(options.pocket_radius, gen)
    pocket = rec.pos.mean(dim=0)  # the receptor centre (≈ 0: coordinates are centred on it)
    pos = (pos - pos.mean(dim=0, keepdim=True)) @ random_rotation(gen).T + pocket
    p = options.initial_noise_std_proportion
    std = float(torch.sqrt((rec.pos**2).sum(dim=1).mean())) * p / 1.73 if p >= 0 else -p * hp.tr_sigma_max
    return pos + torch.randn(1, 3, generator=gen) * std


def pocket_offset(radius: float, gen: torch.Generator, max_draws: int = 256) -> Tensor:
    """[1, 3] Å: the initial centroid's offset from the pocket centre, N(0, (radius/√3)²) per axis
    truncated to the pocket sphere.

    The blind prior scales its Gaussian with the receptor's size (rms |CA| · 1.46/1.73, i.e. an rms
    offset ≈ 1.46 × the protein's rms radius); here the pocket replaces the protein, so the rms offset
    of the untruncated Gaussian is the pocket radius, and draws outside the sphere are redrawn (about
    39% are) so that every sample starts in the pocket. Rejection keeps the Gaussian's shape inside the
    sphere; `max_draws` only bounds the loop (the chance of needing it is 0.39**256).
    """
    std = radius / math.sqrt(3.0)
    for _ in range(max_draws):
        offset = torch.randn(1, 3, generator=gen) * std
        if float(offset.norm()) <= radius:
            return offset
    return offset * (radius / float(offset.norm()))


def _fix_nans(scores: tuple[Tensor, Tensor, Tensor]) -> tuple[tuple[Tensor, Tensor, Tensor], bool]:
    tr = scores[0]
    if not torch.isnan(tr.mean(dim=-1)).any():
        return scores, False
    fixed = []
    for s in scores:
        eps = 0.01 * torch.nanmean(s.abs()) if s.numel() else torch.tensor(0.0)
        eps = torch.nan_to_num(eps, nan=0.0)
        fixed.append(torch.nan_to_num(s, nan=float(eps), posinf=float(eps), neginf=-float(eps)))
    return (fixed[0], fixed[1], fixed[2]), True


def sample(
    lig: Ligand,
    rec: Receptor,
    esm: Tensor,
    score_model: ScoreModel,
    score_hp: Hyperparams,
    options: SamplingOptions,
    confidence_model: ConfidenceModel | None = None,
    confidence_hp: Hyperparams | None = None,
    device: torch.device | str = "cpu",
    should_stop: Callable[[], bool] | None = None,
    report: Report = ignore,
) -> SamplingResult:
    """Dock `samples_per_complex` poses of `lig` on `rec`; esm [R, D] per-residue embeddings."""
    if options.samples_per_complex < 1 or options.batch_size < 1:
        raise ValueError("samples_per_complex and batch_size must be ≥ 1")
    device = torch.device(device)
    schedule = time_schedule(options.inference_steps)
    dts = step_sizes(schedule, options.steps_run)
    sde = [
        SdeComponent(lo, hi, options.temp_sampling[i], options.temp_psi[i], options.temp_sigma_data[i])
        for i, (lo, hi) in enumerate(
            [(score_hp.tr_sigma_min, score_hp.tr_sigma_max), (score_hp.rot_sigma_min, score_hp.rot_sigma_max),
             (score_hp.tor_sigma_min, score_hp.tor_sigma_max)]
        )
    ]  # fmt: skip
    use_torsion = lig.num_torsions > 0 and not score_hp.no_torsion
    tor_index, tor_mask = lig.tor_index.to(device), lig.tor_mask.to(device)
    score_template = complex_graph(lig, rec, esm, with_atoms=score_hp.all_atoms)
    if score_hp.crop_beyond is not None:  # crop graphs built on the whole receptor, as the reference
        score_template = model_graphs.with_receptor_graphs(score_template, graph_mode(score_hp))
    conf_template = None
    if confidence_model is not None and confidence_hp is not None:
        conf_template = complex_graph(lig, rec, esm, with_atoms=confidence_hp.all_atoms)
        if confidence_hp.crop_beyond is not None:
            conf_template = model_graphs.with_receptor_graphs(conf_template, graph_mode(confidence_hp))
    n_atoms = lig.num_atoms
    positions: list[Tensor] = []
    starts: list[Tensor] = []
    conf_out: list[Tensor] = []
    score_time = conf_time = 0.0
    nan_batches = 0

    def check_stop() -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("docking cancelled")

    batches = range(0, options.samples_per_complex, options.batch_size)
    steps_done = 0
    for batch_number, start in enumerate(batches, start=1):
        indices = range(start, min(start + options.batch_size, options.samples_per_complex))
        b = len(indices)
        gens = [sample_generator(options.random_seed, i) for i in indices]
        pos = torch.stack([initial_pose(lig, rec, score_hp, options, g) for g in gens]).to(device)  # [b, N, 3]
        starts.append(pos.mean(dim=1).cpu())
        batch: ComplexBatch | None = None
        tick = time.perf_counter()
        for k, dt in enumerate(dts):
            check_stop()
            report(Progress("diffusion", steps_done, len(dts) * len(batches),  # step: steps done; the message: this one
                            f"diffusion step {k + 1} of {len(dts)} (samples {start + 1}-{start + b})"))
            steps_done += 1
            t = schedule[k]
            times = torch.full((b,), t, dtype=torch.float32, device=device)
            if score_hp.crop_beyond is not None:
                cutoff = sde[0].sigma(t) * 3 + score_hp.crop_beyond
                graphs = [crop_receptor(score_template.with_ligand_pos(p.cpu()), cutoff) for p in pos]
                batch = collate(graphs).to(device).with_times(times, times, times)
            elif batch is None:
                batch = collate([score_template] * b).to(device).with_ligand_pos(pos.reshape(-1, 3))
                batch = batch.with_times(times, times, times)
            else:
                batch = batch.with_ligand_pos(pos.reshape(-1, 3)).with_times(times, times, times)
            with torch.no_grad():
                out = score_model(batch)
            (tr_score, rot_score, tor_score), had_nan = _fix_nans(tuple(out[:3]))  # type: ignore[arg-type]
            if had_nan:
                nan_batches += 1
                log.warning("score model returned NaN; perturbing slightly", extra={"action": "diffdock_nan", "step": k})
            last = options.no_final_step_noise and k == len(dts) - 1
            z_tr, z_rot, z_tor = (z.to(device) for z in _noise(gens, lig.num_torsions, zero=last))
            tr = sde[0].perturbation(tr_score.float(), z_tr, t, dt)
            rot = sde[1].perturbation(rot_score.float(), z_rot, t, dt)
            tor = sde[2].perturbation(tor_score.float().reshape(b, -1), z_tor, t, dt) if use_torsion else None
            pos = update_poses(pos, tr, rot, tor, tor_index, tor_mask)
        score_time += time.perf_counter() - tick
        positions.append(pos.cpu())
        if confidence_model is not None and conf_template is not None and confidence_hp is not None:
            check_stop()
            report(Progress("confidence", batch_number - 1, len(batches), f"confidence scoring (batch {batch_number} of {len(batches)})"))
            tick = time.perf_counter()
            graphs = [conf_template.with_ligand_pos(p.cpu()) for p in pos]
            if confidence_hp.crop_beyond is not None:
                graphs = [crop_receptor(g, confidence_hp.crop_beyond) for g in graphs]
            zeros = torch.zeros(b, dtype=torch.float32, device=device)
            conf_batch = collate(graphs).to(device).with_times(zeros, zeros, zeros)
            with torch.no_grad():
                raw = confidence_model(conf_batch)
            logits = raw[0] if isinstance(raw, tuple) else raw
            conf_out.append(torch.nan_to_num(logits.float().reshape(b, -1), nan=FAILED_CONFIDENCE).cpu())
            conf_time += time.perf_counter() - tick
    all_pos = torch.cat(positions).reshape(-1, n_atoms, 3)
    outputs = torch.cat(conf_out) if conf_out else None
    return SamplingResult(
        positions=all_pos,
        confidence=outputs[:, 0].clone() if outputs is not None else None,
        confidence_outputs=outputs,
        timings={"score_steps": score_time, "confidence": conf_time},
        nan_batches=nan_batches,
        initial_centroids=torch.cat(starts),
    )


def _noise(gens: list[torch.Generator], n_tor: int, zero: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Standard normal z for tr [b, 3], rot [b, 3], tor [b, T], each sample from its own stream."""
    draws = [(torch.randn(3, generator=g), torch.randn(3, generator=g), torch.randn(n_tor, generator=g)) for g in gens]
    z_tr, z_rot, z_tor = (torch.stack(parts) for parts in zip(*draws, strict=True))
    if zero:
        return torch.zeros_like(z_tr), torch.zeros_like(z_rot), torch.zeros_like(z_tor)
    return z_tr, z_rot, z_tor
