"""Radius / kNN graphs and scatter reductions in plain PyTorch (no torch-cluster, no torch-scatter).

Index conventions follow torch-cluster, because the DiffDock networks depend on them
(shared/notes/diffdock.md §3.2): for `radius(x, y, ...)` row 0 indexes `y` (the query, which
*receives* messages) and row 1 indexes `x`; for `radius_graph` / `knn_graph` row 0 is the
neighbour j and row 1 the centre i (torch-cluster's `flow="source_to_target"`).

All functions work per complex: `batch` vectors must be sorted (nodes of complex 0 first, ...),
which `data.collate` guarantees. Work is O(Σ_b n_b·m_b), never O(N·M) over the whole batch.

Truncation rule (`max_num_neighbors`): when more points than allowed are in range, we keep the
ones with the **lowest index**, which is what torch-cluster's CUDA kernels do (the code path the
released models were trained with); torch-cluster's CPU kd-tree keeps an arbitrary subset.
"""

from __future__ import annotations

import torch
from torch import Tensor


def scatter_sum(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """out[i] = Σ_{e: index[e]=i} src[e]; src [E, ...] → [dim_size, ...]."""
    out = torch.zeros((dim_size, *src.shape[1:]), dtype=src.dtype, device=src.device)
    return out.index_add_(0, index, src)


def scatter_mean(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Mean of src rows per index; rows with no entries are 0 (torch-scatter semantics)."""
    total = scatter_sum(src, index, dim_size)
    count = torch.zeros(dim_size, dtype=src.dtype, device=src.device)
    count.index_add_(0, index, torch.ones_like(index, dtype=src.dtype))
    return total / count.clamp(min=1).view(-1, *([1] * (src.dim() - 1)))


def _ptr(batch: Tensor, num_graphs: int) -> list[int]:
    counts = torch.bincount(batch, minlength=num_graphs)
    return [0, *torch.cumsum(counts, 0).tolist()]


def _num_graphs(*batches: Tensor) -> int:
    sizes = [int(b.max()) + 1 for b in batches if b.numel() > 0]
    return max(sizes, default=0)


def _pairwise(a: Tensor, b: Tensor) -> Tensor:
    # Exact differences, not the matmul expansion: cut-offs must be decided the same way on any device.
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _first_k(mask: Tensor, k: int) -> Tensor:
    """Keep at most k True entries per row, the lowest column indices first."""
    return mask & (torch.cumsum(mask.to(torch.int32), dim=1) <= k)


def radius(
    x: Tensor,
    y: Tensor,
    r: float | Tensor,
    batch_x: Tensor,
    batch_y: Tensor,
    max_num_neighbors: int = 32,
) -> Tensor:
    """Pairs (i in y, j in x) of the same complex with ‖x_j − y_i‖ < r.

    `r` is a float or a per-complex tensor [B] (the score model's time-dependent cross cut-off).
    Returns [2, E] int64: row 0 = index into y, row 1 = index into x.
    """
    num_graphs = _num_graphs(batch_x, batch_y)
    px, py = _ptr(batch_x, num_graphs), _ptr(batch_y, num_graphs)
    radii = r.tolist() if isinstance(r, Tensor) else [float(r)] * num_graphs
    rows, cols = [], []
    for b in range(num_graphs):
        xs, ys = x[px[b] : px[b + 1]], y[py[b] : py[b + 1]]
        if xs.shape[0] == 0 or ys.shape[0] == 0:
            continue
        mask = _first_k(_pairwise(ys, xs) < radii[b], max_num_neighbors)
        i, j = mask.nonzero(as_tuple=True)
        rows.append(i + py[b])
        cols.append(j + px[b])
    return _stack(rows, cols, x.device)


def radius_graph(x: Tensor, r: float, batch: Tensor, max_num_neighbors: int = 32) -> Tensor:
    """Edges j→i between distinct nodes of the same complex closer than r (no self loops).

    Returns [2, E]: row 0 = neighbour j, row 1 = centre i; at most `max_num_neighbors` per centre.
    """
    num_graphs = _num_graphs(batch)
    ptr = _ptr(batch, num_graphs)
    rows, cols = [], []
    for b in range(num_graphs):
        xs = x[ptr[b] : ptr[b + 1]]
        d = _pairwise(xs, xs)
        d.fill_diagonal_(float("inf"))
        mask = _first_k(d < r, max_num_neighbors)  # [centre, neighbour]
        i, j = mask.nonzero(as_tuple=True)
        rows.append(j + ptr[b])
        cols.append(i + ptr[b])
    return _stack(rows, cols, x.device)


def knn_graph(x: Tensor, k: int, batch: Tensor) -> Tensor:
    """Each node i gets edges from its k nearest other nodes j of the same complex.

    Returns [2, E]: row 0 = neighbour j, row 1 = centre i (directed: j need not have i among its k).
    The nearest-capped radius graph with no radius: per centre, neighbours nearest first.
    """
    return radius_graph_nearest(x, float("inf"), batch, k)


def radius_graph_nearest(x: Tensor, r: float, batch: Tensor, max_num_neighbors: int) -> Tensor:
    """DiffDock's receptor preprocessing graph (non-kNN mode, notes §3.2, §11.7).

    Neighbours within r (strict), capped at the `max_num_neighbors` **nearest**, and a node with
    none gets its single nearest neighbour. Returns [2, E]: row 0 = neighbour, row 1 = centre.
    """
    num_graphs = _num_graphs(batch)
    ptr = _ptr(batch, num_graphs)
    rows, cols = [], []
    for b in range(num_graphs):
        xs = x[ptr[b] : ptr[b + 1]]
        n = xs.shape[0]
        kk = min(max_num_neighbors, n - 1)
        if kk <= 0:
            continue
        d = _pairwise(xs, xs)
        d.fill_diagonal_(float("inf"))
        near_d, near_j = torch.topk(d, kk, dim=1, largest=False)  # sorted nearest first
        keep = near_d < r
        keep[:, 0] = True  # isolated node: fall back to its nearest neighbour
        i, slot = keep.nonzero(as_tuple=True)
        rows.append(near_j[i, slot] + ptr[b])
        cols.append(i + ptr[b])
    return _stack(rows, cols, x.device)


def subgraph(edge_index: Tensor, keep: Tensor) -> Tensor:
    """Edges whose two ends are both kept, renumbered to the kept nodes (torch_geometric's
    `subgraph(..., relabel_nodes=True)`, which the reference's crop_beyond uses). keep: [n] bool."""
    remap = torch.cumsum(keep.long(), 0) - 1
    both = keep[edge_index[0]] & keep[edge_index[1]]
    return remap[edge_index[:, both]]


def _stack(rows: list[Tensor], cols: list[Tensor], device: torch.device) -> Tensor:
    if not rows:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    return torch.stack([torch.cat(rows), torch.cat(cols)]).long()
