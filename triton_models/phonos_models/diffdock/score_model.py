"""DiffDock score networks: `CGModel` (DiffDock-S / DiffDock-L code path) and `CGOldModel` (v1.0).

Both are coarse-grained: ligand heavy atoms + receptor residues (CA). forward(batch) returns
(tr_score [B, 3], rot_score [B, 3] axis-angle, tor_score [T]) for the batch's diffusion times
(shared/notes/diffdock.md §3.2–3.4). Models are meant to run in eval mode; in eval mode the new
model caches the receptor embedding on the batch, since it does not depend on time or ligand pose.
"""

from __future__ import annotations

from functools import partial

import torch
from e3nn import o3
from torch import Tensor, nn

from . import model_graphs as mg
from .data import LIGAND_BOND_DIM, LIGAND_FEATURE_DIMS, RESIDUE_FEATURE_DIMS, ComplexBatch
from .hyperparams import Hyperparams, UnsupportedConfig
from .layers import (
    AtomEncoder,
    GaussianSmearing,
    OldAtomEncoder,
    TensorProductConvLayer,
    irreps_sequence,
    mlp,
    timestep_embedding,
)
from .model_heads import ScoreHeads

ScoreOutput = tuple[Tensor, Tensor, Tensor]  # tr [B,3], rot [B,3], tor [T]


def graph_mode(hp: Hyperparams) -> mg.GraphMode:
    return mg.GraphMode(
        knn_only=hp.knn_only_graph,
        residue_radius=hp.receptor_radius,
        residue_max_neighbors=hp.c_alpha_max_neighbors,
        atom_radius=hp.atom_radius,
        atom_max_neighbors=hp.atom_max_neighbors,
    )


class _Embeddings(nn.Module):
    """Distance smearings and σ-embedding shared by every model class."""

    hp: Hyperparams

    def _init_common(self, hp: Hyperparams, *, confidence: bool, old: bool) -> None:
        """Refuse what the class cannot build, then create (in the reference's order) the distance
        smearings and the ligand encoders (the v1.0 ones when `old`)."""
        name = type(self).__name__
        if hp.confidence_mode != confidence:
            wanted, other = ("confidence", "score") if confidence else ("score", "confidence")
            raise UnsupportedConfig(f"{name} is implemented in {wanted} mode only (no released {other} model uses it)")
        if old and not hp.use_old_atom_encoder:
            raise UnsupportedConfig(f"{name} with use_old_atom_encoder=false cannot be built by the reference either")
        self.hp = hp
        self.sh_irreps = o3.Irreps.spherical_harmonics(lmax=hp.sh_lmax)
        self.lig_distance_expansion = GaussianSmearing(0.0, hp.lig_max_radius, hp.distance_embed_dim)
        self.rec_distance_expansion = GaussianSmearing(0.0, hp.rec_max_radius, hp.distance_embed_dim)
        self.cross_distance_expansion = GaussianSmearing(0.0, hp.cross_max_distance, hp.cross_distance_embed_dim)
        ns, sd, dr = hp.ns, hp.sigma_embed_dim, hp.dropout
        self.lig_node_embedding: nn.Module = (
            OldAtomEncoder(ns, LIGAND_FEATURE_DIMS, scalar_dim=sd) if old else AtomEncoder(ns, LIGAND_FEATURE_DIMS, extra_dim=sd)
        )
        self.lig_edge_embedding = mlp(LIGAND_BOND_DIM + sd + hp.distance_embed_dim, ns, ns, dr)

    def _old_receptor_encoders(self) -> tuple[OldAtomEncoder, nn.Sequential]:
        """v1.0 residue node encoder ([aa, ESM, σ-emb] by position) and edge encoder ([σ-emb, distance])."""
        hp = self.hp
        ns, sd = hp.ns, hp.sigma_embed_dim
        return (OldAtomEncoder(ns, RESIDUE_FEATURE_DIMS, scalar_dim=sd, lm_dim=hp.lm_embedding_dim),
                mlp(sd + hp.distance_embed_dim, ns, ns, hp.dropout))

    def _old_conv_layer(self, seq: list[str], i: int) -> TensorProductConvLayer:
        """Layer i of the v1.0 (CGOldModel/AAOldModel) stacks: no internal residual, BN after the sum."""
        hp, ns = self.hp, self.hp.ns
        return TensorProductConvLayer(
            seq[min(i, 3)], self.sh_irreps, seq[min(i + 1, 3)], n_edge_features=3 * ns, hidden_features=3 * ns,
            residual=False, batch_norm=hp.batch_norm, dropout=hp.dropout, residual_before_norm=True,
        )

    def _ligand_graph(self, batch: ComplexBatch, lig_t_emb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Ligand bond + radius edges: (edge_index [2, E], embedded attributes [E, ns], harmonics)."""
        edge_index, bond_attr = mg.ligand_edges(batch, self.hp.lig_max_radius)
        vec = batch.lig_pos[edge_index[1]] - batch.lig_pos[edge_index[0]]
        edge_attr = self.lig_edge_embedding(
            torch.cat([bond_attr, lig_t_emb[edge_index[0]], self.lig_distance_expansion(vec.norm(dim=-1))], 1)
        )
        return edge_index, edge_attr, mg.spherical_harmonics(self.sh_irreps, vec)

    def _new_conv_layer(self, seq: list[str], i: int, groups: int) -> TensorProductConvLayer:
        """Layer i of the new (CGModel/AAModel) stacks: irreps seq[i] → seq[i+1] (capped at the last)."""
        hp, ns = self.hp, self.hp.ns
        return TensorProductConvLayer(
            seq[min(i, 3)], self.sh_irreps, seq[min(i + 1, 3)], n_edge_features=3 * ns, hidden_features=3 * ns,
            residual=True, batch_norm=hp.batch_norm, dropout=hp.dropout,
            faster=hp.sh_lmax == 1 and not hp.use_second_order_repr, edge_groups=groups,
            tp_weights_layers=hp.tp_weights_layers,
        )

    def t_emb(self, t: Tensor) -> Tensor:
        return timestep_embedding(t, self.hp.sigma_embed_dim, self.hp.embedding_scale)

    def cross_cutoff(self, batch: ComplexBatch) -> float | Tensor:
        if not self.hp.dynamic_max_cross:
            return self.hp.cross_max_distance
        # In confidence mode the reference feeds t (0 at the end of sampling) where σ is expected,
        # so the cut-off there is 20 Å (notes §3.5).
        tr_sigma = batch.t_tr if self.hp.confidence_mode else self.hp.t_to_sigma(batch.t_tr, batch.t_rot, batch.t_tor)[0]
        return tr_sigma * 3 + 20


class CGModel(_Embeddings, ScoreHeads):
    """New coarse-grained score model (models/cg_model.py in the reference, score mode)."""

    def __init__(self, hp: Hyperparams) -> None:
        super().__init__()
        self._init_common(hp, confidence=False, old=False)
        if not hp.embed_also_ligand:
            raise UnsupportedConfig("CGModel needs embed_also_ligand (the reference asserts it)")
        ns, sd, dr = hp.ns, hp.sigma_embed_dim, hp.dropout
        self.rec_node_embedding = AtomEncoder(ns, RESIDUE_FEATURE_DIMS, extra_dim=hp.lm_embedding_dim)
        self.rec_edge_embedding = mlp(hp.distance_embed_dim, ns, ns, dr)
        self.rec_sigma_embedding = mlp(sd, ns, ns, dr)
        self.cross_edge_embedding = mlp(sd + hp.cross_distance_embed_dim, ns, ns, dr)

        seq = irreps_sequence(ns, hp.nv, hp.use_second_order_repr, hp.nv if hp.reduce_pseudoscalars else ns)
        n_emb, n_conv = hp.num_prot_emb_layers, hp.num_conv_layers
        layer = partial(self._new_conv_layer, seq)
        self.rec_emb_layers = nn.ModuleList(layer(i, 1) for i in range(n_emb))
        self.lig_emb_layers = nn.ModuleList(layer(i, 1) for i in range(n_emb))
        last = n_emb + n_conv - 1
        self.conv_layers = nn.ModuleList(
            layer(i, 1 if not hp.differentiate_convolutions else (2 if i == last else 4))
            for i in range(n_emb, n_emb + n_conv)
        )
        self._init_heads(hp, seq[min(n_emb + n_conv, 3)], new_layers=True)

    # --- receptor: time-independent, cached ----------------------------------------------------
    def _receptor(self, batch: ComplexBatch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        key = ("cg_receptor", id(self))
        if not self.training and key in batch.cache:
            return batch.cache[key]
        ns = self.hp.ns
        edge_index = mg.receptor_edges(batch, graph_mode(self.hp))
        aa = batch.rec_aa.unsqueeze(1)
        if self.hp.no_aminoacid_identities:
            aa = torch.zeros_like(aa)
        h = self.rec_node_embedding(aa, batch.rec_esm if self.hp.lm_embedding_dim else None)
        vec = batch.rec_pos[edge_index[1]] - batch.rec_pos[edge_index[0]]
        edge_attr = self.rec_edge_embedding(self.rec_distance_expansion(vec.norm(dim=-1)))
        edge_sh = mg.spherical_harmonics(self.sh_irreps, vec)
        for conv in self.rec_emb_layers:
            attr = torch.cat([edge_attr, h[edge_index[0], :ns], h[edge_index[1], :ns]], -1)
            h = conv(h, edge_index, attr, edge_sh)
        result = (h, edge_index, edge_attr, edge_sh)
        if not self.training:
            batch.cache[key] = result
        return result

    def _ligand(self, batch: ComplexBatch, lig_t_emb: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        ns = self.hp.ns
        edge_index, edge_attr, edge_sh = self._ligand_graph(batch, lig_t_emb)
        h = self.lig_node_embedding(batch.lig_x, lig_t_emb)
        for conv in self.lig_emb_layers:
            attr = torch.cat([edge_attr, h[edge_index[0], :ns], h[edge_index[1], :ns]], -1)
            h = conv(h, edge_index, attr, edge_sh)
        return h, edge_index, edge_attr, edge_sh

    def forward(self, batch: ComplexBatch) -> ScoreOutput:
        ns = self.hp.ns
        graph_t_emb = self.t_emb(batch.t_tr)  # tr, rot and tor share one time in the released models
        lig_t_emb = graph_t_emb[batch.lig_batch]

        rec_h, rec_ei, rec_attr, rec_sh = self._receptor(batch)
        rec_sigma = self.rec_sigma_embedding(graph_t_emb)  # [B, ns]
        rec_h = torch.cat([rec_h[:, :ns] + rec_sigma[batch.rec_batch], rec_h[:, ns:]], 1)
        rec_attr = rec_attr + rec_sigma[batch.rec_batch[rec_ei[0]]]

        lig_h, lig_ei, lig_attr, lig_sh = self._ligand(batch, lig_t_emb)

        lr_ei = mg.cross_edges(batch, self.cross_cutoff(batch))  # row 0 ligand, row 1 residue
        lr_vec = batch.rec_pos[lr_ei[1]] - batch.lig_pos[lr_ei[0]]
        lr_attr = self.cross_edge_embedding(
            torch.cat([lig_t_emb[lr_ei[0]], self.cross_distance_expansion(lr_vec.norm(dim=-1))], 1)
        )
        n_lig = lig_h.shape[0]
        lr_joint = torch.stack([lr_ei[0], lr_ei[1] + n_lig])
        # Edge groups in the reference's order: lig–lig, lig←rec, rec–rec, rec←lig.
        edge_index = torch.cat([lig_ei, lr_joint, rec_ei + n_lig, lr_joint.flip(0)], 1)
        edge_attr = torch.cat([lig_attr, lr_attr, rec_attr, lr_attr], 0)
        edge_sh = torch.cat([
            lig_sh, mg.spherical_harmonics(self.sh_irreps, lr_vec), rec_sh,
            mg.spherical_harmonics(self.sh_irreps, -lr_vec),
        ], 0)
        s1 = lig_ei.shape[1]
        s2 = s1 + lr_ei.shape[1]
        s3 = s2 + rec_ei.shape[1]

        h = torch.cat([lig_h, rec_h], 0)
        for i, conv in enumerate(self.conv_layers):
            last = i == len(self.conv_layers) - 1
            ei = edge_index[:, :s2] if last else edge_index
            feats = torch.cat([edge_attr[: ei.shape[1]], h[ei[0], :ns], h[ei[1], :ns]], -1)
            bounds = ([0, s1, s2] if last else [0, s1, s2, s3, ei.shape[1]]) if self.hp.differentiate_convolutions else None
            # The last layer only updates ligand atoms (only lig-receiving edges remain), so its
            # output is computed for those rows alone.
            h = conv(h, ei, feats, edge_sh[: ei.shape[1]], out_nodes=n_lig if last else None, group_bounds=bounds)
        lig_h = h[:n_lig]
        return self._heads(batch, lig_h, lig_t_emb, graph_t_emb, self.lig_distance_expansion)


class CGOldModel(_Embeddings, ScoreHeads):
    """v1.0 (ICLR 2023) coarse-grained score model (models/old_cg_model.py / score_model.py)."""

    def __init__(self, hp: Hyperparams) -> None:
        super().__init__()
        self._init_common(hp, confidence=False, old=True)
        self.rec_node_embedding, self.rec_edge_embedding = self._old_receptor_encoders()
        ns, sd, dr = hp.ns, hp.sigma_embed_dim, hp.dropout
        self.cross_edge_embedding = mlp(sd + hp.cross_distance_embed_dim, ns, ns, dr)

        seq = irreps_sequence(ns, hp.nv, hp.use_second_order_repr, ns)  # v1.0: ns pseudoscalars

        def layers() -> nn.ModuleList:
            return nn.ModuleList(self._old_conv_layer(seq, i) for i in range(hp.num_conv_layers))

        self.lig_conv_layers = layers()
        self.rec_conv_layers = layers()
        self.lig_to_rec_conv_layers = layers()
        self.rec_to_lig_conv_layers = layers()
        self._init_heads(hp, seq[min(hp.num_conv_layers, 3)], new_layers=False)

    def forward(self, batch: ComplexBatch) -> ScoreOutput:
        ns = self.hp.ns
        graph_t_emb = self.t_emb(batch.t_tr)
        lig_t_emb = graph_t_emb[batch.lig_batch]
        rec_t_emb = graph_t_emb[batch.rec_batch]

        lig_ei, lig_attr, lig_sh = self._ligand_graph(batch, lig_t_emb)
        lig_h = self.lig_node_embedding(batch.lig_x, lig_t_emb)

        rec_ei = mg.receptor_edges(batch, graph_mode(self.hp))
        rec_vec = batch.rec_pos[rec_ei[1]] - batch.rec_pos[rec_ei[0]]
        rec_attr = self.rec_edge_embedding(
            torch.cat([rec_t_emb[rec_ei[0]], self.rec_distance_expansion(rec_vec.norm(dim=-1))], 1)
        )
        rec_sh = mg.spherical_harmonics(self.sh_irreps, rec_vec)
        aa = batch.rec_aa.unsqueeze(1)
        if self.hp.no_aminoacid_identities:
            aa = torch.zeros_like(aa)
        rec_h = self.rec_node_embedding.forward_reference_layout(
            aa, batch.rec_esm if self.hp.lm_embedding_dim else None, rec_t_emb
        )

        lr_ei = mg.cross_edges(batch, self.cross_cutoff(batch))  # row 0 ligand, row 1 residue
        lr_vec = batch.rec_pos[lr_ei[1]] - batch.lig_pos[lr_ei[0]]
        lr_attr = self.cross_edge_embedding(
            torch.cat([lig_t_emb[lr_ei[0]], self.cross_distance_expansion(lr_vec.norm(dim=-1))], 1)
        )
        # v1.0 uses the same (unreversed) harmonics for the rec←lig direction; kept for fidelity.
        lr_sh = mg.spherical_harmonics(self.sh_irreps, lr_vec)
        rl_ei = lr_ei.flip(0)
        n_lig, n_rec = lig_h.shape[0], rec_h.shape[0]

        n_layers = len(self.lig_conv_layers)
        for i in range(n_layers):
            lig_in = torch.cat([lig_attr, lig_h[lig_ei[0], :ns], lig_h[lig_ei[1], :ns]], -1)
            lig_update = self.lig_conv_layers[i](lig_h, lig_ei, lig_in, lig_sh)
            cross_in = torch.cat([lr_attr, lig_h[lr_ei[0], :ns], rec_h[lr_ei[1], :ns]], -1)
            lig_inter = self.rec_to_lig_conv_layers[i](rec_h, lr_ei, cross_in, lr_sh, out_nodes=n_lig)
            if i != n_layers - 1:
                rec_in = torch.cat([rec_attr, rec_h[rec_ei[0], :ns], rec_h[rec_ei[1], :ns]], -1)
                rec_update = self.rec_conv_layers[i](rec_h, rec_ei, rec_in, rec_sh)
                # v1.0 feeds the lig←rec edge features (same column order) to the rec←lig layer.
                rec_inter = self.lig_to_rec_conv_layers[i](lig_h, rl_ei, cross_in, lr_sh, out_nodes=n_rec)
            lig_h = _pad(lig_h, lig_update.shape[-1]) + lig_update + lig_inter
            if i != n_layers - 1:
                rec_h = _pad(rec_h, rec_update.shape[-1]) + rec_update + rec_inter
        return self._heads(batch, lig_h, lig_t_emb, graph_t_emb, self.lig_distance_expansion)


def _pad(x: Tensor, width: int) -> Tensor:
    return nn.functional.pad(x, (0, width - x.shape[-1]))
