"""The wrapped normal on the circle used for DiffDock's torsion-angle diffusion.

The reference tabulates the wrapped-normal density p(x, σ) = Σ_{|k|≤100} exp(−(x+2πk)²/2σ²) and its
score ∂ₓp / (p + 1e-5) on a 5001 × 5001 grid, log-spaced in |x| ∈ [1e-5π, π] and σ ∈ [3e-3π, 2π],
and looks values up by *rounded* log-grid index (notes/diffdock.md pitfall 15). We keep those grids and
that rounding, but evaluate only the grid points actually looked up (memoised), instead of writing a
200 MB `.p.npy` into the working directory.

`score_norm(σ) = E[score²]` is, in the reference, a 10,000-sample Monte-Carlo estimate drawn afresh at
every import without a seed (±2% between runs, pitfall 6). Here it is the same expectation computed
by quadrature on the table's own x grid: deterministic and within the reference's run-to-run spread.
All 5001 σ-grid values are tabulated once in `torus_score_norm.npy` (40 kB, written by
`python -m phonos_models.diffdock.torus`), so sampling looks them up instead of integrating ~50 ms
per new σ; without the file they are integrated on first use, as before.
"""

from __future__ import annotations

import logging
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

# Grid constants of the reference (DiffDock utils/torus.py), relative to π.
X_MIN: float = 1e-5
X_N: int = 5000
SIGMA_MIN: float = 3e-3
SIGMA_MAX: float = 2.0
SIGMA_N: int = 5000
N_WRAPS: int = 100  # wrapped sum k ∈ [−100, 100], as the reference tables
P_EPS: float = 1e-5  # the reference divides by (p + 1e-5), which damps the score in the far tails

X_GRID = 10.0 ** np.linspace(np.log10(X_MIN), 0.0, X_N + 1) * np.pi  # [5001] radians
SIGMA_GRID = 10.0 ** np.linspace(np.log10(SIGMA_MIN), np.log10(SIGMA_MAX), SIGMA_N + 1) * np.pi  # [5001]


def _wrapped(x: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised wrapped-normal density and its x-derivative (sign: d/dx of −log p ... see score)."""
    shifts = 2.0 * np.pi * np.arange(-N_WRAPS, N_WRAPS + 1, dtype=np.float64)
    d = x[..., None] + shifts  # [..., 201]
    s2 = (sigma**2)[..., None]
    g = np.exp(-(d**2) / 2.0 / s2)
    return g.sum(-1), (d / s2 * g).sum(-1)


def _table_score(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The reference's `score_` table entry at grid values x ≥ 0 (positive: points back towards 0)."""
    p, grad = _wrapped(x, sigma)
    return grad / (p + P_EPS)


def x_index(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sign, rounded log-grid index) of angles x after wrapping into [−π, π)."""
    wrapped = (x + np.pi) % (2.0 * np.pi) - np.pi
    sign = np.sign(wrapped)
    with np.errstate(divide="ignore"):
        position = (np.log(np.abs(wrapped) / np.pi) - np.log(X_MIN)) / (0.0 - np.log(X_MIN)) * X_N
    return sign, np.round(np.clip(position, 0, X_N)).astype(np.int64)


def sigma_index(sigma: np.ndarray) -> np.ndarray:
    """Rounded log-grid index of σ (radians)."""
    position = (np.log(sigma / np.pi) - np.log(SIGMA_MIN)) / (np.log(SIGMA_MAX) - np.log(SIGMA_MIN)) * SIGMA_N
    return np.round(np.clip(position, 0, SIGMA_N)).astype(np.int64)


def score(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Score d log p/dx of the wrapped normal at angles x (radians), table semantics; shapes broadcast."""
    x = np.asarray(x, dtype=np.float64)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), x.shape)
    sign, xi = x_index(x)
    si = sigma_index(sigma)
    return -sign * _table_score(X_GRID[xi], SIGMA_GRID[si])


def density(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Unnormalised wrapped-normal density at x (table semantics: peak value ≈ 1)."""
    x = np.asarray(x, dtype=np.float64)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), x.shape)
    _, xi = x_index(x)
    return _wrapped(X_GRID[xi], SIGMA_GRID[sigma_index(sigma)])[0]


def sample(sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Wrapped-normal samples in [−π, π), one per entry of sigma."""
    sigma = np.asarray(sigma, dtype=np.float64)
    out = sigma * rng.standard_normal(sigma.shape)
    return (out + np.pi) % (2.0 * np.pi) - np.pi


SCORE_NORM_TABLE = Path(__file__).with_name("torus_score_norm.npy")  # [SIGMA_N + 1] float64
# exp(−a) is exactly 0.0 in float64 for a > 745.2: wraps that far out add nothing to the sums.
_EXP_UNDERFLOW = 746.0


@lru_cache(maxsize=8192)
def _score_norm_at(index: int) -> float:
    """E[score²] for SIGMA_GRID[index] by trapezoid quadrature over |x| on the table's x grid."""
    return score_norm_by_quadrature(index)


def score_norm_by_quadrature(index: int, skip_vanishing_wraps: bool = False) -> float:
    """E[score²] for SIGMA_GRID[index]: trapezoid quadrature over |x| on the table's x grid.

    With `skip_vanishing_wraps`, wraps whose Gaussian underflows to exactly 0 everywhere on
    [0, π] are left out (they add 0; only the summation order changes, ~1e-16 relative)."""
    sigma = SIGMA_GRID[index]
    wraps = N_WRAPS
    if skip_vanishing_wraps:  # |x + 2πk| ≥ 2π|k| − π on the grid
        wraps = min(N_WRAPS, int((np.pi + sigma * np.sqrt(2.0 * _EXP_UNDERFLOW)) / (2.0 * np.pi)) + 1)
    shifts = 2.0 * np.pi * np.arange(-wraps, wraps + 1, dtype=np.float64)
    d = X_GRID[:, None] + shifts
    g = np.exp(-(d**2) / 2.0 / sigma**2)
    p, grad = g.sum(-1), (d / sigma**2 * g).sum(-1)
    s = grad / (p + P_EPS)
    # The density and score² are even in x, so the half-line integral ratio is the full one.
    return float(np.trapz(p * s**2, X_GRID) / np.trapz(p, X_GRID))


def build_score_norm_table() -> np.ndarray:
    """score_norm at every σ-grid point, [SIGMA_N + 1] float64 (~10 s)."""
    return np.array([score_norm_by_quadrature(i, skip_vanishing_wraps=True) for i in range(SIGMA_N + 1)])


@lru_cache(maxsize=1)
def score_norm_table() -> np.ndarray | None:
    """The shipped table, or None when the file is missing (then entries are integrated on use)."""
    try:
        table = np.load(SCORE_NORM_TABLE)
    except FileNotFoundError:
        log.warning("torus score-norm table missing; integrating per σ", extra={"action": "torus_table_missing"})
        return None
    if table.shape != (SIGMA_N + 1,):
        raise ValueError(f"{SCORE_NORM_TABLE} has shape {table.shape}, expected ({SIGMA_N + 1},)")
    return table


def score_norm(sigma: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """E[score²] of the wrapped normal with scale σ, elementwise; same type (and device) as the input.

    The score model multiplies its torsion output by sqrt(score_norm(σ_tor)) (scale_by_sigma).
    """
    if isinstance(sigma, torch.Tensor):
        values = _score_norms(sigma.detach().to("cpu", torch.float64).numpy())
        return torch.from_numpy(values).to(device=sigma.device, dtype=torch.float32)
    return _score_norms(np.asarray(sigma, np.float64))


def _score_norms(sigma: np.ndarray) -> np.ndarray:
    indices = sigma_index(sigma)
    table = score_norm_table()
    if table is not None:
        return table[indices]
    return np.array([_score_norm_at(int(i)) for i in indices.reshape(-1)], dtype=np.float64).reshape(indices.shape)


if __name__ == "__main__":  # python -m phonos_models.diffdock.torus [path]: (re)write the table
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCORE_NORM_TABLE
    np.save(target, build_score_norm_table())
    print(f"wrote {target}")
