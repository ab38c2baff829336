"""Geometric graphs the DiffDock networks run on, built from a `ComplexBatch` (notes §3.2, §3.5).

The reference builds the receptor graphs once in preprocessing and the ligand/cross graphs in every
forward pass; here the networks build all of them from positions, and the receptor-only graphs are
cached on the batch (receptors do not move during sampling).

Edge direction everywhere: row 0 receives the message, row 1 sends it, and the edge vector used
for spherical harmonics is pos[row 1] − pos[row 0].
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from e3nn import o3
from torch import Tensor

from . import graph_ops
from .data import ComplexBatch, ComplexGraph

# Cross (ligand↔receptor) edges: the reference allows up to 10000 neighbours, i.e. no truncation.
CROSS_MAX_NEIGHBORS = 10000
# Ligand radius graph and torsion-bond neighbourhoods: torch-cluster's default cap.
LIGAND_MAX_NEIGHBORS = 32


def spherical_harmonics(lmax_or_irreps: int | str | o3.Irreps, vec: Tensor) -> Tensor:
    """e3nn SH of edge vectors, normalised directions, 'component' normalisation (l=1 ∝ (x, y, z))."""
    irreps = o3.Irreps.spherical_harmonics(lmax_or_irreps) if isinstance(lmax_or_irreps, int) else lmax_or_irreps
    return o3.spherical_harmonics(irreps, vec, normalize=True, normalization="component")


def ligand_edges(batch: ComplexBatch, max_radius: float) -> tuple[Tensor, Tensor]:
    """Bond edges followed by the radius graph (duplicates kept, as in the reference).

    Returns (edge_index [2, E], bond one-hot [E, 4]: zeros for radius edges)."""
    radius_edges = graph_ops.radius_graph(batch.lig_pos, max_radius, batch.lig_batch, LIGAND_MAX_NEIGHBORS)
    edge_index = torch.cat([batch.lig_bond_index, radius_edges], dim=1)
    bond_attr = torch.cat(
        [batch.lig_bond_attr, batch.lig_bond_attr.new_zeros(radius_edges.shape[1], batch.lig_bond_attr.shape[1])]
    )
    return edge_index, bond_attr


@dataclass(frozen=True)
class GraphMode:
    """How the receptor-side graphs are built (a property of the score yml, notes pitfall 7)."""

    knn_only: bool  # True: pure kNN graphs; False: radius graphs capped at the nearest
    residue_radius: float  # Å
    residue_max_neighbors: int
    atom_radius: float  # Å
    atom_max_neighbors: int


def receptor_edges(batch: ComplexBatch, mode: GraphMode) -> Tensor:
    """Residue graph [2, E] (row 0 = neighbour, row 1 = centre), cached on the batch."""
    if batch.rec_edge_index is not None:
        return batch.rec_edge_index
    return _cached_graph(batch, "rec_edges", batch.rec_pos, batch.rec_batch, mode.knn_only,
                         mode.residue_radius, mode.residue_max_neighbors)


def atom_edges(batch: ComplexBatch, mode: GraphMode) -> Tensor:
    """Receptor heavy-atom graph [2, E] (row 0 = neighbour, row 1 = centre), cached on the batch."""
    if batch.atom_edge_index is not None:
        return batch.atom_edge_index
    return _cached_graph(batch, "atom_edges", batch.atom_pos, batch.atom_batch, mode.knn_only,
                         mode.atom_radius, mode.atom_max_neighbors)


def _cached_graph(batch: ComplexBatch, name: str, pos: Tensor, index: Tensor, knn_only: bool,
                  radius: float, max_neighbors: int) -> Tensor:
    """A kNN graph, or a radius graph capped at the nearest, built once per batch and cached on it."""
    key = (name, knn_only, radius, max_neighbors)
    if key not in batch.cache:
        if knn_only:
            batch.cache[key] = graph_ops.knn_graph(pos, max_neighbors, index)
        else:
            batch.cache[key] = graph_ops.radius_graph_nearest(pos, radius, index, max_neighbors)
    return batch.cache[key]


def with_receptor_graphs(graph: ComplexGraph, mode: GraphMode) -> ComplexGraph:
    """The complex with its residue (and, if it has atoms, atom) graphs precomputed on the full
    receptor; crop afterwards with `graph_ops.subgraph` to reproduce the reference's crop_beyond."""
    from .data import collate

    batch = collate([graph])
    atoms = atom_edges(batch, mode) if graph.atom_pos.shape[0] else graph.atom_res.new_zeros(2, 0)
    return replace(graph, rec_edge_index=receptor_edges(batch, mode), atom_edge_index=atoms)


def atom_residue_edges(batch: ComplexBatch) -> Tensor:
    """Membership edges [2, A]: row 0 = atom, row 1 = its residue."""
    atoms = torch.arange(batch.atom_pos.shape[0], device=batch.atom_pos.device)
    return torch.stack([atoms, batch.atom_res])


def cross_edges(batch: ComplexBatch, cutoff: float | Tensor) -> Tensor:
    """Ligand atom ← residue pairs within the (per-complex) cut-off: row 0 = ligand, row 1 = residue.

    Like the reference, a per-complex cut-off c is applied as ‖x/c − y/c‖ < 1."""
    if isinstance(cutoff, Tensor):
        scale_rec = cutoff[batch.rec_batch].unsqueeze(1)
        scale_lig = cutoff[batch.lig_batch].unsqueeze(1)
        return graph_ops.radius(
            batch.rec_pos / scale_rec, batch.lig_pos / scale_lig, 1.0, batch.rec_batch, batch.lig_batch,
            CROSS_MAX_NEIGHBORS,
        )
    return graph_ops.radius(batch.rec_pos, batch.lig_pos, cutoff, batch.rec_batch, batch.lig_batch, CROSS_MAX_NEIGHBORS)


def ligand_atom_edges(batch: ComplexBatch, radius: float) -> Tensor:
    """Ligand atom ← receptor atom pairs within `radius`: row 0 = ligand atom, row 1 = receptor atom."""
    return graph_ops.radius(
        batch.atom_pos, batch.lig_pos, radius, batch.atom_batch, batch.lig_batch, CROSS_MAX_NEIGHBORS
    )


def center_edges(batch: ComplexBatch) -> tuple[Tensor, Tensor]:
    """One edge per ligand atom into its complex: ([2, N] with row 0 = complex, row 1 = atom,
    vectors atom − ligand centroid [N, 3])."""
    n = batch.lig_pos.shape[0]
    centroid = graph_ops.scatter_mean(batch.lig_pos, batch.lig_batch, batch.num_graphs)
    edge_index = torch.stack([batch.lig_batch, torch.arange(n, device=batch.lig_pos.device)])
    return edge_index, batch.lig_pos - centroid[batch.lig_batch]


def bond_edges(batch: ComplexBatch, radius: float) -> tuple[Tensor, Tensor]:
    """Ligand atoms around each rotatable bond's midpoint: ([2, E] row 0 = torsion, row 1 = atom,
    vectors atom − midpoint [E, 3])."""
    u, v = batch.tor_index
    midpoint = (batch.lig_pos[u] + batch.lig_pos[v]) / 2
    edge_index = graph_ops.radius(
        batch.lig_pos, midpoint, radius, batch.lig_batch, batch.tor_batch, LIGAND_MAX_NEIGHBORS
    )
    return edge_index, batch.lig_pos[edge_index[1]] - midpoint[edge_index[0]]
