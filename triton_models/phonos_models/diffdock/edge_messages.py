"""Per-edge tensor-product messages: the kernel that takes most of DiffDock's time (notes §3.3).

Every convolution computes, for each edge e, weights w_e = FC(edge features) ([E, weight_numel]:
1660 numbers per edge for a DiffDock-S layer) and the message TP(h[sender], SH(edge), w_e), then
averages the messages per receiver. The reference materialises w_e for every edge; here:

* **Bias folded into the product.** FC's last Linear is evaluated as [hidden, 1] @ [Aᵀ; b]: the bias
  is one more row of the matrix product instead of a broadcast copy into the [E, weight_numel] output.
* **Constants folded into the weights.** FasterTensorProduct's normalisations (1/√fan-in of each
  output block, 1/√3 of a dot product, 1/√2 of a cross product) are per-weight constants; they scale
  the columns of that [Aᵀ; b] matrix (hidden × weight_numel numbers) instead of every edge's product.
* **Weights contracted per sender.** The message is linear in w_e = h_e @ M (h_e: the FC's last
  hidden layer) and bilinear in (sender features, harmonics), for FasterTensorProduct and for e3nn's
  products against harmonics alike (sender_paths.py). So M is contracted with each *sender's*
  features once and each edge only multiplies its hidden vector into its sender's products: ~6×
  fewer multiply-adds than expanding w_e for DiffDock's graphs, whose senders have 8–120 edges
  each. Edges are regrouped by sender (senders in decreasing degree, padded to the chunk's largest).
* **Per-edge fallback.** Groups whose senders have few edges (e.g. one ligand atom → its complex)
  expand w_e in chunks; FasterTensorProduct then uses one batched matmul per output type (`contract`).
* **Bounded memory.** Every chunk's temporaries stay within a byte budget (`chunk_bytes`: 16 MB on
  CPU, 256 MB on a GPU, where kernel launches rather than caches set the size), so memory does not
  grow with the graph: chunks of senders (per-sender path) or of edges (per-edge path).

All of this changes only the order of floating-point operations; results equal the literal
definition within float32 rounding (tests/diffdock/test_edge_messages.py).
"""

from __future__ import annotations

import bisect
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from e3nn import o3
from torch import Tensor, nn
from torch.nn import functional as F

from .sender_paths import Block, Path, SenderProduct, from_e3nn, levi_civita

# Byte budget of one chunk's largest temporaries (per-edge weights, or per-sender products). On CPU,
# chunks much smaller than this pay Python overhead per chunk and much larger ones leave the caches
# and make the allocator hand out fresh pages; on a GPU larger chunks only mean fewer launches.
EDGE_CHUNK_BYTES = 1 << 24
GPU_CHUNK_BYTES = 1 << 28


def chunk_bytes(device: torch.device) -> int:
    """The chunk budget for tensors on `device`."""
    return EDGE_CHUNK_BYTES if device.type == "cpu" else GPU_CHUNK_BYTES

_PARITY_TYPES = ("0e", "1o", "1e", "0o")
_INV_SQRT2, _INV_SQRT3 = 1.0 / math.sqrt(2.0), 1.0 / math.sqrt(3.0)


class FasterTensorProduct(nn.Module):
    """Weighted tensor product of features in {0e, 1o, 1e, 0o} with l ≤ 1 spherical harmonics.

    Parameter-free (weights come per edge). Equivalent to the reference's custom sh_lmax=1 product
    (notes §3.3): for each output type the parity-allowed products with Y0/Y1 are collected —
    0e ← {0e·Y0, 1o·Y1/√3}; 1o ← {0e⊗Y1, 1o·Y0, 1e×Y1/√2}; 1e ← {1o×Y1/√2, 1e·Y0, 0o⊗Y1};
    0o ← {1e·Y1/√3, 0o·Y0} — and mixed by a per-edge [in, out] matrix scaled by 1/√in. Per-edge
    weights are laid out 0e, 1o, 1e, 0o, each block [in, out] row-major.
    """

    def __init__(self, in_irreps: str | o3.Irreps, sh_irreps: str | o3.Irreps, out_irreps: str | o3.Irreps) -> None:
        super().__init__()
        if o3.Irreps(sh_irreps) != o3.Irreps("1x0e+1x1o"):
            raise ValueError("FasterTensorProduct needs l ≤ 1 spherical harmonics (0e + 1o)")
        self.in_irreps, self.out_irreps = o3.Irreps(in_irreps), o3.Irreps(out_irreps)
        self.irreps_out = self.out_irreps  # e3nn-compatible attribute
        self.in_mul = dict.fromkeys(_PARITY_TYPES, 0)
        self.out_mul = dict.fromkeys(_PARITY_TYPES, 0)
        for mul, ir in self.in_irreps:
            self.in_mul[str(ir)] = mul
        for mul, ir in self.out_irreps:
            self.out_mul[str(ir)] = mul
        m = self.in_mul
        # Candidate rows of each output block, in weight-row order: (input type, constant factor).
        self.candidates: dict[str, list[tuple[str, float]]] = {
            "0e": [("0e", 1.0), ("1o", _INV_SQRT3)],
            "1o": [("0e", 1.0), ("1o", 1.0), ("1e", _INV_SQRT2)],
            "1e": [("1o", _INV_SQRT2), ("1e", 1.0), ("0o", 1.0)],
            "0o": [("1e", _INV_SQRT3), ("0o", 1.0)],
        }
        self.block_in = {k: sum(m[src] for src, _ in rows) for k, rows in self.candidates.items()}
        self.weight_numel = sum(self.block_in[k] * self.out_mul[k] for k in _PARITY_TYPES)
        # Not in the state_dict (the reference's product has no buffers): derived constants only.
        self.weight_scale: Tensor
        self.register_buffer("weight_scale", self._weight_scale(), persistent=False)

    def _weight_scale(self) -> Tensor:
        """[weight_numel]: the constant each per-edge weight is multiplied by in the product."""
        parts = []
        for key in _PARITY_TYPES:
            n_in, n_out = self.block_in[key], self.out_mul[key]
            if not n_in or not n_out:
                continue
            rows = torch.cat([torch.full((self.in_mul[src],), c, dtype=torch.float64) for src, c in self.candidates[key]])
            parts.append((rows / math.sqrt(n_in)).repeat_interleave(n_out))
        return torch.cat(parts).float() if parts else torch.zeros(0)

    def forward(self, x: Tensor, sh: Tensor, weight: Tensor) -> Tensor:
        """x [E, in_dim], sh [E, 4] (Y0, Y1), weight [E, weight_numel] → [E, out_dim]."""
        return self.contract(x, sh, weight * self.weight_scale)

    def contract(self, x: Tensor, sh: Tensor, scaled_weight: Tensor) -> Tensor:
        """The product with weights already multiplied by `weight_scale` (see `edge_weights`)."""
        e = x.shape[0]
        y0, y1 = sh[:, 0:1], sh[:, 1:4]
        y1r = y1.unsqueeze(1)  # [E, 1, 3]
        xy0 = x * y0  # every input's ·Y0 candidate at once
        plain: dict[str, Tensor] = {}  # the input blocks: scalars [E, m], vectors [E, m, 3]
        scaled: dict[str, Tensor] = {}  # the same times Y0
        for (mul, ir), sl in zip(self.in_irreps, self.in_irreps.slices(), strict=True):
            key, shape = str(ir), ((e, mul, 3) if ir.l == 1 else (e, mul))
            plain[key], scaled[key] = x[:, sl].reshape(shape), xy0[:, sl].reshape(shape)

        def dot(key: str) -> Tensor:  # [E, m]
            return torch.bmm(plain[key], y1.unsqueeze(2)).squeeze(2)

        def cross(key: str) -> Tensor:  # [E, m, 3]
            u = plain[key]
            return torch.linalg.cross(u, y1r.expand_as(u), dim=-1)

        def outer(key: str) -> Tensor:  # scalar ⊗ Y1: [E, m, 3]
            return plain[key].unsqueeze(2) * y1r

        # Candidate of (output type, input type); the constant factors live in weight_scale.
        make = {
            ("0e", "0e"): lambda: scaled["0e"], ("0e", "1o"): lambda: dot("1o"),
            ("1o", "0e"): lambda: outer("0e"), ("1o", "1o"): lambda: scaled["1o"], ("1o", "1e"): lambda: cross("1e"),
            ("1e", "1o"): lambda: cross("1o"), ("1e", "1e"): lambda: scaled["1e"], ("1e", "0o"): lambda: outer("0o"),
            ("0o", "1e"): lambda: dot("1e"), ("0o", "0o"): lambda: scaled["0o"],
        }  # fmt: skip
        out: dict[str, Tensor] = {}
        start = 0
        for key in _PARITY_TYPES:
            n_in, n_out = self.block_in[key], self.out_mul[key]
            vector = key in ("1o", "1e")
            if not n_out:
                continue
            if not n_in:  # no input can reach this output type
                out[key] = x.new_zeros(e, n_out * (3 if vector else 1))
                continue
            w = scaled_weight[:, start : start + n_in * n_out].view(e, n_in, n_out)  # a view, never a copy
            start += n_in * n_out
            parts = [make[(key, src)]() for src, _ in self.candidates[key] if self.in_mul[src]]
            cand = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
            if vector:  # Σ_i w[i, o] · cand[i, :]
                out[key] = torch.bmm(w.transpose(1, 2), cand).reshape(e, n_out * 3)
            else:
                out[key] = torch.bmm(cand.unsqueeze(1), w).squeeze(1)
        return torch.cat([out[str(ir)] for _, ir in self.out_irreps], dim=-1)


    # --- the same product as coupling paths, for the per-sender contraction (sender_paths.py) -----
    def sender_product(self) -> SenderProduct:
        """The product as paths x[u, c] ⊗ sh[j] → out[w, k]; the constant factors stay in weight_scale."""
        eye = torch.eye(3)
        y0, y1 = slice(0, 1), slice(1, 4)
        kinds = {  # (output is a vector, input is a vector) → (harmonics, coupling)
            (False, False): (y0, torch.ones(1, 1, 1)),  # scalar · Y0
            (False, True): (y1, eye.view(3, 3, 1)),  # vector · Y1
            (True, False): (y1, eye.view(1, 3, 3)),  # scalar ⊗ Y1
        }
        ins = {str(ir): i for i, (_, ir) in enumerate(self.in_irreps)}
        outs = {str(ir): sl for (_, ir), sl in zip(self.out_irreps, self.out_irreps.slices(), strict=True)}
        blocks = [Block(sl, mul, ir.dim) for (mul, ir), sl in zip(self.in_irreps, self.in_irreps.slices(), strict=True)]
        paths, start = [], 0
        for key in _PARITY_TYPES:
            n_out, row = self.out_mul[key], 0
            for src, _ in self.candidates[key]:
                if self.in_mul[src] and n_out:
                    vec_out, vec_in = key in ("1o", "1e"), src in ("1o", "1e")
                    if vec_out and vec_in:  # vector · Y0 (same type) or vector × Y1
                        sh, coupling = (y0, eye.view(3, 1, 3)) if src == key else (y1, levi_civita().permute(1, 2, 0))
                    else:
                        sh, coupling = kinds[(vec_out, vec_in)]
                    paths.append(Path(ins[src], sh, outs[key], n_out, coupling, start + row * n_out, n_out))
                row += self.in_mul[src]
            start += self.block_in[key] * n_out
        return SenderProduct(blocks, paths, self.out_irreps.dim)


def edge_weights(fc: nn.Module, edge_attr: Tensor, scale: Tensor | None = None) -> tuple[nn.Module, Tensor]:
    """Split FC = (body, last Linear) for chunked use: returns (body, [hidden + 1, numel] matrix).

    The matrix is [Aᵀ; b] of the last Linear with its columns multiplied by `scale`, so that
    `pad(body(attr), (0, 1), value=1) @ matrix` equals `FC(attr) * scale` with the bias added inside
    the matrix product (no broadcast copy of the bias into the [E, numel] result).
    """
    if not isinstance(fc, nn.Sequential) or not isinstance(fc[-1], nn.Linear) or fc[-1].bias is None:
        raise TypeError("edge_weights needs an MLP whose last layer is a Linear with bias")
    last = fc[-1]
    matrix = torch.cat([last.weight.t(), last.bias.unsqueeze(0)], 0).to(edge_attr.dtype)
    if scale is not None:
        matrix = matrix * scale.to(matrix.dtype)
    return fc[:-1], matrix


class SenderPlan:
    """Edges [lo, hi) of one edge group regrouped by sender, senders in decreasing degree.

    `order` permutes the group's edges so that each sender's edges are contiguous; `slot` is an
    edge's position within its sender's run; `starts[j]` is the first (sorted) edge of sender j
    and `degrees[j]` its number of edges (non-increasing).
    """

    def __init__(self, senders: Tensor) -> None:
        unique, inverse, counts = torch.unique(senders, return_inverse=True, return_counts=True)
        by_degree = torch.argsort(counts, descending=True, stable=True)
        rank = torch.empty_like(by_degree)
        rank[by_degree] = torch.arange(by_degree.numel(), device=senders.device)
        edge_rank = rank[inverse]
        self.order = torch.argsort(edge_rank, stable=True)
        self.senders = unique[by_degree]  # [S] node index of each sender
        degrees = counts[by_degree]
        starts = torch.cumsum(degrees, 0) - degrees
        self.sender_of_edge = edge_rank[self.order]  # [E] sender rank of each sorted edge
        self.slot = torch.arange(senders.numel(), device=senders.device) - starts[self.sender_of_edge]
        self.degrees: list[int] = degrees.tolist()
        self.starts: list[int] = starts.tolist()


def _sender_chunks(plan: SenderPlan, senders: int, bytes_per_sender: int, bytes_per_slot: int,
                   budget: int) -> list[tuple[int, int]]:
    """Consecutive ranges of the first `senders` senders (decreasing degree) whose products and
    padded edge block fit `budget` bytes, and whose degrees are within PAD_RATIO of the first's."""
    descending = [-d for d in plan.degrees]  # ascending, for bisect
    chunks, first = [], 0
    while first < senders:
        pad = plan.degrees[first]  # the first sender sets the chunk's padded degree
        fits = first + max(1, budget // (bytes_per_sender + bytes_per_slot * pad))
        similar = bisect.bisect_right(descending, -pad / PAD_RATIO, lo=first)  # first degree < pad / PAD_RATIO
        last = min(senders, fits, max(similar, first + 1))
        chunks.append((first, last))
        first = last
    return chunks


@dataclass(frozen=True)
class EdgeGroup:
    """The edges of one group, with the FC that weights them split as in `edge_weights`."""

    body: nn.Module  # FC without its last Linear
    matrix: Tensor  # [K, weight_numel] = [Aᵀ; b] of the last Linear (times weight_scale)
    edge_attr: Tensor  # [E, F]
    receivers: Tensor  # [E] row 0 of the edge index
    senders: Tensor  # [E] row 1
    edge_sh: Tensor  # [E, sh]

    def subset(self, edges: Tensor) -> EdgeGroup:
        return EdgeGroup(self.body, self.matrix, self.edge_attr[edges], self.receivers[edges], self.senders[edges],
                         self.edge_sh[edges])

    def hidden(self, edges: Tensor | slice) -> Tensor:
        """[n, K]: the FC body's output for some edges, with the trailing 1 that picks up the bias."""
        return F.pad(self.body(self.edge_attr[edges]), (0, 1), value=1.0)


def _factored_group(product: SenderProduct, group: EdgeGroup, plan: SenderPlan, senders: int,
                    node_attr: Tensor, total: Tensor) -> None:
    """Add the messages of the first `senders` senders of `plan` to `total`, contracting the
    weights per sender.

    TP(x_s, sh_e, h_e @ M) is linear in h_e @ M, so the [K, weight_numel] matrix M can be
    contracted with each *sender's* features once (sender_paths.SenderProduct) instead of being
    expanded into per-edge weights: ~6× fewer multiply-adds for DiffDock's graphs, whose senders
    have 8–120 edges each.
    """
    prepared = product.prepare(group.matrix)
    k = group.matrix.shape[0]
    item = total.element_size()
    columns = sum(block.dim * width for block, width in zip(product.blocks, prepared.widths, strict=True))
    per_sender = k * columns * item  # the sender's products with M: K·Σw per input component
    per_slot = (k + 2 * columns + total.shape[1]) * item  # hidden vector, products, message
    for first, last in _sender_chunks(plan, senders, per_sender, per_slot, chunk_bytes(total.device)):
        lo = plan.starts[first]
        hi = plan.starts[last - 1] + plan.degrees[last - 1]
        edges = plan.order[lo:hi]
        hidden = group.hidden(edges)
        n, pad = last - first, plan.degrees[first]
        rows: Tensor | None = None
        slots: Tensor | None = None
        if plan.degrees[last - 1] == pad:  # every sender in the chunk has the same degree: no padding
            padded = hidden.view(n, pad, k)
        else:
            rows, slots = plan.sender_of_edge[lo:hi] - first, plan.slot[lo:hi]
            padded = hidden.new_zeros(n, pad, k)
            padded[rows, slots] = hidden
        x = node_attr[plan.senders[first:last]]
        msg = product.messages(x, prepared, padded, group.edge_sh[edges], rows, slots)
        total.index_add_(0, group.receivers[edges], msg)


_PRODUCTS: weakref.WeakKeyDictionary[nn.Module, SenderProduct | None] = weakref.WeakKeyDictionary()


def sender_product(tp: nn.Module) -> SenderProduct | None:
    """The product's coupling paths (cached per module), or None if it cannot be contracted per sender."""
    if tp not in _PRODUCTS:
        if isinstance(tp, FasterTensorProduct):
            _PRODUCTS[tp] = tp.sender_product()
        elif isinstance(tp, o3.TensorProduct):
            _PRODUCTS[tp] = from_e3nn(tp)
        else:
            _PRODUCTS[tp] = None
    return _PRODUCTS[tp]


# Senders with fewer edges than this go through per-edge weights: contracting M with their
# features would cost more than it saves.
MIN_DEGREE = 4
# A chunk of senders is padded to its first (largest) degree; it stops before a sender whose
# degree is smaller by more than this factor, so padding wastes at most ~1/3 of a chunk.
PAD_RATIO = 1.5


def aggregate_messages(
    tp: nn.Module,
    fcs: Sequence[nn.Module],
    group_bounds: Sequence[int],
    edge_attr: Tensor,
    node_attr: Tensor,
    edge_index: Tensor,
    edge_sh: Tensor,
    n_out: int,
    out_dim: int,
) -> Tensor:
    """Mean over incoming edges of TP(h[sender], SH, FC_g(edge_attr)), computed in chunks.

    `fcs[g]` produces the weights of edges group_bounds[g]:group_bounds[g+1] (edge order = group
    order). Receivers with no edges get 0 (torch-scatter's mean).
    """
    faster = tp if isinstance(tp, FasterTensorProduct) else None
    total = node_attr.new_zeros(n_out, out_dim)
    for g, fc in enumerate(fcs):  # chunks never straddle a group border
        lo, hi = group_bounds[g], group_bounds[g + 1]
        if hi == lo:
            continue
        body, matrix = edge_weights(fc, edge_attr, faster.weight_scale if faster is not None else None)
        group = EdgeGroup(body, matrix, edge_attr[lo:hi], edge_index[0, lo:hi], edge_index[1, lo:hi], edge_sh[lo:hi])
        product = sender_product(tp)
        if product is None:
            _per_edge_group(tp, group, node_attr, total)
            continue
        plan = SenderPlan(group.senders)
        factored = sum(d >= MIN_DEGREE for d in plan.degrees)  # degrees decrease: these come first
        _factored_group(product, group, plan, factored, node_attr, total)
        if factored < len(plan.degrees):  # the rest, one or a few edges each
            _per_edge_group(tp, group.subset(plan.order[plan.starts[factored]:]), node_attr, total)
    count = torch.bincount(edge_index[0], minlength=n_out).clamp(min=1).to(total.dtype)
    return total / count.unsqueeze(1)


def _per_edge_group(tp: nn.Module, group: EdgeGroup, node_attr: Tensor, total: Tensor) -> None:
    """Add the messages of one edge group to `total`, expanding per-edge weights chunk by chunk."""
    chunk = max(1, chunk_bytes(total.device) // max(1, group.matrix.shape[1] * group.matrix.element_size()))
    for start in range(0, group.senders.shape[0], chunk):
        edges = slice(start, start + chunk)
        weight = torch.mm(group.hidden(edges), group.matrix)
        x, sh = node_attr[group.senders[edges]], group.edge_sh[edges]
        msg = tp.contract(x, sh, weight) if isinstance(tp, FasterTensorProduct) else tp(x, sh, weight)
        total.index_add_(0, group.receivers[edges], msg)


__all__ = ["EDGE_CHUNK_BYTES", "GPU_CHUNK_BYTES", "FasterTensorProduct", "aggregate_messages", "chunk_bytes", "edge_weights"]
