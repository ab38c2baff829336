"""Building blocks of the DiffDock networks (shared/notes/diffdock.md §3).

Module and attribute names are chosen so that `state_dict()` keys equal the reference's exactly
(checked against shared/reference/diffdock/*_state_dict_shapes.json by tests/diffdock/test_manifest.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from e3nn import o3
from e3nn.nn import BatchNorm
from torch import Tensor, nn
from torch.nn import functional as F

from .edge_messages import FasterTensorProduct, aggregate_messages


def timestep_embedding(t: Tensor, dim: int, scale: float, max_positions: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of the scaled diffusion time (notes §3.1).

    t [n] in [0, 1] → [n, dim]: [sin(s·t·ω_k), cos(s·t·ω_k)], ω_k = exp(−k·ln(10000)/(dim/2 − 1)),
    zero-padded when dim is odd. The input is the time t, not σ.
    """
    half = dim // 2
    freq = torch.exp(
        torch.arange(half, dtype=torch.float32, device=t.device) * -(math.log(max_positions) / (half - 1))
    )
    arg = (scale * t.float())[:, None] * freq[None, :]
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1))
    return emb


def mlp(in_dim: int, hidden: int, out_dim: int, dropout: float, layers: int = 2) -> nn.Sequential:
    """Linear → ReLU → Dropout → … → Linear; `layers` Linear layers (keys .0, .3, .6 …)."""
    if layers < 2:
        raise ValueError("an MLP block needs at least 2 linear layers")
    mods: list[nn.Module] = [nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout)]
    for _ in range(layers - 2):
        mods += [nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
    mods.append(nn.Linear(hidden, out_dim))
    return nn.Sequential(*mods)


class GaussianSmearing(nn.Module):
    """Distance d [E] → [E, n] Gaussians centred on linspace(start, stop, n), width = grid spacing."""

    def __init__(self, start: float, stop: float, num_gaussians: int) -> None:
        super().__init__()
        offset = torch.linspace(start, stop, num_gaussians)
        self.coeff = -0.5 / (offset[1] - offset[0]).item() ** 2
        self.offset: Tensor
        self.register_buffer("offset", offset)  # in the reference state_dict

    def forward(self, dist: Tensor) -> Tensor:
        return torch.exp(self.coeff * (dist.view(-1, 1) - self.offset.view(1, -1)) ** 2)


class AtomEncoder(nn.Module):
    """New-style node encoder: Σ categorical embeddings, then one Linear over [sum, extra scalars].

    Input x [n, C + extra] (C categorical columns as floats/ints, then `extra` scalar columns:
    σ-embedding and/or language-model embedding).
    """

    def __init__(self, emb_dim: int, feature_dims: Sequence[int], extra_dim: int) -> None:
        super().__init__()
        self.num_categorical = len(feature_dims)
        self.extra_dim = extra_dim
        self.atom_embedding_list = nn.ModuleList(nn.Embedding(d, emb_dim) for d in feature_dims)
        for emb in self.atom_embedding_list:
            assert isinstance(emb, nn.Embedding)
            nn.init.xavier_uniform_(emb.weight)
        if extra_dim > 0:
            self.additional_features_embedder = nn.Linear(extra_dim + emb_dim, emb_dim)

    def forward(self, categorical: Tensor, extra: Tensor | None) -> Tensor:
        h = sum(emb(categorical[:, i].long()) for i, emb in enumerate(self.atom_embedding_list))
        if self.extra_dim > 0:
            assert extra is not None and extra.shape[1] == self.extra_dim
            h = self.additional_features_embedder(torch.cat([h, extra], dim=1))
        return h


class OldAtomEncoder(nn.Module):
    """v1.0 node encoder: Σ categorical embeddings + Linear(scalars), then Linear([h, LM emb]) if any."""

    def __init__(self, emb_dim: int, feature_dims: Sequence[int], scalar_dim: int, lm_dim: int = 0) -> None:
        super().__init__()
        self.scalar_dim, self.lm_dim = scalar_dim, lm_dim
        self.atom_embedding_list = nn.ModuleList(nn.Embedding(d, emb_dim) for d in feature_dims)
        for emb in self.atom_embedding_list:
            assert isinstance(emb, nn.Embedding)
            nn.init.xavier_uniform_(emb.weight)
        if scalar_dim > 0:
            self.linear = nn.Linear(scalar_dim, emb_dim)
        if lm_dim > 0:
            self.lm_embedding_layer = nn.Linear(lm_dim + emb_dim, emb_dim)

    def forward_reference_layout(self, categorical: Tensor, lm: Tensor | None, scalars: Tensor) -> Tensor:
        """Receptor residues as the v1.0 code feeds them: columns [aa, LM embedding, σ-embedding],
        split *by position* into "scalars" = the first `scalar_dim` trailing columns and "LM" =
        the last `lm_dim` columns. With an LM embedding that mixes them up (the linear layer sees
        ESM dims 0…σdim−1, the LM layer sees the remaining ESM dims plus the σ-embedding); the
        released v1.0 checkpoints were trained that way (later ymls: `use_old_wrong_embedding_order`).
        """
        if self.lm_dim == 0 or lm is None:
            return self.forward(categorical, scalars, None)
        trailing = torch.cat([lm, scalars], dim=1)
        return self.forward(categorical, trailing[:, : self.scalar_dim], trailing[:, -self.lm_dim :])

    def forward(self, categorical: Tensor, scalars: Tensor | None, lm: Tensor | None = None) -> Tensor:
        h = sum(emb(categorical[:, i].long()) for i, emb in enumerate(self.atom_embedding_list))
        if self.scalar_dim > 0:
            h = h + self.linear(scalars)
        if self.lm_dim > 0:
            assert lm is not None and lm.shape[1] == self.lm_dim
            h = self.lm_embedding_layer(torch.cat([h, lm], dim=1))
        return h


def irreps_sequence(ns: int, nv: int, second_order: bool, pseudoscalars: int) -> list[str]:
    """The feature irreps after 0, 1, 2, ≥3 conv layers (notes §3.3)."""
    if second_order:
        return [
            f"{ns}x0e",
            f"{ns}x0e + {nv}x1o + {nv}x2e",
            f"{ns}x0e + {nv}x1o + {nv}x2e + {nv}x1e + {nv}x2o",
            f"{ns}x0e + {nv}x1o + {nv}x2e + {nv}x1e + {nv}x2o + {pseudoscalars}x0o",
        ]
    return [
        f"{ns}x0e",
        f"{ns}x0e + {nv}x1o",
        f"{ns}x0e + {nv}x1o + {nv}x1e",
        f"{ns}x0e + {nv}x1o + {nv}x1e + {pseudoscalars}x0o",
    ]


def _make_tp(in_irreps: str, sh_irreps: o3.Irreps | str, out_irreps: str, faster: bool) -> nn.Module:
    if faster:
        return FasterTensorProduct(in_irreps, sh_irreps, out_irreps)
    return o3.FullyConnectedTensorProduct(in_irreps, sh_irreps, out_irreps, shared_weights=False)


class TensorProductConvLayer(nn.Module):
    """Equivariant graph convolution.

    Per edge: w = FC_g(edge_attr); message = TP(h[sender], SH(edge), w); mean onto the receiver;
    then BatchNorm, then the (zero-padded) residual is **added after** BN (new layers: CGModel,
    AAModel). With `edge_groups` > 1 each edge group (consecutive blocks of edges) has its own FC
    block (notes §3.3). `residual_before_norm`: the v1.0 layers' order (residual, then BN; one FC,
    e3nn product; notes pitfall 3); the modules and state_dict keys are the same.
    """

    def __init__(
        self,
        in_irreps: str,
        sh_irreps: o3.Irreps | str,
        out_irreps: str,
        n_edge_features: int,
        residual: bool = True,
        batch_norm: bool = True,
        dropout: float = 0.0,
        hidden_features: int | None = None,
        faster: bool = False,
        edge_groups: int = 1,
        tp_weights_layers: int = 2,
        residual_before_norm: bool = False,
    ) -> None:
        super().__init__()
        self.residual_before_norm = residual_before_norm
        self.in_irreps, self.out_irreps = in_irreps, out_irreps
        self.residual, self.edge_groups = residual, edge_groups
        self.out_size = o3.Irreps(out_irreps).dim
        hidden = hidden_features or n_edge_features
        self.tp = _make_tp(in_irreps, sh_irreps, out_irreps, faster)
        numel = int(self.tp.weight_numel)  # type: ignore[arg-type]
        if edge_groups == 1:
            self.fc: nn.Module = mlp(n_edge_features, hidden, numel, dropout, tp_weights_layers)
        else:
            self.fc = nn.ModuleList(
                mlp(n_edge_features, hidden, numel, dropout, tp_weights_layers) for _ in range(edge_groups)
            )
        self.batch_norm = BatchNorm(out_irreps) if batch_norm else None

    def forward(
        self,
        node_attr: Tensor,
        edge_index: Tensor,
        edge_attr: Tensor,
        edge_sh: Tensor,
        out_nodes: int | None = None,
        group_bounds: Sequence[int] | None = None,
    ) -> Tensor:
        """node_attr [N, in]; edge_index [2, E] (row 0 receives, row 1 sends); edge_attr [E, F];
        edge_sh [E, sh]; group_bounds: edges group_bounds[g]:group_bounds[g+1] form edge group g
        (needed when the layer has several groups). Returns [out_nodes, out]."""
        n_out = out_nodes if out_nodes is not None else node_attr.shape[0]
        empty = edge_index.shape[1] == 0
        out = node_attr.new_zeros(n_out, self.out_size) if empty else self._messages(
            node_attr, edge_index, edge_attr, edge_sh, n_out, group_bounds
        )
        residual = F.pad(node_attr[:n_out], (0, self.out_size - node_attr.shape[-1])) if self.residual else None
        if self.residual_before_norm:  # v1.0: residual, then BatchNorm (also of an empty graph's zeros)
            out = out if residual is None else out + residual
            return out if self.batch_norm is None else self.batch_norm(out)
        if self.batch_norm is not None and not empty:
            out = self.batch_norm(out)
        return out if residual is None else out + residual

    def _messages(self, node_attr: Tensor, edge_index: Tensor, edge_attr: Tensor, edge_sh: Tensor, n_out: int,
                  group_bounds: Sequence[int] | None) -> Tensor:
        if self.edge_groups == 1:
            fcs, bounds = [self.fc], [0, edge_index.shape[1]]
        else:
            assert isinstance(self.fc, nn.ModuleList)
            assert group_bounds is not None and len(group_bounds) == self.edge_groups + 1
            assert group_bounds[0] == 0 and group_bounds[-1] == edge_index.shape[1]
            fcs, bounds = list(self.fc), list(group_bounds)
        return aggregate_messages(self.tp, fcs, bounds, edge_attr, node_attr, edge_index, edge_sh, n_out, self.out_size)


__all__ = [
    "AtomEncoder",
    "FasterTensorProduct",
    "GaussianSmearing",
    "OldAtomEncoder",
    "TensorProductConvLayer",
    "irreps_sequence",
    "mlp",
    "timestep_embedding",
]
