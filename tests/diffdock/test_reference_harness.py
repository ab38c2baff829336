"""bench/diffdock_reference_harness.py computes what our networks compute.

The harness times the reference's way of evaluating the convolutions (per-edge weights on all
edges, the reference's product layout, scatter mean); its speed figures only mean something if its
scores are ours. Tiny random networks of the released architectures, one synthetic batch each.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest
import torch
from dd_helpers import REPO, synthetic_complex
from phonos_models.diffdock.build import build_model, tiny_hyperparams
from phonos_models.diffdock.data import collate
from phonos_models.diffdock.edge_messages import FasterTensorProduct
from phonos_models.diffdock.layers import TensorProductConvLayer

sys.path.insert(0, str(REPO / "bench"))
import diffdock_reference_harness as harness  # noqa: E402

pytestmark = pytest.mark.unit

LM_DIM = 16


@pytest.mark.parametrize(("irreps_in", "irreps_out"), [
    ("8x0e", "8x0e + 3x1o"),
    ("8x0e + 3x1o", "8x0e + 3x1o + 3x1e"),
    ("8x0e + 3x1o + 3x1e + 3x0o", "8x0e + 3x1o + 3x1e + 3x0o"),
    ("8x0e + 3x1e", "2x1o + 2x1e"),
])
def test_reference_product_equals_ours(irreps_in: str, irreps_out: str) -> None:
    tp = FasterTensorProduct(irreps_in, "1x0e + 1x1o", irreps_out)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, tp.in_irreps.dim, generator=g)
    sh = torch.randn(50, 4, generator=g)
    weight = torch.randn(50, tp.weight_numel, generator=g)
    assert torch.allclose(harness.reference_product(tp, x, sh, weight), tp(x, sh, weight), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["score", "score_old", "confidence"])
def test_networks_give_the_same_outputs_under_the_harness(kind: str) -> None:
    model = build_model(tiny_hyperparams(kind, lm_embedding_dim=LM_DIM), seed=0)  # type: ignore[arg-type]
    complexes = [synthetic_complex(s, lm_dim=LM_DIM) for s in (0, 1)]
    if kind == "confidence":
        complexes = [replace(c, t_tr=0.0, t_rot=0.0, t_tor=0.0) for c in complexes]
    ours_messages = TensorProductConvLayer._messages
    with torch.no_grad():
        ours = model(collate(complexes))  # fresh batches: the score model caches its receptor embedding
        with harness.reference_convolutions():
            assert TensorProductConvLayer._messages is harness.reference_messages
            ref = model(collate(complexes))
    assert TensorProductConvLayer._messages is ours_messages  # restored on exit
    ours_t, ref_t = (ours, ref) if isinstance(ours, tuple) else ((ours,), (ref,))
    for a, b in zip(ours_t, ref_t, strict=True):
        assert a.abs().max() > 0
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(b.abs().max()))


def test_scatter_mean_gives_isolated_receivers_zero() -> None:
    values = torch.tensor([[1.0], [3.0], [5.0]])
    out = harness.scatter_mean(values, torch.tensor([0, 0, 2]), 4)
    assert out.squeeze(1).tolist() == [2.0, 0.0, 5.0, 0.0]
