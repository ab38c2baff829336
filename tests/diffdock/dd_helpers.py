"""Helpers shared by the DiffDock tests (a module of its own: every test folder has a conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def _reference_dir() -> Path:
    """shared/reference/diffdock: beside the checkout (CI, sessions), or named by PHONOS_TEST_REFERENCE_DIR."""
    candidates = [os.environ.get("PHONOS_TEST_REFERENCE_DIR", ""), str(REPO.parent / "shared" / "reference" / "diffdock"),
                  "/work/shared/reference/diffdock"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path(candidates[1])


# The reference hyperparameter files and state_dict manifests (shared/reference/diffdock/).
REFERENCE_DIR = _reference_dir()


def synthetic_complex(
    seed: int = 0, n_lig: int = 12, n_res: int = 30, atoms_per_res: int = 5, lm_dim: int = 1280, n_tor: int = 3
):
    """A small random complex with plausible geometry (for model-level tests that need no chemistry).

    Ligand: a zig-zag chain of heavy atoms 1.5 Å apart near the pocket, single bonds, the first
    `n_tor` interior bonds marked rotatable (moving side = the tail). Receptor: a random-walk
    backbone of CA atoms 3.8 Å apart, a few heavy atoms around each CA.
    """
    from phonos_models.diffdock.data import (
        LIGAND_FEATURE_DIMS,
        RECEPTOR_ATOM_FEATURE_DIMS,
        ComplexGraph,
    )

    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(n_res, 3, generator=g)
    ca = torch.cumsum(3.8 * steps / steps.norm(dim=1, keepdim=True), 0)
    ca = ca - ca.mean(0)
    lig_steps = torch.randn(n_lig, 3, generator=g)
    lig = torch.cumsum(1.5 * lig_steps / lig_steps.norm(dim=1, keepdim=True), 0)
    lig = lig - lig.mean(0) + ca[n_res // 2] + torch.tensor([2.0, 1.0, 0.5])
    lig_x = torch.stack([torch.randint(0, d, (n_lig,), generator=g) for d in LIGAND_FEATURE_DIMS], 1)
    src = torch.arange(n_lig - 1)
    bond_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)
    bond_attr = torch.zeros(bond_index.shape[1], 4)
    bond_attr[:, 0] = 1.0
    tor_u = torch.arange(1, 1 + n_tor)
    tor_index = torch.stack([tor_u, tor_u + 1])
    tor_mask = torch.zeros(n_tor, n_lig, dtype=torch.bool)
    for k in range(n_tor):
        tor_mask[k, int(tor_u[k]) + 1 :] = True
    atom_pos = ca.repeat_interleave(atoms_per_res, 0) + 1.2 * torch.randn(n_res * atoms_per_res, 3, generator=g)
    atom_x = torch.stack(
        [torch.randint(0, d, (n_res * atoms_per_res,), generator=g) for d in RECEPTOR_ATOM_FEATURE_DIMS], 1
    )
    return ComplexGraph(
        lig_x=lig_x,
        lig_pos=lig,
        lig_bond_index=bond_index,
        lig_bond_attr=bond_attr,
        tor_index=tor_index,
        tor_mask=tor_mask,
        rec_aa=torch.randint(0, 21, (n_res,), generator=g),
        rec_esm=torch.randn(n_res, lm_dim, generator=g),
        rec_pos=ca,
        atom_x=atom_x,
        atom_pos=atom_pos,
        atom_res=torch.arange(n_res).repeat_interleave(atoms_per_res),
        t_tr=0.6,
        t_rot=0.6,
        t_tor=0.6,
    )
