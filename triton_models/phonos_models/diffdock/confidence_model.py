"""DiffDock all-atom confidence network `AAOldModel` (v1.0 confidence; loaded by DiffDock-L's inference).

Three node sets — ligand atoms, receptor residues (CA) and receptor heavy atoms — exchange messages
through nine separate convolutions per layer (notes §3.5). forward(batch) → [B, n_out] logits; column
0 ranks poses (higher = more likely within 2 Å RMSD; the reference README's bands: > 0 high,
−1.5…0 moderate, < −1.5 low). Batch times are normally all 0 (the final poses).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import model_graphs as mg
from .data import (
    LIGAND_BOND_DIM,
    LIGAND_FEATURE_DIMS,
    RECEPTOR_ATOM_FEATURE_DIMS,
    RESIDUE_FEATURE_DIMS,
    ComplexBatch,
)
from .graph_ops import scatter_mean
from .hyperparams import Hyperparams, UnsupportedConfig
from .layers import OldAtomEncoder, OldTensorProductConvLayer, irreps_sequence, mlp
from .score_model import _Embeddings, _pad, graph_mode

# Order of the nine convolutions of one layer in `conv_layers[9·l + k]` (receiver ← sender).
_LIG_LIG, _LIG_REC, _LIG_ATOM, _ATOM_ATOM, _ATOM_LIG, _ATOM_REC, _REC_REC, _REC_LIG, _REC_ATOM = range(9)


def confidence_head(ns: int, in_dim: int, out_dim: int, dropout: float, no_batchnorm: bool) -> nn.Sequential:
    """Linear → BN1d → ReLU → Dropout → Linear → BN1d → ReLU → Dropout → Linear (keys .0 .1 .4 .5 .8)."""

    def norm() -> nn.Module:
        return nn.Identity() if no_batchnorm else nn.BatchNorm1d(ns)

    return nn.Sequential(
        nn.Linear(in_dim, ns), norm(), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(ns, ns), norm(), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(ns, out_dim),
    )


class AAOldModel(_Embeddings):
    """v1.0 all-atom model in confidence mode (models/old_aa_model.py in the reference)."""

    def __init__(self, hp: Hyperparams) -> None:
        super().__init__()
        if not hp.confidence_mode:
            raise UnsupportedConfig("AAOldModel is implemented in confidence mode only (no released all-atom score model)")
        if not hp.use_old_atom_encoder:
            raise UnsupportedConfig("AAOldModel with use_old_atom_encoder=false cannot be built by the reference either")
        self._init_common(hp)
        ns, sd, dr = hp.ns, hp.sigma_embed_dim, hp.dropout
        self.lig_node_embedding = OldAtomEncoder(ns, LIGAND_FEATURE_DIMS, scalar_dim=sd)
        self.lig_edge_embedding = mlp(LIGAND_BOND_DIM + sd + hp.distance_embed_dim, ns, ns, dr)
        self.rec_node_embedding = OldAtomEncoder(ns, RESIDUE_FEATURE_DIMS, scalar_dim=sd, lm_dim=hp.lm_embedding_dim)
        self.rec_edge_embedding = mlp(sd + hp.distance_embed_dim, ns, ns, dr)
        self.atom_node_embedding = OldAtomEncoder(ns, RECEPTOR_ATOM_FEATURE_DIMS, scalar_dim=sd)
        self.atom_edge_embedding = mlp(sd + hp.distance_embed_dim, ns, ns, dr)
        self.lr_edge_embedding = mlp(sd + hp.cross_distance_embed_dim, ns, ns, dr)
        self.ar_edge_embedding = mlp(sd + hp.distance_embed_dim, ns, ns, dr)
        self.la_edge_embedding = mlp(sd + hp.cross_distance_embed_dim, ns, ns, dr)

        seq = irreps_sequence(ns, hp.nv, hp.use_second_order_repr, ns)
        self.conv_layers = nn.ModuleList(
            OldTensorProductConvLayer(
                seq[min(i, 3)], self.sh_irreps, seq[min(i + 1, 3)], n_edge_features=3 * ns,
                residual=False, batch_norm=hp.batch_norm, dropout=dr,
            )
            for i in range(hp.num_conv_layers)
            for _ in range(9)
        )
        readout = 2 * ns if hp.num_conv_layers >= 3 else ns
        self.confidence_predictor = confidence_head(
            ns, readout, hp.num_confidence_outputs, hp.confidence_dropout, hp.confidence_no_batchnorm
        )

    def forward(self, batch: ComplexBatch) -> Tensor:
        """→ [B, num_confidence_outputs] confidence logits (column 0 ranks)."""
        ns = self.hp.ns
        graph_t_emb = self.t_emb(batch.t_tr)
        lig_t, rec_t, atom_t = (graph_t_emb[b] for b in (batch.lig_batch, batch.rec_batch, batch.atom_batch))
        sh = self.sh_irreps

        # ligand atoms
        lig_ei, bond_attr = mg.ligand_edges(batch, self.hp.lig_max_radius)
        v = batch.lig_pos[lig_ei[1]] - batch.lig_pos[lig_ei[0]]
        lig_attr = self.lig_edge_embedding(
            torch.cat([bond_attr, lig_t[lig_ei[0]], self.lig_distance_expansion(v.norm(dim=-1))], 1)
        )
        lig_sh = mg.spherical_harmonics(sh, v)
        lig_h = self.lig_node_embedding(batch.lig_x, lig_t)

        # residues
        mode = graph_mode(self.hp)
        rec_ei = mg.receptor_edges(batch, mode)
        v = batch.rec_pos[rec_ei[1]] - batch.rec_pos[rec_ei[0]]
        rec_attr = self.rec_edge_embedding(torch.cat([rec_t[rec_ei[0]], self.rec_distance_expansion(v.norm(dim=-1))], 1))
        rec_sh = mg.spherical_harmonics(sh, v)
        aa = batch.rec_aa.unsqueeze(1)
        if self.hp.no_aminoacid_identities:
            aa = torch.zeros_like(aa)
        rec_h = self.rec_node_embedding(aa, rec_t, batch.rec_esm if self.hp.lm_embedding_dim else None)

        # receptor heavy atoms (atom–atom distances use the ligand-range smearing, as in the reference)
        atom_ei = mg.atom_edges(batch, mode)
        v = batch.atom_pos[atom_ei[1]] - batch.atom_pos[atom_ei[0]]
        atom_attr = self.atom_edge_embedding(
            torch.cat([atom_t[atom_ei[0]], self.lig_distance_expansion(v.norm(dim=-1))], 1)
        )
        atom_sh = mg.spherical_harmonics(sh, v)
        atom_h = self.atom_node_embedding(batch.atom_x, atom_t)

        # cross edges: ligand←residue, ligand←atom, atom←residue (reversed for the other direction)
        lr_ei = mg.cross_edges(batch, self.cross_cutoff(batch))
        v = batch.rec_pos[lr_ei[1]] - batch.lig_pos[lr_ei[0]]
        lr_attr = self.lr_edge_embedding(torch.cat([lig_t[lr_ei[0]], self.cross_distance_expansion(v.norm(dim=-1))], 1))
        lr_sh = mg.spherical_harmonics(sh, v)
        la_ei = mg.ligand_atom_edges(batch, self.hp.lig_max_radius)
        v = batch.atom_pos[la_ei[1]] - batch.lig_pos[la_ei[0]]
        la_attr = self.la_edge_embedding(torch.cat([lig_t[la_ei[0]], self.cross_distance_expansion(v.norm(dim=-1))], 1))
        la_sh = mg.spherical_harmonics(sh, v)
        ar_ei = mg.atom_residue_edges(batch)
        v = batch.rec_pos[ar_ei[1]] - batch.atom_pos[ar_ei[0]]
        ar_attr = self.ar_edge_embedding(torch.cat([atom_t[ar_ei[0]], self.rec_distance_expansion(v.norm(dim=-1))], 1))
        ar_sh = mg.spherical_harmonics(sh, v)

        n_lig, n_rec, n_atom = lig_h.shape[0], rec_h.shape[0], atom_h.shape[0]
        n_layers = self.hp.num_conv_layers
        for i in range(n_layers):
            conv = self.conv_layers[9 * i : 9 * i + 9]

            def feats(attr: Tensor, a: Tensor, ia: Tensor, b: Tensor, ib: Tensor) -> Tensor:
                return torch.cat([attr, a[ia, :ns], b[ib, :ns]], -1)

            lig_up = conv[_LIG_LIG](lig_h, lig_ei, feats(lig_attr, lig_h, lig_ei[0], lig_h, lig_ei[1]), lig_sh)
            lr_up = conv[_LIG_REC](rec_h, lr_ei, feats(lr_attr, lig_h, lr_ei[0], rec_h, lr_ei[1]), lr_sh, out_nodes=n_lig)
            la_up = conv[_LIG_ATOM](atom_h, la_ei, feats(la_attr, lig_h, la_ei[0], atom_h, la_ei[1]), la_sh,
                                    out_nodes=n_lig)
            if i != n_layers - 1:  # the last layer only updates the ligand
                atom_up = conv[_ATOM_ATOM](atom_h, atom_ei, feats(atom_attr, atom_h, atom_ei[0], atom_h, atom_ei[1]),
                                           atom_sh)
                al_up = conv[_ATOM_LIG](lig_h, la_ei.flip(0), feats(la_attr, atom_h, la_ei[1], lig_h, la_ei[0]), la_sh,
                                        out_nodes=n_atom)
                ar_up = conv[_ATOM_REC](rec_h, ar_ei, feats(ar_attr, atom_h, ar_ei[0], rec_h, ar_ei[1]), ar_sh,
                                        out_nodes=n_atom)
                rec_up = conv[_REC_REC](rec_h, rec_ei, feats(rec_attr, rec_h, rec_ei[0], rec_h, rec_ei[1]), rec_sh)
                rl_up = conv[_REC_LIG](lig_h, lr_ei.flip(0), feats(lr_attr, rec_h, lr_ei[1], lig_h, lr_ei[0]), lr_sh,
                                       out_nodes=n_rec)
                ra_up = conv[_REC_ATOM](atom_h, ar_ei.flip(0), feats(ar_attr, rec_h, ar_ei[1], atom_h, ar_ei[0]), ar_sh,
                                        out_nodes=n_rec)
            lig_h = _pad(lig_h, lig_up.shape[-1]) + lig_up + la_up + lr_up
            if i != n_layers - 1:
                atom_h = _pad(atom_h, atom_up.shape[-1]) + atom_up + al_up + ar_up
                rec_h = _pad(rec_h, rec_up.shape[-1]) + rec_up + ra_up + rl_up

        scalars = torch.cat([lig_h[:, :ns], lig_h[:, -ns:]], 1) if n_layers >= 3 else lig_h[:, :ns]
        return self.confidence_predictor(scatter_mean(scalars, batch.lig_batch, batch.num_graphs))
