"""Ligand featurisation: SMILES → heavy-atom graph, seeded 3D conformer, rotatable bonds.

Follows the reference inference path (notes/diffdock.md §4): parse the SMILES, add hydrogens,
embed one conformer with RDKit ETKDGv2 (three tries, then random coordinates + MMFF; bounded in time:
`embed_conformer`; in a child process that a job's cancel or compute limit kills: `embed_worker`), remove the hydrogens, and featurise the heavy atoms with the 16 categorical features of §3.2. Two deliberate
differences: the conformer is seeded (the reference is not, pitfall 10) so a `random_seed` gives the
same poses, and inputs the reference would silently mangle (several disconnected fragments, no heavy
atoms) are rejected with a message instead.

Rotatable bonds are the reference's, not RDKit's rotatable-bond SMARTS: every bond that is a bridge
of the heavy-atom graph and whose smaller side has more than one atom (this includes amide C–N and
non-ring double bonds), except double bonds whose E/Z the SMILES gives: the reference turns those too
and so returns, e.g., cis poses of a trans alkene. The smaller side moves; on a tie the side that is found first, i.e. the
component holding the lowest atom index, counts as "smaller", as in the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem.rdchem import BondType

from phonos_models.common.errors import Cancelled

from .conformer import DEFAULT_EMBED_BUDGET_S, embed_conformer, embedding_exceeded, specified_stereo
from .data import LIGAND_BOND_DIM, LIGAND_FEATURE_DIMS
from .data import vocabulary_slot as _slot
from .embed_worker import EmbedWorker
from .pipe_validate import LigandError, parse_smiles

__all__ = ["DEFAULT_EMBED_BUDGET_S", "Ligand", "LigandError", "embed_conformer", "featurize", "parse_smiles"]

# Feature vocabularies (reference `allowable_features`); anything else maps to the last ("misc") slot.
_CHIRALITY = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER")
_DEGREE = tuple(range(11))
_FORMAL_CHARGE = tuple(range(-5, 6))
_IMPLICIT_VALENCE = tuple(range(7))
_NUM_H = tuple(range(9))
_RADICAL = tuple(range(5))
_HYBRIDISATION = ("SP", "SP2", "SP3", "SP3D", "SP3D2")
_NUM_RINGS = tuple(range(7))
_BOND_INDEX = {BondType.SINGLE: 0, BondType.DOUBLE: 1, BondType.TRIPLE: 2, BondType.AROMATIC: 3}
_DEFINED_DOUBLE_BOND_STEREO = frozenset({Chem.BondStereo.STEREOE, Chem.BondStereo.STEREOZ, Chem.BondStereo.STEREOCIS,
                                         Chem.BondStereo.STEREOTRANS})

@dataclass(frozen=True)
class Ligand:
    """One featurised ligand (heavy atoms only), positions centred on the ligand centroid."""

    mol: Chem.Mol  # heavy-atom RDKit molecule with one conformer (the topology written to SDF)
    x: torch.Tensor  # [N, 16] int64 categorical features (data.LIGAND_FEATURE_DIMS)
    pos: torch.Tensor  # [N, 3] float32, Å, centred (mean = 0)
    bond_index: torch.Tensor  # [2, E_b] int64, both directions of each bond, bond order of the mol
    bond_attr: torch.Tensor  # [E_b, 4] float32 one-hot (single, double, triple, aromatic)
    tor_index: torch.Tensor  # [2, T] int64; row 0 = u (stays), row 1 = v (moving side)
    tor_mask: torch.Tensor  # [T, N] bool, atoms that rotate with torsion k
    used_random_coords: bool  # ETKDG failed three times and random coordinates + MMFF were used
    fixed_stereo_bonds: int = 0  # double bonds with E/Z given in the SMILES, kept out of the torsions
    isotopic_hydrogens: int = 0  # deuterium/tritium atoms of the SMILES, removed as hydrogens are
    # Stereo the SMILES leaves open (RDKit FindPotentialStereo). A centre's configuration is the one the
    # conformer happened to get, the same in every pose; a double bond turns like a single one (the reference).
    unspecified_stereocentres: int = 0  # tetrahedral centres without @/@@
    unspecified_stereo_bonds: int = 0  # double bonds that could be E or Z, written without / or \ marks
    # Stereo the SMILES specified that only its deuterium/tritium made ([2H][C@H](O)c1ccccc1: a CHD centre), gone
    # with them: the warning says so (it spoke only of the isotopes, and the @ vanished unsaid).
    isotopic_stereo_lost: int = 0

    @property
    def num_atoms(self) -> int:
        return int(self.pos.shape[0])

    @property
    def num_torsions(self) -> int:
        return int(self.tor_index.shape[1])


def atom_features(mol: Chem.Mol) -> torch.Tensor:
    """[N, 16] int64 categorical features of the heavy-atom molecule (reference order)."""
    rings = mol.GetRingInfo()
    rows = []
    for idx, atom in enumerate(mol.GetAtoms()):
        chirality = str(atom.GetChiralTag())
        if chirality not in _CHIRALITY:  # square-planar, trigonal-bipyramidal, octahedral
            chirality = "CHI_OTHER"
        atomic_num = atom.GetAtomicNum()
        rows.append(
            [
                atomic_num - 1 if 1 <= atomic_num <= 118 else 118,
                _CHIRALITY.index(chirality),
                _slot(_DEGREE, atom.GetTotalDegree()),
                _slot(_FORMAL_CHARGE, atom.GetFormalCharge()),
                _slot(_IMPLICIT_VALENCE, atom.GetValence(Chem.ValenceType.IMPLICIT)),
                _slot(_NUM_H, atom.GetTotalNumHs()),
                _slot(_RADICAL, atom.GetNumRadicalElectrons()),
                _slot(_HYBRIDISATION, str(atom.GetHybridization())),
                int(atom.GetIsAromatic()),
                _slot(_NUM_RINGS, rings.NumAtomRings(idx)),
                *(int(rings.IsAtomInRingOfSize(idx, size)) for size in range(3, 9)),
            ]
        )
    x = torch.tensor(rows, dtype=torch.long).reshape(-1, len(LIGAND_FEATURE_DIMS))
    assert (x < torch.tensor(LIGAND_FEATURE_DIMS)).all()
    return x


def bond_graph(mol: Chem.Mol) -> tuple[torch.Tensor, torch.Tensor]:
    """Directed bond edges (u→v then v→u per bond) and their one-hot bond types."""
    index: list[list[int]] = [[], []]
    types: list[int] = []
    for bond in mol.GetBonds():
        u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        index[0] += [u, v]
        index[1] += [v, u]
        types += 2 * [_BOND_INDEX.get(bond.GetBondType(), 0)]  # dative etc. count as single, like the reference
    edge_index = torch.tensor(index, dtype=torch.long).reshape(2, -1)
    attr = torch.nn.functional.one_hot(torch.tensor(types, dtype=torch.long), LIGAND_BOND_DIM).float()
    return edge_index, attr.reshape(-1, LIGAND_BOND_DIM)


def _components(n: int, adjacency: list[set[int]]) -> list[list[int]]:
    """Connected components, in order of their lowest atom index."""
    seen = [False] * n
    out = []
    for start in range(n):
        if seen[start]:
            continue
        stack, comp = [start], []
        seen[start] = True
        while stack:
            a = stack.pop()
            comp.append(a)
            for b in adjacency[a]:
                if not seen[b]:
                    seen[b] = True
                    stack.append(b)
        out.append(sorted(comp))
    return out


def torsions(mol: Chem.Mol) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotatable bonds as (u, v) with v on the moving (smaller) side, and the moving-atom masks."""
    n = mol.GetNumAtoms()
    adjacency: list[set[int]] = [set() for _ in range(n)]
    for bond in mol.GetBonds():
        adjacency[bond.GetBeginAtomIdx()].add(bond.GetEndAtomIdx())
        adjacency[bond.GetEndAtomIdx()].add(bond.GetBeginAtomIdx())
    pairs: list[tuple[int, int]] = []
    masks: list[np.ndarray] = []
    for bond in mol.GetBonds():
        if bond.GetStereo() in _DEFINED_DOUBLE_BOND_STEREO:
            continue  # E/Z written in the SMILES: turning the bond would change the molecule (the reference turns it)
        u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        adjacency[u].discard(v)
        adjacency[v].discard(u)
        parts = _components(n, adjacency)
        adjacency[u].add(v)
        adjacency[v].add(u)
        if len(parts) < 2:
            continue  # ring bond: not a bridge
        smallest = min(parts, key=len)  # min() keeps the first of equal sizes, as a stable sort would
        if len(smallest) <= 1:
            continue  # terminal atom: turning it changes nothing
        moving = set(smallest)
        if u in moving:
            u, v = v, u  # the flagged direction is the one whose second atom moves
        mask = np.zeros(n, dtype=bool)
        mask[list(moving)] = True
        pairs.append((u, v))
        masks.append(mask)
    tor_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous()
    tor_mask = torch.from_numpy(np.stack(masks)) if masks else torch.zeros(0, n, dtype=torch.bool)
    return tor_index, tor_mask


def unspecified_stereo(mol: Chem.Mol) -> tuple[int, int]:
    """(tetrahedral centres, double bonds) that could be stereo but the SMILES does not specify.

    RDKit's FindPotentialStereo with `flagPossible` (centres that are stereo only together, such as the two of
    1,4-dimethylcyclohexane, count too; a symmetric bicycle's bridgeheads may count though it has one isomer).
    Run on a copy: it cleans the molecule's stereo flags."""
    centres = bonds = 0
    for info in Chem.FindPotentialStereo(Chem.Mol(mol), cleanIt=True, flagPossible=True):
        if info.specified == Chem.StereoSpecified.Specified:
            continue
        if info.type == Chem.StereoType.Atom_Tetrahedral:
            centres += 1
        elif info.type == Chem.StereoType.Bond_Double and not _cumulated(mol.GetBondWithIdx(info.centeredOn)):
            bonds += 1
    return centres, bonds


def _cumulated(bond: Chem.Bond) -> bool:
    """A double bond one of whose atoms has another double bond: an azide's N=[N+]=[N-], an allene's C=C=C. Its
    atom is linear, so the bond has no E/Z (RDKit's FindPotentialStereo offers one: `CN=[N+]=[N-]` was warned of
    "the E/Z of 1 double bond(s) unspecified", a chemist tester's find)."""
    return any(sum(b.GetBondType() == Chem.BondType.DOUBLE for b in atom.GetBonds()) > 1
               for atom in (bond.GetBeginAtom(), bond.GetEndAtom()))


def _never() -> bool:
    return False


def featurize(smiles: str, seed: int = 0, *, embed_budget_s: float = DEFAULT_EMBED_BUDGET_S,
              should_stop: Callable[[], bool] | None = None, worker: EmbedWorker | None = None) -> Ligand:
    """SMILES → `Ligand`; raises `LigandError` for input that cannot be docked (or embedded within
    `embed_budget_s`), `Cancelled` when `should_stop()` turns true while embedding.

    With a `worker` the embedding runs in its child process and a cancel kills it at once; without one it
    runs in this thread and `should_stop` is looked at only before it starts (the same conformer either way)."""
    mol = parse_smiles(smiles)
    if should_stop is not None and should_stop():
        raise Cancelled("stopped before embedding the ligand in 3D")
    if worker is not None:
        heavy, used_random = worker.embed(mol, seed, embed_budget_s, should_stop or _never,
                                          lambda: embedding_exceeded(Chem.AddHs(mol), embed_budget_s))
    else:
        heavy, used_random = embed_conformer(mol, seed, budget_s=embed_budget_s)
    pos = torch.from_numpy(heavy.GetConformer().GetPositions()).float()
    pos = pos - pos.mean(dim=0, keepdim=True)
    bond_index, bond_attr = bond_graph(heavy)
    tor_index, tor_mask = torsions(heavy)
    open_centres, open_bonds = unspecified_stereo(heavy)  # the docked molecule: a CHD centre is no centre here
    isotopes = sum(1 for atom in mol.GetAtoms() if atom.GetAtomicNum() == 1)  # [H] is gone already
    lost = max(0, specified_stereo(mol) - specified_stereo(heavy)) if isotopes else 0
    return Ligand(
        mol=heavy,
        x=atom_features(heavy),
        pos=pos,
        bond_index=bond_index,
        bond_attr=bond_attr,
        tor_index=tor_index,
        tor_mask=tor_mask,
        used_random_coords=used_random,
        fixed_stereo_bonds=sum(1 for b in heavy.GetBonds() if b.GetStereo() in _DEFINED_DOUBLE_BOND_STEREO),
        isotopic_hydrogens=isotopes,
        unspecified_stereocentres=open_centres,
        unspecified_stereo_bonds=open_bonds,
        isotopic_stereo_lost=lost,
    )
