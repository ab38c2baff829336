"""Score heads shared by CGModel and CGOldModel (notes §3.4 steps 3–4).

Translation/rotation: a "centre" convolution from the ligand atoms into one node per complex,
giving 2×1o + 2×1e; each vector's norm is re-predicted from [|v|, σ-emb(t)] by a small MLP.
Torsion: a convolution from the atoms around each rotatable bond's midpoint, with the bond axis
folded into the spherical harmonics through a full tensor product with its l=2 harmonics.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from e3nn import o3
from torch import Tensor, nn

from . import model_graphs as mg
from .data import ComplexBatch
from .hyperparams import Hyperparams
from .layers import GaussianSmearing, TensorProductConvLayer, mlp

ConvFactory = Callable[..., nn.Module]


def _so3_score_norm(sigma: Tensor) -> Tensor:
    from . import so3  # pipeline-owned tables; imported lazily so the model builds without them

    return so3.score_norm(sigma)


def _torus_score_norm(sigma: Tensor) -> Tensor:
    from . import torus

    out = torus.score_norm(sigma)
    return out if isinstance(out, Tensor) else torch.as_tensor(out, device=sigma.device)


class ScoreHeads(nn.Module):
    """Base class: registers the head modules as direct attributes (reference state_dict names)."""

    hp: Hyperparams
    sh_irreps: o3.Irreps

    def _init_heads(self, hp: Hyperparams, last_irreps: str, new_layers: bool) -> None:
        ns, sd, dr = hp.ns, hp.sigma_embed_dim, hp.dropout
        conv: ConvFactory = partial(TensorProductConvLayer, residual_before_norm=not new_layers)
        self.center_distance_expansion = GaussianSmearing(0.0, hp.center_max_distance, hp.distance_embed_dim)
        self.center_edge_embedding = mlp(hp.distance_embed_dim + sd, ns, ns, dr)
        self.final_conv = conv(
            in_irreps=last_irreps, sh_irreps=self.sh_irreps,
            out_irreps="1x1o + 1x1e" if hp.odd_parity else "2x1o + 2x1e",
            n_edge_features=2 * ns, residual=False, dropout=dr, batch_norm=hp.batch_norm,
        )
        # Linear → Dropout → ReLU → Linear (reference order; keys .0 and .3)
        self.tr_final_layer = nn.Sequential(nn.Linear(1 + sd, ns), nn.Dropout(dr), nn.ReLU(), nn.Linear(ns, 1))
        self.rot_final_layer = nn.Sequential(nn.Linear(1 + sd, ns), nn.Dropout(dr), nn.ReLU(), nn.Linear(ns, 1))
        if not hp.no_torsion:
            self.final_edge_embedding = mlp(hp.distance_embed_dim, ns, ns, dr)
            self.final_tp_tor = o3.FullTensorProduct(self.sh_irreps, "2e")
            self.tor_bond_conv = conv(
                in_irreps=last_irreps, sh_irreps=self.final_tp_tor.irreps_out,
                out_irreps=f"{ns}x0o" if hp.odd_parity else f"{ns}x0o + {ns}x0e",
                n_edge_features=3 * ns, residual=False, dropout=dr, batch_norm=hp.batch_norm,
            )
            self.tor_final_layer = nn.Sequential(
                nn.Linear(ns if hp.odd_parity else 2 * ns, ns, bias=False), nn.Tanh(), nn.Dropout(dr),
                nn.Linear(ns, 1, bias=False),
            )

    def _heads(
        self,
        batch: ComplexBatch,
        lig_h: Tensor,  # [N, irreps] final ligand features
        lig_t_emb: Tensor,  # [N, sigma_embed_dim] σ-embedding of each atom's complex time
        graph_t_emb: Tensor,  # [B, sigma_embed_dim]
        lig_distance_expansion: GaussianSmearing,
    ) -> tuple[Tensor, Tensor, Tensor]:
        hp, ns = self.hp, self.hp.ns
        tr_sigma, rot_sigma, tor_sigma = hp.t_to_sigma(batch.t_tr, batch.t_rot, batch.t_tor)

        edge_index, vec = mg.center_edges(batch)
        attr = self.center_edge_embedding(torch.cat([self.center_distance_expansion(vec.norm(dim=-1)), lig_t_emb], 1))
        # Reference bug kept on purpose when fixed_center_conv is False: it reads ligand node
        # number b (the complex index) instead of the edge's own atom (notes pitfall 2).
        source = edge_index[1] if hp.fixed_center_conv else edge_index[0]
        attr = torch.cat([attr, lig_h[source, :ns]], -1)
        out = self.final_conv(lig_h, edge_index, attr, mg.spherical_harmonics(self.sh_irreps, vec),
                              out_nodes=batch.num_graphs)
        if hp.odd_parity:
            tr, rot = out[:, :3], out[:, 3:6]
        else:
            tr, rot = out[:, :3] + out[:, 6:9], out[:, 3:6] + out[:, 9:12]
        tr_norm = torch.linalg.vector_norm(tr, dim=1, keepdim=True)
        tr = tr / tr_norm * self.tr_final_layer(torch.cat([tr_norm, graph_t_emb], 1))
        rot_norm = torch.linalg.vector_norm(rot, dim=1, keepdim=True)
        rot = rot / rot_norm * self.rot_final_layer(torch.cat([rot_norm, graph_t_emb], 1))
        if hp.scale_by_sigma:
            tr = tr / tr_sigma.unsqueeze(1)
            rot = rot * _so3_score_norm(rot_sigma).to(rot).unsqueeze(1)

        if hp.no_torsion or batch.tor_index.shape[1] == 0:
            return tr, rot, lig_h.new_zeros(0)
        return tr, rot, self._torsion_head(batch, lig_h, tor_sigma, lig_distance_expansion)

    def _torsion_head(
        self, batch: ComplexBatch, lig_h: Tensor, tor_sigma: Tensor, lig_distance_expansion: GaussianSmearing
    ) -> Tensor:
        ns = self.hp.ns
        u, v = batch.tor_index
        edge_index, vec = mg.bond_edges(batch, self.hp.lig_max_radius)
        attr = self.final_edge_embedding(lig_distance_expansion(vec.norm(dim=-1)))
        edge_sh = mg.spherical_harmonics(self.sh_irreps, vec)
        bond_sh = mg.spherical_harmonics(o3.Irreps("2e"), batch.lig_pos[v] - batch.lig_pos[u])
        edge_sh = self.final_tp_tor(edge_sh, bond_sh[edge_index[0]])
        bond_h = lig_h[u] + lig_h[v]
        attr = torch.cat([attr, lig_h[edge_index[1], :ns], bond_h[edge_index[0], :ns]], -1)
        pred = self.tor_bond_conv(lig_h, edge_index, attr, edge_sh, out_nodes=batch.tor_index.shape[1])
        pred = self.tor_final_layer(pred).squeeze(1)
        if self.hp.scale_by_sigma:
            pred = pred * torch.sqrt(_torus_score_norm(tor_sigma[batch.tor_batch]).to(pred))
        return pred
