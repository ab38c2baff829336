"""The pure-PyTorch graph ops against brute-force definitions (what torch-cluster/torch-scatter compute)."""

from __future__ import annotations

import itertools

import pytest
import torch
from phonos_models.diffdock import graph_ops


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
