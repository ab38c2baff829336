"""Plain-tensor containers for one docking complex and for a batch of them.

This is the seam between featurisation (SMILES/PDB → tensors, `ligand.py`/`receptor.py`) and the
networks (`score_model.py`, `confidence_model.py`). No PyG: a complex is a frozen dataclass of
tensors, a batch is the same fields concatenated with per-node complex indices and offset edge
indices, exactly what `torch_geometric.data.Batch` would build, so the reference's graph conventions
carry over unchanged.

Conventions (same as the reference code, see shared/notes/diffdock.md §3.2, §4):
* positions are in Å, in the receptor's frame centred on its mean CA;
* ligand atoms are heavy atoms only (hydrogens removed);
* a torsion is a rotatable bond `(u, v)` with `v` on the side that moves: the torsion update rotates
  the atoms of `tor_mask[k]` about the axis `pos[u] - pos[v]` through `pos[v]`, and the score model's
  bond vector is `pos[v] - pos[u]`;
* diffusion times t ∈ [0, 1] are stored per complex; the models map them to σ themselves.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import Tensor

# Categorical feature table sizes (last index of each = "misc"). Ligand: 16 RDKit atom features
# (atomic number, chirality, degree, formal charge, implicit valence, #H, radical electrons,
# hybridisation, aromatic, #rings, in ring of size 3..8); shared/notes/diffdock.md §3.2.
LIGAND_FEATURE_DIMS: tuple[int, ...] = (119, 4, 12, 12, 8, 10, 6, 6, 2, 8, 2, 2, 2, 2, 2, 2)
# Ligand bond one-hot: single, double, triple, aromatic.
LIGAND_BOND_DIM: int = 4
# Receptor residue: one categorical feature, the amino-acid index (38 entries incl. misc).
RESIDUE_FEATURE_DIMS: tuple[int, ...] = (38,)
# Receptor heavy atom (all-atom confidence model): residue type, element, atom-name class, atom name.
RECEPTOR_ATOM_FEATURE_DIMS: tuple[int, ...] = (38, 119, 23, 38)
# ESM-2 650M (esm2_t33_650M_UR50D) per-residue embedding width used by every released config.
ESM_EMBEDDING_DIM: int = 1280



def vocabulary_slot(vocabulary: tuple[object, ...], value: object) -> int:
    """Index of `value` in a categorical feature's vocabulary, or the "misc" slot right after it."""
    try:
        return vocabulary.index(value)
    except ValueError:
        return len(vocabulary)


@dataclass(frozen=True)
class ComplexGraph:
    """One protein–ligand complex (one pose sample), unbatched.

    Receptor atoms (`atom_*`) are only needed by the all-atom confidence model; leave them empty
    (0 rows) for the score model.
    """

    # --- ligand -------------------------------------------------------------------------------
    lig_x: Tensor  # [N, 16] int64, indices into LIGAND_FEATURE_DIMS
    lig_pos: Tensor  # [N, 3] float32, Å
    lig_bond_index: Tensor  # [2, E_b] int64, both directions of every bond
    lig_bond_attr: Tensor  # [E_b, 4] float32, one-hot bond type
    tor_index: Tensor  # [2, T] int64, row 0 = u (fixed side), row 1 = v (moving side)
    tor_mask: Tensor  # [T, N] bool, atoms that move when torsion k turns
    # --- receptor residues (coarse-grained nodes at CA) ----------------------------------------
    rec_aa: Tensor  # [R] int64, amino-acid index < 38
    rec_esm: Tensor  # [R, D] float32, ESM-2 per-residue embedding (D = 1280 for the released models)
    rec_pos: Tensor  # [R, 3] float32, Å (CA)
    # --- receptor heavy atoms (all-atom confidence model only) ---------------------------------
    atom_x: Tensor  # [A, 4] int64, indices into RECEPTOR_ATOM_FEATURE_DIMS
    atom_pos: Tensor  # [A, 3] float32, Å
    atom_res: Tensor  # [A] int64, index of the residue (0..R-1) the atom belongs to
    # --- diffusion time -------------------------------------------------------------------------
    t_tr: float = 1.0  # translation time in [0, 1]
    t_rot: float = 1.0  # rotation time in [0, 1]
    t_tor: float = 1.0  # torsion time in [0, 1]
    # --- optional precomputed receptor graphs (row 0 = neighbour, row 1 = centre) ---------------
    # None: the networks build them from positions. Set them (model_graphs.with_receptor_graphs)
    # when the receptor is cropped, so that cropping keeps the full-receptor graph restricted to
    # the kept nodes (graph_ops.subgraph), as the reference's crop_beyond does.
    rec_edge_index: Tensor | None = None  # [2, E_r] int64 into the R residues
    atom_edge_index: Tensor | None = None  # [2, E_a] int64 into the A receptor atoms

    @property
    def num_lig(self) -> int:
        return int(self.lig_pos.shape[0])

    @property
    def num_res(self) -> int:
        return int(self.rec_pos.shape[0])

    @property
    def num_tor(self) -> int:
        return int(self.tor_index.shape[1])

    def with_ligand_pos(self, pos: Tensor) -> ComplexGraph:
        """The same complex with a new ligand pose (what the sampler and the confidence step need)."""
        return replace(self, lig_pos=pos)


@dataclass(frozen=True)
class ComplexBatch:
    """B complexes concatenated node-wise, with edge indices offset into the concatenated nodes.

    Node sets are stored in complex order (all nodes of complex 0, then complex 1, ...), so every
    `*_batch` vector is sorted; the graph ops rely on that.

    `cache` is a per-batch scratch dict the models may fill with things that do not change
    across diffusion steps (the receptor graph and, for the new score model, the receptor
    embedding). Anything that depends on ligand positions or time must never go in it.
    """

    lig_x: Tensor  # [N, 16] int64
    lig_pos: Tensor  # [N, 3] float32, Å
    lig_batch: Tensor  # [N] int64, complex index 0..B-1
    lig_bond_index: Tensor  # [2, E_b] int64, into the N ligand atoms
    lig_bond_attr: Tensor  # [E_b, 4] float32
    tor_index: Tensor  # [2, T] int64, into the N ligand atoms; row 1 = moving side
    tor_mask: Tensor  # [T, N] bool; block-diagonal: torsion k only moves atoms of its own complex
    tor_batch: Tensor  # [T] int64, complex index of each torsion
    rec_aa: Tensor  # [R] int64
    rec_esm: Tensor  # [R, D] float32
    rec_pos: Tensor  # [R, 3] float32, Å
    rec_batch: Tensor  # [R] int64
    atom_x: Tensor  # [A, 4] int64
    atom_pos: Tensor  # [A, 3] float32, Å
    atom_res: Tensor  # [A] int64, into the R residues of the batch
    atom_batch: Tensor  # [A] int64
    t_tr: Tensor  # [B] float32
    t_rot: Tensor  # [B] float32
    t_tor: Tensor  # [B] float32
    rec_edge_index: Tensor | None = None  # [2, E_r] into the batch's residues, if precomputed
    atom_edge_index: Tensor | None = None  # [2, E_a] into the batch's receptor atoms, if precomputed
    cache: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_graphs(self) -> int:
        return int(self.t_tr.shape[0])

    @property
    def device(self) -> torch.device:
        return self.lig_pos.device

    def to(self, device: torch.device | str) -> ComplexBatch:
        """Move every tensor to `device` (the cache is dropped: it is device-specific)."""
        moved: dict[str, Any] = {}
        for f in fields(self):
            if f.name != "cache":
                value = getattr(self, f.name)
                moved[f.name] = None if value is None else value.to(device)
        return ComplexBatch(**moved)

    def with_ligand_pos(self, pos: Tensor) -> ComplexBatch:
        """Same batch, new ligand coordinates [N, 3]; keeps the cache (receptor-only content)."""
        return replace(self, lig_pos=pos, cache=self.cache)

    def with_times(self, t_tr: Tensor, t_rot: Tensor, t_tor: Tensor) -> ComplexBatch:
        """Same batch at new diffusion times (each [B]); keeps the cache (receptor-only content)."""
        return replace(self, t_tr=t_tr, t_rot=t_rot, t_tor=t_tor, cache=self.cache)


def _counts_to_batch(counts: list[int], device: torch.device) -> Tensor:
    return torch.repeat_interleave(
        torch.arange(len(counts), device=device), torch.tensor(counts, dtype=torch.long, device=device)
    )


def _offsets(counts: list[int]) -> list[int]:
    out, acc = [], 0
    for c in counts:
        out.append(acc)
        acc += c
    return out


def collate(graphs: list[ComplexGraph]) -> ComplexBatch:
    """Concatenate complexes into one batch (PyG-style: node offsets added to edge indices)."""
    if not graphs:
        raise ValueError("collate needs at least one complex")
    device = graphs[0].lig_pos.device
    n_lig = [g.num_lig for g in graphs]
    n_res = [g.num_res for g in graphs]
    n_atom = [int(g.atom_pos.shape[0]) for g in graphs]
    n_tor = [g.num_tor for g in graphs]
    lig_off, res_off = _offsets(n_lig), _offsets(n_res)

    n_total = sum(n_lig)
    tor_mask = torch.zeros(sum(n_tor), n_total, dtype=torch.bool, device=device)
    row = 0
    for g, off in zip(graphs, lig_off, strict=True):
        tor_mask[row : row + g.num_tor, off : off + g.num_lig] = g.tor_mask
        row += g.num_tor

    def cat(name: str, dim: int = 0) -> Tensor:
        return torch.cat([getattr(g, name) for g in graphs], dim=dim)

    return ComplexBatch(
        lig_x=cat("lig_x"),
        lig_pos=cat("lig_pos"),
        lig_batch=_counts_to_batch(n_lig, device),
        lig_bond_index=torch.cat([g.lig_bond_index + o for g, o in zip(graphs, lig_off, strict=True)], 1),
        lig_bond_attr=cat("lig_bond_attr"),
        tor_index=torch.cat([g.tor_index + o for g, o in zip(graphs, lig_off, strict=True)], 1),
        tor_mask=tor_mask,
        tor_batch=_counts_to_batch(n_tor, device),
        rec_aa=cat("rec_aa"),
        rec_esm=cat("rec_esm"),
        rec_pos=cat("rec_pos"),
        rec_batch=_counts_to_batch(n_res, device),
        atom_x=cat("atom_x"),
        atom_pos=cat("atom_pos"),
        atom_res=torch.cat([g.atom_res + o for g, o in zip(graphs, res_off, strict=True)], 0),
        atom_batch=_counts_to_batch(n_atom, device),
        t_tr=torch.tensor([g.t_tr for g in graphs], dtype=torch.float32, device=device),
        t_rot=torch.tensor([g.t_rot for g in graphs], dtype=torch.float32, device=device),
        t_tor=torch.tensor([g.t_tor for g in graphs], dtype=torch.float32, device=device),
        rec_edge_index=_offset_edges([g.rec_edge_index for g in graphs], res_off, "rec_edge_index"),
        atom_edge_index=_offset_edges([g.atom_edge_index for g in graphs], _offsets(n_atom), "atom_edge_index"),
    )


def _offset_edges(parts: list[Tensor | None], offsets: list[int], name: str) -> Tensor | None:
    if all(p is None for p in parts):
        return None
    present = [p for p in parts if p is not None]
    if len(present) != len(parts):
        raise ValueError(f"collate: {name} is set for some complexes and not others")
    return torch.cat([p + o for p, o in zip(present, offsets, strict=True)], 1)


def empty_receptor_atoms(device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Zero-row receptor-atom fields, for complexes that only feed the score model."""
    return {
        "atom_x": torch.zeros(0, len(RECEPTOR_ATOM_FEATURE_DIMS), dtype=torch.long, device=device),
        "atom_pos": torch.zeros(0, 3, dtype=torch.float32, device=device),
        "atom_res": torch.zeros(0, dtype=torch.long, device=device),
    }
