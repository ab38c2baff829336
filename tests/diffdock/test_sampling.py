"""Diffusion tables (SO(3), torus), the reverse sampling loop and the output files."""

from __future__ import annotations

import sys
from pathlib import Path

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
