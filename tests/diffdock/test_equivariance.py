"""Symmetry of the networks (tiny random weights of the real architectures).

Rotating and translating the whole complex must rotate the translation and rotation scores by the
same rotation and leave torsion scores and confidences unchanged. Batching must not couple complexes.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from dd_helpers import synthetic_complex
from e3nn import o3
from phonos_models.diffdock.build import build_model, tiny_hyperparams
from phonos_models.diffdock.data import ComplexGraph, collate
from phonos_models.diffdock.layers import FasterTensorProduct

pytestmark = pytest.mark.integration

LM_DIM = 16  # tiny language-model width keeps the test fast; the layer shapes scale with it


def _moved(c: ComplexGraph, rot: torch.Tensor, shift: torch.Tensor) -> ComplexGraph:
    return replace(
        c,
        lig_pos=c.lig_pos @ rot.T + shift,
        rec_pos=c.rec_pos @ rot.T + shift,
        atom_pos=c.atom_pos @ rot.T + shift,
    )


_MODELS: dict[str, torch.nn.Module] = {}


def _model(kind: str) -> torch.nn.Module:
    """Tiny network of `kind`, built once per session (building the e3nn products is the slow part)."""
    if kind not in _MODELS:
        if kind == "score_second_order":  # DiffDock-L's yml is unknown: cover the l=2 feature option too
            hp = replace(tiny_hyperparams("score", lm_embedding_dim=LM_DIM), use_second_order_repr=True, sh_lmax=2)
        else:
            hp = tiny_hyperparams(kind, lm_embedding_dim=LM_DIM)  # type: ignore[arg-type]
        _MODELS[kind] = build_model(hp, seed=0)
    return _MODELS[kind]


def _rotation(seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return o3.rand_matrix()


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 2e-4) -> bool:
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-6)
    return bool(torch.allclose(a, b, rtol=0, atol=rel * scale))


@pytest.mark.parametrize("kind", ["score", "score_old", "score_second_order"])
def test_score_model_is_se3_equivariant(kind: str) -> None:
    model = _model(kind)
    complexes = [synthetic_complex(s, lm_dim=LM_DIM) for s in (0, 1)]
    rot, shift = _rotation(3), torch.tensor([4.0, -7.0, 2.5])
    with torch.no_grad():
        tr, rt, tor = model(collate(complexes))
        tr2, rt2, tor2 = model(collate([_moved(c, rot, shift) for c in complexes]))
    assert tr.shape == (2, 3) and rt.shape == (2, 3) and tor.shape == (6,)
    assert torch.isfinite(tr).all() and torch.isfinite(rt).all() and torch.isfinite(tor).all()
    assert tr.abs().max() > 0 and rt.abs().max() > 0 and tor.abs().max() > 0
    assert _close(tr2, tr @ rot.T), "translation score must rotate with the complex"
    assert _close(rt2, rt @ rot.T), "rotation score must rotate with the complex"
    assert _close(tor2, tor), "torsion scores must be invariant"
    assert not _close(tr2, tr, rel=1e-2), "degenerate check: the score does depend on orientation"


@pytest.mark.parametrize(("kind", "n_out"), [("confidence", 2), ("confidence_new", 1)])
def test_confidence_model_is_se3_invariant(kind: str, n_out: int) -> None:
    model = _model(kind)
    complexes = [replace(synthetic_complex(s, lm_dim=LM_DIM), t_tr=0.0, t_rot=0.0, t_tor=0.0) for s in (2, 3)]
    rot, shift = _rotation(4), torch.tensor([-3.0, 11.0, 0.5])
    with torch.no_grad():
        conf = model(collate(complexes))
        conf2 = model(collate([_moved(c, rot, shift) for c in complexes]))
        # moving only the ligand must change the confidence (the test would not see a dead network)
        shifted = [replace(c, lig_pos=c.lig_pos + torch.tensor([5.0, 0.0, 0.0])) for c in complexes]
        conf3 = model(collate(shifted))
    assert conf.shape == (2, n_out) and torch.isfinite(conf).all()
    scale = float(conf.abs().max())
    symmetry_error = float((conf2 - conf).abs().max())
    pose_effect = float((conf3 - conf).abs().max())
    assert symmetry_error <= 2e-5 * scale
    # tiny random heads squash most of the signal, so compare against the float noise floor
    assert pose_effect > 20 * max(symmetry_error, 1e-7 * scale)


@pytest.mark.parametrize("kind", ["score", "score_old", "confidence", "confidence_new"])
def test_batching_does_not_couple_complexes(kind: str) -> None:
    model = _model(kind)
    a = synthetic_complex(5, n_lig=10, n_res=25, lm_dim=LM_DIM, n_tor=2)
    b = replace(synthetic_complex(6, n_lig=14, n_res=30, lm_dim=LM_DIM, n_tor=4), t_tr=0.3, t_rot=0.3, t_tor=0.3)
    with torch.no_grad():
        both = model(collate([a, b]))
        alone = [model(collate([c])) for c in (a, b)]
    if kind.startswith("confidence"):
        assert _close(both, torch.cat(alone))
    elif kind == "score":
        for k in range(3):
            assert _close(both[k], torch.cat([alone[0][k], alone[1][k]])), f"output {k}"
    else:
        # v1.0 ymls lack `not_fixed_center_conv`, so the reference's centre convolution reads ligand
        # node number b (the complex index) of the *batch* (notes pitfall 2). Reproduced on purpose:
        # complex 0 reads its own atom 0 and is unaffected; complex 1 reads complex 0's atom 1.
        assert _close(both[0][0], alone[0][0][0]) and _close(both[2][:2], alone[0][2])
        assert not _close(both[0][1], alone[1][0][0], rel=1e-3)
        assert _close(both[2][2:], alone[1][2]), "torsion head does not use the centre conv"


def test_faster_tensor_product_is_equivariant_and_sized_like_the_reference() -> None:
    irreps = o3.Irreps("32x0e + 6x1o + 6x1e + 6x0o")
    tp = FasterTensorProduct(irreps, "1x0e + 1x1o", irreps)
    assert tp.weight_numel == 1660  # shared/notes/diffdock.md §3.3, matches the reference dump
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, irreps.dim, generator=g)
    vec = torch.randn(7, 3, generator=g)
    w = torch.randn(7, tp.weight_numel, generator=g)
    sh = o3.spherical_harmonics("1x0e + 1x1o", vec, normalize=True, normalization="component")
    rot = _rotation(5)
    d = irreps.D_from_matrix(rot)
    sh_rot = o3.spherical_harmonics("1x0e + 1x1o", vec @ rot.T, normalize=True, normalization="component")
    assert _close(tp(x @ d.T, sh_rot, w), tp(x, sh, w) @ d.T, rel=1e-5)
    # parity: an improper rotation (−R) flips odd irreps consistently too
    d_inv = irreps.D_from_matrix(-rot)
    sh_inv = o3.spherical_harmonics("1x0e + 1x1o", -(vec @ rot.T), normalize=True, normalization="component")
    assert _close(tp(x @ d_inv.T, sh_inv, w), tp(x, sh, w) @ d_inv.T, rel=1e-5)


def _faster_tp_by_definition(tp: FasterTensorProduct, x: torch.Tensor, sh: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The sh_lmax=1 product written out literally from shared/notes/diffdock.md §3.3 (no tricks)."""
    e = x.shape[0]
    blocks = {}
    for (mul, ir), sl in zip(tp.in_irreps, tp.in_irreps.slices(), strict=True):
        blocks[str(ir)] = x[:, sl].reshape(e, mul, 3) if ir.l == 1 else x[:, sl]
    y0, y1 = sh[:, 0], sh[:, 1:]
    cand: dict[str, list[torch.Tensor]] = {"0e": [], "1o": [], "1e": [], "0o": []}
    if "0e" in blocks:
        a = blocks["0e"]
        cand["0e"].append(a * y0[:, None])
        cand["1o"].append(a[:, :, None] * y1[:, None, :])
    if "1o" in blocks:
        v = blocks["1o"]
        cand["0e"].append((v * y1[:, None, :]).sum(-1) / 3**0.5)
        cand["1o"].append(v * y0[:, None, None])
        cand["1e"].append(torch.cross(v, y1[:, None, :].expand_as(v), dim=-1) / 2**0.5)
    if "1e" in blocks:
        v = blocks["1e"]
        cand["1o"].append(torch.cross(v, y1[:, None, :].expand_as(v), dim=-1) / 2**0.5)
        cand["1e"].append(v * y0[:, None, None])
        cand["0o"].append((v * y1[:, None, :]).sum(-1) / 3**0.5)
    if "0o" in blocks:
        a = blocks["0o"]
        cand["1e"].append(a[:, :, None] * y1[:, None, :])
        cand["0o"].append(a * y0[:, None])
    out, start = {}, 0
    for key in ("0e", "1o", "1e", "0o"):
        n_in, n_out = tp.block_in[key], tp.out_mul[key]
        wk = w[:, start : start + n_in * n_out].reshape(e, n_in, n_out) / n_in**0.5
        start += n_in * n_out
        if n_out and cand[key]:
            if key[0] == "0":
                out[key] = torch.einsum("ei,eio->eo", torch.cat(cand[key], -1), wk)
            else:
                out[key] = torch.einsum("eic,eio->eoc", torch.cat(cand[key], -2), wk).reshape(e, -1)
    return torch.cat([out[str(ir)] for _, ir in tp.out_irreps], -1)


@pytest.mark.parametrize(
    ("irreps_in", "irreps_out"),
    [("8x0e", "8x0e + 3x1o"), ("8x0e + 3x1o", "8x0e + 3x1o + 3x1e"), ("8x0e + 3x1o + 3x1e + 3x0o", "8x0e + 3x1o + 3x1e + 3x0o"),
     ("8x0e + 3x1o + 3x1e + 3x0o", "2x1o + 2x1e")],
)
def test_faster_tensor_product_matches_its_definition(irreps_in: str, irreps_out: str) -> None:
    tp = FasterTensorProduct(irreps_in, "1x0e + 1x1o", irreps_out)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(11, o3.Irreps(irreps_in).dim, generator=g)
    sh = o3.spherical_harmonics("1x0e + 1x1o", torch.randn(11, 3, generator=g), normalize=True, normalization="component")
    w = torch.randn(11, tp.weight_numel, generator=g)
    assert _close(tp(x, sh, w), _faster_tp_by_definition(tp, x, sh, w), rel=1e-5)
