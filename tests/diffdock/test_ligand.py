"""Ligand featurisation on real molecules: features, bonds, rotatable bonds, seeded conformers."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import torch
from phonos_models.common.errors import Cancelled
from phonos_models.diffdock import ligand
from phonos_models.diffdock.data import LIGAND_FEATURE_DIMS
from phonos_models.diffdock.embed_worker import EmbedWorker
from rdkit import Chem

pytestmark = pytest.mark.unit

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
IMATINIB = "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1"
PEG48 = "C" + "COC" * 48 + "O"  # 146 heavy atoms, 144 rotatable bonds: ETKDG's initial coordinates always fail
PEG24 = "C" + "COC" * 24 + "O"  # 74 heavy atoms: random coordinates + MMFF too (~1 s)


@pytest.fixture(scope="module")
def aspirin() -> ligand.Ligand:
    return ligand.featurize(ASPIRIN, seed=0)


@pytest.fixture(scope="module")
def imatinib() -> ligand.Ligand:
    return ligand.featurize(IMATINIB, seed=0)


def test_aspirin_graph(aspirin: ligand.Ligand) -> None:
    assert aspirin.num_atoms == 13  # heavy atoms only
    assert aspirin.x.shape == (13, 16) and aspirin.x.dtype == torch.long
    assert (aspirin.x < torch.tensor(LIGAND_FEATURE_DIMS)).all()
    assert aspirin.bond_index.shape == (2, 26)  # 13 bonds, both directions
    assert aspirin.bond_attr.shape == (26, 4)
    assert int(aspirin.bond_attr[:, 3].sum()) == 12  # six aromatic ring bonds
    assert int(aspirin.bond_attr[:, 1].sum()) == 4  # two C=O
    # atom 0 is the methyl carbon: atomic number 6 → slot 5, sp3, three hydrogens, not aromatic
    assert aspirin.x[0, 0] == 5 and aspirin.x[0, 7] == 2 and aspirin.x[0, 5] == 3 and aspirin.x[0, 8] == 0
    ring_atoms = [a.GetIdx() for a in aspirin.mol.GetAtoms() if a.GetIsAromatic()]
    assert len(ring_atoms) == 6
    assert (aspirin.x[ring_atoms, 8] == 1).all() and (aspirin.x[ring_atoms, 13] == 1).all()  # aromatic, ring of 6
    assert torch.allclose(aspirin.pos.mean(0), torch.zeros(3), atol=1e-5)


def test_rotatable_bonds_are_bridges_with_the_smaller_side_moving(imatinib: ligand.Ligand) -> None:
    mol = imatinib.mol
    assert imatinib.num_torsions == 8
    for (u, v), mask in zip(imatinib.tor_index.T.tolist(), imatinib.tor_mask, strict=True):
        bond = mol.GetBondBetweenAtoms(u, v)
        assert bond is not None and not bond.IsInRing()
        assert mask[v] and not mask[u]
        assert 1 < int(mask.sum()) <= imatinib.num_atoms - int(mask.sum())  # the smaller side moves
        # the moving side is exactly the component of v once the bond is cut
        frag = Chem.FragmentOnBonds(mol, [bond.GetIdx()], addDummies=False)
        side = next(set(f) for f in Chem.GetMolFrags(frag) if v in f)
        assert side == set(torch.nonzero(mask).flatten().tolist())


def test_amide_and_ester_bonds_count_as_rotatable(aspirin: ligand.Ligand) -> None:
    # The reference's definition, not RDKit's rotatable SMARTS: the ester C(=O)–O bond is included.
    assert aspirin.num_torsions == 3
    acetyl_c = 1
    assert acetyl_c in aspirin.tor_index.flatten().tolist()


def test_conformers_are_seeded(aspirin: ligand.Ligand) -> None:
    again = ligand.featurize(ASPIRIN, seed=0)
    other = ligand.featurize(ASPIRIN, seed=1)
    assert torch.equal(again.pos, aspirin.pos)
    assert not torch.allclose(other.pos, aspirin.pos)


def test_a_double_bond_with_e_z_in_the_smiles_is_not_turned() -> None:
    # before: 3 torsions, the C=C among them, so half the poses of a trans alkene came back cis
    trans = ligand.featurize("CC/C=C/CC", seed=0)
    assert trans.num_torsions == 2 and trans.fixed_stereo_bonds == 1
    double = next(b for b in trans.mol.GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE)
    turned = {frozenset(pair) for pair in trans.tor_index.T.tolist()}
    assert frozenset((double.GetBeginAtomIdx(), double.GetEndAtomIdx())) not in turned
    unspecified = ligand.featurize("CCC=CCC", seed=0)  # no E/Z given: the reference's rule, the bond turns
    assert unspecified.num_torsions == 3 and unspecified.fixed_stereo_bonds == 0


def test_rigid_molecule_has_no_torsions() -> None:
    benzene = ligand.featurize("c1ccccc1", seed=0)
    assert benzene.num_torsions == 0 and benzene.tor_mask.shape == (0, 6) and benzene.tor_index.shape == (2, 0)


@pytest.mark.parametrize(
    ("smiles", "message"),
    [
        ("", "empty"),
        ("C1CC", "could not be parsed by RDKit: syntax error"),
        ("CC(C)(C)(C)C", "Explicit valence for atom # 1 C, 5, is greater than permitted"),  # before: no reason
        ("c1cccc1", "Can't kekulize mol"),
        ("c1cccc1X", "could not be parsed"),
        ("CCO.[Na+]", "disconnected fragments"),
        ("CC(=O)[O-].[Na+]", r"2 disconnected fragments \(CC\(=O\)\[O-\], \[Na\+\]\).*largest fragment, CC\(=O\)\[O-\]"),
        ("CC O", "whitespace"),
        ("C" * 200, "heavy atoms"),
        ("[Na+]", "single heavy atom"),
        ("c1ccccc1*", "dummy atom"),
        ("\n     RDKit          3D\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n", "looks like a MOL/SDF"),  # before: docked, with NaN scores replaced at every step
        ("[2H]C([2H])([2H])[2H]", "single heavy atom"),
        # pasted from other formats: each named (before: "contains whitespace" or "syntax error")
        ("HETATM    1  C1  LIG A   1      10.000  10.000  10.000  1.00  0.00           C", "looks like a PDB file"),
        ("InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3", "looks like an InChI"),
        ("CCO>>CC=O", "looks like a reaction SMILES"),
        ("'CCO'", "in quotes"),
        ('"CC(=O)O"', "in quotes"),
        ("CCO\tethanol", r'"CCO" is followed by more text \("ethanol"\)'),
        ("C[C@H](N)C(=O)O |&1:1|", r'followed by a CXSMILES extension \("\|&1:1\|"\)'),
    ],
)
def test_bad_smiles_are_rejected_with_a_reason(smiles: str, message: str) -> None:
    with pytest.raises(ligand.LigandError, match=message):
        ligand.parse_smiles(smiles)


def test_a_dative_bond_is_no_reaction_arrow() -> None:
    cisplatin = ligand.featurize("N->[Pt](Cl)(Cl)<-N", seed=0)  # '->' is a dative bond, docked as a single bond
    assert cisplatin.num_atoms == 5 and int(cisplatin.bond_attr[:, 0].sum()) == 8


def test_embedding_a_huge_flexible_ligand_is_bounded_and_says_what_to_do() -> None:
    # before: no bound (57 s under load near the 150-atom cap), nothing a job could do but wait
    with pytest.raises(ligand.LigandError, match=r"ligand of 146 heavy atoms \(342 with hydrogens\) did not get 3D "
                       r"coordinates within 1 s .*smaller or more rigid"):
        ligand.featurize(PEG48, seed=0, embed_budget_s=1)


@pytest.fixture(scope="module")
def worker() -> Iterator[EmbedWorker]:
    embedder = EmbedWorker()
    yield embedder
    embedder.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_cancelled_job_kills_the_embedding_process(worker: EmbedWorker) -> None:
    ligand.featurize(ASPIRIN, seed=0, should_stop=lambda: False, worker=worker)  # the process is up
    pid = worker.pid()
    assert pid is not None
    start = time.monotonic()
    with pytest.raises(Cancelled, match="embedding the ligand"):
        ligand.featurize(PEG48, seed=0, embed_budget_s=60, should_stop=lambda: time.monotonic() - start > 0.3,
                         worker=worker)
    # before: the RDKit call went on in a thread until its own timeout (here 60 s), holding a core
    assert time.monotonic() - start < 5 and _gone(pid) and worker.pid() is None
    again = ligand.featurize(ASPIRIN, seed=0, should_stop=lambda: False, worker=worker)  # a new process
    assert worker.pid() not in (None, pid) and again.num_atoms == 13


@pytest.mark.parametrize("smiles", [ASPIRIN, IMATINIB, PEG24])
def test_the_embedding_process_gives_the_conformer_of_the_same_seed(worker: EmbedWorker, smiles: str) -> None:
    here = ligand.featurize(smiles, seed=3)
    there = ligand.featurize(smiles, seed=3, should_stop=lambda: False, worker=worker)
    assert torch.equal(here.pos, there.pos) and here.used_random_coords == there.used_random_coords
    assert Chem.MolToMolBlock(here.mol) == Chem.MolToMolBlock(there.mol)
    assert here.used_random_coords == (smiles == PEG24)  # the fallback path is covered too


def test_an_embedding_past_its_budget_in_the_process_says_what_to_do(worker: EmbedWorker) -> None:
    with pytest.raises(ligand.LigandError, match=r"ligand of 146 heavy atoms \(342 with hydrogens\) did not get 3D "
                       r"coordinates within 1 s .*smaller or more rigid"):
        ligand.featurize(PEG48, seed=0, embed_budget_s=1, should_stop=lambda: False, worker=worker)
    assert worker.pid() is not None  # RDKit's own timeout ended the call: the process serves the next ligand


@pytest.mark.unit
def test_a_ligand_out_of_embedding_time_is_told_its_fixed_stereo_may_be_the_cause() -> None:
    """A bridged bicycle's impossible @/@@ under a long chain ran out the embedding budget and was told only to dock a
    smaller molecule, though larger chains without it embedded in seconds (a chemist tester's find). A ligand with
    no stereo fixed is told what it was."""
    from phonos_models.diffdock.conformer import embedding_exceeded

    fixed = str(embedding_exceeded(Chem.AddHs(Chem.MolFromSmiles("[C@H]12CC[C@@H](CC1)C2COCC")), 120))
    assert "its SMILES fixes 2 stereo element(s)" in fixed and "check them, or dock it with them left open" in fixed
    assert "Otherwise dock a smaller or more rigid molecule" in fixed
    plain = str(embedding_exceeded(Chem.AddHs(Chem.MolFromSmiles("CCCCOCCOCC")), 120))
    assert "stereo" not in plain and "this server bounds the embedding of one ligand. Dock a smaller" in plain
