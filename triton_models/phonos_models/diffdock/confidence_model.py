"""DiffDock all-atom confidence network `AAOldModel` (v1.0 confidence; loaded by DiffDock-L's inference).

Three node sets — ligand atoms, receptor residues (CA) and receptor heavy atoms — exchange messages
through nine separate convolutions per layer (notes §3.5). forward(batch) → [B, n_out] logits; column
0 ranks poses (higher = more likely within 2 Å RMSD; the reference README's bands: > 0 high,
−1.5…0 moderate, < −1.5 low). Batch times are normally all 0 (the final poses).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from . import model_graphs as mg
from .data import (
    RECEPTOR_ATOM_FEATURE_DIMS,
    RESIDUE_FEATURE_DIMS,
    ComplexBatch,
)
from .graph_ops import scatter_mean
from .hyperparams import Hyperparams
from .layers import (
    AtomEncoder,
    OldAtomEncoder,
    irreps_sequence,
    mlp,
)
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
        self._init_common(hp, confidence=True, old=True)
        self.rec_node_embedding, self.rec_edge_embedding = self._old_receptor_encoders()
        ns, sd, dr = hp.ns, hp.sigma_embed_dim, hp.dropout
        self.atom_node_embedding = OldAtomEncoder(ns, RECEPTOR_ATOM_FEATURE_DIMS, scalar_dim=sd)
        self.atom_edge_embedding = mlp(sd + hp.distance_embed_dim, ns, ns, dr)
        self.lr_edge_embedding = mlp(sd + hp.cross_distance_embed_dim, ns, ns, dr)
        self.ar_edge_embedding = mlp(sd + hp.distance_embed_dim, ns, ns, dr)
        self.la_edge_embedding = mlp(sd + hp.cross_distance_embed_dim, ns, ns, dr)

        seq = irreps_sequence(ns, hp.nv, hp.use_second_order_repr, ns)
        self.conv_layers = nn.ModuleList(self._old_conv_layer(seq, i) for i in range(hp.num_conv_layers) for _ in range(9))
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
        lig_ei, lig_attr, lig_sh = self._ligand_graph(batch, lig_t)
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
        rec_h = self.rec_node_embedding.forward_reference_layout(aa, batch.rec_esm if self.hp.lm_embedding_dim else None, rec_t)

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


class AAModel(_Embeddings):
    """New all-atom model in confidence mode (models/aa_model.py; Confidence-Bootstrapping's confidence).

    Residues and receptor atoms are embedded together by `num_prot_emb_layers` layers (4 edge
    groups), then ligand, residues and atoms share one node array through `num_conv_layers` layers
    with 9 edge groups (3 in the last, which only updates the ligand). The per-atom confidence
    head is computed (the reference returns it) but only the per-complex logits are returned.
    """

    def __init__(self, hp: Hyperparams) -> None:
        super().__init__()
        self._init_common(hp, confidence=True, old=False)
        ns, sd, dr = hp.ns, hp.sigma_embed_dim, hp.dropout
        self.rec_sigma_embedding = mlp(sd, ns, ns, dr)
        self.rec_node_embedding = AtomEncoder(ns, RESIDUE_FEATURE_DIMS, extra_dim=hp.lm_embedding_dim)
        self.rec_edge_embedding = mlp(hp.distance_embed_dim, ns, ns, dr)
        self.atom_node_embedding = AtomEncoder(ns, RECEPTOR_ATOM_FEATURE_DIMS, extra_dim=0)
        self.atom_edge_embedding = mlp(hp.distance_embed_dim, ns, ns, dr)
        self.lr_edge_embedding = mlp(sd + hp.cross_distance_embed_dim, ns, ns, dr)
        self.ar_edge_embedding = mlp(hp.distance_embed_dim, ns, ns, dr)
        self.la_edge_embedding = mlp(sd + hp.cross_distance_embed_dim, ns, ns, dr)

        pseudo = hp.nv if hp.reduce_pseudoscalars else ns
        seq = irreps_sequence(ns, hp.nv, hp.use_second_order_repr, pseudo)
        n_emb, n_conv = hp.num_prot_emb_layers, hp.num_conv_layers
        diff = hp.differentiate_convolutions
        layer = partial(self._new_conv_layer, seq)

        self.rec_emb_layers = nn.ModuleList(layer(i, 4 if diff else 1) for i in range(n_emb))
        if hp.embed_also_ligand:
            self.lig_emb_layers = nn.ModuleList(layer(i, 1) for i in range(n_emb))
        last = n_emb + n_conv - 1
        self.conv_layers = nn.ModuleList(
            layer(i, (3 if i == last else 9) if diff else 1) for i in range(n_emb, n_emb + n_conv)
        )
        in_size = ns + pseudo if n_conv + n_emb >= 3 else ns
        if hp.atom_confidence:
            self.atom_confidence_predictor = confidence_head(
                ns, in_size, hp.atom_num_confidence_outputs + ns, hp.confidence_dropout, hp.confidence_no_batchnorm
            )
            in_size = ns
        self.confidence_predictor = confidence_head(
            ns, in_size, hp.num_confidence_outputs, hp.confidence_dropout, hp.confidence_no_batchnorm
        )

    def _receptor(self, batch: ComplexBatch) -> tuple[Tensor, ...]:
        """Residue + atom embedding (time-independent; cached in eval mode)."""
        key = ("aa_receptor", id(self))
        if not self.training and key in batch.cache:
            return batch.cache[key]
        ns, mode = self.hp.ns, graph_mode(self.hp)
        rec_ei, atom_ei, ar_ei = mg.receptor_edges(batch, mode), mg.atom_edges(batch, mode), mg.atom_residue_edges(batch)
        aa = batch.rec_aa.unsqueeze(1)
        if self.hp.no_aminoacid_identities:
            aa = torch.zeros_like(aa)
        rec_h = self.rec_node_embedding(aa, batch.rec_esm if self.hp.lm_embedding_dim else None)
        atom_h = self.atom_node_embedding(batch.atom_x, None)
        v = batch.rec_pos[rec_ei[1]] - batch.rec_pos[rec_ei[0]]
        rec_attr, rec_sh = self.rec_edge_embedding(self.rec_distance_expansion(v.norm(dim=-1))), mg.spherical_harmonics(self.sh_irreps, v)
        v = batch.atom_pos[atom_ei[1]] - batch.atom_pos[atom_ei[0]]
        atom_attr = self.atom_edge_embedding(self.lig_distance_expansion(v.norm(dim=-1)))
        atom_sh = mg.spherical_harmonics(self.sh_irreps, v)
        v = batch.rec_pos[ar_ei[1]] - batch.atom_pos[ar_ei[0]]
        ar_attr, ar_sh = self.ar_edge_embedding(self.rec_distance_expansion(v.norm(dim=-1))), mg.spherical_harmonics(self.sh_irreps, v)

        n_rec = rec_h.shape[0]
        ar_joint = torch.stack([ar_ei[0] + n_rec, ar_ei[1]])  # atom (offset) ← residue
        # groups: rec←rec, atom←rec, atom←atom, rec←atom (harmonics not reversed, as in the reference)
        edge_index = torch.cat([rec_ei, ar_joint, atom_ei + n_rec, ar_joint.flip(0)], 1)
        edge_attr = torch.cat([rec_attr, ar_attr, atom_attr, ar_attr], 0)
        edge_sh = torch.cat([rec_sh, ar_sh, atom_sh, ar_sh], 0)
        bounds = _bounds([rec_ei, ar_ei, atom_ei, ar_ei])
        h = torch.cat([rec_h, atom_h], 0)
        for conv in self.rec_emb_layers:
            attr = torch.cat([edge_attr, h[edge_index[0], :ns], h[edge_index[1], :ns]], -1)
            h = conv(h, edge_index, attr, edge_sh, group_bounds=bounds if self.hp.differentiate_convolutions else None)
        result = (h[:n_rec], rec_ei, rec_attr, rec_sh, h[n_rec:], atom_ei, atom_attr, atom_sh, ar_ei, ar_attr, ar_sh)
        if not self.training:
            batch.cache[key] = result
        return result

    def forward(self, batch: ComplexBatch) -> Tensor:
        """→ [B, num_confidence_outputs] confidence logits (column 0 ranks)."""
        ns = self.hp.ns
        graph_t_emb = self.t_emb(batch.t_tr)
        lig_t = graph_t_emb[batch.lig_batch]
        rec_h, rec_ei, rec_attr, rec_sh, atom_h, atom_ei, atom_attr, atom_sh, ar_ei, ar_attr, ar_sh = self._receptor(batch)
        sigma = self.rec_sigma_embedding(graph_t_emb)  # [B, ns], added to all receptor-side features
        rec_h = torch.cat([rec_h[:, :ns] + sigma[batch.rec_batch], rec_h[:, ns:]], 1)
        atom_h = torch.cat([atom_h[:, :ns] + sigma[batch.atom_batch], atom_h[:, ns:]], 1)
        rec_attr = rec_attr + sigma[batch.rec_batch[rec_ei[0]]]
        atom_attr = atom_attr + sigma[batch.atom_batch[atom_ei[0]]]
        ar_attr = ar_attr + sigma[batch.atom_batch[ar_ei[0]]]

        lig_ei, lig_attr, lig_sh = self._ligand_graph(batch, lig_t)
        lig_h = self.lig_node_embedding(batch.lig_x, lig_t)
        if self.hp.embed_also_ligand:
            for conv in self.lig_emb_layers:
                attr = torch.cat([lig_attr, lig_h[lig_ei[0], :ns], lig_h[lig_ei[1], :ns]], -1)
                lig_h = conv(lig_h, lig_ei, attr, lig_sh)
        else:
            lig_h = _pad(lig_h, rec_h.shape[-1])

        lr_ei = mg.cross_edges(batch, self.cross_cutoff(batch))
        v = batch.rec_pos[lr_ei[1]] - batch.lig_pos[lr_ei[0]]
        lr_attr = self.lr_edge_embedding(torch.cat([lig_t[lr_ei[0]], self.cross_distance_expansion(v.norm(dim=-1))], 1))
        lr_sh = mg.spherical_harmonics(self.sh_irreps, v)
        la_ei = mg.ligand_atom_edges(batch, self.hp.lig_max_radius)
        v = batch.atom_pos[la_ei[1]] - batch.lig_pos[la_ei[0]]
        # The reference smears ligand–atom distances with the *ligand* expansion here (0–5 Å).
        la_attr = self.la_edge_embedding(torch.cat([lig_t[la_ei[0]], self.lig_distance_expansion(v.norm(dim=-1))], 1))
        la_sh = mg.spherical_harmonics(self.sh_irreps, v)

        n_lig, n_rec = lig_h.shape[0], rec_h.shape[0]
        off_atom = n_lig + n_rec
        lr_j = torch.stack([lr_ei[0], lr_ei[1] + n_lig])
        la_j = torch.stack([la_ei[0], la_ei[1] + off_atom])
        ar_j = torch.stack([ar_ei[0] + off_atom, ar_ei[1] + n_lig])
        # groups: lig←lig, lig←rec, lig←atom, rec←rec, rec←lig, rec←atom, atom←atom, atom←lig, atom←rec
        parts = [lig_ei, lr_j, la_j, rec_ei + n_lig, lr_j.flip(0), ar_j.flip(0), atom_ei + off_atom, la_j.flip(0), ar_j]
        edge_index = torch.cat(parts, 1)
        edge_attr = torch.cat([lig_attr, lr_attr, la_attr, rec_attr, lr_attr, ar_attr, atom_attr, la_attr, ar_attr], 0)
        edge_sh = torch.cat([lig_sh, lr_sh, la_sh, rec_sh, lr_sh, ar_sh, atom_sh, la_sh, ar_sh], 0)
        bounds = _bounds(parts)

        h = torch.cat([lig_h, rec_h, atom_h], 0)
        for i, conv in enumerate(self.conv_layers):
            last = i == len(self.conv_layers) - 1
            b = bounds[:4] if last else bounds
            ei = edge_index[:, : b[-1]]
            attr = torch.cat([edge_attr[: b[-1]], h[ei[0], :ns], h[ei[1], :ns]], -1)
            h = conv(h, ei, attr, edge_sh[: b[-1]], out_nodes=n_lig if last else None,
                     group_bounds=b if self.hp.differentiate_convolutions else None)
        lig_h = h[:n_lig]

        pseudo = self.hp.nv if self.hp.reduce_pseudoscalars else ns
        deep = self.hp.num_conv_layers + self.hp.num_prot_emb_layers >= 3
        scalars = torch.cat([lig_h[:, :ns], lig_h[:, -pseudo:]], 1) if deep else lig_h[:, :ns]
        if self.hp.atom_confidence:
            scalars = self.atom_confidence_predictor(scalars)[:, self.hp.atom_num_confidence_outputs :]
        return self.confidence_predictor(scatter_mean(scalars, batch.lig_batch, batch.num_graphs))


def _bounds(parts: list[Tensor]) -> list[int]:
    out = [0]
    for p in parts:
        out.append(out[-1] + int(p.shape[1]))
    return out

