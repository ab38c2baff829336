"""The isotropic Gaussian on SO(3) (IGSO(3)) used for DiffDock's rotation diffusion.

The density of the rotation angle ω ∈ (0, π] of an IGSO(3) sample with scale σ is the truncated
series f(ω, σ) = Σ_{l<2000} (2l+1) exp(−l(l+1)σ²/2) sin((l+½)ω) / sin(ω/2). DiffDock tabulates it
(and its ω-derivative, its CDF and the expected score norm) on 2000 ω points × 2000 log-spaced σ in
[5e-4, 4] and looks σ up by *rounded* index on the log grid (notes/diffdock.md pitfall 15). We keep
the same grids and the same rounding — including the reference's `* N_EPS` index scale, which maps
σ_max to index N_EPS and is then clipped — so the numbers a checkpoint was trained against are the
numbers it sees here.

Unlike the reference we do not write `.so3_*.npy` files into the working directory: the tables are
two float64 matrix products (the series is linear in the per-l weights), ~1 s on one core, computed
once per process at first use and kept in memory. Deterministic: no random numbers are involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

# Grid constants of the reference (DiffDock main, utils/so3.py); changing them changes the numerics.
MIN_EPS: float = 0.0005
MAX_EPS: float = 4.0
N_EPS: int = 2000
X_N: int = 2000  # ω grid points
L_MAX: int = 2000  # series truncation


@dataclass(frozen=True)
class So3Tables:
    """Precomputed IGSO(3) tables; row i belongs to eps_grid[i]."""

    eps_grid: np.ndarray  # [N_EPS] σ values (log-spaced), radians
    omegas: np.ndarray  # [X_N] rotation angles in (0, π], radians
    cdf: np.ndarray  # [N_EPS, X_N] CDF of the angle marginal (Riemann sum, as the reference)
    score: np.ndarray  # [N_EPS, X_N] d log f / dω at each ω
    exp_score_norm: np.ndarray  # [N_EPS] sqrt(E[score²]/π) under the angle marginal (reference scale)


@lru_cache(maxsize=1)
def tables() -> So3Tables:
    """Build the tables (once per process)."""
    omegas = np.linspace(0.0, np.pi, X_N + 1)[1:]
    eps_grid = 10.0 ** np.linspace(np.log10(MIN_EPS), np.log10(MAX_EPS), N_EPS)
    ls = np.arange(L_MAX, dtype=np.float64)
    half = (ls + 0.5)[:, None]  # [L, 1]
    sin_half_omega = np.sin(omegas / 2.0)[None, :]  # [1, X]
    cos_half_omega = np.cos(omegas / 2.0)[None, :]
    hi = np.sin(half * omegas[None, :])  # [L, X]
    d_hi = half * np.cos(half * omegas[None, :])
    series_terms = hi / sin_half_omega  # [L, X]
    # d/dω of sin((l+½)ω)/sin(ω/2), by the quotient rule.
    derivative_terms = (sin_half_omega * d_hi - hi * 0.5 * cos_half_omega) / sin_half_omega**2
    weights = (2.0 * ls + 1.0)[None, :] * np.exp(-ls * (ls + 1.0) * eps_grid[:, None] ** 2 / 2.0)  # [E, L]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        expansion = weights @ series_terms  # [E, X]
        score = (weights @ derivative_terms) / expansion
    pdf = expansion * (1.0 - np.cos(omegas))[None, :] / np.pi  # marginal density over [0, π]
    cdf = np.cumsum(pdf, axis=1) / X_N * np.pi
    # Below σ≈1e-3 the truncated series does not converge and these rows are NaN/garbage, as in the
    # reference; they lie under every released rot_sigma_min (≥ 0.03) and are never looked up.
    with np.errstate(invalid="ignore"):
        exp_score_norm = np.sqrt(np.sum(score**2 * pdf, axis=1) / np.sum(pdf, axis=1) / np.pi)
    return So3Tables(eps_grid=eps_grid, omegas=omegas, cdf=cdf, score=score, exp_score_norm=exp_score_norm)


def eps_index(sigma: np.ndarray) -> np.ndarray:
    """Row index of σ in the tables: rounded position on the log grid, scaled by N_EPS as the reference."""
    position = (np.log10(sigma) - np.log10(MIN_EPS)) / (np.log10(MAX_EPS) - np.log10(MIN_EPS)) * N_EPS
    return np.clip(np.around(position).astype(np.int64), 0, N_EPS - 1)


def score_norm(sigma: torch.Tensor) -> torch.Tensor:
    """The reference's score normaliser, elementwise; float32 on sigma's device (for scale_by_sigma).

    Note the value is sqrt(E[score²] / π), not sqrt(E[score²]): the reference divides by an extra π
    when it tabulates it, and the released checkpoints were trained against that scale.
    """
    sigma_np = sigma.detach().to("cpu", torch.float64).numpy()
    values = tables().exp_score_norm[eps_index(sigma_np)]
    return torch.from_numpy(values).to(device=sigma.device, dtype=torch.float32)


def sample(sigma: float, rng: np.random.Generator) -> float:
    """One rotation angle ω ~ IGSO(3)(σ) marginal, by inverse-CDF interpolation."""
    t = tables()
    index = int(eps_index(np.asarray(sigma, dtype=np.float64)))
    return float(np.interp(rng.random(), t.cdf[index], t.omegas))


def sample_vec(sigma: float, rng: np.random.Generator) -> np.ndarray:
    """An axis-angle vector [3] (radians) ~ IGSO(3)(σ): uniform axis times a sampled angle."""
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    return axis * sample(sigma, rng)


def score_vec(sigma: float, vec: np.ndarray) -> np.ndarray:
    """Score of IGSO(3)(σ) at the axis-angle vector `vec` [3]: table score at ‖vec‖ along vec's axis."""
    t = tables()
    index = int(eps_index(np.asarray(sigma, dtype=np.float64)))
    angle = float(np.linalg.norm(vec))
    return np.interp(angle, t.omegas, t.score[index]) * np.asarray(vec) / angle
