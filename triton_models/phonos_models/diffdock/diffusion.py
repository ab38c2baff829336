"""Diffusion schedule, reverse-SDE step sizes and pose updates (batched), as the reference samples.

Everything here is pure tensor math on the ligand pose; the loop that calls the networks is in
`sampling.py`. References: notes/diffdock.md §5–6 (and pitfall 5).

Pose update for one step (per sample): rotate the ligand about its centroid by exp(Δrot), translate
by Δtr, then turn each rotatable bond in bond order and finally Kabsch-align the torsion-modified
pose back onto the rigidly moved one, so that torsion changes never move the centroid or orientation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

# Sampling defaults that take effect in the reference (`default_inference_args.yaml`, notes §1).
INITIAL_NOISE_STD_PROPORTION = 1.4601642460337794
TEMP_SAMPLING = (1.170050527854316, 2.06391612594481, 7.044261621607846)  # tr, rot, tor
TEMP_PSI = (0.727287304570729, 0.9022615585677628, 0.5946212391366862)
TEMP_SIGMA_DATA = (0.9299802531572672, 0.7464326999906034, 0.6943254174849822)


def time_schedule(inference_steps: int) -> list[float]:
    """t_k = 1 − k/N for k = 0…N−1 (the reference's 'expbeta' schedule with α=β=1 is linear)."""
    return [1.0 - k / inference_steps for k in range(inference_steps)]


def step_sizes(schedule: list[float], actual_steps: int) -> list[float]:
    """dt for each executed step; the last executed step jumps straight to t=0 (dt = t_k)."""
    if not 1 <= actual_steps <= len(schedule):
        raise ValueError(f"actual_steps must be in 1..{len(schedule)}, got {actual_steps}")
    return [
        schedule[k] - schedule[k + 1] if k < actual_steps - 1 else schedule[k] for k in range(actual_steps)
    ]


@dataclass(frozen=True)
class SdeComponent:
    """One noise type (tr, rot or tor) of the variance-exploding SDE, with its sampling temperatures."""

    sigma_min: float
    sigma_max: float
    temp_sampling: float = 1.0
    temp_psi: float = 0.0
    temp_sigma_data: float = 0.5

    def sigma(self, t: float) -> float:
        return self.sigma_min ** (1.0 - t) * self.sigma_max**t

    def g(self, sigma: float) -> float:
        """Diffusion coefficient g(t) = σ(t)·sqrt(2 ln(σ_max/σ_min))."""
        return sigma * math.sqrt(2.0 * math.log(self.sigma_max / self.sigma_min))

    def perturbation(self, score: Tensor, z: Tensor, t: float, dt: float) -> Tensor:
        """Δ = g²·dt·score + g·sqrt(dt)·z, or its low-temperature form when temp_sampling ≠ 1."""
        sigma = self.sigma(t)
        g = self.g(sigma)
        if self.temp_sampling == 1.0:
            return g**2 * dt * score + g * math.sqrt(dt) * z
        sigma_data = math.exp(
            self.temp_sigma_data * math.log(self.sigma_max) + (1.0 - self.temp_sigma_data) * math.log(self.sigma_min)
        )
        lam = (sigma_data + sigma) / (sigma_data + sigma / self.temp_sampling)
        drift = g**2 * dt * (lam + self.temp_sampling * self.temp_psi / 2.0) * score
        return drift + g * math.sqrt(dt * (1.0 + self.temp_psi)) * z


def axis_angle_to_matrix(v: Tensor) -> Tensor:
    """[..., 3] axis-angle vectors (radians) → [..., 3, 3] rotation matrices, via unit quaternions."""
    angle = torch.linalg.norm(v, dim=-1, keepdim=True)
    half = angle / 2
    small = angle.abs() < 1e-6
    # sin(θ/2)/θ, with its Taylor expansion near 0 to stay finite
    safe = torch.where(small, torch.ones_like(angle), angle)
    s = torch.where(small, 0.5 - angle**2 / 48, torch.sin(half) / safe)
    w = torch.cos(half)[..., 0]
    x, y, z = (v * s).unbind(-1)
    two = 2.0
    return torch.stack(
        [
            1 - two * (y * y + z * z), two * (x * y - z * w), two * (x * z + y * w),
            two * (x * y + z * w), 1 - two * (x * x + z * z), two * (y * z - x * w),
            two * (x * z - y * w), two * (y * z + x * w), 1 - two * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*v.shape[:-1], 3, 3)  # fmt: skip


def random_rotation(generator: torch.Generator) -> Tensor:
    """A uniformly distributed rotation matrix [3, 3] (normalised Gaussian quaternion)."""
    q = torch.randn(4, generator=generator, dtype=torch.float64)
    q = q / q.norm()
    w, x, y, z = q.tolist()
    return torch.tensor(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ],
        dtype=torch.float32,
    )


def apply_torsions(pos: Tensor, tor_index: Tensor, tor_mask: Tensor, angles: Tensor) -> Tensor:
    """Turn each rotatable bond of every sample, in bond order.

    pos [B, N, 3] Å; tor_index [2, T] (u, v) of one molecule; tor_mask [T, N]; angles [B, T] radians.
    The atoms of mask k rotate about the axis pos[u] − pos[v] through pos[v] (right-handed).
    """
    pos = pos.clone()
    for k in range(tor_index.shape[1]):
        u, v = int(tor_index[0, k]), int(tor_index[1, k])
        axis = pos[:, u] - pos[:, v]
        axis = axis / torch.linalg.norm(axis, dim=-1, keepdim=True)
        rot = axis_angle_to_matrix(axis * angles[:, k : k + 1])  # [B, 3, 3]
        moving = tor_mask[k]
        origin = pos[:, v : v + 1]
        pos[:, moving] = torch.bmm(pos[:, moving] - origin, rot.transpose(1, 2)) + origin
    return pos


def kabsch(source: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Rotation [B, 3, 3] and translation [B, 1, 3] that best map source [B, N, 3] onto target."""
    src_c = source.mean(dim=1, keepdim=True)
    tgt_c = target.mean(dim=1, keepdim=True)
    h = torch.bmm((source - src_c).transpose(1, 2), target - tgt_c)  # [B, 3, 3]
    u, _, vt = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(torch.bmm(vt.transpose(1, 2), u.transpose(1, 2))))
    correction = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1))
    rot = torch.bmm(torch.bmm(vt.transpose(1, 2), correction), u.transpose(1, 2))
    trans = tgt_c - torch.bmm(src_c, rot.transpose(1, 2))
    return rot, trans


def update_poses(
    pos: Tensor, tr: Tensor, rot: Tensor, tor: Tensor | None, tor_index: Tensor, tor_mask: Tensor
) -> Tensor:
    """One reverse-diffusion pose update for B copies of one ligand.

    pos [B, N, 3] Å; tr [B, 3] Å; rot [B, 3] axis-angle; tor [B, T] radians (None: rigid ligand).
    """
    center = pos.mean(dim=1, keepdim=True)
    rigid = torch.bmm(pos - center, axis_angle_to_matrix(rot).transpose(1, 2)) + tr.unsqueeze(1) + center
    if tor is None or tor.shape[1] == 0:
        return rigid
    flexible = apply_torsions(rigid, tor_index, tor_mask, tor)
    r, t = kabsch(flexible, rigid)
    return torch.bmm(flexible, r.transpose(1, 2)) + t
