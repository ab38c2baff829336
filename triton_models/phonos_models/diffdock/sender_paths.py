"""Tensor products with per-edge weights, contracted per *sender* (see edge_messages.py).

Both products DiffDock convolves with — FasterTensorProduct (sh_lmax = 1) and e3nn's
FullyConnectedTensorProduct against spherical harmonics (mode 'uvw', one copy of each harmonic) —
are sums over *paths*: an input block x[u, c] (multiplicity u, components c), a harmonics block
sh[j] and an output block out[w, k] coupled by a fixed tensor C[c, j, k] and weighted per edge:

    out_e[w, k] += Σ_u Σ_cj W_e[u, w] · x_s[u, c] · sh_e[j] · C[c, j, k],   W_e = h_e @ M.

With W_e linear in the edge's hidden vector h_e (the FC's last hidden layer plus a trailing 1) the
u-sum can be taken once per sender: S_s[c, h, w] = Σ_u x_s[u, c] M[h, (u, w)] (one matrix product
per input block), then per edge V_e[c, w] = h_e · S_s[c] and out_e[w, k] += Σ_cj V_e[c, w] sh_e[j]
C[c, j, k]. An edge costs hidden × Σw × components instead of hidden × weight_numel for its
weights plus the product.

Most couplings are a multiple of δ or ε (·Y0, u·Y1, u⊗Y1, u×Y1 — all of FasterTensorProduct's,
and e3nn's Wigner-3j for l ≤ 1), applied elementwise; others (l = 2 harmonics) go through
T_e[c, k] = Σ_j sh_e[j] C[c, j, k].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from e3nn import o3
from torch import Tensor


def levi_civita() -> Tensor:
    """ε[k, i, j]: (u × y)_k = Σ ε[k, i, j] u_i y_j."""
    eps = torch.zeros(3, 3, 3)
    for k in range(3):
        eps[k, (k + 1) % 3, (k + 2) % 3], eps[k, (k + 2) % 3, (k + 1) % 3] = 1.0, -1.0
    return eps


def coupling_kind(coupling: Tensor) -> tuple[str, float]:
    """("scale" | "dot" | "outer" | "cross" | "general", a) with C = a · (δ or ε) for the first four:
    scale C[c,0,k] = a δ_ck, dot C[c,j,0] = a δ_cj, outer C[0,j,k] = a δ_jk, cross C[c,j,k] = a ε[k,c,j]."""
    d_in, d_sh, d_out = coupling.shape
    candidates: list[tuple[str, Tensor]] = []
    if d_sh == 1 and d_in == d_out:
        candidates.append(("scale", torch.eye(d_in).view(d_in, 1, d_out)))
    if d_out == 1 and d_in == d_sh:
        candidates.append(("dot", torch.eye(d_in).view(d_in, d_sh, 1)))
    if d_in == 1 and d_sh == d_out:
        candidates.append(("outer", torch.eye(d_sh).view(1, d_sh, d_out)))
    if d_in == d_sh == d_out == 3:
        candidates.append(("cross", levi_civita().permute(1, 2, 0)))
    c = coupling.double()
    for kind, pattern in candidates:
        p = pattern.double()
        a = float((c * p).sum() / (p * p).sum())
        if torch.allclose(c, a * p, rtol=0.0, atol=1e-7 * max(1.0, abs(a))):
            return kind, a
    return "general", 1.0


@dataclass(frozen=True)
class Path:
    """One weighted coupling in ⊗ sh → out, with where its weights sit in the weight vector."""

    src: int  # index of the input block in `SenderProduct.blocks`
    sh: slice  # columns of the harmonics
    out: slice  # columns of the output ([mul_w, d_out] flattened)
    mul_w: int
    coupling: Tensor  # [d_in, d_sh, d_out], path weight included
    weight_start: int  # weight index of (u, w) = weight_start + u · weight_stride + w
    weight_stride: int
    kind: str = field(init=False)
    scale: float = field(init=False)

    def __post_init__(self) -> None:
        kind, scale = coupling_kind(self.coupling)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "scale", scale)


@dataclass(frozen=True)
class Block:
    """An input irrep block: features x[:, cols] viewed [mul, dim]."""

    cols: slice
    mul: int
    dim: int


@dataclass(frozen=True)
class Prepared:
    """A weight matrix regrouped by input block (SenderProduct.prepare)."""

    weights: list[Tensor | None]  # per block: [mul, K·Σw], its paths' weights side by side per hidden unit
    widths: list[int]  # per block: Σw over its paths
    offsets: list[int]  # per path: its first column within its block's Σw


class SenderProduct:
    """The paths of one tensor product, and the sender-side contraction of a weight matrix."""

    def __init__(self, blocks: list[Block], paths: list[Path], out_dim: int) -> None:
        self.blocks, self.paths, self.out_dim = blocks, paths, out_dim
        self._general: dict[tuple[torch.dtype, torch.device], Tensor] = {}
        self._columns: dict[torch.device, tuple[list[Tensor | None], list[int], list[int]]] = {}

    def prepare(self, matrix: Tensor) -> Prepared:
        """Regroup matrix [K, weight_numel] (each hidden unit's weights) by input block: one gather
        of each block's weight columns in (u, path, w) order, then [mul_u, K·Σw]."""
        k = matrix.shape[0]
        columns, widths, offsets = self._columns_on(matrix.device)
        weights = [
            None if index is None else matrix[:, index].view(k, block.mul, -1).permute(1, 0, 2).reshape(block.mul, -1)
            for block, index in zip(self.blocks, columns, strict=True)
        ]
        return Prepared(weights, widths, offsets)

    def _columns_on(self, device: torch.device) -> tuple[list[Tensor | None], list[int], list[int]]:
        """Per block: weight-vector indices of its paths' weights in (u, path, w) order (cached)."""
        if device not in self._columns:
            per_block: list[list[Tensor]] = [[] for _ in self.blocks]
            widths = [0] * len(self.blocks)
            offsets = []
            for path in self.paths:
                u = torch.arange(self.blocks[path.src].mul)[:, None] * path.weight_stride
                per_block[path.src].append(u + path.weight_start + torch.arange(path.mul_w)[None, :])  # [mul_u, w]
                offsets.append(widths[path.src])
                widths[path.src] += path.mul_w
            columns = [torch.cat(cols, 1).reshape(-1).to(device) if cols else None for cols in per_block]
            self._columns[device] = (columns, widths, offsets)
        return self._columns[device]

    def messages(self, x: Tensor, prepared: Prepared, hidden: Tensor, sh: Tensor,
                 rows: Tensor | None, slots: Tensor | None) -> Tensor:
        """[E, out_dim]: the product for the edges of n senders.

        x [n, in_dim] sender features; hidden [n, D, K] each sender's edges' hidden vectors padded to
        D per sender; rows/slots [E] place edge e at hidden[rows[e], slots[e]] (None: no padding,
        edges in row-major order); sh [E, sh_dim] the edges' harmonics.
        """
        n, d, k = hidden.shape
        parts: list[Tensor] = []
        starts: list[int] = []
        width = 0
        for block, weights, sigma in zip(self.blocks, prepared.weights, prepared.widths, strict=True):
            starts.append(width)
            if weights is None:
                continue
            feats = x[:, block.cols].reshape(n, block.mul, block.dim).transpose(1, 2).reshape(n * block.dim, block.mul)
            per_sender = torch.mm(feats, weights).view(n, block.dim, k, sigma)  # S_s[c, h, w]
            parts += [torch.bmm(hidden, per_sender[:, c]) for c in range(block.dim)]  # strided views, no copies
            width += block.dim * sigma
        joined = torch.cat(parts, 2) if len(parts) > 1 else parts[0]  # [n, D, width]
        flat = joined.view(n * d, width) if rows is None else joined[rows, slots]
        return self._couple(flat, starts, prepared, sh)

    def _couple(self, flat: Tensor, starts: list[int], prepared: Prepared, sh: Tensor) -> Tensor:
        """Σ_cj V_e[c, w] sh_e[j] C[c, j, k] for every path, summed into the output blocks."""
        e = flat.shape[0]
        general = torch.mm(sh, self._general_on(sh)) if self._general_on(sh).shape[1] else None
        # Each output block's terms are summed in a buffer of their own (the first term is that
        # buffer) and the blocks joined once at the end: no zero-filled [E, out_dim] tensor and no
        # adds into its strided column slices. 0 + t1 + t2 == t1 + t2 exactly, so the sums are unchanged.
        sums: dict[int, Tensor] = {}
        column = 0
        for path, offset in zip(self.paths, prepared.offsets, strict=True):
            block, sigma = self.blocks[path.src], prepared.widths[path.src]
            v = flat[:, starts[path.src] : starts[path.src] + block.dim * sigma].view(e, block.dim, sigma)
            v = v[:, :, offset : offset + path.mul_w]  # V_e[c, w]
            y = sh[:, path.sh] * path.scale if path.scale != 1.0 else sh[:, path.sh]
            if path.kind == "scale":  # [E, w, c] · Y
                term = v.transpose(1, 2) * y.unsqueeze(1)
            elif path.kind == "dot":  # Σ_c V[c, w] Y_c
                term = torch.bmm(y.unsqueeze(1), v).transpose(1, 2)
            elif path.kind == "outer":  # V[0, w] Y_k
                term = v[:, 0, :, None] * y[:, None, :]
            elif path.kind == "cross":  # V[:, w] × Y
                u = v.transpose(1, 2)
                term = torch.linalg.cross(u, y.unsqueeze(1).expand_as(u), dim=-1)
            else:  # Σ_c V[c, w] T[c, k], T = Σ_j sh_j C[:, j, :]
                assert general is not None
                d_in, _, d_out = path.coupling.shape
                t = general[:, column : column + d_in * d_out].view(e, d_in, d_out)
                column += d_in * d_out
                term = v[:, 0, :, None] * t[:, 0, None, :]
                for c in range(1, d_in):
                    term.addcmul_(v[:, c, :, None], t[:, c, None, :])
            term = term.reshape(e, -1)
            if path.out.start in sums:
                sums[path.out.start] += term
            else:
                sums[path.out.start] = term
        return self._join(sums, flat)

    def _join(self, sums: dict[int, Tensor], like: Tensor) -> Tensor:
        """[E, out_dim] from the output blocks' sums keyed by first column; blocks no path reaches are 0."""
        parts, column = [], 0
        for start in sorted(sums):
            if start > column:
                parts.append(like.new_zeros(like.shape[0], start - column))
            parts.append(sums[start])
            column = start + sums[start].shape[1]
        if column < self.out_dim:
            parts.append(like.new_zeros(like.shape[0], self.out_dim - column))
        return torch.cat(parts, 1) if len(parts) > 1 else parts[0]

    def _general_on(self, like: Tensor) -> Tensor:
        """[sh_dim, Σ d_in·d_out] over the "general" paths: their couplings acting on all harmonics."""
        key = (like.dtype, like.device)
        if key not in self._general:
            blocks = [torch.zeros(like.shape[1], 0, dtype=like.dtype)]
            for path in self.paths:
                if path.kind == "general":
                    d_in, d_sh, d_out = path.coupling.shape
                    block = torch.zeros(like.shape[1], d_in * d_out, dtype=like.dtype)
                    block[path.sh] = path.coupling.permute(1, 0, 2).reshape(d_sh, d_in * d_out).to(like.dtype)
                    blocks.append(block)
            self._general[key] = torch.cat(blocks, 1).to(like.device)
        return self._general[key]


def from_e3nn(tp: o3.TensorProduct) -> SenderProduct | None:
    """The paths of an e3nn product of node features (in1) with harmonics (in2), or None when it is
    not of that form (shared or internal weights, a mode other than 'uvw', harmonics with mul > 1)."""
    if tp.shared_weights or tp.internal_weights or any(mul != 1 for mul, _ in tp.irreps_in2):
        return None
    if any(ins.connection_mode != "uvw" or not ins.has_weight for ins in tp.instructions):
        return None
    blocks = [Block(sl, mul, ir.dim) for (mul, ir), sl in zip(tp.irreps_in1, tp.irreps_in1.slices(), strict=True)]
    sh_slices, out_slices = tp.irreps_in2.slices(), tp.irreps_out.slices()
    paths, start = [], 0
    for ins in tp.instructions:
        l1, l2, lo = tp.irreps_in1[ins.i_in1].ir.l, tp.irreps_in2[ins.i_in2].ir.l, tp.irreps_out[ins.i_out].ir.l
        mul_w = ins.path_shape[2]
        coupling = o3.wigner_3j(l1, l2, lo) * ins.path_weight
        paths.append(Path(ins.i_in1, sh_slices[ins.i_in2], out_slices[ins.i_out], mul_w, coupling, start, mul_w))
        start += math.prod(ins.path_shape)
    return SenderProduct(blocks, paths, tp.irreps_out.dim)
