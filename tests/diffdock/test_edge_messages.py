"""The tensor-product message kernels against a literal, unoptimised evaluation.

`edge_messages` folds the FC bias and the product's constants into one matrix, contracts weights per
sender when senders have several edges, and works in cache-sized chunks; each of these only reorders
float32 arithmetic, so every path must equal "per-edge weights = FC(attr), message = TP(x_sender,
sh, weights), mean per receiver" written out plainly.
"""

from __future__ import annotations

import pytest
import torch
from e3nn import o3
from phonos_models.diffdock import edge_messages
from phonos_models.diffdock.edge_messages import (
    FasterTensorProduct,
    SenderPlan,
    aggregate_messages,
    edge_weights,
    sender_product,
)
from phonos_models.diffdock.layers import TensorProductConvLayer, mlp

pytestmark = pytest.mark.unit

SH = "1x0e + 1x1o"
IRREPS = [  # (in, out) pairs the DiffDock layers use, plus odd ones with missing input types
    ("8x0e", "8x0e + 3x1o"),
    ("8x0e + 3x1o", "8x0e + 3x1o + 3x1e"),
    ("8x0e + 3x1o + 3x1e + 3x0o", "8x0e + 3x1o + 3x1e + 3x0o"),
    ("8x0e + 3x1o + 3x1e + 3x0o", "2x1o + 2x1e"),
    ("3x1e + 2x0o", "4x0e + 2x1o + 1x0o"),
]


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 2e-6) -> bool:
    scale = max(float(b.abs().max()), 1e-6)
    return bool(torch.allclose(a, b, rtol=0, atol=rel * scale))


def _graph(seed: int, n_nodes: int, n_receivers: int, degrees: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges in shuffled order; sender j has degrees[j] edges to random receivers. → (index [2, E], perm)."""
    g = torch.Generator().manual_seed(seed)
    senders = torch.repeat_interleave(torch.randperm(n_nodes, generator=g)[: len(degrees)], torch.tensor(degrees))
    receivers = torch.randint(0, n_receivers, (senders.numel(),), generator=g)
    perm = torch.randperm(senders.numel(), generator=g)
    return torch.stack([receivers[perm], senders[perm]]), perm


def _literal_mean(tp: torch.nn.Module, fc: torch.nn.Module, attr, x, index, sh, n_out: int) -> torch.Tensor:
    out_dim = o3.Irreps(tp.irreps_out).dim
    msg = tp(x[index[1]], sh, fc(attr))  # plain FC with its own bias, plain product
    total = torch.zeros(n_out, out_dim).index_add_(0, index[0], msg)
    count = torch.bincount(index[0], minlength=n_out).clamp(min=1)
    return total / count.unsqueeze(1)


def test_folded_bias_and_constants_equal_the_plain_fc() -> None:
    tp = FasterTensorProduct("8x0e + 3x1o + 3x1e + 3x0o", SH, "8x0e + 3x1o + 3x1e + 3x0o")
    fc = mlp(12, 10, tp.weight_numel, 0.0).eval()
    attr = torch.randn(50, 12, generator=torch.Generator().manual_seed(0))
    body, matrix = edge_weights(fc, attr, tp.weight_scale)
    assert matrix.shape == (11, tp.weight_numel)
    with torch.no_grad():
        folded = torch.nn.functional.pad(body(attr), (0, 1), value=1.0) @ matrix
        assert _close(folded, fc(attr) * tp.weight_scale)


def test_weight_scale_is_the_fan_in_and_dot_cross_constants() -> None:
    tp = FasterTensorProduct("4x0e + 2x1o + 2x1e + 2x0o", SH, "1x0e + 1x1o + 1x1e + 1x0o")
    scale = tp.weight_scale
    # block 0e: rows 0e (×1) then 1o (×1/√3), fan-in 4 + 2 = 6
    assert torch.allclose(scale[:4], torch.full((4,), 6**-0.5))
    assert torch.allclose(scale[4:6], torch.full((2,), (6 * 3) ** -0.5))
    # block 1o: rows 0e, 1o (×1), 1e (×1/√2), fan-in 8
    assert torch.allclose(scale[6:12], torch.full((6,), 8**-0.5))
    assert torch.allclose(scale[12:14], torch.full((2,), (8 * 2) ** -0.5))
    assert scale.numel() == tp.weight_numel and "weight_scale" not in tp.state_dict()


SH2 = "1x0e + 1x1o + 1x2e"
E3NN = [  # e3nn products against l ≤ 2 harmonics, as the v1.0 and confidence layers use them
    ("6x0e + 2x1o", "4x0e + 2x1o + 2x1e"),
    ("6x0e + 2x1o + 2x1e + 6x0o", "6x0e + 2x1o + 2x1e + 6x0o"),
    ("6x0e + 2x1o + 2x2e", "2x1o + 2x1e"),
]
DEGREES = {"uniform": [9] * 12, "varied": [3, 29, 7, 14, 1, 22, 9, 17, 5, 26, 11, 2, 19], "sparse": [1, 2] * 10}


def _product(kind: str, irreps_in: str, irreps_out: str) -> tuple[torch.nn.Module, str]:
    if kind == "faster":
        return FasterTensorProduct(irreps_in, SH, irreps_out), SH
    return o3.FullyConnectedTensorProduct(irreps_in, SH2, irreps_out, shared_weights=False), SH2


@pytest.mark.parametrize(("kind", "irreps_in", "irreps_out"),
                         [("faster", *pair) for pair in IRREPS] + [("e3nn", *pair) for pair in E3NN])
@pytest.mark.parametrize("degrees", list(DEGREES))
def test_aggregated_messages_equal_the_literal_computation(kind: str, irreps_in: str, irreps_out: str, degrees: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # "uniform" and "varied" take the per-sender path (without and with padding), "sparse" (one or
    # two edges per sender) the per-edge one; a small byte budget forces many chunks.
    monkeypatch.setattr(edge_messages, "EDGE_CHUNK_BYTES", 40_000)
    g = torch.Generator().manual_seed(1)
    index, _ = _graph(2, n_nodes=40, n_receivers=25, degrees=DEGREES[degrees])
    tp, sh_irreps = _product(kind, irreps_in, irreps_out)
    fc = mlp(12, 10, tp.weight_numel, 0.0).eval()
    e = index.shape[1]
    x = torch.randn(40, o3.Irreps(irreps_in).dim, generator=g)
    attr = torch.randn(e, 12, generator=g)
    sh = o3.spherical_harmonics(sh_irreps, torch.randn(e, 3, generator=g), normalize=True, normalization="component")
    sh[:, 0] = 0.5 + torch.rand(e, generator=g)  # a general Y0 as well
    out_dim = o3.Irreps(irreps_out).dim
    with torch.no_grad():
        got = aggregate_messages(tp, [fc], [0, e], attr, x, index, sh, 25, out_dim)
        want = _literal_mean(tp, fc, attr, x, index, sh, 25)
    assert got.shape == want.shape and want.abs().max() > 0
    assert _close(got, want), float((got - want).abs().max())


def test_products_that_cannot_be_split_per_sender_are_recognised() -> None:
    assert sender_product(FasterTensorProduct("4x0e + 2x1o", SH, "4x0e")) is not None
    assert sender_product(o3.FullyConnectedTensorProduct("4x0e", SH2, "4x0e", shared_weights=False)) is not None
    # shared weights, or harmonics with multiplicity > 1: the per-edge path handles them
    assert sender_product(o3.FullyConnectedTensorProduct("4x0e", SH2, "4x0e")) is None
    assert sender_product(o3.FullyConnectedTensorProduct("4x0e", "2x0e", "4x0e", shared_weights=False)) is None


def test_edge_groups_use_their_own_fc() -> None:
    ir = "8x0e + 3x1o + 3x1e + 3x0o"
    conv = TensorProductConvLayer(ir, SH, ir, n_edge_features=12, hidden_features=10, faster=True, edge_groups=3,
                                  batch_norm=False, residual=False).eval()
    g = torch.Generator().manual_seed(5)
    parts = [_graph(6 + i, n_nodes=30, n_receivers=30, degrees=d)[0] for i, d in enumerate([[6] * 8, [1] * 9, [12] * 3])]
    index = torch.cat(parts, 1)
    bounds = [0, *torch.cumsum(torch.tensor([p.shape[1] for p in parts]), 0).tolist()]
    e = index.shape[1]
    x = torch.randn(30, o3.Irreps(ir).dim, generator=g)
    attr = torch.randn(e, 12, generator=g)
    sh = o3.spherical_harmonics(SH, torch.randn(e, 3, generator=g), normalize=True, normalization="component")
    with torch.no_grad():
        got = conv(x, index, attr, sh, group_bounds=bounds)
        messages = torch.cat([conv.tp(x[index[1, a:b]], sh[a:b], fc(attr[a:b]))
                              for fc, a, b in zip(conv.fc, bounds[:-1], bounds[1:], strict=True)])
        total = torch.zeros(30, messages.shape[1]).index_add_(0, index[0], messages)
        want = total / torch.bincount(index[0], minlength=30).clamp(min=1).unsqueeze(1)
    assert _close(got, want)
    with pytest.raises(AssertionError):
        conv(x, index, attr, sh)  # several groups need their bounds


def test_sender_plan_groups_edges_by_sender_in_decreasing_degree() -> None:
    senders = torch.tensor([4, 1, 4, 7, 1, 4, 9, 1, 4])
    plan = SenderPlan(senders)
    assert plan.degrees == [4, 3, 1, 1] and plan.senders.tolist() == [4, 1, 7, 9]
    sorted_senders = senders[plan.order]
    assert sorted_senders.tolist() == [4, 4, 4, 4, 1, 1, 1, 7, 9]
    assert plan.slot.tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 0]
    assert plan.sender_of_edge.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 3]
    assert plan.starts == [0, 4, 7, 8]


def test_sender_chunks_keep_to_the_budget_and_similar_degrees() -> None:
    from phonos_models.diffdock.edge_messages import PAD_RATIO, _sender_chunks

    degrees = [10, 10, 9, 6, 6, 5, 4, 4, 4, 1]
    plan = SenderPlan(torch.repeat_interleave(torch.arange(len(degrees)), torch.tensor(degrees)))
    assert plan.degrees == degrees
    chunks = _sender_chunks(plan, 9, bytes_per_sender=100, bytes_per_slot=10, budget=10_000)
    assert chunks == [(0, 3), (3, 9)]  # 10 → 6 drops by more than PAD_RATIO; 6 → 4 does not
    for first, last in chunks:
        assert degrees[last - 1] * PAD_RATIO >= degrees[first]
    tight = _sender_chunks(plan, 9, bytes_per_sender=100, bytes_per_slot=10, budget=450)
    assert all(last - first <= max(1, 450 // (100 + 10 * degrees[first])) for first, last in tight)
    assert tight[0] == (0, 2) and tight[-1][1] == 9 and all(a[1] == b[0] for a, b in zip(tight[:-1], tight[1:], strict=True))
