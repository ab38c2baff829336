"""The pure-PyTorch graph ops against brute-force definitions (what torch-cluster/torch-scatter compute)."""

from __future__ import annotations

import itertools

import pytest
import torch
from phonos_models.diffdock import graph_ops

pytestmark = pytest.mark.unit


def _points(seed: int, sizes: list[int], scale: float = 6.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(sum(sizes), 3, generator=g) * scale
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return pos, batch


def _edges(index: torch.Tensor) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in index.t().tolist()}


def test_scatter_sum_and_mean_match_loops() -> None:
    src = torch.arange(12, dtype=torch.float32).view(6, 2)
    index = torch.tensor([0, 2, 2, 0, 2, 0])
    total = graph_ops.scatter_sum(src, index, dim_size=4)
    mean = graph_ops.scatter_mean(src, index, dim_size=4)
    for i in range(4):
        rows = src[index == i]
        assert torch.equal(total[i], rows.sum(0) if len(rows) else torch.zeros(2))
        assert torch.allclose(mean[i], rows.mean(0) if len(rows) else torch.zeros(2))
    assert torch.equal(mean[1], torch.zeros(2)) and torch.equal(mean[3], torch.zeros(2))


def test_radius_graph_is_the_within_cutoff_set_per_complex() -> None:
    pos, batch = _points(0, [30, 17, 1, 25])
    got = _edges(graph_ops.radius_graph(pos, 2.5, batch, max_num_neighbors=1000))
    want = {
        (j, i)
        for i, j in itertools.permutations(range(len(pos)), 2)
        if batch[i] == batch[j] and (pos[i] - pos[j]).norm() < 2.5
    }
    assert got == want and len(want) > 50


def test_radius_graph_truncation_keeps_lowest_indices() -> None:
    pos, batch = _points(1, [40], scale=2.0)  # dense: every node has many neighbours
    index = graph_ops.radius_graph(pos, 3.0, batch, max_num_neighbors=5)
    for centre in range(40):
        nbrs = sorted(index[0, index[1] == centre].tolist())
        within = [j for j in range(40) if j != centre and (pos[j] - pos[centre]).norm() < 3.0]
        assert nbrs == within[:5]


def test_radius_between_sets_with_per_complex_cutoff() -> None:
    x, bx = _points(2, [20, 30])
    y, by = _points(3, [5, 7])
    cut = torch.tensor([2.0, 4.0])
    got = _edges(graph_ops.radius(x, y, cut, bx, by, max_num_neighbors=10000))
    want = {
        (i, j)
        for i in range(len(y))
        for j in range(len(x))
        if by[i] == bx[j] and (x[j] - y[i]).norm() < cut[by[i]]
    }
    assert got == want and len(want) > 10


def test_knn_graph_gives_k_nearest_others_as_sources() -> None:
    pos, batch = _points(4, [12, 9])
    index = graph_ops.knn_graph(pos, 4, batch)
    assert index.shape == (2, 21 * 4)
    for centre in range(len(pos)):
        nbrs = set(index[0, index[1] == centre].tolist())
        same = [j for j in range(len(pos)) if j != centre and batch[j] == batch[centre]]
        dist = sorted(same, key=lambda j: float((pos[j] - pos[centre]).norm()))
        assert nbrs == set(dist[:4])


def test_receptor_radius_rule_caps_at_nearest_and_never_isolates() -> None:
    pos, batch = _points(5, [25], scale=12.0)
    pos[0] = torch.tensor([100.0, 100.0, 100.0])  # far from everything: must still get one neighbour
    index = graph_ops.radius_graph_nearest(pos, 4.0, batch, max_num_neighbors=3)
    for centre in range(25):
        nbrs = set(index[0, index[1] == centre].tolist())
        others = sorted((j for j in range(25) if j != centre), key=lambda j: float((pos[j] - pos[centre]).norm()))
        within = [j for j in others if (pos[j] - pos[centre]).norm() < 4.0]
        want = set(within[:3]) if within else {others[0]}
        assert nbrs == want


@pytest.mark.parametrize("fn", ["radius_graph", "knn_graph"])
def test_graphs_never_cross_complexes(fn: str) -> None:
    pos, batch = _points(6, [10, 10, 10], scale=1.0)
    pos[10:20] += 0.01  # complexes overlap in space
    index = graph_ops.radius_graph(pos, 5.0, batch) if fn == "radius_graph" else graph_ops.knn_graph(pos, 5, batch)
    assert torch.equal(batch[index[0]], batch[index[1]])


def test_subgraph_keeps_internal_edges_and_renumbers() -> None:
    edges = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])
    keep = torch.tensor([True, False, True, True, False])
    assert graph_ops.subgraph(edges, keep).tolist() == [[1], [2]]  # only 2→3 survives, as 1→2


def test_precomputed_receptor_graph_survives_cropping_like_the_reference() -> None:
    """Build-then-crop (reference crop_beyond) differs from crop-then-build for kNN graphs; a
    precomputed graph restricted with `subgraph` is what the networks then use."""
    from dd_helpers import synthetic_complex
    from phonos_models.diffdock import model_graphs as mg
    from phonos_models.diffdock.data import collate

    mode = mg.GraphMode(knn_only=True, residue_radius=15.0, residue_max_neighbors=6, atom_radius=5.0, atom_max_neighbors=4)
    graph = mg.with_receptor_graphs(synthetic_complex(0, n_res=30, lm_dim=4), mode)
    assert graph.rec_edge_index is not None and graph.rec_edge_index.shape == (2, 30 * 6)
    keep = torch.arange(30) < 20
    cropped_edges = graph_ops.subgraph(graph.rec_edge_index, keep)
    from dataclasses import replace

    cropped = replace(graph, rec_aa=graph.rec_aa[keep], rec_esm=graph.rec_esm[keep], rec_pos=graph.rec_pos[keep],
                      rec_edge_index=cropped_edges, atom_x=graph.atom_x[:0], atom_pos=graph.atom_pos[:0],
                      atom_res=graph.atom_res[:0], atom_edge_index=graph.atom_edge_index[:, :0])  # type: ignore[index]
    batch = collate([cropped, cropped])
    used = mg.receptor_edges(batch, mode)
    assert torch.equal(used, torch.cat([cropped_edges, cropped_edges + 20], 1))
    rebuilt = mg.receptor_edges(collate([replace(cropped, rec_edge_index=None, atom_edge_index=None)]), mode)
    assert rebuilt.shape[1] == 20 * 6 and cropped_edges.shape[1] < rebuilt.shape[1]
